"""The funnel's HTML. Every value from a merchant request is escaped."""

from html import escape
from typing import Any

STYLE = """
body{font-family:system-ui,sans-serif;max-width:28rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
h1{font-size:1.3rem} .amount{font-size:2rem;font-weight:700;margin:.5rem 0}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem} dt{color:#667}
select,button{font-size:1rem;padding:.5rem;margin:.4rem 0;width:100%}
#pay{background:#0b7a3e;color:#fff;border:0} #cancel{background:#eee;border:1px solid #ccc}
.note{color:#667;font-size:.85rem}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body>{body}</body></html>"
    )


def _amount(session: Any, currency: str) -> str:
    return f"{session.order_amount:,}".replace(",", ".") + f" {escape(currency)}"


def funnel(sandbox: Any, session: Any, banks: tuple[tuple[str, str], ...]) -> str:
    shown = "".join(
        f"<dt>{escape(item['name'])}</dt><dd>{escape(item['value'])}</dd>"
        for item in session.request.get("metadata") or []
        if isinstance(item, dict) and item.get("show") is True
    )
    header = (
        f"<h1>{escape(sandbox.merchant_name)}</h1>"
        f"<div class='amount' id='amount'>{_amount(session, sandbox.currency)}</div>"
        f"<dl><dt>Order</dt><dd id='order'>{escape(session.merchant_order_id)}</dd>{shown}</dl>"
    )
    if session.status != "pending":
        return _page("ETpay sandbox", header + f"<p id='state'>This payment is {escape(session.status)}.</p>")
    options = "".join(f"<option value='{escape(code)}'>{escape(name)}</option>" for code, name in banks)
    token = escape(session.token)
    form = (
        f"<form method='post' action='/session/{token}/pay'>"
        f"<label for='bank'>Bank</label><select id='bank' name='bank'>{options}</select>"
        "<button id='pay' type='submit'>Pay</button></form>"
        f"<form method='post' action='/session/{token}/cancel'>"
        "<button id='cancel' type='submit'>Cancel</button></form>"
        "<p class='note'>ETpay sandbox: no real bank, no real money.</p>"
    )
    return _page("ETpay sandbox", header + form)


def result(session: Any, message: str) -> str:
    state = f"Order {escape(session.merchant_order_id)}: {escape(session.status)}"
    return _page("ETpay sandbox", f"<h1>{escape(message)}</h1><p id='state'>{state}</p>")


def not_found() -> str:
    return _page("ETpay sandbox", "<h1>No such payment session</h1>")
