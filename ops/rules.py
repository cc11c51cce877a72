"""What the API would refuse, refused before any request is made: the same rules as openapi.yaml's
(tests/unit/test_ops.py holds them to the contract)."""

import re

RESOLUTIONS = ("refunded", "confirmed_with_etpay", "no_action_needed")
MAX_NOTE_CHARS = 1000
MAX_PAGE_SIZE = 100
MAX_CURSOR_CHARS = 8000
# Used with fullmatch: `$` alone would also accept a trailing newline.
ORDER_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
EVENT_ID_PATTERN = re.compile(r"evt_[0-9a-f]{32}")
CURSOR_PATTERN = re.compile(r"[A-Za-z0-9_-]+")
# A lone surrogate (what Python makes of bytes that are not UTF-8 in argv) is not text: the API
# refuses it.
SURROGATE = re.compile(r"[\ud800-\udfff]")


class Refused(ValueError):
    """Input the API would refuse, with the field it is about; nothing was sent."""

    def __init__(self, field: str, rule: str):
        super().__init__(f"{field} must be {rule}")
        self.field = field


def order_id(value: str) -> str:
    if not ORDER_ID_PATTERN.fullmatch(value):
        raise Refused("merchant_order_id", "1 to 64 characters of A-Z a-z 0-9 - _")
    return value


def event_id(value: str) -> str:
    if not EVENT_ID_PATTERN.fullmatch(value):
        raise Refused("event_id", "evt_ followed by 32 lowercase hex digits")
    return value


def cursor(value: str) -> str:
    if len(value) > MAX_CURSOR_CHARS or not CURSOR_PATTERN.fullmatch(value):
        raise Refused("cursor", "a next_cursor as the API returned it")
    return value


def resolution(value: str) -> str:
    if value not in RESOLUTIONS:
        raise Refused("resolution", f"one of {', '.join(RESOLUTIONS)}")
    return value


def note(value: str) -> str:
    if not 1 <= len(value) <= MAX_NOTE_CHARS or SURROGATE.search(value):
        raise Refused("note", f"1 to {MAX_NOTE_CHARS} characters of text")
    return value
