"""Faults under payment load on a real devnet, and the invariants checked afterwards.

Used by the fault tests (tests/faults/) and by `cbdc devnet chaos --duration S`:

- faults.py: the fault scheduler (kills, crash points, SIGSTOP, partitions, degraded links);
- governance.py: validator-set changes among the faults (removed and re-added, power
  changes, a validator killed at its change height, a partition across a change);
- invariants.py: ChainAuditor (every node's blocks against the invariants) and audit_stores;
- report.py: ChaosReport, what a run did and found;
- heights.py: waiting until the nodes reach or agree on a height;
- run.py: run_chaos, the whole run.

The processes (spawn, kill, wait_exit) are devnet.processes'; the payment load is
devnet.load's. They are re-exported here under the names the fault tests use.
"""

from __future__ import annotations

from devnet.chaos.faults import Chaos
from devnet.chaos.governance import GovernanceChaos
from devnet.chaos.heights import wait_converged, wait_heights
from devnet.chaos.invariants import ChainAuditor, EvidenceSeen, audit_stores
from devnet.chaos.report import ChaosReport
from devnet.chaos.run import run_chaos
from devnet.load import PaymentLoad, prepare_payments
from devnet.processes import kill as kill_node
from devnet.processes import signal_node, wait_exit
from devnet.processes import spawn as spawn_node

__all__ = [
    "ChainAuditor",
    "Chaos",
    "ChaosReport",
    "EvidenceSeen",
    "GovernanceChaos",
    "PaymentLoad",
    "audit_stores",
    "kill_node",
    "prepare_payments",
    "run_chaos",
    "signal_node",
    "spawn_node",
    "wait_converged",
    "wait_exit",
    "wait_heights",
]
