"""Payments on ETpay, in rings (docs/ARCHITECTURE.md):

- `domain`: the pure rules and types (no I/O);
- `app`: the use cases, which carry the domain's decisions out through ports;
- `adapters`: AWS and the merchant's webhook endpoint, behind those ports;
- `api`: the HTTP edge (requests, validation, responses);
- `config`: the settings, and the wiring that builds each function's parts.

Imports point inwards only: config and api over app, app over domain, adapters over domain
(import-linter's contracts in pyproject.toml, checked by `make lint`).
"""
