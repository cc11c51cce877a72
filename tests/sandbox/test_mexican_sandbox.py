"""The sandbox as ETpay Mexico: a merchant whose currency is MXN gets Mexican banks (MX_TEST first),
a SPEI or CoDi step in the funnel as target_flow asks, `terms_url: null`, and notifications with
the Mexican values of the claims; Chile's fields are refused, as Mexico's are by a Chilean
merchant."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest

from local.etpay_sandbox import EtpaySandbox
from local.etpay_sandbox.rules import CHILE, MEXICO
from tests.sandbox.test_etpay_sandbox import (
    CLAIMS,
    MERCHANT_API_TOKEN,
    MERCHANT_CODE,
    Receiver,
    check_status,
    http,  # noqa: F401 - a fixture
    initialize,
    open_session,
    submit_form,
    verified_claims,
)


@pytest.fixture
def etpay_mx():
    with EtpaySandbox(MERCHANT_CODE, MERCHANT_API_TOKEN, port=0, merchant_name="Tienda MX", currency="MXN") as sandbox:
        yield sandbox


@pytest.fixture
def etpay_cl():
    with EtpaySandbox(MERCHANT_CODE, MERCHANT_API_TOKEN, port=0) as sandbox:
        yield sandbox


@pytest.fixture
def receiver():
    running = Receiver().start()
    yield running
    running.stop()


def funnel(http, etpay, token: str) -> str:  # noqa: F811 - http is the fixture's value
    reply = http.request("GET", f"{etpay.pmt_url}/session/{token}")
    assert reply.status == 200
    return reply.data.decode()


def test_a_mexican_session_answers_terms_url_null(http, etpay_mx):  # noqa: F811
    reply = initialize(http, etpay_mx, order_amount=1_500, target_flow="spei", customer_phone="5512345678")

    assert reply.status == 200
    assert reply.json()["terms_url"] is None
    assert etpay_mx.initialize_requests[-1]["customer_phone"] == "5512345678"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"user_rut": "111111111"}, "user_rut is for ETpay Chile merchants only"),
        ({"is_rut_block": True}, "is_rut_block is for ETpay Chile merchants only"),
        ({"target_flow": "SPEI"}, "target_flow must be one of spei, codi"),
        ({"target_flow": "card"}, "target_flow must be one of spei, codi"),
        ({"customer_phone": "+525512345678"}, "customer_phone must be 10 digits"),
        ({"customer_phone": "55123456"}, "customer_phone must be 10 digits"),
        ({"customer_phone": 5512345678}, "customer_phone must be a str"),
    ],
)
def test_a_mexican_merchant_cannot_send_chiles_fields_or_bad_mexican_ones(http, etpay_mx, fields, message):  # noqa: F811
    reply = initialize(http, etpay_mx, **fields)

    assert reply.status == 400
    assert reply.json() == {"message": message}
    assert etpay_mx.sessions == {}


@pytest.mark.parametrize("field", ["target_flow", "customer_phone"])
def test_a_chilean_merchant_cannot_send_mexicos_fields(http, etpay_cl, field):  # noqa: F811
    reply = initialize(http, etpay_cl, **{field: {"target_flow": "spei", "customer_phone": "5512345678"}[field]})

    assert reply.status == 400
    assert reply.json() == {"message": f"{field} is for ETpay Mexico merchants only"}


def test_the_funnel_shows_mxn_and_mexican_banks_with_mx_test_first(http, etpay_mx):  # noqa: F811
    token = open_session(http, etpay_mx, order_amount=1_500)

    page = funnel(http, etpay_mx, token)

    assert "$1,500 MXN" in page
    banks = re.findall(r"<option value='([A-Z_]+)'", page)
    assert banks == [code for code, _ in MEXICO.banks]
    assert banks[0] == "MX_TEST" and all(code.startswith("MX_") for code in banks)
    assert not set(banks) & {code for code, _ in CHILE.banks}


@pytest.mark.parametrize(
    ("target_flow", "shown"),
    [("spei", "Send $1,500 MXN by SPEI"), ("codi", "A CoDi payment request for $1,500 MXN")],
)
def test_target_flow_makes_the_funnel_show_that_step_alone(http, etpay_mx, target_flow, shown):  # noqa: F811
    token = open_session(http, etpay_mx, order_amount=1_500, target_flow=target_flow, customer_phone="5512345678")

    page = funnel(http, etpay_mx, token)

    assert f"<fieldset id='flow' data-flow='{target_flow}'>" in page
    assert shown in page
    assert "type='radio'" not in page
    # The payer's phone is not shown back, not even on ETpay's own page.
    assert "5512345678" not in page


def test_without_target_flow_the_payer_picks_spei_or_codi(http, etpay_mx, receiver):  # noqa: F811
    token = open_session(http, etpay_mx, order_amount=900, payment_webhook_url=receiver.url)
    page = funnel(http, etpay_mx, token)
    assert re.findall(r"name='flow' value='(\w+)'", page) == ["spei", "codi"]

    reply = submit_form(http, f"{etpay_mx.pmt_url}/session/{token}/pay", bank="MX_BBVA", flow="codi")

    assert reply.status == 303
    assert etpay_mx.sessions[token].flow == "codi"
    assert etpay_mx.describe(etpay_mx.sessions[token])["flow"] == "codi"


def test_a_chilean_funnel_has_no_flow_step(http, etpay_cl):  # noqa: F811
    token = open_session(http, etpay_cl)

    assert "id='flow'" not in funnel(http, etpay_cl, token)


def test_paying_by_spei_notifies_the_mexican_values_of_the_claims(http, etpay_mx, receiver):  # noqa: F811
    # given a Mexican session that asks for SPEI
    token = open_session(
        http,
        etpay_mx,
        order_amount=1_500,
        target_flow="spei",
        customer_phone="5512345678",
        user_bank_code="mx_banorte",
        payment_webhook_url=receiver.url,
        payment_completed_url="http://127.0.0.1:9/shop/done",
    )
    assert "selected" in funnel(http, etpay_mx, token).split("MX_BANORTE")[1][:20]

    # when the payer pays
    reply = submit_form(http, f"{etpay_mx.pmt_url}/session/{token}/pay", bank="MX_BANORTE", flow="codi")

    # then the notification carries Mexico's values, and the flow target_flow fixed
    assert reply.status == 303
    (redirect_jwt,) = parse_qs(urlsplit(reply.headers["Location"]).query)["jwt"]
    assert receiver.jwts == [redirect_jwt]
    claims = verified_claims(etpay_mx, token, redirect_jwt)
    assert set(claims) == CLAIMS
    assert claims["merchant_currency"] == "MXN"
    assert claims["merchant_amount"] == 1_500 and type(claims["merchant_amount"]) is int
    assert claims["user_bank"] == "MX_BANORTE"
    assert claims["merchant_account_bank"] == "MX_TEST"
    assert claims["user_rut"] is None
    assert len(claims["user_account"]) == 18 and claims["user_account"].isdigit()
    assert claims["payment_status"] is True
    # never the payer's phone: ETpay's claims have no such field
    assert "5512345678" not in str(claims)
    assert etpay_mx.sessions[token].flow == "spei"
    # and the status API reports the same payment
    (record,) = check_status(http, etpay_mx, session_token=token).json()
    assert record["merchant_currency"] == "MXN" and record["payment_token"] == claims["payment_token"]


def test_the_result_page_says_which_flow_paid(http, etpay_mx):  # noqa: F811
    token = open_session(http, etpay_mx, order_amount=1_500, target_flow="codi")
    submit_form(http, f"{etpay_mx.pmt_url}/session/{token}/pay", bank="MX_TEST")

    page = http.request("GET", f"{etpay_mx.pmt_url}/session/{token}/result").data.decode()

    assert "data-status='paid' data-flow='codi'" in page
    assert "(CoDi)" in page


def test_an_unknown_currency_is_not_an_etpay_country():
    with pytest.raises(ValueError, match="CLP and MXN"):
        EtpaySandbox(MERCHANT_CODE, MERCHANT_API_TOKEN, port=0, currency="USD")
