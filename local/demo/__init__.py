"""The merchant's and the demo's side of the local stack, apart from the emulator (local/emulator/):
the demo payment (`payment.py`), the live terminal (`terminal.py`), the merchant's return page
(`merchant.py`) and webhook receiver (`webhooks.py`), the scenarios (`scenarios.py`) and what
`make local` does once the stack is up (`serve.py`)."""

from local.demo.payment import DemoClient

__all__ = ["DemoClient"]
