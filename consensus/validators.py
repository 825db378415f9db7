"""The validator set: keys, voting power, quorum thresholds and proposer selection.

Proposer selection is a smooth weighted round robin (the priority-accumulation scheme
CometBFT uses, without carrying state between heights): every step each validator's
priority grows by its power, the validator with the highest priority (ties: the smaller
public key) proposes, and its priority drops by the total power. Over any window of
`total power` consecutive steps each validator proposes exactly `power` times, spread
evenly. The proposer of (height, round) is the selection at step `height - 1 + round`
(mod the period), so it is a pure function of (validator set, height, round) and
consecutive rounds of one height walk through the schedule. When the total power exceeds
2**16, selection uses powers scaled down to that budget (each at least 1) so the period,
which is precomputed lazily, stays small; quorums always use the exact powers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field

VALIDATORS_DOMAIN = b"cbdc/validators/v1\x00"
MAX_SELECTION_PERIOD = 1 << 16
MAX_TOTAL_POWER = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Validator:
    public_key: bytes  # 32-byte ed25519 key
    power: int


@dataclass(eq=False)
class ValidatorSet:
    """An immutable set of validators in canonical order (sorted by public key)."""

    validators: tuple[Validator, ...]
    total_power: int = field(init=False)
    _index: dict[bytes, int] = field(init=False, repr=False)
    _schedule: bytearray = field(init=False, repr=False)
    _selection_state: list[int] = field(init=False, repr=False)
    _selection_powers: list[int] = field(init=False, repr=False)

    def __init__(self, validators: Iterable[Validator | tuple[bytes, int]]) -> None:
        items = sorted(
            (v if isinstance(v, Validator) else Validator(bytes(v[0]), int(v[1])) for v in validators),
            key=lambda v: v.public_key,
        )
        if not items:
            raise ValueError("a validator set needs at least one validator")
        seen: set[bytes] = set()
        for v in items:
            if len(v.public_key) != 32:
                raise ValueError(f"validator key {v.public_key.hex()} is not 32 bytes")
            if v.public_key in seen:
                raise ValueError(f"validator {v.public_key.hex()} appears twice")
            if v.power <= 0:
                raise ValueError(f"validator {v.public_key.hex()} has power {v.power}; it must be positive")
            seen.add(v.public_key)
        self.validators = tuple(items)
        self.total_power = sum(v.power for v in items)
        if self.total_power > MAX_TOTAL_POWER:
            raise ValueError("total voting power does not fit in 63 bits")
        self._index = {v.public_key: i for i, v in enumerate(items)}
        if len(items) > 255:
            raise ValueError("at most 255 validators are supported")
        if self.total_power <= MAX_SELECTION_PERIOD:
            self._selection_powers = [v.power for v in items]
        else:
            budget = MAX_SELECTION_PERIOD
            self._selection_powers = [max(1, v.power * budget // self.total_power) for v in items]
        self._selection_state = [0] * len(items)
        self._schedule = bytearray()

    def __len__(self) -> int:
        return len(self.validators)

    def __contains__(self, public_key: object) -> bool:
        return public_key in self._index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ValidatorSet) and self.validators == other.validators

    def __hash__(self) -> int:
        return hash(self.validators)

    def power_of(self, public_key: bytes) -> int:
        """Voting power of a member; 0 for a key outside the set."""
        i = self._index.get(public_key)
        return 0 if i is None else self.validators[i].power

    def index_of(self, public_key: bytes) -> int | None:
        return self._index.get(public_key)

    def has_quorum(self, power: int) -> bool:
        """More than two thirds of the total power (the 2f+1 of the paper)."""
        return 3 * power > 2 * self.total_power

    def has_one_third(self, power: int) -> bool:
        """More than a third of the total power (the f+1 of the paper): at least one honest."""
        return 3 * power > self.total_power

    def quorum_power(self) -> int:
        """The least power that is a quorum."""
        return 2 * self.total_power // 3 + 1

    def hash(self) -> bytes:
        """SHA-256 of the canonical encoding: domain, then key || power (u64 big-endian)
        for each validator in key order. Goes into block headers as validators_hash."""
        h = hashlib.sha256(VALIDATORS_DOMAIN)
        for v in self.validators:
            h.update(v.public_key + v.power.to_bytes(8, "big"))
        return h.digest()

    def proposer(self, height: int, round_: int) -> bytes:
        """Public key of the proposer of (height, round): see the module docstring."""
        period = sum(self._selection_powers)
        step = (height - 1 + round_) % period
        self._extend_schedule(step)
        return self.validators[self._schedule[step]].public_key

    def _extend_schedule(self, step: int) -> None:
        # Smooth weighted round robin; the state returns to all-zero after one period, so
        # the schedule is computed once per set, only as far as it has been asked for.
        powers = self._selection_powers
        state = self._selection_state
        period = sum(powers)
        while len(self._schedule) <= step:
            best = 0
            for i, p in enumerate(powers):
                state[i] += p
                if state[i] > state[best]:
                    best = i
            state[best] -= period
            self._schedule.append(best)
