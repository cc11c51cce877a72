"""Which expanded templates to lint: a small set that holds every distinct definition any
combination produces.

Linting costs about a second per template and tool on this machine, and the product of the
switches yields hundreds of distinct templates that mostly repeat each other. Both linters judge
a template through its resources, outputs and conditions, each in the context of the template
it sits in, so linting a set of real combinations that together contain every distinct
definition (a greedy set cover) finds what linting all of them would find, except a problem
that needs two rare variants in the same template. `--lint-all` lints every distinct template.
"""

import hashlib
import json
from collections.abc import Mapping
from typing import Any

# The sections whose entries the linters judge one by one.
SECTIONS = ("Resources", "Outputs", "Conditions", "Rules", "Parameters")

Unit = tuple[str, str, str]  # section, name, digest of the definition


def units(template: Mapping[str, Any]) -> set[Unit]:
    found = set()
    for section in SECTIONS:
        for name, definition in (template.get(section) or {}).items():
            canonical = json.dumps(definition, sort_keys=True, separators=(",", ":"))
            found.add((section, name, hashlib.sha256(canonical.encode()).hexdigest()))
    return found


def covering(templates: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """Names of templates that together hold every unit of all of them, greedily: the template
    adding the most uncovered units first (ties by name, so a run is reproducible)."""
    held = {name: units(template) for name, template in templates.items()}
    uncovered = set().union(*held.values()) if held else set()
    chosen: list[str] = []
    while uncovered:
        best = max(sorted(held), key=lambda name: len(held[name] & uncovered))
        chosen.append(best)
        uncovered -= held[best]
    return chosen
