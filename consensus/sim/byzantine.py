"""Byzantine validator strategies for the simulator.

Each strategy is a Node that runs a real state machine (so it looks alive and takes part
in quorums) but corrupts what it sends. They sign with their key directly, bypassing the
Signer's protection, which is exactly what a malicious validator can do.
"""

from __future__ import annotations

import hashlib

from consensus.events import BroadcastVote
from consensus.host import BuildBlock, SendProposal
from consensus.messages import (
    NIL,
    VoteType,
    decode_proposal,
    decode_vote,
    encode_signed,
    sign_proposal,
    sign_vote,
)
from consensus.sim.world import CHAIN_ID, NetMsg, Node


class Silent(Node):
    """Never says anything (crashed from the start, or withholding)."""

    def boot(self) -> None:
        self.up = False


class EquivocatingProposer(Node):
    """When it proposes, sends one block to some peers and a different one to the others."""

    def broadcast_own(self, a: SendProposal | BroadcastVote) -> None:
        if not isinstance(a, SendProposal):
            super().broadcast_own(a)
            return
        w = self.world
        p = decode_proposal(a.message, verify=False)
        other_hash = w.new_block(self.index, p.height, p.round, valid=True)
        other = sign_proposal(self.key, CHAIN_ID, p.height, p.round, p.pol_round, other_hash)
        for dst in range(len(w.nodes)):
            if dst == self.index:
                continue
            if w.rng.random() < 0.5:
                w.send(self.index, dst, NetMsg("proposal", a.message, a.block_hash, self.index, p.height))
            else:
                w.send(self.index, dst, NetMsg("proposal", other, other_hash, self.index, p.height))


class DoubleVoter(Node):
    """Signs a second, conflicting vote for every vote it casts (block <-> nil or another
    block) and sends peers one, the other, or both."""

    def broadcast_own(self, a: SendProposal | BroadcastVote) -> None:
        if not isinstance(a, BroadcastVote):
            super().broadcast_own(a)
            return
        w = self.world
        v = decode_vote(a.message, verify=False)
        alt_hash = NIL if v.block_hash else w.new_block(self.index, v.height, v.round, valid=True)
        alt = sign_vote(self.key, CHAIN_ID, v.height, v.round, v.type, alt_hash)
        w.inject_double_vote(a.message, alt)
        for dst in range(len(w.nodes)):
            if dst == self.index:
                continue
            roll = w.rng.random()
            if roll < 0.35:
                w.send(self.index, dst, NetMsg("vote", a.message, b"", self.index, v.height))
            elif roll < 0.7:
                w.send(self.index, dst, NetMsg("vote", alt, b"", self.index, v.height))
            else:
                pair = (a.message, alt) if w.rng.random() < 0.5 else (alt, a.message)
                w.send(self.index, dst, NetMsg("votes", pair, b"", self.index, v.height))


class Leaver(DoubleVoter):
    """Double-votes while it is in the set, and does not stop when a validator-set change
    takes it out: for every proposal it hears at a height whose set no longer holds it, it
    signs prevotes and precommits for that block and for nil and sends them to all.
    Honest validators must count none of them and report no evidence against a key
    outside the set of the height."""

    def __init__(self, world, index: int) -> None:
        super().__init__(world, index)
        self.lingered: set[tuple[int, int]] = set()

    def receive(self, msg: NetMsg) -> None:
        super().receive(msg)
        w = self.world
        if msg.kind != "proposal" or self.public_key in w.validators_at(msg.height):
            return
        p = decode_proposal(msg.data, verify=False)
        if (p.height, p.round) in self.lingered:
            return
        self.lingered.add((p.height, p.round))
        for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            for block_hash in (p.block_hash, NIL):
                raw = sign_vote(self.key, CHAIN_ID, p.height, p.round, vote_type, block_hash)
                w.broadcast(self.index, NetMsg("vote", raw, b"", self.index, p.height))


class InvalidBlocks(Node):
    """Proposes blocks that honest validators find invalid, and votes for them."""

    def build_block(self, a: BuildBlock) -> bytes:
        return self.world.new_block(self.index, a.height, a.round, valid=False)


class Noisy(Node):
    """Honest votes, plus a stream of junk with every message: votes for future heights and
    far-future rounds, replays of old messages it received, bad signatures, the wrong
    chain, votes signed by a key outside the validator set, and its proposals again with
    block bytes that do not decode."""

    outsider = hashlib.sha256(b"cbdc-sim-outsider").digest()

    def __init__(self, world, index: int) -> None:
        super().__init__(world, index)
        self.heard: list[NetMsg] = []

    def receive(self, msg: NetMsg) -> None:
        if msg.kind in ("proposal", "vote") and len(self.heard) < 400:
            self.heard.append(msg)
        super().receive(msg)

    def broadcast_own(self, a: SendProposal | BroadcastVote) -> None:
        super().broadcast_own(a)
        import nacl.signing

        w = self.world
        rng = w.rng
        m = self.machine
        if m is None:
            return
        h, r = m.height, m.round
        block = hashlib.sha256(b"noise/%d" % rng.randrange(1 << 30)).digest()
        junk = [
            sign_vote(self.key, CHAIN_ID, h + rng.randint(1, 3), rng.randint(0, 3), VoteType.PREVOTE, block),
            sign_vote(self.key, CHAIN_ID, h, r + rng.randint(2, 1000), VoteType.PRECOMMIT, block),
            sign_vote(self.key, "other-chain", h, r, VoteType.PREVOTE, block),
            sign_vote(nacl.signing.SigningKey(self.outsider), CHAIN_ID, h, r, VoteType.PREVOTE, block),
        ]
        body = decode_vote(a.message if isinstance(a, BroadcastVote) else junk[0], verify=False).body
        junk.append(encode_signed(body, bytes(64)))  # bad signature
        for raw in junk:
            w.broadcast(self.index, NetMsg("vote", raw, b"", self.index, h))
        # A proposal whose block bytes do not decode (counted as malformed_block).
        if isinstance(a, SendProposal):
            w.broadcast(self.index, NetMsg("proposal", a.message, a.block_hash, self.index, h, b"junk"))
        if self.heard:
            old = self.heard[rng.randrange(len(self.heard))]
            w.broadcast(self.index, NetMsg(old.kind, old.data, old.block_hash, self.index, old.height))


class LockBreaker(Node):
    """Attacks locks: proposes a fresh block whenever it proposes (ignoring the value the
    network may be locked on) and, when it precommits a block, shows that precommit to a
    single peer and a precommit for nil to everyone else. Honest validators survive it
    only because of the locking rule; the test of the test relies on it."""

    def broadcast_own(self, a: SendProposal | BroadcastVote) -> None:
        w = self.world
        if isinstance(a, SendProposal):
            p = decode_proposal(a.message, verify=False)
            fresh = w.new_block(self.index, p.height, p.round, valid=True)
            raw = sign_proposal(self.key, CHAIN_ID, p.height, p.round, -1, fresh)
            w.broadcast(self.index, NetMsg("proposal", raw, fresh, self.index, p.height))
            return
        v = decode_vote(a.message, verify=False)
        if v.type is not VoteType.PRECOMMIT or not v.block_hash:
            super().broadcast_own(a)
            return
        nil = sign_vote(self.key, CHAIN_ID, v.height, v.round, v.type, NIL)
        w.inject_double_vote(a.message, nil)
        peers = [i for i in range(len(w.nodes)) if i != self.index]
        favoured = w.rng.choice(peers)
        for dst in peers:
            raw = a.message if dst == favoured else nil
            w.send(self.index, dst, NetMsg("vote", raw, b"", self.index, v.height))


STRATEGIES: dict[str, type[Node]] = {
    "lock_breaker": LockBreaker,
    "silent": Silent,
    "equivocating_proposer": EquivocatingProposer,
    "double_voter": DoubleVoter,
    "invalid_blocks": InvalidBlocks,
    "noisy": Noisy,
    "leaver": Leaver,
}
