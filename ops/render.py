"""What the commands print: fixed-width tables for a terminal, or JSON (`--json`).

Only fields named here are ever printed: an order's session token, payment URL (which carries it)
and ETpay's payment token are left out, as the stack's own logs leave them out, and so is anything
the API may add later. An operator's note is printed by `order` alone, with the resolved review it
belongs to. Every text from the API is printed with its control characters escaped, so no value
can move the cursor, clear the screen or forge a line."""

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

ORDER_FIELDS = ("merchant_order_id", "order_amount", "currency", "status", "expires_at", "created_at", "updated_at")
REVIEW_FIELDS = ("number", "state", "opened_at", "reasons", "resolution", "resolved_by", "resolved_at")
EVENT_FIELDS = ("id", "type", "created_at")
DELIVERY_FIELDS = (
    "state",
    "attempts",
    "last_status_code",
    "last_error",
    "last_attempt_at",
    "next_attempt_at",
    "delivered_at",
)
GAP = "  "


def clean(value: Any) -> str:
    """Text safe for a terminal line: what is not printable (newlines, escapes) as Python escapes."""
    text = "" if value is None else str(value)
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns as wide as their widest cell, two spaces apart; headers in capitals."""
    lines = [[header.upper() for header in headers], *([clean(cell) for cell in row] for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    return "\n".join(
        GAP.join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip() for line in lines
    )


def when(value: Any) -> str:
    """An API timestamp to the second, in UTC: 2026-11-26 14:03:07Z."""
    if not isinstance(value, str):
        return "-"
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:
        return value
    return moment.strftime("%Y-%m-%d %H:%M:%SZ")


def age(value: Any, now: datetime) -> str:
    """How long ago: 45m, 3h12m, 2d4h."""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return "-"
    minutes = int((now - moment).total_seconds() // 60)
    if minutes < 0:
        return "-"
    days, hours, minutes = minutes // 1440, minutes // 60 % 24, minutes % 60
    return f"{days}d{hours}h" if days else f"{hours}h{minutes:02d}m" if hours else f"{minutes}m"


def money(amount: Any, currency: Any) -> str:
    """Whole pesos, both currencies: 50,000 CLP."""
    return f"{amount:,} {currency}" if isinstance(amount, int) else f"{amount} {currency}"


def reasons(review: Mapping[str, Any]) -> str:
    return ", ".join(str(raised.get("reason")) for raised in review.get("reasons", []) if isinstance(raised, dict))


def public_review(review: Mapping[str, Any], notes: bool) -> dict[str, Any]:
    names = (*REVIEW_FIELDS, "note") if notes else REVIEW_FIELDS
    return {name: review[name] for name in names if name in review}


def public_order(order: Mapping[str, Any], notes: bool) -> dict[str, Any]:
    """The order without its session's tokens; its reviews with their notes only when `notes`."""
    view = {name: order[name] for name in ORDER_FIELDS if name in order}
    if isinstance(order.get("review"), dict):
        view["review"] = {"required": order["review"].get("required"), "reasons": order["review"].get("reasons")}
    view["reviews"] = [public_review(review, notes) for review in order.get("reviews", []) if isinstance(review, dict)]
    return view


def public_event(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event's id, type, time, order id and delivery; never the order it carries."""
    view = {name: event[name] for name in EVENT_FIELDS if name in event}
    carried = event.get("data", {}).get("order", {}) if isinstance(event.get("data"), dict) else {}
    if isinstance(carried, dict) and "merchant_order_id" in carried:
        view["merchant_order_id"] = carried["merchant_order_id"]
    delivery: Mapping[str, Any] = event["delivery"] if isinstance(event.get("delivery"), dict) else {}
    view["delivery"] = {name: delivery[name] for name in DELIVERY_FIELDS if name in delivery}
    return view


def as_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


def queue_text(entries: Sequence[Mapping[str, Any]], more: bool, now: datetime) -> str:
    if not entries:
        return "No order has an open review."
    rows = [
        [
            entry.get("merchant_order_id", "?"),
            entry.get("status", "?"),
            money(entry.get("order_amount"), entry.get("currency")),
            f"#{entry.get('review', {}).get('number', '?')}",
            when(entry.get("review", {}).get("opened_at")),
            age(entry.get("review", {}).get("opened_at"), now),
            reasons(entry.get("review", {})),
        ]
        for entry in entries
    ]
    headers = ("order", "status", "amount", "review", "opened", "age", "reasons")
    summary = f"{len(entries)} order(s) with an open review, oldest first"
    if more:
        summary += "; the queue may hold more (without --limit: every page)"
    return f"{table(headers, rows)}\n{summary}."


def order_text(order: Mapping[str, Any], events: Sequence[Mapping[str, Any]]) -> str:
    open_review = order.get("review", {}) if isinstance(order.get("review"), dict) else {}
    lines = [
        f"Order {clean(order.get('merchant_order_id'))}: {clean(order.get('status'))}, "
        f"{clean(money(order.get('order_amount'), order.get('currency')))}",
        f"created {when(order.get('created_at'))}, updated {when(order.get('updated_at'))}",
        "open review: " + (clean(", ".join(open_review.get("reasons", []))) if open_review.get("required") else "none"),
    ]
    reviews = [review for review in order.get("reviews", []) if isinstance(review, dict)]
    if reviews:
        rows = [
            [
                f"#{review.get('number')}",
                review.get("state", "?"),
                when(review.get("opened_at")),
                reasons(review),
                review.get("resolution", "-"),
                review.get("resolved_by", "-"),
                when(review.get("resolved_at")) if review.get("resolved_at") else "-",
            ]
            for review in reviews
        ]
        headers = ("review", "state", "opened", "reasons", "resolution", "resolved by", "resolved")
        lines += ["", "Reviews", table(headers, rows)]
        lines += [f"note #{review.get('number')}: {clean(review['note'])}" for review in reviews if "note" in review]
    lines += ["", "Events (webhook delivery)"]
    if events:
        lines.append(
            table(("event", "type", "created", "delivery", "attempts", "last", "when"), map(_event_row, events))
        )
    else:
        lines.append("none yet (an event appears a moment after its transition)")
    return "\n".join(lines)


def _event_row(event: Mapping[str, Any]) -> list[str]:
    delivery = event.get("delivery", {}) if isinstance(event.get("delivery"), dict) else {}
    last = delivery.get("last_status_code", delivery.get("last_error", "-"))
    if delivery.get("delivered_at"):
        moment = f"delivered {when(delivery['delivered_at'])}"
    elif delivery.get("next_attempt_at"):
        moment = f"next {when(delivery['next_attempt_at'])}"
    else:
        moment = "-"
    return [
        event.get("id", "?"),
        event.get("type", "?"),
        when(event.get("created_at")),
        delivery.get("state", "?"),
        str(delivery.get("attempts", "?")),
        str(last),
        moment,
    ]


def review_summary(order: Mapping[str, Any]) -> str:
    """What is about to be resolved: the order and its open review (asked before a resolution)."""
    open_reviews = [r for r in order.get("reviews", []) if isinstance(r, dict) and r.get("state") == "open"]
    review = open_reviews[-1] if open_reviews else {}
    return (
        f"Order {clean(order.get('merchant_order_id'))}: {clean(order.get('status'))}, "
        f"{clean(money(order.get('order_amount'), order.get('currency')))}\n"
        f"Open review #{clean(review.get('number', '?'))} since {when(review.get('opened_at'))}: "
        f"{clean(reasons(review))}"
    )


def resolved_text(order: Mapping[str, Any]) -> str:
    resolved = [r for r in order.get("reviews", []) if isinstance(r, dict) and r.get("state") == "resolved"]
    review = resolved[-1] if resolved else {}
    return (
        f"Resolved review #{clean(review.get('number', '?'))} of order {clean(order.get('merchant_order_id'))} "
        f"as {clean(review.get('resolution'))} (by {clean(review.get('resolved_by'))} at "
        f"{when(review.get('resolved_at'))}); the order stays {clean(order.get('status'))}."
    )


def redelivery_text(event: Mapping[str, Any]) -> str:
    """The 202's event: its delivery as it stood when the answer left (the redelivery may be done
    by then)."""
    view = public_event(event)
    delivery = view["delivery"]
    return (
        f"Queued the webhook of {clean(view.get('id'))} ({clean(view.get('type'))}, order "
        f"{clean(view.get('merchant_order_id', '?'))}) again. Its delivery: {clean(delivery.get('state', '?'))}, "
        f"{clean(delivery.get('attempts', '?'))} attempt(s) so far (`order` shows how it goes)."
    )
