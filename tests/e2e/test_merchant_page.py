"""The local merchant page (local/merchant.py): where ETpay's funnel sends the payer back, showing
the order's status as the payments backend recorded it, never the redirect's say-so."""

import urllib3


def _get(url: str) -> urllib3.BaseHTTPResponse:
    return urllib3.request("GET", url, redirect=False, retries=False, timeout=urllib3.Timeout(connect=2.0, read=30.0))


def test_the_return_urls_point_at_the_merchant_page_and_the_backend_accepts_them(local_stack, http_api, order_id):
    urls = local_stack.merchant.return_urls(order_id)

    session = http_api.open_session(order_id, **urls)

    assert session["status"] == "PENDING"
    assert urls == {
        "payment_completed_url": f"{local_stack.merchant.url}/orders/{order_id}/completed",
        "payment_cancellation_url": f"{local_stack.merchant.url}/orders/{order_id}/cancelled",
    }
    sent = local_stack.sandbox.initialize_requests[-1]
    assert sent["payment_completed_url"] == urls["payment_completed_url"]
    assert sent["payment_cancellation_url"] == urls["payment_cancellation_url"]


def test_the_page_shows_the_recorded_status_and_follows_it(local_stack, http_api, etpay, order_id):
    session = http_api.open_session(order_id, **local_stack.merchant.return_urls(order_id))
    page_url = f"{local_stack.merchant.url}/orders/{order_id}/completed?jwt=a.forged.redirect"

    before = _get(page_url)
    etpay.complete(session["session_token"], "paid")
    after = _get(page_url)  # a reload
    status = _get(f"{local_stack.merchant.url}/orders/{order_id}/status")

    assert before.status == after.status == 200
    assert "data-status='PENDING'" in before.data.decode()
    assert "data-status='PAID'" in after.data.decode()
    assert status.json() == {"merchant_order_id": order_id, "status": "PAID", "order_amount": 50_000, "currency": "CLP"}


def test_the_status_route_passes_on_no_token(local_stack, http_api, order_id):
    session = http_api.open_session(order_id)

    status = _get(f"{local_stack.merchant.url}/orders/{order_id}/status")

    assert session["session_token"] not in status.data.decode()
    assert set(status.json()) == {"merchant_order_id", "status", "order_amount", "currency"}


def test_an_unknown_order_and_an_unknown_page(local_stack, order_id):
    status = _get(f"{local_stack.merchant.url}/orders/{order_id}/status")
    page = _get(f"{local_stack.merchant.url}/orders/{order_id}/completed")
    elsewhere = _get(f"{local_stack.merchant.url}/orders/{order_id}/refund")

    assert (status.status, status.json()) == (404, {"error": "not_found"})
    # The page says plainly it does not know the order: no "You pressed Pay", no raw error code.
    text = page.data.decode()
    assert page.status == 404 and f"This shop does not know order <b id='order'>{order_id}</b>" in text
    assert "You pressed" not in text and "not_found" not in text
    assert elsewhere.status == 404
