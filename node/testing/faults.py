"""Test-only fault injection in the real node process: crash points and Byzantine behaviours.

Nothing here runs unless asked for explicitly; a node started normally behaves exactly as if
this module did not exist.

Crash points
------------
The environment variable ``CBDC_CRASH_POINT`` names a place where the process exits at once
with ``os._exit(137)`` (no cleanup, no flush of anything but the log line saying so), as a
power cut or SIGKILL at that instant would:

- ``after-wal-write``: right after a consensus WAL record (an event, or a message of our
  own) is appended, before the machine acts on it / before the message is sent;
- ``after-sign-before-broadcast``: after the sign-state of a new signature is durable,
  before the signed vote or proposal is sent;
- ``mid-commit-batch``: inside Store.commit, after the block's write batch is filled
  and before it is written (LevelDB batches are atomic: after a restart the block is simply
  absent and is decided or fetched again).

``NAME:N`` exits on the N-th time the point is reached (default: the first). The node
refuses to start with an unknown name.

Deaf heights
------------
``CBDC_DEAF_HEIGHTS=H1,H2,...`` makes the node drop every proposal and vote for those
heights, as a validator behind a lossy link would miss them: it cannot decide them by
consensus and must catch up from its peers (pushed commits, node/net/commit_push.py, or block sync).

Byzantine behaviours (``cbdc node start --misbehave MODE``)
-----------------------------------------------------------
A validator that breaks the protocol on purpose, to show that honest validators stay safe
and live and that its double votes end up as evidence on the chain. The honest signer
refuses to sign conflicting messages by design, so where a mode needs them it signs with the
raw key. Modes (the driver hands each consensus action to the hook before executing it):

- ``equivocate``: as proposer, sends one block to some peers and a different block to the
  others, and votes for both (the second vote only to the peers that got the second block);
- ``double-vote``: at every even height, its first vote for a block is accompanied by a
  conflicting vote for nil, sent to everyone;
- ``invalid-block``: as proposer, sends a block whose state root is wrong;
- ``oversized-proposal``: as proposer, sends its block padded past max_block_bytes;
- ``silent``: never sends a vote, proposal or evidence.

Every misbehaviour is logged at WARNING with the prefix ``MISBEHAVE`` (tests read them).
"""

from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass
from typing import Any

import nacl.signing
from consensus.events import BroadcastVote, ReportEvidence
from consensus.host import SendProposal
from consensus.messages import NIL, decode_proposal, decode_vote, sign_proposal, sign_vote
from proto import ledger_pb2, node_pb2

from node.config import ConfigError
from node.ledger.crypto import sha256

log = logging.getLogger("cbdc.faults")

CRASH_ENV = "CBDC_CRASH_POINT"
CRASH_POINTS = ("after-wal-write", "after-sign-before-broadcast", "mid-commit-batch")
CRASH_EXIT_CODE = 137
MISBEHAVIOURS = ("equivocate", "double-vote", "invalid-block", "oversized-proposal", "silent")


class FaultConfigError(ConfigError):
    """A crash point or misbehaviour that does not exist."""


# --- crash points ----------------------------------------------------------------------------


@dataclass
class _CrashPlan:
    point: str
    nth: int
    hits: int = 0


_plan: _CrashPlan | None = None


def parse_crash_point(value: str) -> tuple[str, int]:
    """("after-wal-write", 3) for "after-wal-write:3"; raises FaultConfigError."""
    name, _, count = value.strip().partition(":")
    if name not in CRASH_POINTS:
        raise FaultConfigError(
            f"{CRASH_ENV}={value!r}: unknown crash point {name!r}; one of {', '.join(CRASH_POINTS)}"
        )
    try:
        nth = int(count) if count else 1
    except ValueError:
        nth = 0
    if nth < 1:
        raise FaultConfigError(f"{CRASH_ENV}={value!r}: the count after ':' must be a whole number >= 1")
    return name, nth


def arm_crash_point(value: str | None = None) -> str | None:
    """Arm the crash point named by `value` (default: the environment); returns it or None."""
    global _plan
    value = os.environ.get(CRASH_ENV, "") if value is None else value
    if not value.strip():
        _plan = None
        return None
    name, nth = parse_crash_point(value)
    _plan = _CrashPlan(name, nth)
    log.warning("TEST-ONLY crash point armed: the process exits at %s (hit %d)", name, nth)
    return f"{name}:{nth}"


def crash_point(name: str) -> None:
    """Exit the process here (status 137) if this crash point is armed and due."""
    plan = _plan
    if plan is None or plan.point != name:
        return
    plan.hits += 1
    if plan.hits < plan.nth:
        return
    log.error("crash point %s reached (hit %d): exiting with status %d", name, plan.hits, CRASH_EXIT_CODE)
    for handler in logging.getLogger().handlers:
        handler.flush()
    sys.stderr.flush()
    os._exit(CRASH_EXIT_CODE)


# --- deaf heights -----------------------------------------------------------------------------

DEAF_ENV = "CBDC_DEAF_HEIGHTS"


def deaf_heights(value: str | None = None) -> frozenset[int]:
    """Heights whose consensus messages this node drops (test-only; empty normally)."""
    value = os.environ.get(DEAF_ENV, "") if value is None else value
    try:
        heights = frozenset(int(h) for h in value.split(",") if h.strip())
    except ValueError:
        raise FaultConfigError(f"{DEAF_ENV}={value!r}: expected comma-separated heights") from None
    if heights:
        log.warning("TEST-ONLY: dropping proposals and votes for heights %s", sorted(heights))
    return heights


def deaf_to(msg: node_pb2.PeerMessage, heights: frozenset[int]) -> bool:
    """Whether a proposal or vote is for one of `heights` (malformed ones pass: the node
    refuses those itself)."""
    try:
        if msg.HasField("proposal"):  # only the height is read: no signature check
            return decode_proposal(msg.proposal.proposal, verify=False).height in heights
        return decode_vote(msg.vote, verify=False).height in heights
    except Exception:
        return False


# --- Byzantine behaviours --------------------------------------------------------------------


class Misbehaviour:
    """The `--misbehave` hook: called by the driver with each action before it executes it;
    returns True when it took the action over (the driver then does nothing with it).

    `driver` is the node's ConsensusDriver (for its chain and the blocks it holds), `peers`
    its PeerNetwork (to send different messages to different peers)."""

    def __init__(self, mode: str, *, key: nacl.signing.SigningKey, driver: Any, peers: Any) -> None:
        if mode not in MISBEHAVIOURS:
            raise FaultConfigError(f"--misbehave {mode!r}: one of {', '.join(MISBEHAVIOURS)}")
        self.mode = mode
        self.key = key
        self.driver = driver
        self.peers = peers
        self.chain_id: str = driver.chain_id
        self.injected = 0
        self._double_voted: set[int] = set()
        self._equivocated: dict[tuple[int, int], tuple[bytes, bytes, list[bytes]]] = {}
        log.warning("=" * 78)
        log.warning("MISBEHAVING ON PURPOSE: --misbehave %s (TEST-ONLY Byzantine mode)", mode)
        log.warning("this validator breaks the consensus protocol; never run it on a real network")
        log.warning("=" * 78)

    def __call__(self, action: object) -> bool:
        if self.mode == "silent":
            return isinstance(action, BroadcastVote | SendProposal | ReportEvidence)
        if isinstance(action, BroadcastVote):
            if self.mode == "double-vote":
                self._double_vote(action)
            elif self.mode == "equivocate":
                self._equivocal_vote(action)
            return False
        if isinstance(action, SendProposal):
            held = action.block
            if self.mode == "equivocate":
                return self._equivocate(action, held)
            if self.mode == "invalid-block":
                return self._invalid_block(action, held)
            if self.mode == "oversized-proposal":
                return self._oversized(action, held)
        return False

    # --- helpers ---------------------------------------------------------------------------
    def _peer_keys(self) -> list[bytes]:
        return sorted(state.key for state in self.peers.peer_states())

    def _split(self) -> tuple[list[bytes], list[bytes]]:
        keys = self._peer_keys()
        cut = max(1, len(keys) - len(keys) // 2)
        return keys[:cut], keys[cut:]

    @staticmethod
    def _proposal(signed: bytes, block: bytes) -> node_pb2.PeerMessage:
        return node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=signed, block=block))

    def _send(self, keys: list[bytes], message: node_pb2.PeerMessage) -> None:
        for key in keys:
            self.peers.send(key, message)

    def _note(self, what: str, height: int, round_: int, **fields: object) -> None:
        self.injected += 1
        extra = "".join(f" {k}={v}" for k, v in fields.items())
        log.warning("MISBEHAVE %s height=%d round=%d%s", what, height, round_, extra)

    # --- modes -----------------------------------------------------------------------------
    def _double_vote(self, action: BroadcastVote) -> None:
        vote = decode_vote(action.message, verify=False)
        if vote.height % 2 or not vote.block_hash or vote.height in self._double_voted:
            return
        self._double_voted.add(vote.height)
        conflicting = sign_vote(self.key, self.chain_id, vote.height, vote.round, vote.type, NIL)
        self.peers.broadcast(node_pb2.PeerMessage(vote=conflicting))
        self._note("double-vote", vote.height, vote.round, type=vote.type.name)

    def _equivocate(self, action: SendProposal, held: bytes) -> bool:
        from node.ledger.blocks import decode_block
        from node.ledger.transition import build_block

        proposal = decode_proposal(action.message, verify=False)
        block, header = decode_block(held)
        store = self.driver.chain.store
        if store.height + 1 != proposal.height:
            return False
        other, _ = build_block(
            store,
            [],
            self.driver.chain.genesis,
            height=proposal.height,
            time_ms=header.time_ms + 1,
            proposer=header.proposer,
            validators_hash=header.validators_hash,
            evidence=list(block.evidence),
            sigcache=self.driver.chain.sigcache,
        )
        signed = sign_proposal(
            self.key, self.chain_id, proposal.height, proposal.round, proposal.pol_round, other.block_hash
        )
        first, second = self._split()
        self._send(first, self._proposal(action.message, held))
        self._send(second, self._proposal(signed, other.block_bytes))
        self._equivocated[(proposal.height, proposal.round)] = (action.block_hash, other.block_hash, second)
        self._note(
            "equivocate-proposal", proposal.height, proposal.round, peers_a=len(first), peers_b=len(second)
        )
        return True

    def _equivocal_vote(self, action: BroadcastVote) -> None:
        vote = decode_vote(action.message, verify=False)
        plan = self._equivocated.get((vote.height, vote.round))
        if plan is None or vote.block_hash != plan[0]:
            return
        _, other_hash, second = plan
        conflicting = sign_vote(self.key, self.chain_id, vote.height, vote.round, vote.type, other_hash)
        self._send(second, node_pb2.PeerMessage(vote=conflicting))
        self._note("equivocate-vote", vote.height, vote.round, type=vote.type.name)

    def _invalid_block(self, action: SendProposal, held: bytes) -> bool:
        from node.ledger.blocks import decode_block

        proposal = decode_proposal(action.message, verify=False)
        block, header = decode_block(held)
        bad = ledger_pb2.BlockHeader()
        bad.CopyFrom(header)
        bad.state_root = sha256(b"not the state root" + header.state_root)
        header_bytes = bad.SerializeToString(deterministic=True)
        block_bytes = ledger_pb2.Block(
            header=header_bytes, txs=list(block.txs), evidence=list(block.evidence)
        ).SerializeToString(deterministic=True)
        signed = sign_proposal(
            self.key, self.chain_id, proposal.height, proposal.round, proposal.pol_round, sha256(header_bytes)
        )
        self.peers.broadcast(self._proposal(signed, block_bytes))
        self._note("invalid-block", proposal.height, proposal.round)
        return True

    def _oversized(self, action: SendProposal, held: bytes) -> bool:
        from node.ledger.blocks import decode_block

        proposal = decode_proposal(action.message, verify=False)
        block, _ = decode_block(held)
        limit = self.driver.chain.genesis.params.max_block_bytes
        padding = b"\x00" * max(1, limit - len(held) + 64 * 1024)
        big = ledger_pb2.Block(
            header=block.header, txs=[*block.txs, padding], evidence=list(block.evidence)
        ).SerializeToString()
        # Same header, so the same block hash: the honest signature of the proposal fits it.
        self.peers.broadcast(self._proposal(action.message, big))
        self._note("oversized-proposal", proposal.height, proposal.round, size=len(big))
        return True
