"""Waiting on the nodes' heights: until every node reaches one, or until they agree on one."""

from __future__ import annotations

import time

from devnet import network
from devnet.processes import NodeRecord


def wait_heights(
    nodes: list[NodeRecord], height: int, timeout: float, *, poll: float = 0.2
) -> dict[str, int | None]:
    """Until every node is at `height` or beyond; returns the heights seen last (the caller
    decides what a shortfall means)."""
    deadline = time.monotonic() + timeout
    while True:
        heights = {n.name: network.node_height(n) for n in nodes}
        if all(h is not None and h >= height for h in heights.values()) or time.monotonic() >= deadline:
            return heights
        time.sleep(poll)


def wait_converged(nodes: list[NodeRecord], timeout: float) -> int | None:
    """Until all nodes report the same tip height twice in a row; that height, or None."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        heights = [network.node_height(n) for n in nodes]
        if None not in heights and len(set(heights)) == 1:
            if heights[0] == previous:
                return previous
            previous = heights[0]
        else:
            previous = None
        time.sleep(0.3)
    return None

