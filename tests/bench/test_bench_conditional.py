"""`cbdc bench ledger` reports a conditional (2-of-3 locked) spend beside the plain transfer
(no speed is asserted: the figures are the machine's)."""

from __future__ import annotations

from tests.bench.test_bench_commands import _positive, _run


def test_bench_ledger_reports_the_conditional_spend_beside_the_plain_one() -> None:
    out = _run("ledger", "--txs", "200", "--wallets", "20", "--block-size", "100", "--workers", "0")
    conditional = out["conditional_spend"]
    assert "2-of-3" in conditional["spend"]
    for key in ("tx_per_s", "main_process_cpu_us_per_tx", "plain_transfer_cpu_us_per_tx",
                "cost_vs_plain_transfer"):
        assert _positive(conditional[key]), key
