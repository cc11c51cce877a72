"""The domain: the pure rules and types of payments (orders and their sessions, notifications,
status checks, reviews, events, webhook signing, markets, errors, time). Standard library and
ETpay's pure types (`etpay.records`, `etpay.sessions`, `etpay.credentials`) only: no AWS, no HTTP,
no JWT, no logging. Every rule decides; the use cases in `payments.app` carry decisions out.
"""
