"""What a chaos run did and found, counted and in words (`cbdc devnet chaos` prints it)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class ChaosReport:
    duration_s: float = 0.0
    validators: int = 0
    kills: int = 0
    crash_point_exits: int = 0
    restarts: int = 0
    stops: int = 0
    partitions_healed: int = 0
    link_degradations: int = 0
    submitted: int = 0
    committed: int = 0
    start_height: int = 0
    end_height: int = 0
    blocks_checked: int = 0
    # Governance (devnet/chaos/governance.py): changes submitted, refused, and seen in force
    # afterwards on every node (governance_changes), by kind; the faults aimed at them.
    governance_submitted: int = 0
    governance_refused: int = 0
    governance_changes: int = 0
    validator_removals: int = 0
    validator_readds: int = 0
    power_changes: int = 0
    kills_at_change: int = 0
    partitions_across_change: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.kills + self.stops + self.partitions_healed + self.link_degradations

    @property
    def ok(self) -> bool:
        return not self.violations

    def to_dict(self) -> dict[str, Any]:
        """The report as JSON-ready data (`cbdc devnet chaos --json`)."""
        return {**asdict(self), "faults": self.faults, "ok": self.ok}

    def lines(self) -> list[str]:
        verdict = "all hold" if self.ok else f"{len(self.violations)} broke"
        out = [
            f"duration:            {self.duration_s:.0f} s, {self.validators} validators",
            f"faults injected:     {self.faults}",
            f"  kills (SIGKILL):   {self.kills}",
            f"  crash-point exits: {self.crash_point_exits}",
            f"  restarts:          {self.restarts}",
            f"  SIGSTOP/SIGCONT:   {self.stops}",
            f"  partitions healed: {self.partitions_healed}",
            f"  degraded links:    {self.link_degradations} (delay, jitter, connection loss)",
            f"governance changes:  {self.governance_changes} in force of {self.governance_submitted} "
            f"submitted ({self.governance_refused} refused)",
            f"  validators removed / re-added / power changed: {self.validator_removals} / "
            f"{self.validator_readds} / {self.power_changes}",
            f"  killed at a change height: {self.kills_at_change}; partitions across a change: "
            f"{self.partitions_across_change}",
            f"transactions:        {self.committed} committed of {self.submitted} submitted",
            f"heights:             {self.start_height} -> {self.end_height} "
            f"({self.blocks_checked} blocks checked on every node)",
            f"invariants:          {verdict}",
        ]
        for name, held in sorted(self.checks.items()):
            out.append(f"  {name:<20} {'holds' if held else 'BROKEN'}")
        out += [f"  VIOLATION: {v}" for v in self.violations]
        return out

