"""The end-to-end tier's fixtures: the local stack over real HTTP."""

from tests.e2e.e2e_stack import etpay, http_api, local_stack, mx_http_api, mx_local_stack, order_id  # noqa: F401 - fixtures of this tier
