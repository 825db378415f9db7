"""Every `cbdc bench` command runs and its JSON carries every field (no speed is asserted:
figures depend on the machine; the commands exist to measure them)."""

from __future__ import annotations

import json

from click.testing import CliRunner

from cli.main import cli


def _run(*args: str) -> dict:
    result = CliRunner().invoke(cli, ["bench", *args], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    start = result.stdout.index("{")
    return json.loads(result.stdout[start:])


def _positive(value) -> bool:
    return isinstance(value, int | float) and value > 0


def _figure(value) -> bool:
    """A number that may round to 0 on a loaded machine: a difference of two measurements
    (CPU beyond what the signatures took, measured apart) is floored at 0, not made up."""
    return isinstance(value, int | float) and value >= 0


def test_bench_devnet_reports_every_figure_with_the_limit_beside_it() -> None:
    out = _run("devnet", "--validators", "4", "--duration", "3", "--rate", "60")
    sustained = out["sustained"]
    for key in (
        "committed_tps",
        "blocks_per_s",
        "mean_txs_per_block",
        "cpu_ms_per_tx_per_validator",
        "main_thread_cpu_ms_per_tx_per_validator",
        "validators_cpu_share",
        "load_generator_cpu_share",
        "main_thread_wakeups_per_s",
    ):
        assert _positive(sustained[key]), key
    assert sustained["main_thread_preemptions_per_s"] >= 0
    assert sustained["committed"] > 0
    assert set(sustained["latency_ms"]) >= {"p50", "p95", "p99"}
    assert sustained["latency_ms"]["p50"] <= sustained["latency_ms"]["p99"]
    # The breakdown's parts add up to each transaction's latency, so their shares to 1.
    whole, tail = sustained["latency_breakdown"]["all"], sustained["latency_breakdown"]["slowest_1pct"]
    assert whole["txs"] == sustained["committed"] and 1 <= tail["txs"] <= whole["txs"]
    for group in (whole, tail):
        assert abs(sum(group["share_of_latency"].values()) - 1) < 0.01
        assert 0 <= group["included_by_own_node_share"] <= 1
        # The watched validator's log gave each height's phases (node.height_clock).
        assert set(group["height_phases_ms_median"]) >= {"wait", "propose", "prevote", "precommit", "commit"}
    assert tail["latency_ms_median"] >= whole["latency_ms_median"]
    limit = out["limit"]
    assert _positive(limit["ed25519_verifications_per_s_one_core"]) and limit["cores"] >= 1
    assert (
        abs(limit["crypto_ceiling_tps"] - limit["cores"] * limit["ed25519_verifications_per_s_one_core"] / 4)
        < 1
    )
    assert out["ratio_to_limit"] > 0
    assert _positive(limit["one_ed25519_verify_ms"])
    assert _positive(limit["cpu_ms_per_tx_per_validator_target"])
    assert _positive(limit["main_thread_cpu_ms_per_tx_per_validator_target"])
    assert _positive(out["cpu_per_tx_in_verifications"])
    assert _positive(out["main_thread_cpu_per_tx_in_verifications"])
    overload = out["overload"]
    assert overload["offered_tps"] >= 2 * sustained["committed_tps"] - 1
    assert _positive(overload["best_sustained_tps"]) and overload["target_fraction_of_best"] == 0.9
    assert overload["committed_fraction_of_best"] >= 0 and "rejected_by_code" in overload
    assert set(out["latency_curve"]) == {"25%", "50%", "75%"}
    assert all(_positive(v) for v in out["node_rss_mb_after"].values()) and len(out["node_rss_mb_after"]) == 4


def test_bench_sync_catches_up_and_verifies_the_state_root() -> None:
    out = _run("sync", "--txs", "600", "--wallets", "50", "--block-size", "200")
    assert out["transactions"] >= 600 and out["blocks"] >= 3
    assert out["state_root_verified"] is True
    for key in ("tx_per_s", "tx_per_cpu_second", "ratio_per_core"):
        assert _positive(out[key]), key
    assert _positive(out["limit"]["ed25519_verifications_per_s_one_core"])


def test_bench_ledger_and_consensus_print_their_figures() -> None:
    ledger = _run("ledger", "--txs", "400", "--wallets", "40", "--block-size", "200", "--workers", "0")
    assert ledger["transfers"] == 400
    assert _positive(ledger["sequential"]["tx_per_s"]) and _positive(ledger["ratio"])
    assert _positive(ledger["ed25519_verifications_per_s_one_core"])
    assert set(ledger["breakdown_us_per_tx_sequential"]) >= {"decode", "verify_signatures", "rules", "commit"}
    consensus = _run("consensus", "--heights", "5", "--sizes", "4")
    assert _positive(consensus["ed25519_verifications_per_second"])
    (n4,) = consensus["networks"]
    assert n4["validators"] == 4 and n4["heights"] == 5
    for key in ("decided_heights_per_second", "signature_verifications_per_height"):
        assert _positive(n4[key]), key
    assert _figure(n4["cpu_ms_per_height_beyond_signatures_per_validator"])


def test_bench_locality_reports_each_surrounding_beside_the_caches() -> None:
    out = _run("locality", "--seconds", "0.1")
    assert _positive(out["limit"]["one_ed25519_verify_us"])
    assert out["limit"]["caches"], "the kernel describes cpu0's caches"
    points = out["between_calls"]
    assert [p["objects_read_between_calls"] for p in points] == [0, 256, 1_024, 4_096, 16_384]
    assert points[0]["times_tight_loop"] == 1.0
    for point in points:
        assert _positive(point["decode_cpu_us"]) and _positive(point["times_tight_loop"])
    assert all(_positive(p["reading_them_cpu_us"]) for p in points[1:])
    wakeups = out["wakeups"]
    assert wakeups["alone"]["processes"] == 1 and wakeups["shared"]["processes"] == 2 * out["machine"]["cpus"]
    for run in wakeups.values():
        assert _positive(run["decode_cpu_us_median"]) and _positive(run["wakeups_per_s_per_process"])
        low, high = run["decode_cpu_us_range"]
        assert low <= run["decode_cpu_us_median"] <= high
