"""What a chaos run did and found, counted and in words (`cbdc devnet chaos` prints it)."""

from __future__ import annotations

from dataclasses import dataclass, field


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
    checks: dict[str, bool] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.kills + self.stops + self.partitions_healed + self.link_degradations

    @property
    def ok(self) -> bool:
        return not self.violations

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
            f"transactions:        {self.committed} committed of {self.submitted} submitted",
            f"heights:             {self.start_height} -> {self.end_height} "
            f"({self.blocks_checked} blocks checked on every node)",
            f"invariants:          {verdict}",
        ]
        for name, held in sorted(self.checks.items()):
            out.append(f"  {name:<20} {'holds' if held else 'BROKEN'}")
        out += [f"  VIOLATION: {v}" for v in self.violations]
        return out

