"""The commands: each calls the API, then says what it found (a table, or JSON with --json).

Their arguments are checked already (ops.cli.check, by ops.rules): ids the API takes, and a
resolution and a note it would record."""

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TextIO

from ops import render, rules
from ops.client import BadAnswer, OperatorApi

# Orders per GET /reviews page: the API's maximum, so a long queue takes few requests.
PAGE_SIZE = rules.MAX_PAGE_SIZE
YES = {"y", "yes"}


class NotDone(Exception):
    """The command stopped before sending what would change something; the message says why."""


@dataclass
class Console:
    """Where a command writes: results on `out`; questions and what they are about on `err`, so
    that --json output stays JSON; answers from `answers`."""

    out: TextIO
    err: TextIO
    answers: TextIO
    json: bool

    def result(self, text: str, value: Any) -> None:
        print(render.as_json(value) if self.json else text, file=self.out)

    def ask(self, context: str, question: str) -> bool:
        print(context, file=self.err)
        print(f"{question} [y/N] ", end="", file=self.err, flush=True)
        answer = self.answers.readline()
        if not self.answers.isatty():
            print(file=self.err)  # a terminal echoes the Enter that ends the answer; a pipe does not
        return answer.strip().lower() in YES


def reviews(api: OperatorApi, console: Console, limit: int | None, cursor: str | None) -> None:
    """GET /reviews, page after page until the queue ends (or `limit` orders are listed)."""
    entries: list[dict[str, Any]] = []
    seen: set[str] = set()
    while True:
        size = PAGE_SIZE if limit is None else min(PAGE_SIZE, limit - len(entries))
        page = api.get("/reviews", {"limit": str(size), **({"cursor": cursor} if cursor else {})})
        listed, cursor = page.get("reviews"), page.get("next_cursor")
        if not isinstance(listed, list) or not all(isinstance(entry, dict) for entry in listed):
            raise BadAnswer("GET /reviews: the page has no list of reviews")
        entries += listed
        if not cursor or (limit is not None and len(entries) >= limit):
            break
        if not isinstance(cursor, str) or cursor in seen:
            raise BadAnswer("GET /reviews: the API handed out the same next_cursor twice")
        seen.add(cursor)
    entries = entries[:limit] if limit is not None else entries
    answer: dict[str, Any] = {"reviews": entries, **({"next_cursor": cursor} if cursor else {})}
    console.result(render.queue_text(entries, bool(cursor), datetime.now(UTC)), answer)


def order(api: OperatorApi, console: Console, merchant_order_id: str) -> None:
    """GET /orders/{id} and GET /orders/{id}/events: the order, every review, every event."""
    path = f"/orders/{merchant_order_id}"
    found = render.public_order(api.get(path), notes=True)
    listed = api.get(f"{path}/events").get("events")
    if not isinstance(listed, list):
        raise BadAnswer(f"GET {path}/events: the answer has no list of events")
    events = [render.public_event(event) for event in listed if isinstance(event, dict)]
    console.result(render.order_text(found, events), {"order": found, "events": events})


def resolve(
    api: OperatorApi, console: Console, merchant_order_id: str, resolution: str, note: str, confirmed: bool
) -> None:
    """POST /orders/{id}/review, once the operator said yes to what the order's open review is."""
    path = f"/orders/{merchant_order_id}"
    body = {"resolution": resolution, "note": note}
    if not confirmed:
        current = api.get(path)
        if not (current.get("review") or {}).get("required"):
            raise NotDone(
                f"no_open_review: order {render.clean(merchant_order_id)} has no open review "
                "(never flagged, or already resolved); nothing was recorded"
            )
        if not console.ask(render.review_summary(current), f"Record its resolution as {resolution}?"):
            raise NotDone("not resolved: not confirmed, nothing was recorded (--yes resolves without asking)")
    resolved = api.post(f"{path}/review", body, expected=200)
    console.result(render.resolved_text(resolved), {"order": render.public_order(resolved, notes=False)})


def redeliver(api: OperatorApi, console: Console, event_id: str) -> None:
    """POST /events/{id}/redeliver: the webhook is queued again, same id and body, signed anew."""
    event = api.post(f"/events/{event_id}/redeliver", None, expected=202)
    console.result(render.redelivery_text(event), {"event": render.public_event(event)})
