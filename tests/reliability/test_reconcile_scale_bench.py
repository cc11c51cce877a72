"""make bench's reconciler-at-scale run (bench/reconcile_scale.py), small: the same code on DynamoDB
Local with 300 orders instead of 100,000. It keeps the benchmark runnable (nothing else runs it
between two `make bench`), and holds the reconciler to what the benchmark reports, with no timing.

It runs in a process of its own, as the bench runs it: the run silences Powertools' metrics for its
worker threads, which must not leak into the tests that read the metrics."""

from bench.reconcile_scale import in_subprocess


def test_every_abandoned_session_ends_and_every_lost_payment_is_paid_with_two_checks_at_most():
    report = in_subprocess(orders=300)

    assert report["abandoned"] > 0 and report["lost"] > 0
    assert report["abandoned_ended"]
    assert report["simulated"] is not None and report["lost_paid_after"] is not None
    assert report["max_calls"] <= 2
    # The checks are spread over the index's shards, not piled on one key value: every key value an
    # order hashes to is written (the orders' ids are drawn from the run's seed), and no other.
    assert report["index_keys"] == report["order_shards"] > 1
    assert report["busiest_key_share"] < 0.5
