"""Configuration: the deployment's settings, parsed once from the environment (`settings`), and
the wiring that builds each function's use case from them with its adapters (`wiring`). The only
ring that knows both the use cases and the adapters.
"""
