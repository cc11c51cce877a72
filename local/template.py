"""Moved to `local.emulator.template`; this name stays for bench/, scripts/ and tests/ until they import that."""

from local.emulator.template import (
    ROOT,
    Route,
    function_environment,
    load_template,
    rate_seconds,
    resources_of_type,
    routes,
    schedules,
    table_definitions,
)

__all__ = [
    "ROOT",
    "Route",
    "function_environment",
    "load_template",
    "rate_seconds",
    "resources_of_type",
    "routes",
    "schedules",
    "table_definitions",
]
