"""Moved to `local.emulator.aws`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.aws import (
    emulator_client,
)

__all__ = ["emulator_client"]
