"""What an operator watches on a real validator process: its /metrics endpoint (process and
Python metrics, build info, per-validator precommits, block sizes) and its log (key events as
JSON fields, per-module levels changed at runtime by SIGHUP, the height it stopped at)."""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from devnet.network import CHAIN_ID
from devnet.processes import free_ports, signal_node, wait_exit
from node.ledger.store import Store
from node.metrics import package_version
from tests.support.network import Net, create_net, reconfigure, stop_net
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    # One validator decides alone: a block every heartbeat (2 s) without any traffic.
    metrics_port = free_ports(1)[0]
    net = create_net(
        tmp_path_factory.mktemp("observed"),
        1,
        config=lambda i: {
            "log": {"format": "json", "modules": "consensus=warning"},
            "metrics": {"address": f"127.0.0.1:{metrics_port}"},
        },
    )
    net.metrics_url = f"http://127.0.0.1:{metrics_port}/metrics"  # type: ignore[attr-defined]
    net.start()
    yield net
    stop_net(net)


def _log_records(net: Net) -> list[dict]:
    lines = net.nodes[0].log_path.read_text(errors="replace").splitlines()
    return [json.loads(line) for line in lines if line.startswith("{")]


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    with urllib.request.urlopen(url, timeout=5) as reply:
        text = reply.read().decode()
    assert "_created" not in text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_carry_process_build_and_per_validator_figures(net: Net) -> None:
    net.wait_height(3)
    samples = _samples(net.metrics_url)  # type: ignore[attr-defined]
    names = {name for name, _ in samples}
    assert {"process_cpu_seconds_total", "process_resident_memory_bytes", "python_info"} <= names
    assert samples[("cbdc_build_info", (("chain_id", CHAIN_ID), ("version", package_version())))] == 1
    validator = net.nodes[0].name
    signed = samples[("cbdc_validator_precommits_signed_total", (("validator", validator),))]
    height = samples[("cbdc_height", ())]
    assert signed >= 2 and signed == height  # alone, it signs every block it commits
    assert samples[("cbdc_validator_precommits_missed_total", (("validator", validator),))] == 0
    assert samples[("cbdc_block_size_bytes_count", ())] == height
    assert samples[("cbdc_block_size_bytes_sum", ())] > 0
    assert samples[("cbdc_evidence_committed_total", ())] == 0
    # Where its heights go: alone and idle, it waits out the heartbeat (2 s) before each one
    # and then decides it at once; it builds every block it commits.
    def step(phase: str, stat: str) -> float:
        return samples[(f"cbdc_consensus_step_duration_seconds_{stat}", (("step", phase),))]

    assert step("propose", "count") >= height - 1 and step("commit", "count") >= height - 1
    assert step("wait", "sum") / step("wait", "count") > 1.0
    assert step("propose", "sum") / step("propose", "count") < 0.5
    assert samples[("cbdc_block_work_seconds_count", (("work", "build"),))] >= height - 1
    # Garbage collection: how long each one stopped the process, every generation exported from
    # the start (node.gc_policy's thresholds leave an idle node without collections for long);
    # never more pauses than the collections the process made (python_gc_collections_total).
    for generation in ("0", "1", "2"):
        pauses = samples[("cbdc_gc_pause_seconds_count", (("generation", generation),))]
        assert 0 <= pauses <= samples[("python_gc_collections_total", (("generation", generation),))]


def test_log_levels_are_per_module_and_change_on_sighup(net: Net) -> None:
    node = net.nodes[0]
    net.wait_height(3)  # heights 1 and 2 were logged (or not) before height 3 was decided
    records = _log_records(net)
    started = [r for r in records if r["msg"] == "node started"]
    assert started and started[0]["chain"] == CHAIN_ID and started[0]["validator"] is True  # cbdc.node: info
    assert not [r for r in records if r["msg"] == "committed"]  # cbdc.consensus: warning

    reconfigure(Path(node.home), {"log": {"format": "json", "modules": ""}})
    signal_node(node, signal.SIGHUP)

    def committed_after_reload() -> list[dict]:
        records = _log_records(net)
        reloaded = [i for i, r in enumerate(records) if r["msg"] == "log levels reloaded"]
        return [r for r in records[reloaded[0]:] if r["msg"] == "committed"] if reloaded else []

    committed = wait_for(committed_after_reload, 30, "a committed line after SIGHUP")[0]
    # The event's facts are fields, not text inside the message.
    assert committed["logger"] == "cbdc.consensus" and committed["height"] >= 3
    assert isinstance(committed["round"], int) and isinstance(committed["txs"], int)
    assert len(committed["hash"]) == 16
    # And where the height's time went (node.height_clock): here the heartbeat's wait.
    names = ("wait", "propose", "prevote", "precommit", "commit", "execute")
    phases = {k: committed[f"{k}_ms"] for k in names}
    assert all(isinstance(v, int | float) and v >= 0 for v in phases.values())
    assert phases["wait"] >= 1000 and phases["execute"] <= phases["propose"] + 1


def test_a_bad_log_config_on_sighup_changes_nothing(net: Net) -> None:
    node = net.nodes[0]
    config = Path(node.home) / "config.toml"
    good = config.read_text()
    config.write_text(good.replace('modules = ""', 'modules = "peers"'))
    try:
        signal_node(node, signal.SIGHUP)
        refused = wait_for(
            lambda: [r for r in _log_records(net) if r["msg"] == "log levels not reloaded"],
            30,
            "the refusal of a bad log config",
        )
        assert "log.modules: 'peers' is not MODULE=LEVEL" in refused[0]["error"]
    finally:
        config.write_text(good)


def test_stopped_at_names_the_last_committed_height(net: Net) -> None:
    node = net.nodes[0]
    signal_node(node, signal.SIGTERM)
    assert wait_exit(node, 30) == 0
    stopped = [r for r in _log_records(net) if r["msg"].startswith("node stopped at height")]
    assert stopped, "no 'node stopped' line"
    with Store.open(str(Path(node.home) / "data" / "ledger"), net.genesis()) as store:
        last = store.height
    assert last >= 3
    assert stopped[-1]["msg"] == f"node stopped at height {last}" and stopped[-1]["height"] == last
