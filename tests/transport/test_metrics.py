"""Per-node metrics: separate registries in one process, exposed over HTTP when configured."""

from __future__ import annotations

import urllib.request

import pytest

from node.metrics import DROP_REASONS, NodeMetrics, start_metrics_server


def test_two_nodes_in_one_process_keep_separate_metrics() -> None:
    a, b = NodeMetrics(), NodeMetrics()
    a.height.set(7)
    a.txs_committed.inc(3)
    a.block_interval.observe(0.2)
    a.dropped("queue_full", 2)
    b.height.set(1)
    assert a.registry.get_sample_value("cbdc_height") == 7
    assert b.registry.get_sample_value("cbdc_height") == 1
    assert a.dropped_count("queue_full") == 2 and b.dropped_count("queue_full") == 0
    assert b.registry.get_sample_value("cbdc_txs_committed_total") == 0
    text = a.exposition().decode()
    for name in (
        "cbdc_height", "cbdc_round", "cbdc_block_interval_seconds_bucket", "cbdc_txs_committed_total",
        "cbdc_mempool_txs", "cbdc_mempool_bytes", "cbdc_peers_connected", "cbdc_messages_dropped_total",
        "cbdc_sync_lag_blocks",
    ):
        assert name in text
    for reason in DROP_REASONS:  # every reason is exported from the start
        assert f'cbdc_messages_dropped_total{{reason="{reason}"}}' in text
    with pytest.raises(ValueError, match="unknown drop reason"):
        a.dropped("because")


def test_the_metrics_endpoint_serves_its_own_registry() -> None:
    assert start_metrics_server("", NodeMetrics()) is None  # "" = off
    metrics = NodeMetrics()
    metrics.mempool_size.set(42)
    server = start_metrics_server("127.0.0.1:0", metrics)
    assert server is not None
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert "cbdc_mempool_txs 42.0" in body
        assert "python_gc_objects_collected_total" not in body  # not the global registry
    finally:
        server.close()
