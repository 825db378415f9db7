"""Where test-only fault injection reaches the running node: hooks, no-ops by default.

The store and the consensus driver call `crash_point(name)` at the instants a power cut is
most interesting; the driver offers each consensus action to `misbehave` first; the service
asks `deaf_to` whether to drop a peer message. On a real validator every hook is the no-op
below and node.testing is never imported (node/ruff.toml bans it from the node's code);
node.service installs the functions of node.testing.faults only when a fault is asked for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from proto import node_pb2


def no_crash(point: str) -> None:
    """The crash point of a real validator: nothing happens."""


@dataclass(slots=True)
class FaultHooks:
    crash_point: Callable[[str], None] = no_crash
    # Sees each consensus action first; True when it took it over (a Byzantine mode).
    misbehave: Callable[[object], bool] | None = None
    # True for a peer message to drop as if the link had lost it.
    deaf_to: Callable[[node_pb2.PeerMessage], bool] | None = None

