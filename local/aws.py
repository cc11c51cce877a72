"""Moved to `local.emulator.aws`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.aws import (
    FAKE_CREDENTIALS,
    REGION,
    EmulatorError,
    physical_names,
)

__all__ = ["FAKE_CREDENTIALS", "REGION", "EmulatorError", "physical_names"]
