"""Votes of one (height, round, type), tallied by voting power."""

from __future__ import annotations

from consensus.messages import Vote


class RoundVotes:
    """Tallies as the paper counts them: the power behind each block hash (NIL included) is
    the power of the distinct validators that signed a vote for it, and the power of "any
    vote" counts each validator once.

    A validator that signs two different votes (a Byzantine equivocator) thus appears in
    two hash tallies. That is what Algorithm 1 does (it counts messages per value), it is
    safe (quorum intersection needs one honest validator, who signs only one), and it is
    needed for liveness: honest validators that saw different halves of an equivocation
    must still agree on which values have a quorum once they have seen both halves.
    """

    __slots__ = ("by_hash", "by_validator", "power", "power_by_hash")

    def __init__(self) -> None:
        self.by_validator: dict[bytes, Vote] = {}  # the first vote of each validator
        self.by_hash: dict[bytes, dict[bytes, Vote]] = {}
        self.power_by_hash: dict[bytes, int] = {}
        self.power = 0

    def add(self, vote: Vote, power: int) -> int:
        """Count a vote; returns the power now behind its hash. The caller has checked that
        this exact (validator, hash) is not counted yet."""
        if vote.validator not in self.by_validator:
            self.by_validator[vote.validator] = vote
            self.power += power
        self.by_hash.setdefault(vote.block_hash, {})[vote.validator] = vote
        total = self.power_by_hash.get(vote.block_hash, 0) + power
        self.power_by_hash[vote.block_hash] = total
        return total

    def has(self, validator: bytes, block_hash: bytes) -> bool:
        voters = self.by_hash.get(block_hash)
        return voters is not None and validator in voters

    def votes_for(self, block_hash: bytes) -> list[bytes]:
        """Raw signed votes for this hash, in validator key order (deterministic certificates)."""
        return [v.raw for _, v in sorted(self.by_hash.get(block_hash, {}).items())]
