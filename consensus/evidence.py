"""Evidence of misbehaviour: two different signed votes by one validator for the same
height, round and type. Serialized as a consensus Evidence message (what Block.evidence
carries), with the two votes in byte order so every honest reporter produces equal bytes."""

from __future__ import annotations

from dataclasses import dataclass

from google.protobuf.message import DecodeError
from proto import consensus_pb2 as pb

from consensus.messages import InvalidMessage, Vote, decode_vote
from consensus.validators import ValidatorSet


class EvidenceError(ValueError):
    """Evidence that does not prove misbehaviour; the message says why."""


@dataclass(frozen=True, slots=True)
class DuplicateVote:
    validator: bytes
    height: int
    round: int
    vote_a: Vote
    vote_b: Vote


def encode_duplicate_vote(raw_a: bytes, raw_b: bytes) -> bytes:
    a, b = sorted((raw_a, raw_b))
    return pb.Evidence(duplicate_vote=pb.DuplicateVoteEvidence(vote_a=a, vote_b=b)).SerializeToString()


def verify_evidence(data: bytes, validators: ValidatorSet, chain_id: str) -> DuplicateVote:
    """Check evidence bytes against the validator set of the height it names."""
    try:
        ev = pb.Evidence.FromString(data)
    except DecodeError as exc:
        raise EvidenceError(f"evidence does not decode: {exc}") from None
    if not ev.HasField("duplicate_vote"):
        raise EvidenceError("evidence carries no known kind")
    try:
        a = decode_vote(ev.duplicate_vote.vote_a)
        b = decode_vote(ev.duplicate_vote.vote_b)
    except InvalidMessage as exc:
        raise EvidenceError(f"evidence vote: {exc}") from None
    if a.chain_id != chain_id or b.chain_id != chain_id:
        raise EvidenceError(f"evidence votes are not both for chain {chain_id!r}")
    if a.validator != b.validator:
        raise EvidenceError("evidence votes are by different validators")
    if a.validator not in validators:
        raise EvidenceError("evidence names a key that is not a validator of this set")
    if (a.height, a.round, a.type) != (b.height, b.round, b.type):
        raise EvidenceError("evidence votes are for different height, round or type")
    if a.block_hash == b.block_hash:
        raise EvidenceError("evidence votes are for the same block: not a double vote")
    return DuplicateVote(a.validator, a.height, a.round, a, b)
