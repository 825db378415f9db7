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
    clock.begin_height()
    now[0] += 0.050
    clock.executed(0.030)
    clock.enter("prevote")
    now[0] += 0.010
    clock.enter("precommit")
    now[0] += 1.0  # precommit timeout: round 1
    clock.enter("propose")
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
    }
    assert observed[:3] == [("propose", 0.05), ("prevote", 0.01), ("precommit", 1.0)]
    assert clock.phase == "wait"


def test_the_wait_before_a_height_is_its_first_phase_and_nothing_carries_over(now: list[float]) -> None:
    clock = HeightClock()
    clock.begin_height()
    now[0] += 0.2
    clock.executed(0.1)
    clock.enter("commit")
    clock.end_height()
    now[0] += 0.1  # timeout_commit
    clock.begin_height()
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
    }
