"""What POST /sessions takes, field by field, on a CLP (Chile) and on an MXN (Mexico) stack: every
field's good and bad values in both markets, the fields of one market refused by the other with
a message naming the currency they belong to, and the per-currency amount limits. Pure: the
handler-level twins (nothing stored, ETpay not called, what ETpay receives) are in
tests/integration/test_sessions_by_currency.py."""

import pytest

from etpay.sessions import OPTION_FIELDS
from payments.api.validation import REQUIRED_FIELDS, parse_session_start
from payments.config.settings import Settings
from payments.domain.errors import ConfigurationUnavailable, ValidationFailed
from payments.domain.markets import CHILE, MARKETS, MEXICO
from payments.domain.sessions import SessionStart

MAX = {"CLP": 7_000_000, "MXN": 12_500}
BOTH = pytest.mark.parametrize("market", [CHILE, MEXICO], ids=["CLP", "MXN"])


def parse(market, **fields) -> SessionStart:
    return parse_session_start(
        {"merchant_order_id": "OC-1", "order_amount": 100, **fields}, MAX[market.currency], market
    )


def problems(market, **fields) -> dict[str, str]:
    with pytest.raises(ValidationFailed) as refused:
        parse(market, **fields)
    return refused.value.fields


# Good values of the fields every market takes.
COMMON_GOOD: dict[str, list[object]] = {
    "merchant_order_id": ["OC-700104", "a", "x" * 64, "A_b-9"],
    "customer_email": ["payer@example.com", "first.last+tag@mail.example.mx"],
    "metadata": [[], [{"name": "Pedido", "value": "OC-1", "show": True}], [{"name": "n", "value": "", "show": False}]],
    "payment_completed_url": ["https://shop.example/ok", "http://127.0.0.1:8800/ok?x=1"],
    "payment_cancellation_url": ["https://shop.example/cancel", "http://localhost/cancel"],
}
COMMON_BAD: dict[str, list[object]] = {
    "merchant_order_id": ["", "x" * 65, "OC 1", "OC/1", "OC-1\n", 12, None],
    "customer_email": ["nope", "a@b", "payer@example.com\n", 5, None, "x" * 250 + "@example.com"],
    "metadata": [
        "x",
        [{"name": "a"}],
        [{"name": "a", "value": "b", "show": 1}],
        [{"name": "", "value": "", "show": True}],
    ]
    + [[{"name": "n", "value": "v", "show": True}] * 11, None],
    "payment_completed_url": ["ftp://shop.example", "http://shop.example/ok", "javascript:alert(1)", None],
    "payment_cancellation_url": ["https://user:pw@shop.example", "https://tienda.cl/pagó", 3, None],
}
# Each market's own fields and bank codes.
OWN_GOOD: dict[str, dict[str, list[object]]] = {
    "CLP": {
        "user_rut": ["111111111", "12345678K", "1234567k"],
        "is_rut_block": [True, False],
        "user_bank_code": ["cl_estado", "CL_TEST", "cl_santander", "Cl_Bci"],
    },
    "MXN": {
        "target_flow": ["spei", "codi"],
        "customer_phone": ["5512345678", "0000000000"],
        "user_bank_code": ["mx_test", "MX_TEST", "mx_bbva", "MX_BANORTE"],
    },
}
OWN_BAD: dict[str, dict[str, list[object]]] = {
    "CLP": {
        "user_rut": ["11.111.111-1", "111111111\n", "K11111111", "1111", 111111111, None],
        "is_rut_block": ["true", 1, None],
        "user_bank_code": ["mx_test", "MX_BBVA", "estado", "cl_", "cl_estado\n", "cl-estado", "cl_" + "x" * 33, None],
    },
    "MXN": {
        "target_flow": ["SPEI", "Codi", "card", "", ["spei"], None],
        "customer_phone": ["551234567", "55123456789", "+525512345678", "55 1234 5678", "55123456a8", 5512345678, None]
        + ["5512345678\n"],
        "user_bank_code": ["cl_estado", "CL_TEST", "bbva", "mx_", "mx_bbva\n", "mx bbva", None],
    },
}


def test_every_optional_field_is_covered_in_both_markets():
    # A new field must get its rows here (and in the openapi contract's per-currency schemas).
    for market in MARKETS.values():
        covered = (
            set(COMMON_GOOD)
            | set(OWN_GOOD[market.currency])
            | ({name for other in MARKETS.values() if other is not market for name in other.own_fields})
        )
        assert set(OPTION_FIELDS) | set(REQUIRED_FIELDS) - {"order_amount"} <= covered


@BOTH
@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in COMMON_GOOD.items() for v in values])
def test_a_field_of_every_market_takes_its_good_values(market, field, value):
    start = parse(market, **{field: value})

    assert getattr(start.options if field in OPTION_FIELDS else start, field) == value


@BOTH
@pytest.mark.parametrize(("field", "value"), [(f, v) for f, values in COMMON_BAD.items() for v in values])
def test_a_field_of_every_market_refuses_its_bad_values(market, field, value):
    assert set(problems(market, **{field: value})) == {field}


@pytest.mark.parametrize(
    ("market", "field", "value"),
    [(MARKETS[c], f, v) for c, fields in OWN_GOOD.items() for f, values in fields.items() for v in values],
)
def test_a_markets_own_field_takes_its_good_values(market, field, value):
    assert getattr(parse(market, **{field: value}).options, field) == value


@pytest.mark.parametrize(
    ("market", "field", "value"),
    [(MARKETS[c], f, v) for c, fields in OWN_BAD.items() for f, values in fields.items() for v in values],
)
def test_a_markets_own_field_refuses_its_bad_values(market, field, value):
    refused = problems(market, **{field: value})

    assert set(refused) == {field}
    # The same words whatever the value, so never the value itself: a RUT or a phone is payer data.
    assert refused[field] == problems(market, **{field: None})[field]


@pytest.mark.parametrize(
    ("market", "field", "value", "problem"),
    [
        (CHILE, "target_flow", "spei", "only for MXN stacks (ETpay Mexico); this stack's currency is CLP"),
        (CHILE, "customer_phone", "5512345678", "only for MXN stacks (ETpay Mexico); this stack's currency is CLP"),
        (MEXICO, "user_rut", "111111111", "only for CLP stacks (ETpay Chile); this stack's currency is MXN"),
        (MEXICO, "is_rut_block", True, "only for CLP stacks (ETpay Chile); this stack's currency is MXN"),
    ],
)
def test_a_field_of_the_other_market_is_refused_by_name_with_its_currency(market, field, value, problem):
    # given a value that would be valid in the market the field belongs to
    assert problems(market, **{field: value}) == {field: problem}


def test_a_bank_of_the_other_country_is_refused_saying_whose_codes_are_taken():
    assert problems(CHILE, user_bank_code="MX_TEST") == {
        "user_bank_code": "must be a bank code of Chile (cl_...), e.g. cl_test"
    }
    assert problems(MEXICO, user_bank_code="cl_estado") == {
        "user_bank_code": "must be a bank code of Mexico (mx_...), e.g. mx_test"
    }


def test_every_problem_of_a_request_is_reported_at_once():
    refused = problems(MEXICO, user_rut="1", customer_phone="1", target_flow="x", user_bank_code="cl_x")

    assert set(refused) == {"user_rut", "customer_phone", "target_flow", "user_bank_code"}


@BOTH
@pytest.mark.parametrize("amount", [1, 99, "largest"])
def test_whole_amounts_up_to_the_markets_limit_are_taken(market, amount):
    amount = MAX[market.currency] if amount == "largest" else amount

    assert parse(market, order_amount=amount).order_amount == amount


@pytest.mark.parametrize(
    ("market", "amount", "problem"),
    [
        (CHILE, 7_000_001, "must be between 1 and 7000000 whole pesos (CLP)"),
        (MEXICO, 12_501, "must be between 1 and 12500 whole pesos (MXN)"),
        (MEXICO, 0, "must be between 1 and 12500 whole pesos (MXN)"),
        (CHILE, -5, "must be between 1 and 7000000 whole pesos (CLP)"),
        # Centavos cannot be sent to ETpay (an integer of whole units): refused, never rounded.
        (MEXICO, 199.9, "must be a JSON integer of whole pesos (MXN)"),
        (MEXICO, 199.99, "must be a JSON integer of whole pesos (MXN)"),
        (MEXICO, 200.0, "must be a JSON integer of whole pesos (MXN)"),
        (MEXICO, "199.90", "must be a JSON integer of whole pesos (MXN)"),
        (CHILE, 10.5, "must be a JSON integer of whole pesos (CLP)"),
        (CHILE, True, "must be a JSON integer of whole pesos (CLP)"),
    ],
)
def test_an_amount_the_market_cannot_take_is_refused(market, amount, problem):
    assert problems(market, order_amount=amount) == {"order_amount": problem}


def test_the_phone_is_kept_out_of_the_requests_repr():
    start = parse(MEXICO, customer_phone="5512345678", target_flow="spei")

    assert "5512345678" not in repr(start)
    assert "spei" in repr(start)


@pytest.mark.parametrize(
    ("environ", "currency", "max_order_amount"),
    [
        ({}, "CLP", 7_000_000),
        ({"CURRENCY": "CLP", "MAX_ORDER_AMOUNT": "0"}, "CLP", 7_000_000),
        ({"CURRENCY": "MXN"}, "MXN", 12_500),
        ({"CURRENCY": "MXN", "MAX_ORDER_AMOUNT": "0"}, "MXN", 12_500),
        ({"CURRENCY": "MXN", "MAX_ORDER_AMOUNT": "50000"}, "MXN", 50_000),
        ({"CURRENCY": "CLP", "MAX_ORDER_AMOUNT": "100"}, "CLP", 100),
    ],
)
def test_max_order_amount_0_or_unset_is_the_currencys_default(environ, currency, max_order_amount):
    settings = Settings.from_environment({"TABLE_NAME": "orders", **environ})

    assert (settings.currency, settings.max_order_amount) == (currency, max_order_amount)
    assert settings.market is MARKETS[currency]


def test_a_stack_of_a_currency_etpay_does_not_serve_is_not_configured():
    with pytest.raises(ConfigurationUnavailable):
        Settings.from_environment({"TABLE_NAME": "orders", "CURRENCY": "USD"})
    with pytest.raises(ConfigurationUnavailable):
        _ = Settings(table_name="t", stage="sandbox", currency="ARS", max_order_amount=1).market
