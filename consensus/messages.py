"""Signed proposals and votes: encoding, domain-separated signing, and checked decoding.

A message is a protobuf `{body, signature}` pair. The body bytes are hashed exactly as
received (protobuf is not canonical, so nothing is re-encoded to be verified), under a
domain that differs for votes, proposals and transactions, so a signature made for one can
never be replayed as another.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from enum import IntEnum

import nacl.signing
from google.protobuf.message import DecodeError
from proto import consensus_pb2 as pb

from consensus import crypto
from consensus.crypto import HASH_SIZE, KEY_SIZE

VOTE_DOMAIN = b"cbdc/vote/v1\x00"
PROPOSAL_DOMAIN = b"cbdc/proposal/v1\x00"
NIL = b""  # the block hash of a vote for nil


class Step(IntEnum):
    """Steps of a round, in the order a validator passes (and signs) them."""

    PROPOSE = 1
    PREVOTE = 2
    PRECOMMIT = 3


class VoteType(IntEnum):
    PREVOTE = pb.VOTE_TYPE_PREVOTE
    PRECOMMIT = pb.VOTE_TYPE_PRECOMMIT

    @property
    def step(self) -> Step:
        return Step.PREVOTE if self is VoteType.PREVOTE else Step.PRECOMMIT


class InvalidMessage(ValueError):
    """A message that cannot be decoded or whose signature does not verify. `reason` is a
    short metric label (e.g. "bad_signature"); str(error) says what is wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


def vote_digest(body: bytes) -> bytes:
    return hashlib.sha256(VOTE_DOMAIN + body).digest()


def proposal_digest(body: bytes) -> bytes:
    return hashlib.sha256(PROPOSAL_DOMAIN + body).digest()


@dataclass(frozen=True, slots=True)
class Vote:
    """A decoded vote. `raw` is the SignedVote exactly as received (what evidence and
    commit certificates carry); `body` is the signed VoteBody bytes."""

    chain_id: str
    height: int
    round: int
    type: VoteType
    block_hash: bytes  # NIL for nil
    validator: bytes
    body: bytes
    signature: bytes
    raw: bytes


@dataclass(frozen=True, slots=True)
class Proposal:
    chain_id: str
    height: int
    round: int
    pol_round: int  # -1 when the block carries no proof of lock
    block_hash: bytes
    proposer: bytes
    body: bytes
    signature: bytes
    raw: bytes


def encode_vote_body(
    chain_id: str, height: int, round_: int, vote_type: VoteType, block_hash: bytes, validator: bytes
) -> bytes:
    return pb.VoteBody(
        chain_id=chain_id, height=height, round=round_, type=int(vote_type),
        block_hash=block_hash, validator=validator,
    ).SerializeToString()


def encode_proposal_body(
    chain_id: str, height: int, round_: int, pol_round: int, block_hash: bytes, proposer: bytes
) -> bytes:
    return pb.ProposalBody(
        chain_id=chain_id, height=height, round=round_, pol_round=pol_round,
        block_hash=block_hash, proposer=proposer,
    ).SerializeToString()


def encode_signed(body: bytes, signature: bytes) -> bytes:
    # SignedVote and SignedProposal share a layout; one encoder serves both.
    return pb.SignedVote(body=body, signature=signature).SerializeToString()


def decode_vote(raw: bytes, *, verify: bool = True) -> Vote:
    """Decode a SignedVote and (by default) check its signature against the voter key it
    names. Membership in a validator set is the caller's concern."""
    try:
        signed = pb.SignedVote.FromString(raw)
        body = pb.VoteBody.FromString(signed.body)
    except DecodeError as exc:
        raise InvalidMessage("malformed", f"vote does not decode: {exc}") from None
    if body.type not in (pb.VOTE_TYPE_PREVOTE, pb.VOTE_TYPE_PRECOMMIT):
        raise InvalidMessage("malformed", f"vote has unknown type {body.type}")
    if body.block_hash and len(body.block_hash) != HASH_SIZE:
        raise InvalidMessage("malformed", f"vote block hash is {len(body.block_hash)} bytes, not 32 or 0")
    if len(body.validator) != KEY_SIZE:
        raise InvalidMessage("malformed", "vote validator key is not 32 bytes")
    if verify and not crypto.verify(body.validator, vote_digest(signed.body), signed.signature):
        raise InvalidMessage("bad_signature", "vote signature does not verify")
    return Vote(
        body.chain_id, body.height, body.round, VoteType(body.type), body.block_hash,
        body.validator, signed.body, signed.signature, raw,
    )


def decode_proposal(raw: bytes, *, verify: bool = True) -> Proposal:
    try:
        signed = pb.SignedProposal.FromString(raw)
        body = pb.ProposalBody.FromString(signed.body)
    except DecodeError as exc:
        raise InvalidMessage("malformed", f"proposal does not decode: {exc}") from None
    if len(body.block_hash) != HASH_SIZE:
        raise InvalidMessage("malformed", "proposal block hash is not 32 bytes")
    if len(body.proposer) != KEY_SIZE:
        raise InvalidMessage("malformed", "proposal proposer key is not 32 bytes")
    if body.pol_round < -1 or body.pol_round >= body.round:
        raise InvalidMessage("malformed", f"proposal pol_round {body.pol_round} not in [-1, {body.round})")
    if verify and not crypto.verify(body.proposer, proposal_digest(signed.body), signed.signature):
        raise InvalidMessage("bad_signature", "proposal signature does not verify")
    return Proposal(
        body.chain_id, body.height, body.round, body.pol_round, body.block_hash,
        body.proposer, signed.body, signed.signature, raw,
    )


def sign_vote(
    key: nacl.signing.SigningKey, chain_id: str, height: int, round_: int, vote_type: VoteType,
    block_hash: bytes,
) -> bytes:
    """Sign a vote directly, bypassing sign-state. For tests, simulators and tools only:
    a validator signs through consensus.signer.Signer."""
    body = encode_vote_body(chain_id, height, round_, vote_type, block_hash, bytes(key.verify_key))
    return encode_signed(body, key.sign(vote_digest(body)).signature)


def sign_proposal(
    key: nacl.signing.SigningKey, chain_id: str, height: int, round_: int, pol_round: int,
    block_hash: bytes,
) -> bytes:
    """Like sign_vote, for proposals (tests and tools only)."""
    body = encode_proposal_body(chain_id, height, round_, pol_round, block_hash, bytes(key.verify_key))
    return encode_signed(body, key.sign(proposal_digest(body)).signature)
