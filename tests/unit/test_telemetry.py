"""Metrics from threads: a batch's webhooks are sent from threads of their own, and Powertools'
metric set is not guarded for that. Every count goes through one lock, so no two threads are ever
inside the metric set at once."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from payments.app import telemetry


def test_counts_from_many_threads_never_enter_the_metric_set_at_once(monkeypatch):
    inside = 0
    most_inside = 0
    counted = []
    guard = threading.Lock()

    def add_metric(name, unit, value):
        nonlocal inside, most_inside
        with guard:
            inside += 1
            most_inside = max(most_inside, inside)
        time.sleep(0.001)  # long enough for another thread to come in, if it could
        counted.append((name, value))
        with guard:
            inside -= 1

    monkeypatch.setattr(telemetry.metrics, "add_metric", add_metric)

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(lambda _: telemetry.count(telemetry.WEBHOOK_DELIVERED), range(200)))

    assert most_inside == 1
    assert counted == [(telemetry.WEBHOOK_DELIVERED, 1)] * 200
