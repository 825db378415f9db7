"""node.net.auth.ReplayGuard with a controlled clock: once per (key, nonce), within the
window, and never a replay of a nonce it had to forget early."""

from __future__ import annotations

import pytest

from node.net.auth import ReplayGuard
from node.net.grpc_status import NodeCode, NodeError

KEY = b"k" * 32


class Clock:
    def __init__(self) -> None:
        self.ms = 1_000_000

    def __call__(self) -> float:
        return self.ms / 1000


def refusal(guard: ReplayGuard, nonce: bytes, time_ms: int) -> str | None:
    try:
        guard.check(KEY, nonce, time_ms)
    except NodeError as err:
        return err.code.value
    return None


def test_each_nonce_once_within_the_window() -> None:
    clock = Clock()
    guard = ReplayGuard(60_000, clock)
    now = clock.ms
    assert refusal(guard, b"a", now) is None
    assert refusal(guard, b"a", now) == NodeCode.REPLAYED_REQUEST
    assert refusal(guard, b"b", now - 60_000) is None      # the edge of the window
    assert refusal(guard, b"c", now - 60_001) == NodeCode.STALE_REQUEST
    assert refusal(guard, b"d", now + 60_001) == NodeCode.STALE_REQUEST
    clock.ms += 60_001  # "a" is past the window now: refused as stale, and forgotten
    assert refusal(guard, b"a", now) == NodeCode.STALE_REQUEST
    assert refusal(guard, b"e", clock.ms) is None
    assert len(guard._seen) == 1


@pytest.mark.parametrize("capacity", [1, 3])
def test_a_nonce_forgotten_early_is_never_accepted_again(capacity: int) -> None:
    clock = Clock()
    guard = ReplayGuard(60_000, clock, capacity=capacity)
    signed = [clock.ms + i for i in range(capacity + 2)]
    for i, t in enumerate(signed):
        assert refusal(guard, bytes([i]), t) is None
    assert len(guard._seen) <= capacity
    # Whatever was forgotten (the oldest) cannot come back as fresh.
    for i, t in enumerate(signed):
        assert refusal(guard, bytes([i]), t) in (NodeCode.REPLAYED_REQUEST, NodeCode.STALE_REQUEST)
    assert refusal(guard, b"new", signed[-1] + 1) is None
