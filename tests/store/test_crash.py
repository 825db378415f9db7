"""Crash safety: a process committing blocks is SIGKILLed at random moments; every restart
finds a consistent tip (old state or new, never a mix)."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from node.ledger.store import Store
from node.ledger.store_audit import audit_store

from .harness import Net, sum_utxos

# The child runs from the checkout root, so it imports this checkout (tests/ is a package).
CHECKOUT = Path(__file__).resolve().parents[2]
KILLS = 22


@pytest.mark.timeout(180)
def test_sigkill_at_random_moments_leaves_old_or_new_state(tmp_path: Path) -> None:
    net = Net()
    path = str(tmp_path / "db")
    rng = random.Random(20260101)
    heights: list[int] = []
    for run in range(KILLS):
        child = subprocess.Popen(
            [sys.executable, "-m", "tests.store.crash_child", path, str(run)],
            cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )
        try:
            ready = child.stdout.readline()
            assert ready.startswith(b"ready"), child.stderr.read().decode()
            # Random moment: often inside a commit (the loop spends much of its time there).
            time.sleep(rng.uniform(0.01, 0.25))
            child.send_signal(signal.SIGKILL)
            child.wait(timeout=30)
        finally:
            if child.poll() is None:
                child.kill()
                child.wait()
            child.stdout.close()
            child.stderr.close()
        assert child.returncode == -signal.SIGKILL, f"child exited on its own ({child.returncode})"

        with Store.open(path, net.genesis) as store:
            tip = store.tip()
            assert store.recompute_state_root() == tip.state_root
            assert sum_utxos(store) == store.supply().outstanding
            assert audit_store(store) == []  # also: tip header's state root and hash, indexes, balances
            heights.append(tip.height)

    print("heights after each kill:", heights)
    assert heights == sorted(heights)  # nothing committed is ever lost
    assert heights[-1] >= KILLS  # and the children did make progress
