"""A height's phases as the driver reports them (node.height_clock), on a clock we move."""

from __future__ import annotations

import pytest

from node import height_clock
from node.height_clock import HeightClock


@pytest.fixture
def now(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    clock = [100.0]
    monkeypatch.setattr(height_clock.time, "monotonic", lambda: clock[0])
    return clock


def test_each_phase_is_timed_and_a_later_round_adds_to_the_same_phases(now: list[float]) -> None:
    observed: list[tuple[str, float]] = []
    clock = HeightClock(lambda phase, s: observed.append((phase, round(s, 3))))
    clock.begin_height(7)
    now[0] += 0.020
    clock.proposal_arrived(7)
    now[0] += 0.030
    clock.executed(0.030)
    clock.enter("prevote")
    now[0] += 0.010
    clock.enter("precommit")
    now[0] += 1.0  # precommit timeout: round 1
    clock.enter("propose")
    clock.proposal_arrived(7)  # round 1's proposal: the first arrival is the one kept
    now[0] += 0.020
    clock.enter("prevote")
    now[0] += 0.005
    clock.enter("precommit")
    now[0] += 0.005
    clock.enter("commit")
    now[0] += 0.015
    spent = clock.end_height()
    assert spent == {
        "wait_ms": 0,
        "propose_ms": 70,
        "prevote_ms": 15,
        "precommit_ms": 1005,
        "commit_ms": 15,
        "execute_ms": 30,
        "proposal_at_ms": 20,
    }
    assert observed[:3] == [("propose", 0.05), ("prevote", 0.01), ("precommit", 1.0)]
    assert clock.phase == "wait"


def test_the_wait_before_a_height_is_its_first_phase_and_nothing_carries_over(now: list[float]) -> None:
    clock = HeightClock()
    clock.begin_height(7)
    now[0] += 0.2
    clock.executed(0.1)
    clock.enter("commit")
    assert clock.end_height()["proposal_at_ms"] is None  # its own proposal: none arrived
    now[0] += 0.03
    clock.proposal_arrived(8)  # a peer started height 8 while we still waited
    clock.proposal_arrived(12)  # too far ahead to be ours to time
    now[0] += 0.07  # timeout_commit
    clock.begin_height(8)
    now[0] += 0.04
    clock.enter("commit")
    now[0] += 0.01
    assert clock.end_height() == {
        "wait_ms": 100,
        "propose_ms": 40,
        "prevote_ms": 0,
        "precommit_ms": 0,
        "commit_ms": 10,
        "execute_ms": 0,
        "proposal_at_ms": -70,
    }
