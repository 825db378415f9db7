"""`cbdc devnet chaos` with validator-set changes among its faults, short enough for the
suite: five validator processes behind per-link proxies, under payments, with every other
fault a governance change (a validator removed and re-added, a power change, a validator
killed at its change height, a partition across a change; devnet/chaos/governance.py).

Afterwards every invariant must hold on every node: the same block hash and state root at
every height, every payment a client saw committed present everywhere, the supply adding
up, no honest double signature, every change in force from two blocks after the one
committing it (named by that header, announced by the one before), `audit verify` from
genesis, and each store audited offline."""

from __future__ import annotations

import json

from devnet.chaos import run_chaos


def test_a_short_chaos_run_with_governance_changes_breaks_no_invariant(tmp_path) -> None:
    report = run_chaos(tmp_path / "devnet", 15, validators=5, tps=10, seed=11, governance=True)
    assert report.ok, "\n".join(["violations:", *report.violations, "run:", *report.log])
    assert report.governance_changes >= 2, "\n".join(report.log)
    assert report.governance_refused == 0, "\n".join(report.log)
    for check in ("same_chain", "committed_present", "supply", "validator_sets", "audit_verify",
                  "stores_audited_offline"):
        assert report.checks.get(check) is True, check
    assert report.committed > 0 and report.end_height > report.start_height
    doc = json.loads(json.dumps(report.to_dict()))  # what `cbdc devnet chaos --json` prints
    assert doc["governance_changes"] == report.governance_changes and doc["ok"] is True
