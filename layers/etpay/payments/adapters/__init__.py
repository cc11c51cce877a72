"""The only code that speaks AWS (DynamoDB, SQS, EventBridge, Secrets Manager) and the merchant's
webhook URL. Each adapter implements a port of `payments.app.ports` with domain types in and out,
and turns SDK errors into domain errors (`payments.domain.errors`). AWS clients are built in one
place (`aws`), with short timeouts and bounded attempts.
"""
