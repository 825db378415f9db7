"""Helpers for the consensus tests: keys, a validator set, and `Story`, a driver for
one state machine whose peers are scripted, so scenario tests read as the paper's cases."""

from __future__ import annotations

import hashlib

import nacl.signing

from consensus import (
    BlockBuilt,
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    ConsensusConfig,
    ConsensusMachine,
    Decide,
    PersistSignState,
    ProposalReceived,
    RequestBlock,
    ScheduleTimeout,
    Signer,
    StartHeight,
    Step,
    TimeoutFired,
    ValidatorSet,
    VoteReceived,
    VoteType,
    decode_proposal,
    decode_vote,
    sign_proposal,
    sign_vote,
)

CHAIN = "cbdc-test"


def key(i: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(hashlib.sha256(b"test-validator-%d" % i).digest())


def block(name: str) -> bytes:
    return hashlib.sha256(name.encode()).digest()


class Story:
    """One validator ("me") among `n`, driven event by event. Peers are referred to by
    their position in the validator set's canonical order (0..n-1)."""

    def __init__(
        self, n: int = 4, me: int = 0, powers: list[int] | None = None, machine_cls=ConsensusMachine
    ):
        keys = sorted((key(i) for i in range(n)), key=lambda k: bytes(k.verify_key))
        self.keys = keys
        self.validators = ValidatorSet(
            (bytes(k.verify_key), p) for k, p in zip(keys, powers or [1] * n, strict=True)
        )
        self.me = me
        self.signer = Signer(keys[me])
        self.machine = machine_cls(CHAIN, self.signer, ConsensusConfig())
        self.height = 0
        self.actions: list = []
        self.log: list = []

    # -- driving
    def feed(self, event) -> list:
        self.actions = self.machine.handle(event)
        self.log.extend(self.actions)
        return self.actions

    def start(self, height: int = 1) -> list:
        self.height = height
        return self.feed(StartHeight(height, self.validators))

    def proposer(self, round_: int) -> int:
        pk = self.validators.proposer(self.height, round_)
        return [bytes(k.verify_key) for k in self.keys].index(pk)

    def propose(self, round_: int, block_hash: bytes, pol_round: int = -1, by: int | None = None, valid=True):
        by = self.proposer(round_) if by is None else by
        raw = sign_proposal(self.keys[by], CHAIN, self.height, round_, pol_round, block_hash)
        out = self.feed(ProposalReceived(raw, block_hash))
        if valid is not None and any(getattr(a, "block_hash", None) == block_hash for a in out):
            out = out + self.feed(BlockValidated(block_hash, valid))
            self.actions = out
        return out

    def votes(self, vote_type: VoteType, round_: int, block_hash: bytes, by: list[int]) -> list:
        out: list = []
        for i in by:
            out += self.feed(
                VoteReceived(sign_vote(self.keys[i], CHAIN, self.height, round_, vote_type, block_hash))
            )
        self.actions = out
        return out

    def prevotes(self, round_: int, block_hash: bytes, by: list[int]) -> list:
        return self.votes(VoteType.PREVOTE, round_, block_hash, by)

    def precommits(self, round_: int, block_hash: bytes, by: list[int]) -> list:
        return self.votes(VoteType.PRECOMMIT, round_, block_hash, by)

    def timeout(self, round_: int, step: Step) -> list:
        return self.feed(TimeoutFired(self.height, round_, step))

    def built(self, round_: int, block_hash: bytes) -> list:
        return self.feed(BlockBuilt(self.height, round_, block_hash))

    # -- reading
    def my_votes(self, actions: list | None = None) -> list[tuple[str, int, bytes]]:
        out = []
        for a in self.actions if actions is None else actions:
            if isinstance(a, BroadcastVote):
                v = decode_vote(a.message)
                out.append((v.type.name.lower(), v.round, v.block_hash))
        return out

    def my_proposals(self, actions: list | None = None) -> list[tuple[int, int, bytes]]:
        return [
            (p.round, p.pol_round, p.block_hash)
            for a in (self.actions if actions is None else actions)
            if isinstance(a, BroadcastProposal)
            for p in [decode_proposal(a.message)]
        ]

    def decided(self) -> Decide | None:
        return next((a for a in self.log if isinstance(a, Decide)), None)

    def scheduled(self, actions: list | None = None) -> list[tuple[int, str, int]]:
        return [
            (a.round, a.step.name.lower(), a.duration_ms)
            for a in (self.actions if actions is None else actions)
            if isinstance(a, ScheduleTimeout)
        ]

    def requested_block(self) -> bool:
        return any(isinstance(a, RequestBlock) for a in self.actions)

    def persisted_before_each_broadcast(self) -> bool:
        last = None
        for a in self.log:
            if isinstance(a, PersistSignState):
                last = a
            elif isinstance(a, BroadcastVote | BroadcastProposal):
                if last is None:
                    return False
                last = None
        return True
