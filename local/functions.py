"""Moved to `local.emulator.functions`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.functions import (
    InvocationError,
)

__all__ = ["InvocationError"]
