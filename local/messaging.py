"""Moved to `local.emulator.aws`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.aws import (
    create_queues_and_buses,
)

__all__ = ["create_queues_and_buses"]
