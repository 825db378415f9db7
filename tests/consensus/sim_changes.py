"""Random validator-set change schedules for the simulator, drawn from a seed.

Each schedule follows the ledger's governance bounds (node/ledger/governance_rules.py): at
least min(4, genesis validators) validators in every set, and per step at most a third of
the previous total power removed and at most a third added. Byzantine validators hold
less than a third of the power of every set they are in, and honest nodes crash where a
change takes effect or the height before it (CrashAt), on top of the random faults."""

from __future__ import annotations

import random

from consensus.sim import CrashAt, Faults, SimConfig
from consensus.sim.world import HEIGHT_POINTS

CHANGE_STRATEGIES = [
    "lock_breaker", "silent", "equivocating_proposer", "double_voter", "invalid_blocks", "noisy", "leaver",
]


def within_bounds(before: tuple[int, ...], after: tuple[int, ...], fewest: int) -> bool:
    """The governance bounds of one step (a change committed in one block)."""
    total = sum(before)
    removed = sum(max(0, b - a) for b, a in zip(before, after, strict=True))
    added = sum(max(0, a - b) for b, a in zip(before, after, strict=True))
    members = sum(1 for p in after if p > 0)
    return members >= fewest and 3 * removed <= total and 3 * added <= total and after != before


def next_powers(r: random.Random, before: tuple[int, ...], fewest: int) -> tuple[int, ...] | None:
    """One to three updates (add an observer, remove a member, change a power) within bounds."""
    for _ in range(30):
        after = list(before)
        for _ in range(r.randint(1, 3)):
            i = r.randrange(len(after))
            after[i] = r.choice([0, 1, 2, 3]) if after[i] else r.choice([1, 1, 2])
        if within_bounds(before, tuple(after), fewest):
            return tuple(after)
    return None


def byzantine_within_every_set(
    r: random.Random, sets: list[tuple[int, ...]]
) -> tuple[tuple[int, str], ...]:
    """Byzantine nodes, each kept only if it leaves them under a third of every set's power."""
    n = len(sets[0])
    chosen: list[int] = []
    for i in r.sample(range(n), n):
        if r.random() < 0.4 and all(3 * sum(s[j] for j in [*chosen, i]) < sum(s) for s in sets):
            chosen.append(i)
    return tuple(sorted((i, r.choice(CHANGE_STRATEGIES)) for i in chosen))


def random_change_config(seed: int) -> SimConfig:
    r = random.Random(seed)
    n = r.choice([5, 6, 7, 8])
    genesis_size = r.randint(4, n - 1)  # the rest start as observers
    genesis = tuple(r.choice([1, 1, 2, 3]) if i < genesis_size else 0 for i in range(n))
    fewest = min(4, genesis_size)
    sets, changes, height = [genesis], [], 1
    for _ in range(r.randint(1, 3)):
        height += r.randint(1, 2)
        after = next_powers(r, sets[-1], fewest)
        if after is not None:
            changes.append((height, after))
            sets.append(after)
    byzantine = byzantine_within_every_set(r, sets)
    honest = [i for i in range(n) if i not in dict(byzantine)]
    crash_at = tuple(
        CrashAt(r.choice(honest), effective - r.randint(0, 1), r.choice(HEIGHT_POINTS), r.randint(100, 3000))
        for effective, _ in r.sample(changes, min(len(changes), r.randint(1, 2)))
    )
    faults = Faults(
        drop=r.choice([0, 0.1, 0.3]),
        duplicate=r.choice([0, 0.1]),
        max_delay_ms=r.choice([20, 200, 1000]),
        partition=r.random() < 0.3,
        gst_ms=r.choice([0, 3000, 10000]),
        crashes=r.choice([0, 0, 1]),
    )
    last = changes[-1][0] if changes else height
    return SimConfig(
        seed=seed, powers=genesis, byzantine=byzantine, validator_changes=tuple(changes),
        heights=last + r.randint(0, 1), faults=faults, crash_at=crash_at,
    )
