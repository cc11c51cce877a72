"""`make local PERSIST=1`: the tables live in DynamoDB Local's files, so an order outlives the
stack, and its stream goes on feeding the events function after a restart; without it nothing is kept."""

import urllib3

from local.stack import LocalStack


def test_orders_survive_a_restart_only_when_persisted(tmp_path):
    state = tmp_path / "state"
    with LocalStack.on_free_ports(tmp_path / "logs", persist=state) as first:
        assert first.kept_tables == []
        created = urllib3.request(
            "POST", f"{first.api_url}/sessions", json={"merchant_order_id": "KEPT-1", "order_amount": 990}
        )
        assert created.status == 201
    with LocalStack.on_free_ports(tmp_path / "logs", persist=state) as second:
        kept = urllib3.request("GET", f"{second.api_url}/orders/KEPT-1")
        assert "OrdersTable" in second.kept_tables
        assert (kept.status, kept.json()["status"]) == (200, "PENDING")
        # The restarted stream still feeds the events function: a new order's webhook arrives.
        urllib3.request("POST", f"{second.api_url}/sessions", json={"merchant_order_id": "KEPT-2", "order_amount": 990})
        assert second.webhooks.wait_for(lambda webhook: webhook.merchant_order_id == "KEPT-2", 30) is not None
    with LocalStack.on_free_ports(tmp_path / "logs") as in_memory:
        assert urllib3.request("GET", f"{in_memory.api_url}/orders/KEPT-1").status == 404
