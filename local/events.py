"""Moved to `local.emulator.api`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.api import (
    api_gateway_event,
)

__all__ = ["api_gateway_event"]
