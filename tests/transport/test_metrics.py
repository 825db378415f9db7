"""Per-node metrics: separate registries in one process, exposed over HTTP when configured."""

from __future__ import annotations

import urllib.request

import pytest
from prometheus_client import REGISTRY, Gauge

from node.metrics import DROP_REASONS, NodeMetrics, package_version, start_metrics_server


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
    global_only = Gauge("cbdc_test_global_only", "In the global registry only.")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/metrics", timeout=5) as reply:
            body = reply.read().decode()
        assert "cbdc_mempool_txs 42.0" in body
        assert "cbdc_test_global_only" not in body  # not the global registry
    finally:
        REGISTRY.unregister(global_only)
        server.close()


def test_process_and_python_metrics_are_exported_without_created_series() -> None:
    text = NodeMetrics().exposition().decode()
    for name in (
        "process_cpu_seconds_total", "process_resident_memory_bytes", "process_open_fds",
        "process_start_time_seconds", "python_info", "python_gc_objects_collected_total",
    ):
        assert f"\n{name}" in text, name
    assert "_created" not in text


def test_build_info_names_the_version_and_the_chain() -> None:
    metrics = NodeMetrics()
    metrics.describe("cbdc-test", [("alpha", b"a" * 32)])
    assert metrics.registry.get_sample_value(
        "cbdc_build_info", {"version": package_version(), "chain_id": "cbdc-test"}
    ) == 1
    assert package_version() not in ("", "unknown")  # the test runs from an installed tree


def test_committed_blocks_count_size_evidence_and_each_validators_precommits() -> None:
    metrics = NodeMetrics()
    keys = {name: bytes([i]) * 32 for i, name in enumerate(("alpha", "beta", "gamma", "delta"))}
    metrics.describe("cbdc-test", keys.items())
    value = metrics.registry.get_sample_value
    for name in keys:  # every validator is exported from the start
        assert value("cbdc_validator_precommits_signed_total", {"validator": name}) == 0
        assert value("cbdc_validator_precommits_missed_total", {"validator": name}) == 0
    metrics.block_committed(300, 0, [keys["alpha"], keys["beta"], keys["gamma"]])
    metrics.block_committed(70_000, 2, [keys["alpha"], keys["beta"], keys["delta"]])
    signed = {n: value("cbdc_validator_precommits_signed_total", {"validator": n}) for n in keys}
    missed = {n: value("cbdc_validator_precommits_missed_total", {"validator": n}) for n in keys}
    assert signed == {"alpha": 2, "beta": 2, "gamma": 1, "delta": 1}
    assert missed == {"alpha": 0, "beta": 0, "gamma": 1, "delta": 1}
    assert value("cbdc_evidence_committed_total") == 2
    assert value("cbdc_block_size_bytes_count") == 2
    assert value("cbdc_block_size_bytes_sum") == 70_300
    assert value("cbdc_block_size_bytes_bucket", {"le": "512.0"}) == 1
