"""Moved to `local.emulator.template`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.template import (
    choose,
    evaluate_conditions,
    exists,
    parameter_values,
)

__all__ = ["choose", "evaluate_conditions", "exists", "parameter_values"]
