"""Readiness: whether this node's answers can be trusted right now, and if not, why.

Three checks, each with a sentence an operator can act on:
- `syncing`: block sync is catching up; balances and outcomes read here would be stale.
- `peer_quorum`: the validators we are linked with both ways (we hear them and they hear
  us), with our own power if we validate, hold more than two thirds of the voting power.
  Without that no block can be decided through us: submissions would sit in the mempool.
- `behind_network`: a peer announced a tip more than `max_lag_blocks` beyond ours.

The gRPC health service (grpc.health.v1, for load balancers and grpc_health_probe) answers
NOT_SERVING for the Node and Sync services while any check fails, and the metrics port
serves the same verdict as JSON on /healthz (node/metrics.py). The verdict is computed on
the event loop (node/service.py, once a second) and read by the HTTP thread as one
immutable snapshot.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


@dataclass(frozen=True, slots=True)
class Readiness:
    height: int
    checks: tuple[Check, ...] = field(default=())

    @property
    def ready(self) -> bool:
        return all(c.ok for c in self.checks)

    @property
    def failed(self) -> tuple[Check, ...]:
        return tuple(c for c in self.checks if not c.ok)

    def to_json(self) -> dict[str, Any]:
        """The /healthz body: {"status": "ok"|"unavailable", "height", "failed": [...],
        "checks": [...]}; each check as {"check", "ok", "detail"}."""
        return {
            "status": "ok" if self.ready else "unavailable",
            "height": self.height,
            "failed": [_check_json(c) for c in self.failed],
            "checks": [_check_json(c) for c in self.checks],
        }


# Before the first evaluation (the node is starting): not ready, and says so.
STARTING = Readiness(0, (Check("starting", False, "the node is starting"),))


def _check_json(check: Check) -> dict[str, Any]:
    return {"check": check.name, "ok": check.ok, "detail": check.detail}


def evaluate(
    *,
    height: int,
    syncing: bool,
    linked_power: int,
    own_power: int,
    total_power: int,
    lag: int,
    max_lag_blocks: int,
) -> Readiness:
    """The readiness verdict from what the node knows (pure: the caller gathers the inputs)."""
    power = linked_power + own_power
    quorum = 3 * power > 2 * total_power
    return Readiness(
        height,
        (
            Check(
                "syncing",
                not syncing,
                f"catching up by block sync ({lag} blocks behind)" if syncing else "not syncing",
            ),
            Check(
                "peer_quorum",
                quorum,
                f"linked with {power} of {total_power} voting power (own included); "
                + ("more than two thirds" if quorum else "needs more than two thirds to decide blocks"),
            ),
            Check(
                "behind_network",
                lag <= max_lag_blocks,
                f"{lag} blocks behind the highest tip a peer announced (at most {max_lag_blocks} allowed)",
            ),
        ),
    )
