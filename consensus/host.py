"""ConsensusHost: the machine plus the synchronous duties of a node around it, still pure.

The node (node/driver.py) and the simulator (consensus/sim/world.py) both run this class,
so the states that used to live only in the async driver -- a height decided before its
block arrived, a validation outrun by the decision, a pushed commit racing our own -- are
exercised by thousands of simulated schedules, not only by real-process tests.

One door: ``host.step(input) -> list of effects``, executed by the caller in list order.
Start with ``host.start(wal_entries, StartHeight(store_height + 1, validators))``.

Inputs (caller -> host)
-----------------------
- ``StartHeight(height, validators)``: the previous height is stored; ignored unless it
  moves past the machine's height. Forgets own messages and blocks below ``height``.
- ``ProposalArrived(proposal, block, block_hash)``: a peer's proposal and block bytes;
  the caller computed ``block_hash`` from the block header (None: the block did not decode).
- ``VoteReceived(message)``, ``TimeoutFired(height, round, step)``: as for the machine.
- ``Built(height, round, block_hash, block, result)``: answer to BuildBlock (a failed
  build is simply not answered: timeoutPropose moves the round on).
- ``Validated(height, block_hash, result, error)``: answer to ValidateBlock; ``result`` is
  the caller's executed block (opaque here), None when the block is invalid.
- ``CommitArrived(certificate, block, block_hash, height)``: a peer pushed a committed
  block (block_hash None: it did not decode).

Effects (host -> caller), in order
----------------------------------
- ``WriteWal(entry)``: append to the consensus WAL (each input the machine sees is written
  before it sees it; an ``OwnMessage`` before each own message leaves).
- ``PersistSignState(data)``: write durably (fsync) BEFORE the next effect, which is the
  broadcast it protects.
- ``SendProposal(message, block_hash, block)``, ``BroadcastVote(message)``: to all peers.
- ``RelayVotes(votes)``: the prevotes behind our valid value, sent when the round moves on.
  (Own messages and the proof of lock go again to a peer whose stream reconnects, and to
  every peer while the machine is stuck: ``repeat_if_stuck``.)
- ``Heard(message, signer, block)``: another validator's vote or proposal of this height,
  new here and kept by the machine: for the caller to pass on to peers that announced they
  hear nothing from ``signer`` directly (a link down between them; CometBFT gossips every
  vote to peers that lack it for the same reason).
- ``ScheduleTimeout(height, round, step, duration_ms)``: feed TimeoutFired after it.
- ``BuildBlock(height, round)``, ``ValidateBlock(height, block_hash, block)``.
- ``CommitBlock(height, round, block_hash, certificate, result)``: store ``result`` (what
  Built/Validated returned for these bytes) with the certificate atomically, append
  ``EndHeight(height)`` to the WAL and start it afresh. Never emitted without a result:
  no block is committed that this node did not execute.
- ``ReportEvidence(evidence)``: verify, pool for a future block, gossip.
- ``Notice(level, text)``: something an operator should see in the log.

Dropped inputs are counted in ``machine.ignored`` (old_height, future_height,
malformed_block, too_many_blocks ...).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    CommitReceived,
    Decide,
    PersistSignState,
    ProposalReceived,
    ReportEvidence,
    RequestBlock,
    RequestValidation,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from consensus.machine import ConsensusMachine
from consensus.messages import Proposal, Step, Vote, VoteType
from consensus.wal import OwnMessage, ReplayResult, WalEntry, replay

# Blocks held for the height being decided and the next ones: bounds what peers can make
# us keep even if the proposer of some round sends many different proposals.
MAX_HELD_BLOCKS = 64
# A proposer may equivocate; the machine keeps at most this many proposals per round too.
MAX_BLOCKS_PER_ROUND = 4

# ---- inputs ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ProposalArrived:
    proposal: bytes
    block: bytes
    block_hash: bytes | None  # None: the block bytes did not decode


@dataclass(frozen=True, slots=True)
class Built:
    height: int
    round: int
    block_hash: bytes
    block: bytes
    result: Any  # the caller's built block, handed back in CommitBlock


@dataclass(frozen=True, slots=True)
class Validated:
    height: int
    block_hash: bytes
    result: Any  # None: invalid
    error: str = ""


@dataclass(frozen=True, slots=True)
class CommitArrived:
    certificate: bytes
    block: bytes
    block_hash: bytes | None  # None: the block bytes did not decode
    height: int


Input = StartHeight | ProposalArrived | VoteReceived | TimeoutFired | Built | Validated | CommitArrived

# ---- effects --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WriteWal:
    entry: WalEntry


@dataclass(frozen=True, slots=True)
class SendProposal:
    message: bytes
    block_hash: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class RelayVotes:
    votes: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class Heard:
    """A vote or proposal of another validator of this height, new here and kept by the
    machine (`block`: a proposal's block bytes, b"" for a vote)."""

    message: bytes
    signer: bytes
    block: bytes = b""


@dataclass(frozen=True, slots=True)
class BuildBlock:
    height: int
    round: int


@dataclass(frozen=True, slots=True)
class ValidateBlock:
    height: int
    block_hash: bytes
    block: bytes


@dataclass(frozen=True, slots=True)
class CommitBlock:
    height: int
    round: int
    block_hash: bytes
    certificate: bytes
    result: Any


@dataclass(frozen=True, slots=True)
class Notice:
    level: str  # "info", "warning" or "error"
    text: str


Effect = (
    WriteWal | PersistSignState | SendProposal | BroadcastVote | RelayVotes | Heard
    | ScheduleTimeout | BuildBlock | ValidateBlock | CommitBlock | ReportEvidence | Notice
)


MachineInput = VoteReceived | TimeoutFired | BlockBuilt | BlockValidated | CommitReceived


@dataclass(slots=True)
class _Held:
    height: int
    round: int
    block: bytes


class ConsensusHost:
    """The machine and the node-side state around it; see the module docstring."""

    def __init__(self, machine: ConsensusMachine) -> None:
        self.machine = machine
        self._blocks: dict[bytes, _Held] = {}  # hash -> bytes of blocks that can matter
        self._results: dict[bytes, Any] = {}  # hash -> executed block (built or validated)
        # Validations running, by hash: a decision that outruns one waits for its answer
        # instead of executing the same block a second time.
        self._validating: set[bytes] = set()
        # The height decided (by votes or certificate) before we executed its block: it is
        # committed as soon as the block arrives and executes.
        self._undone: Decide | None = None
        # Bytes of a pushed block while the machine checks its certificate: kept only if
        # that decides the height, so a junk push cannot make us hold anything.
        self._pushed: tuple[bytes, bytes] | None = None
        self._own: list[SendProposal | BroadcastVote] = []  # this height, for late peers
        self._round_seen = (0, 0)  # (height, round) of the machine after the last input
        self._checked: tuple[int, int, Step] | None = None  # where repeat_if_stuck saw it
        self._stuck_for = 0  # calls of repeat_if_stuck since the machine last moved
        self._out: list[Effect] = []
        self._later: deque[BlockValidated] = deque()

    # ---- the door -----------------------------------------------------------------------

    def start(self, wal: Iterable[WalEntry], start: StartHeight) -> tuple[list[Effect], ReplayResult]:
        """Rebuild the machine from the WAL (consensus.wal.replay) and return what to do now."""
        self._out = []
        result = replay(self.machine, wal, start)
        self._actions(result.actions)
        self._drain()
        return self._take(), result

    def step(self, item: Input) -> list[Effect]:
        self._out = []
        if isinstance(item, ProposalArrived):
            self._on_proposal(item)
        elif isinstance(item, VoteReceived):
            self._on_vote(item)
        elif isinstance(item, TimeoutFired):
            self._on_timeout(item)
        elif isinstance(item, Built):
            self._on_built(item)
        elif isinstance(item, Validated):
            self._on_validated(item)
        elif isinstance(item, CommitArrived):
            self._on_pushed(item)
        elif isinstance(item, StartHeight):
            self._on_start_height(item)
        else:
            raise TypeError(f"not a host input: {item!r}")
        self._drain()
        return self._take()

    # ---- queries (status, resends, fault hooks) -------------------------------------------

    @property
    def decided(self) -> bool:
        return self.machine.decision is not None

    def held_block(self, block_hash: bytes) -> bytes | None:
        """Bytes of a block held for the current or a next height (proposed or built)."""
        held = self._blocks.get(block_hash)
        return None if held is None else held.block

    def execution_of(self, block_hash: bytes) -> Any:
        """The caller's executed block for this hash (built or validated here), or None."""
        return self._results.get(block_hash)

    def own_messages(self) -> list[SendProposal | BroadcastVote]:
        """What we already said in this height."""
        return list(self._own)

    def said(self) -> list[SendProposal | BroadcastVote | RelayVotes]:
        """What to say again to a peer that (re)connects, or while stuck: our own messages
        of the height and the prevotes behind our valid value."""
        votes = self.proof_of_lock()
        return [*self._own, RelayVotes(votes)] if votes else list(self._own)

    def proof_of_lock(self) -> tuple[bytes, ...]:
        """The prevotes that justify our valid value. A validator that missed some of them
        (a dropped message, a restart) could otherwise stay locked on another value while
        we wait for it: the simulator showed honest validators split that way for hundreds
        of rounds."""
        m = self.machine
        state = m.state()
        if state.valid_round < 0 or m.decision is not None:
            return ()
        return tuple(m.votes_for(state.valid_round, VoteType.PREVOTE, state.valid_hash))

    def repeat_if_stuck(self) -> list[SendProposal | BroadcastVote | RelayVotes | Heard]:
        """Call at a fixed interval (the node: every second). If the machine is deciding a
        height and has not moved (same height, round and step) since the previous call,
        what to say again to every peer: our own messages of the height and the proof of
        lock, and what to pass on again to peers that cannot hear its signer (``Heard``,
        for everything held from others: a relay lost on the way is not lost for good);
        otherwise nothing. Backing off while it stays stuck: at the 1st, 2nd, 4th,
        8th and then every 16th call, as the messages include our proposal's block, and a
        machine merely waiting for peers that execute a big block slowly is stuck too.

        Why: a node sends each message once, and a peer may have dropped it for good -- it
        was a few heights behind (a node keeps messages for the height it decides and the
        next two only), or the sender was joining the validator set (a node keeps early
        messages only from validators of its current set). If that peer's vote is needed
        for a quorum, everyone then waits: no timeout is armed below a quorum of votes, so
        nobody says anything new. The simulator found both (soak schedules with validator
        set changes). Costs nothing while heights are decided within the interval."""
        m = self.machine
        at = (m.height, m.round, m.step)
        stuck = at == self._checked and m.decision is None and m.validators is not None
        self._checked = at
        self._stuck_for = self._stuck_for + 1 if stuck else 0
        n = self._stuck_for
        if n == 0 or (n & (n - 1) and n % 16):
            return []
        return [*self.said(), *self._heard()]

    # ---- inputs ---------------------------------------------------------------------------

    def _on_start_height(self, ev: StartHeight) -> None:
        if ev.height <= self.machine.height:
            return  # a stale start (block sync already moved us past it)
        self._own = []
        self._undone = None
        self._validating.clear()
        self._forget_below(ev.height)
        self._actions(self.machine.handle(ev))
        self._out.extend(self._heard())  # said before we started the height, kept till now

    def _heard(self) -> list[Heard]:
        """Others' votes and proposals (with their blocks) held for the current height."""
        m = self.machine
        heard = []
        for message in m.held_messages():
            if isinstance(message, Vote) and message.validator != m.public_key:
                heard.append(Heard(message.raw, message.validator))
            elif isinstance(message, Proposal) and message.proposer != m.public_key:
                held = self._blocks.get(message.block_hash)
                if held is not None:
                    heard.append(Heard(message.raw, message.proposer, held.block))
        return heard

    def _on_proposal(self, ev: ProposalArrived) -> None:
        """The machine judges the proposal; we hold the block bytes only of one it kept, at
        most a few per (height, round) and MAX_HELD_BLOCKS in all."""
        if ev.block_hash is None:
            self.machine.ignored["malformed_block"] += 1
            return
        m = self.machine
        event = ProposalReceived(ev.proposal, ev.block_hash)
        self._out.append(WriteWal(event))
        actions = m.handle(event)
        if m.accepted is not None and m.accepted[2] == ev.block_hash:
            height, round_, digest = m.accepted
            fresh = digest not in self._blocks
            self._hold(digest, height, round_, ev.block)
            if fresh and height == m.height and m.validators is not None:
                # The machine kept it, so it is signed by this round's proposer.
                self._out.append(Heard(ev.proposal, m.validators.proposer(height, round_), ev.block))
        elif self._undone is not None and ev.block_hash == self._undone.block_hash:
            # The block a decision waits for (the machine, decided, no longer needs the
            # proposal itself): signed by > 2/3 of the power, so safe to hold.
            self._blocks[ev.block_hash] = _Held(self._undone.height, -1, ev.block)
        self._actions(actions)
        if m.awaiting_validation(ev.block_hash):
            # Asked before we held the bytes (a WAL replay after a restart): the machine
            # will not ask twice, so answer now that we can.
            self._request_validation(ev.block_hash)
        self._finish_undone()

    def _on_vote(self, ev: VoteReceived) -> None:
        self._feed(ev)
        vote = self.machine.counted
        if vote is not None:
            self._out.append(Heard(vote.raw, vote.validator))

    def _on_timeout(self, ev: TimeoutFired) -> None:
        m = self.machine
        if (
            (ev.height, ev.round) == (m.height, m.round)
            and m.decision is None
            and (ev.step is m.step or ev.step is Step.PRECOMMIT)
        ):
            self._out.append(
                Notice("info", f"timeout height={ev.height} round={ev.round} step={ev.step.name} "
                       f"{m.round_summary()}")
            )
        self._feed(ev)

    def _on_built(self, ev: Built) -> None:
        self._blocks[ev.block_hash] = _Held(ev.height, ev.round, ev.block)
        self._results[ev.block_hash] = ev.result
        self._feed(BlockBuilt(ev.height, ev.round, ev.block_hash))

    def _on_validated(self, ev: Validated) -> None:
        self._validating.discard(ev.block_hash)
        if ev.height != self.machine.height:
            return  # a height already left
        if ev.result is not None:
            self._results[ev.block_hash] = ev.result
        elif ev.error:
            self._notice("warning", f"rejected proposed block {ev.block_hash.hex()[:16]}: {ev.error}")
        if self._undone is not None and self._undone.block_hash == ev.block_hash and ev.result is None:
            self._out.append(
                Notice(
                    "error",
                    f"block {ev.block_hash.hex()[:16]} decided at height {ev.height} does not "
                    f"execute: {ev.error or 'invalid'}",
                )
            )
            self._blocks.pop(ev.block_hash, None)
        self._feed(BlockValidated(ev.block_hash, ev.result is not None))
        self._finish_undone()

    def _on_pushed(self, ev: CommitArrived) -> None:
        m = self.machine
        if ev.block_hash is None:
            m.ignored["malformed_block"] += 1
            return
        if ev.height != m.height:
            # Usually a push that crossed our own commit: harmless, counted like late votes.
            m.ignored["old_height" if ev.height < m.height else "future_height"] += 1
            return
        if self._undone is not None:
            if self._undone.block_hash == ev.block_hash and ev.block_hash not in self._blocks:
                # The very block a certificate decided: safe to hold.
                self._blocks[ev.block_hash] = _Held(ev.height, -1, ev.block)
                self._finish_undone()
            return
        if m.decision is not None:
            return  # decided and committing (or committed) already
        self._notice("info", f"height={ev.height}: a peer pushed its committed block; deciding by it")
        self._pushed = (ev.block_hash, ev.block)
        try:
            self._feed(CommitReceived(ev.certificate, ev.block_hash))
        finally:
            self._pushed = None

    # ---- machine --------------------------------------------------------------------------

    def _feed(self, event: MachineInput) -> None:
        self._out.append(WriteWal(event))
        self._actions(self.machine.handle(event))

    def _actions(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, BroadcastProposal):
                held = self._blocks.get(action.block_hash)
                if held is None:
                    self._notice("warning", f"no block bytes for own proposal {action.block_hash.hex()[:16]}")
                    continue
                self._say(SendProposal(action.message, action.block_hash, held.block), OwnMessage.of(action))
            elif isinstance(action, BroadcastVote):
                self._say(action, OwnMessage.of(action))
            elif isinstance(action, RequestBlock):
                self._out.append(BuildBlock(action.height, action.round))
            elif isinstance(action, RequestValidation):
                self._request_validation(action.block_hash)
            elif isinstance(action, Decide):
                self._on_decide(action)
            elif isinstance(action, PersistSignState | ScheduleTimeout | ReportEvidence):
                self._out.append(action)
        self._relay_on_new_round()

    def _relay_on_new_round(self) -> None:
        """The round moved on: send every peer the prevotes behind our valid value. A
        validator that missed some of them (a link down, a restart) could otherwise stay
        unable to accept the re-proposal of a value others are locked on, for ever when
        the link stays down (tests/consensus/test_consensus_simulation.py, a cut link).

        Compared with the round last seen here, not with the round before this batch of
        actions: the machine has already moved when its actions reach us."""
        m = self.machine
        seen_height, seen_round = self._round_seen
        self._round_seen = (m.height, m.round)
        if m.height == seen_height and m.round > seen_round:
            votes = self.proof_of_lock()
            if votes:
                self._out.append(RelayVotes(votes))

    def _say(self, effect: SendProposal | BroadcastVote, record: OwnMessage) -> None:
        self._out.append(WriteWal(record))
        self._out.append(effect)
        self._own.append(effect)

    def _request_validation(self, block_hash: bytes) -> None:
        if block_hash in self._results:
            # Known already (built here, or executed for an earlier proposal): answer after
            # this batch of actions, through the WAL like any answer.
            self._later.append(BlockValidated(block_hash, True))
            return
        held = self._blocks.get(block_hash)
        if held is None or held.height != self.machine.height:
            return  # unknown or not for this height: the round will time out
        if block_hash not in self._validating:
            self._validating.add(block_hash)
            self._out.append(ValidateBlock(held.height, block_hash, held.block))

    def _on_decide(self, decide: Decide) -> None:
        self._undone = decide
        if self._pushed is not None and self._pushed[0] == decide.block_hash:
            self._blocks[decide.block_hash] = _Held(decide.height, -1, self._pushed[1])
        if decide.block_hash not in self._blocks and decide.block_hash not in self._results:
            # Peers that see our announced tip behind theirs push the block; block sync is
            # the fallback.
            self._notice("warning", f"decided height {decide.height} before receiving its block; waiting")
        self._finish_undone()

    def _finish_undone(self) -> None:
        """Commit the decided height once its block is executed; execute it if we hold it."""
        d = self._undone
        if d is None:
            return
        result = self.execution_of(d.block_hash)
        if result is not None:
            self._undone = None
            self._out.append(CommitBlock(d.height, d.round, d.block_hash, d.certificate, result))
            self._forget_below(d.height + 1)
            return
        if d.block_hash in self._validating:
            return  # our own validation of its proposal answers (no second execution)
        held = self._blocks.get(d.block_hash)
        if held is not None and held.height == d.height:
            # Decided before we executed it (pushed by a peer, or votes that outran our
            # validation): it must still produce the state its header claims; if it does
            # not, > 1/3 of the power signed an invalid block and we refuse to follow.
            self._validating.add(d.block_hash)
            self._out.append(ValidateBlock(d.height, d.block_hash, held.block))

    def _drain(self) -> None:
        while self._later:
            answer = self._later.popleft()
            if self.machine.validity(answer.block_hash) is None:
                self._feed(answer)

    # ---- block buffer ---------------------------------------------------------------------

    def _hold(self, block_hash: bytes, height: int, round_: int, block: bytes) -> None:
        if block_hash in self._blocks:
            return
        same_round = sum(1 for b in self._blocks.values() if (b.height, b.round) == (height, round_))
        if same_round >= MAX_BLOCKS_PER_ROUND or len(self._blocks) >= MAX_HELD_BLOCKS:
            self.machine.ignored["too_many_blocks"] += 1
            return
        self._blocks[block_hash] = _Held(height, round_, block)

    def _forget_below(self, height: int) -> None:
        for digest in [d for d, held in self._blocks.items() if held.height < height]:
            del self._blocks[digest]
            self._results.pop(digest, None)
        for digest in [d for d in self._results if d not in self._blocks]:
            del self._results[digest]

    def _notice(self, level: str, text: str) -> None:
        self._out.append(Notice(level, text))

    def _take(self) -> list[Effect]:
        out, self._out = self._out, []
        return out
