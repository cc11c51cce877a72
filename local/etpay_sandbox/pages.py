"""The funnel's HTML. Every value that came from a merchant's request is escaped."""

from html import escape
from typing import Any

from local.etpay_sandbox import rules

TITLE = "ETpay sandbox"
STYLE = """
body{font-family:system-ui,sans-serif;max-width:30rem;margin:3rem auto;padding:0 1rem;color:#1d2433}
h1{font-size:1.25rem;margin-bottom:.2rem} .amount{font-size:2rem;font-weight:700;margin:.6rem 0}
dl{display:grid;grid-template-columns:auto 1fr;gap:.3rem 1rem} dt{color:#667}
label{display:block;margin-top:1rem} select,button{font-size:1rem;padding:.6rem;margin:.3rem 0;width:100%}
#pay{background:#0b7a3e;color:#fff;border:0;border-radius:4px}
#cancel{background:#f2f2f2;border:1px solid #ccc;border-radius:4px}
.state{font-size:1.1rem;font-weight:600} .note{color:#778;font-size:.85rem;margin-top:2rem}
"""
STATE_TEXT = {
    "paid": "This payment was approved.",
    "failed": "This payment was cancelled.",
    "unknown": "This payment has a result the sandbox cannot read.",
}


def _page(body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{TITLE}</title><style>{STYLE}</style></head>"
        f"<body>{body}<p class='note'>ETpay sandbox: no real bank, no real money.</p></body></html>"
    )


FLOW_NAMES = {"spei": "SPEI transfer", "codi": "CoDi"}


def format_amount(amount: int, country: rules.Country) -> str:
    """Whole pesos as the country writes them: `$50.000 CLP`, `$1,500 MXN`."""
    return f"${amount:,}".replace(",", country.thousands_separator) + f" {country.currency}"


def _summary(sandbox: Any, session: Any) -> str:
    shown = "".join(
        f"<dt>{escape(item['name'])}</dt><dd>{escape(item['value'])}</dd>"
        for item in session.request.get("metadata", [])
        if item.get("show") is True
    )
    return (
        f"<h1 id='merchant'>{escape(sandbox.merchant_name)}</h1>"
        f"<div class='amount' id='amount'>{escape(format_amount(session.order_amount, sandbox.country))}</div>"
        f"<dl id='details'><dt>Order</dt><dd id='order'>{escape(session.merchant_order_id)}</dd>{shown}</dl>"
    )


def _state(session: Any) -> str:
    text = STATE_TEXT.get(session.status, "This payment is finished.")
    flow = getattr(session, "flow", None) or ""
    if flow and session.status == "paid":
        text += f" ({FLOW_NAMES[flow]})"
    return (
        f"<p class='state' id='state' data-status='{escape(session.status)}' data-flow='{escape(flow)}'>"
        f"{escape(text)}</p>"
    )


def funnel(sandbox: Any, session: Any) -> str:
    """Pick a bank and pay, or cancel; a finished session only shows its result."""
    if session.finished:
        return _page(_summary(sandbox, session) + _state(session))
    preselected = session.user_bank
    options = "".join(
        f"<option value='{escape(code)}'{' selected' if code == preselected else ''}>{escape(name)}</option>"
        for code, name in sandbox.country.banks
    )
    token = escape(session.token)
    flow = _flow_step(sandbox, session) if sandbox.country is rules.MEXICO else ""
    forms = (
        f"<form method='post' action='/session/{token}/pay' id='pay-form'>"
        f"<label for='bank'>Bank</label><select id='bank' name='bank'>{options}</select>"
        f"{flow}<button id='pay' type='submit'>Pay</button></form>"
        f"<form method='post' action='/session/{token}/cancel' id='cancel-form'>"
        "<button id='cancel' type='submit'>Cancel</button></form>"
    )
    return _page(_summary(sandbox, session) + forms)


def _flow_step(sandbox: Any, session: Any) -> str:
    """Mexico: how the payer pays. The merchant's target_flow fixes it (that step alone is shown);
    without one the payer picks SPEI or CoDi. What ETpay's own pages show is not published: these
    are the sandbox's."""
    amount = escape(format_amount(session.order_amount, sandbox.country))
    steps = {
        "spei": (
            f"<p>Send {amount} by SPEI from your bank's app to CLABE "
            f"<code id='clabe'>{rules.SANDBOX_CLABE}</code>, reference "
            f"<code id='reference'>{escape(session.merchant_order_id)}</code>, then press Pay.</p>"
        ),
        "codi": (
            f"<p>A CoDi payment request for {amount} goes to the phone the shop gave: approve it in "
            "your bank's app, then press Pay.</p>"
        ),
    }
    target = session.target_flow
    if target in steps:
        return (
            f"<fieldset id='flow' data-flow='{escape(target)}'><legend>{FLOW_NAMES[target]}</legend>"
            f"<input type='hidden' name='flow' value='{escape(target)}'>{steps[target]}</fieldset>"
        )
    choices = "".join(
        f"<label><input type='radio' name='flow' value='{name}'{' checked' if index == 0 else ''}> "
        f"{FLOW_NAMES[name]}</label>"
        for index, name in enumerate(rules.TARGET_FLOWS)
    )
    return f"<fieldset id='flow' data-flow=''><legend>Pay with</legend>{choices}</fieldset>"


def result(sandbox: Any, session: Any) -> str:
    """After pay / cancel, when the merchant gave no URL to send the payer back to. It has a URL
    of its own (GET /session/{token}/result), so it can be reloaded and bookmarked."""
    return _page(_summary(sandbox, session) + _state(session))


def already_finished(sandbox: Any, session: Any) -> str:
    return _page("<h1>This payment is already finished</h1>" + _summary(sandbox, session) + _state(session))


def not_found() -> str:
    return _page("<h1>No such payment session</h1><p>The link may be wrong or the session unknown here.</p>")
