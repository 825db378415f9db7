"""Commit certificates: > 2/3 of the voting power precommitted one block at one round.

A certificate is checked on its own, given the validator set of its height: catch-up sync
and auditors call `verify_commit`, which raises CommitError saying exactly what is wrong.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from proto import consensus_pb2 as pb

from consensus.messages import InvalidMessage, VoteType, decode_vote
from consensus.validators import ValidatorSet


class CommitError(ValueError):
    """The certificate does not prove the commit; the message says why."""


@dataclass(frozen=True, slots=True)
class VerifiedCommit:
    height: int
    round: int
    block_hash: bytes
    signers: tuple[bytes, ...]
    power: int


def encode_commit(height: int, round_: int, block_hash: bytes, precommits: Iterable[bytes]) -> bytes:
    return pb.CommitCertificate(
        height=height, round=round_, block_hash=block_hash, precommits=list(precommits)
    ).SerializeToString()


def verify_commit(
    certificate: bytes, validators: ValidatorSet, chain_id: str, height: int, block_hash: bytes
) -> VerifiedCommit:
    """Check that `certificate` proves `block_hash` was committed at `height` on `chain_id`
    by more than two thirds of `validators`' power. Returns who signed; raises CommitError."""
    try:
        cert = pb.CommitCertificate.FromString(certificate)
    except DecodeError as exc:
        raise CommitError(f"commit certificate does not decode: {exc}") from None
    if cert.height != height:
        raise CommitError(f"certificate is for height {cert.height}, expected {height}")
    if cert.block_hash != block_hash:
        raise CommitError(
            f"certificate is for block {cert.block_hash.hex()[:16]}, expected {block_hash.hex()[:16]}"
        )
    signers: list[bytes] = []
    seen: set[bytes] = set()
    power = 0
    for i, raw in enumerate(cert.precommits):
        try:
            vote = decode_vote(raw)
        except InvalidMessage as exc:
            raise CommitError(f"precommit {i}: {exc}") from None
        who = vote.validator.hex()[:16]
        if vote.chain_id != chain_id:
            raise CommitError(f"precommit {i} by {who} is for chain {vote.chain_id!r}, expected {chain_id!r}")
        if vote.type is not VoteType.PRECOMMIT:
            raise CommitError(f"precommit {i} by {who} is a prevote")
        if vote.height != cert.height or vote.round != cert.round:
            raise CommitError(
                f"precommit {i} by {who} is for height {vote.height} round {vote.round}, "
                f"certificate says height {cert.height} round {cert.round}"
            )
        if vote.block_hash != cert.block_hash:
            raise CommitError(f"precommit {i} by {who} is for another block (or nil)")
        if vote.validator not in validators:
            raise CommitError(f"precommit {i} is signed by {who}, not a validator of this set")
        if vote.validator in seen:
            raise CommitError(f"precommit {i}: validator {who} appears twice")
        seen.add(vote.validator)
        signers.append(vote.validator)
        power += validators.power_of(vote.validator)
    if not validators.has_quorum(power):
        raise CommitError(
            f"precommits carry power {power} of {validators.total_power}; "
            f"a commit needs at least {validators.quorum_power()}"
        )
    return VerifiedCommit(cert.height, cert.round, cert.block_hash, tuple(signers), power)
