"""The example order behind the files in events/. local/README.md names these values: the
notification event is signed with EXAMPLE_SIGNATURE_TOKEN, so a stack that stores a session
with these values accepts it."""

EXAMPLE_ORDER_ID = "OC-700104"
EXAMPLE_AMOUNT = 50_000
EXAMPLE_CURRENCY = "CLP"
EXAMPLE_SESSION_TOKEN = "example-session-token-0001"
EXAMPLE_SIGNATURE_TOKEN = "example-signature-token-for-sam-local-0001"
# The local stack's notification key (deployed stacks generate theirs): the example notification
# event carries it, as ETpay's notification URL does.
EXAMPLE_NOTIFICATION_KEY = "ExampleNotificationKeyForSamLocal000000000000001"  # noqa: S105 - public example value
EXAMPLE_PAYMENT_TOKEN = "example-payment-token-0001"
# Fixed, so the generated files do not change from run to run (ETpay sends no `exp`).
EXAMPLE_IAT = 1_767_225_600  # 2026-01-01T00:00:00Z


def example_notification_claims() -> dict[str, object]:
    """Every claim ETpay's example carries, with obviously fake payer data."""
    return {
        "session_token": EXAMPLE_SESSION_TOKEN,
        "merchant_order_id": EXAMPLE_ORDER_ID,
        "merchant_amount": EXAMPLE_AMOUNT,
        "merchant_currency": EXAMPLE_CURRENCY,
        "merchant_name": "Example Shop",
        "merchant_account": "000000001",
        "merchant_account_bank": "cl_test",
        "merchant_account_type": "checking",
        "user_bank": "CL_TEST",
        "user_rut": "111111111",
        "user_account": "000000002",
        "payment_token": EXAMPLE_PAYMENT_TOKEN,
        "payment_status": True,
        "payment_process": "auto",
        "iat": EXAMPLE_IAT,
    }
