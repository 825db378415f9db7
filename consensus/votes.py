"""Votes of one (height, round, type), tallied by voting power."""

from __future__ import annotations

from consensus.messages import Vote


class RoundVotes:
    """At most one vote per validator; power per block hash (NIL included) and in total.

    A second, different vote by the same validator is not counted: the caller turns it
    into evidence. Counting only the first keeps every tally a sum over distinct voters.
    """

    __slots__ = ("by_validator", "power", "power_by_hash")

    def __init__(self) -> None:
        self.by_validator: dict[bytes, Vote] = {}
        self.power_by_hash: dict[bytes, int] = {}
        self.power = 0

    def add(self, vote: Vote, power: int) -> int:
        """Count a vote from a validator not seen yet; returns the new power for its hash."""
        self.by_validator[vote.validator] = vote
        self.power += power
        total = self.power_by_hash.get(vote.block_hash, 0) + power
        self.power_by_hash[vote.block_hash] = total
        return total

    def votes_for(self, block_hash: bytes) -> list[bytes]:
        """Raw signed votes for this hash, in validator key order (deterministic certificates)."""
        return [
            v.raw for key, v in sorted(self.by_validator.items()) if v.block_hash == block_hash
        ]
