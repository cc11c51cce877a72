"""ETpay's merchant API as ETpay defines it: its HTTP calls (`client`), its notification JWTs
(`notification`), its session fields and payment records (`sessions`, `records`: pure), its
credentials and its errors. No AWS and no orders here.

Nothing is imported here: `etpay.records` and `etpay.sessions` stay free of urllib3 and PyJWT, so
the pure rules that read ETpay's records load neither.
"""
