"""The cast every small test network shares: deterministic keys by role, and the clock.

The rule world (tests/ledger/world.py), the LevelDB store harness (tests/store/harness.py)
and the hostile-input chain (tests/hostile/world.py) each build a different tool, on the same
people: issuers 1-3 (2 of 3 sign), institutions 10-11, wallets 20+, validators 40+ (or a
single proposer, 50), an outsider 99. Deterministic keys keep every failure reproducible.
"""

from __future__ import annotations

from node.ledger.keys import KeyPair

# 2026-01-01 12:00 in UTC+8 (04:00 UTC), in unix ms.
T0 = 1_767_240_000_000
DAY_MS = 86_400_000
BLOCK_MS = 1_000  # blocks one second apart where a harness makes a chain


def key(n: int) -> KeyPair:
    """The key pair of cast member `n` (its seed is 32 bytes of n)."""
    return KeyPair.from_seed(bytes([n]) * 32)


def issuers() -> list[KeyPair]:
    return [key(1), key(2), key(3)]


def institutions() -> list[KeyPair]:
    return [key(10), key(11)]


def wallets(n: int = 4) -> list[KeyPair]:
    return [key(20 + i) for i in range(n)]


def validators(n: int = 4) -> list[KeyPair]:
    return [key(40 + i) for i in range(n)]


OUTSIDER = 99
PROPOSER = 50
