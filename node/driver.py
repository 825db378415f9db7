"""Executes the effects of the pure consensus host (consensus/host.py) with real I/O.

The host (the machine plus its block buffer, validity results, a decision waiting for its
block, pushed commits, own messages) decides everything; this module only does what it
asks, asynchronously. One task owns the host: it takes inputs from a queue (peer messages,
timer expiries, results of block building/validation), steps the host and executes the
returned effects in order: WAL appends, a PersistSignState fsynced on the disk thread before
the next effect runs (so no signature can leave before the fact that it was made is on
disk), broadcasts, timers, build/validate on the worker pool, commits.

Heights: after a block commits, the next height starts at once when there is work (pending
transactions, or a peer already talking about the next height), otherwise at the heartbeat
interval; so blocks follow payments within a few message delays, and an idle chain still
shows it is alive.

Catch-up, two ways. A validator one or two heights behind (it missed a proposal, or was
busy) is pushed the committed block by peers that see its announced tip lag theirs
(node/net/commit_push.py): the certificate decides the height through the machine (CommitReceived)
and the block is executed as usual, in one message delay. Further behind, node/net/block_sync.py
fetches blocks in batches, verifies their certificates, and asks the driver (`pause_for`)
to stop the machine between events while it applies them; the machine then restarts at the
new height.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nacl.signing
from consensus.config import ConsensusConfig
from consensus.events import (
    BroadcastVote,
    PersistSignState,
    ReportEvidence,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from consensus.host import (
    BuildBlock,
    Built,
    CommitArrived,
    CommitBlock,
    ConsensusHost,
    Effect,
    Heard,
    Input,
    Notice,
    ProposalArrived,
    RelayVotes,
    SendProposal,
    ValidateBlock,
    Validated,
    WriteWal,
)
from consensus.machine import ConsensusMachine
from consensus.messages import Step
from consensus.signer import DoubleSignGuard, Signer
from consensus.validators import ValidatorSet
from consensus.wal import EndHeight
from proto import node_pb2

from node.consensus_disk import SignStateFile, WalFile
from node.height_clock import HeightClock
from node.hooks import FaultHooks
from node.ledger.blocks import Certificate, block_hash, decode_block, decode_committed_block
from node.ledger.errors import LedgerError
from node.ledger.evidence import EvidencePool
from node.ledger.governance import validator_set_at
from node.ledger.transition import ExecutedBlock
from node.ledger_service import LedgerService
from node.logs import get_logger

log = get_logger("consensus")

# How many synced heights the double-sign guard inspects for our key's precommits: enough
# to cover a backup's age in practice, bounded so a long sync costs little.
_LOOK_BACK_HEIGHTS = 256


@dataclass(frozen=True, slots=True)
class _Begin:
    """Internal event: the height gate opened for `height`."""

    height: int


# The effects that put consensus messages on the wire (ConsensusDriver._say).
_Said = SendProposal | BroadcastVote | RelayVotes | Heard


@dataclass(frozen=True, slots=True)
class _Resend:
    """Internal event: say again what we said in this height, to one peer (`send`) that
    (re)connected, or to every peer (`send` None) if the machine is stuck. Queued, so that
    it runs between batches of effects: never between a signature and the fsync of the
    sign-state that must precede its broadcast."""

    send: Callable[[node_pb2.PeerMessage], None] | None


@dataclass(frozen=True, slots=True)
class _Pause:
    """Internal event: hand the machine to `work` (block sync), then restart it."""

    work: Callable[[], Awaitable[None]]
    done: asyncio.Future[None]


class ConsensusDriver:
    def __init__(
        self,
        *,
        chain: LedgerService,
        validators: ValidatorSet | Callable[[int], ValidatorSet] | None = None,
        signing_key: nacl.signing.SigningKey | None,
        data_dir: Path,
        config: ConsensusConfig,
        broadcast: Callable[[node_pb2.PeerMessage], None],
        announce: Callable[[int, bytes], None],
        pass_on: Callable[[bytes, node_pb2.PeerMessage], int] | None = None,
        create_empty_blocks: bool = False,
        heartbeat_s: float = 10.0,
        commit_delay_s: float = 0.0,
        commit_delay_txs: int = 0,
        repeat_s: float = 1.0,
        faults: FaultHooks | None = None,
        double_sign_check_height: int = 0,
        remote_signer: Any = None,
        observe_step: Callable[[str, float], None] | None = None,
        observe_block_work: Callable[[str, float], None] | None = None,
    ) -> None:
        """`remote_signer` (node.signer.client.RemoteSigner) signs instead of `signing_key`
        when given: the key then lives in the `cbdc signer` process. `observe_step(phase, s)`
        and `observe_block_work("build" | "validate", s)` receive each height's timings
        (node.height_clock; metrics)."""
        self.chain = chain
        self._clock = HeightClock(observe_step)
        self._observe_block_work = observe_block_work
        # The set deciding each height: the chain's (it changes by governance, committed at
        # H and deciding from H+2, so the set of the next height is always known), or one
        # fixed set (tests).
        if validators is None:
            self.validators_at: Callable[[int], ValidatorSet] = lambda height: validator_set_at(
                chain.store, chain.genesis, height
            )
        elif isinstance(validators, ValidatorSet):
            self.validators_at = lambda height, fixed=validators: fixed
        else:
            self.validators_at = validators
        self.config = config
        self._broadcast = broadcast
        self._announce_tip = announce
        # To validators that cannot hear a message's signer (node.net.pass_on).
        self._pass_on = pass_on if pass_on is not None else lambda signer, message: 0
        self.create_empty_blocks = create_empty_blocks
        self.heartbeat_s = heartbeat_s
        self.commit_delay_s = commit_delay_s
        # Pending transactions that end the wait after a commit early (0: never).
        self.commit_delay_txs = commit_delay_txs
        self.repeat_s = repeat_s  # how often a stuck machine's messages are said again
        self.chain_id = chain.genesis.chain_id
        if remote_signer is not None:
            self.public_key = remote_signer.public_key
        else:
            self.public_key = bytes(signing_key.verify_key) if signing_key else b""
        self._sign_state = SignStateFile(data_dir / "sign_state.bin")
        # The sign-state file, not the WAL, is what prevents equivocation: it is fsynced
        # before every signature leaves. WAL records are written unsynced (losing the tail
        # in a crash costs at most a round, never safety).
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sign-state")
        self._wal = WalFile(data_dir / "consensus.wal")
        # A node with a key may become a validator by a governance change: it always has a
        # signer, and the machine signs only at heights whose set includes its key.
        signer: Any = None
        saved = None
        if remote_signer is not None:
            saved = remote_signer.loaded_state  # the signer's sign-state is the one that counts
            signer = remote_signer
        elif signing_key is not None:
            saved = self._sign_state.load()
            signer = Signer(signing_key, saved)
        self._signer = signer
        # Restored from a backup, or without the sign-state: watch before signing again.
        self.guard = DoubleSignGuard(double_sign_check_height)
        if signer is not None:
            stored = chain.store.height
            if saved is None and stored > 0 and self.public_key in self.validators_at(stored + 1):
                self._arm_guard(f"no sign-state beside a block store at height {stored}")
            else:
                self._look_back(saved.height if saved else 0, stored, "the block store holds")
        self.host = ConsensusHost(ConsensusMachine(self.chain_id, signer, config))
        self._queue: asyncio.Queue[Input | _Begin | _Pause | _Resend] = asyncio.Queue()
        self._evidence = EvidencePool(
            self.validators_at, self.chain_id, chain.store.committed_evidence, lambda: chain.store.height + 2
        )
        # Test-only hooks (node.hooks): crash points and a Byzantine mode that sees each action
        # first. No-ops on every real validator.
        self._faults = faults if faults is not None else FaultHooks()
        self._taken_over: set[bytes] = set()  # own messages the Byzantine mode replaced
        self._work = asyncio.Event()
        # The wait after a commit may end: a validator has started the height after ours,
        # or the mempool holds commit_delay_txs transactions.
        self._wait_over = asyncio.Event()
        self._gate: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Recover from the WAL and start deciding the height after the stored tip."""
        contents = self._wal.load()
        self._wal.open()
        height = self.chain.store.height + 1
        start = StartHeight(height, self.validators_at(height))
        effects, result = self.host.start(contents.entries, start)
        if result.replayed:
            log.info(
                "resumed from WAL",
                height=result.state.height,
                round=result.state.round,
                step=result.state.step.name,
                entries=result.replayed,
            )
        self._runner = asyncio.create_task(self._run(), name="consensus")
        self._spawn(self._repeat_while_stuck())
        self._clock.begin_height(start.height)
        await self._execute(effects)
        self._announce()

    async def stop(self) -> None:
        for task in [*self._tasks, self._gate, self._runner]:
            if task is not None:
                task.cancel()
        for task in [*self._tasks, self._gate, self._runner]:
            if task is not None:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
        self._wal.close()
        self._disk.shutdown(wait=True)

    @property
    def machine(self) -> ConsensusMachine:
        return self.host.machine

    @property
    def height(self) -> int:
        return self.machine.height

    @property
    def round(self) -> int:
        return self.machine.round

    # --- the double-sign guard ---------------------------------------------------------
    def _arm_guard(self, reason: str) -> None:
        if self._signer is None or not self.guard.arm(reason):
            return
        self._signer.withholding = True
        log.warning(
            "double-sign guard: %s; watching %d heights decided without this validator before it signs",
            reason,
            self.guard.remaining,
        )

    def _watch_height(self, commit: CommitBlock) -> None:
        """A height decided live while the guard is armed: one more watched, unless its
        certificate shows our key signing elsewhere."""
        if self._signer is None or not self.guard.armed:
            return
        try:
            signers = Certificate.decode(commit.certificate).signers
        except LedgerError:
            signers = ()
        own = self.public_key in signers
        if self.guard.watched(own):
            self._signer.withholding = False
            log.warning(
                "double-sign guard released: watched %d heights up to %d without this validator's "
                "key; signing again", self.guard.heights, commit.height,
            )
        elif own:
            log.error(
                "double-sign guard: the certificate of height %d carries a precommit of this "
                "validator's key that this process did not sign: another process is signing with "
                "this key; still withholding (stop the other one)", commit.height,
            )
        else:
            log.info(
                "double-sign guard: height %d decided without this validator; %d more to watch",
                commit.height, self.guard.remaining,
            )

    def _look_back(self, before: int, tip: int, source: str) -> None:
        """Heights before..tip arrived without this process taking part (stored before a
        restart, or brought by block sync). If their
        certificates carry precommits of our key above what our sign-state remembers, the
        key signed somewhere else (we are a restored backup, or have a twin): watch before
        signing. An honest validator that merely fell behind finds none and is not held up,
        so validators catching up together can never all wait on each other."""
        if self._signer is None:
            return
        remembered = self._signer.state.height
        first = max(before, remembered, tip - _LOOK_BACK_HEIGHTS) + 1
        for height in range(tip, first - 1, -1):
            raw = self.chain.store.get_block(height)
            if raw is None:
                continue
            try:
                signers = Certificate.decode(decode_committed_block(raw).certificate).signers
            except LedgerError:
                continue
            if self.public_key in signers:
                self._arm_guard(
                    f"{source} height {height}, whose certificate carries a precommit of this key "
                    f"above the sign-state's height {remembered}"
                )
                return

    # --- inputs from the node ------------------------------------------------------------
    def on_proposal(self, proposal: bytes, block: bytes) -> None:
        """A peer's proposal with its block: the machine judges the proposal, the host
        keeps the block only if the machine did (consensus.host)."""
        digest: bytes | None
        try:
            parsed, header = decode_block(block)
            digest = block_hash(parsed.header)
            self._clock.proposal_arrived(header.height)
        except LedgerError:
            digest = None
        self._queue.put_nowait(ProposalArrived(proposal, block, digest))

    def on_commit(self, committed: bytes) -> None:
        """A peer pushed a CommittedBlock for the height after our tip (node.net.commit_push): if
        its certificate verifies, the height is decided without waiting for a round."""
        try:
            block = decode_committed_block(committed)
        except LedgerError:
            self._queue.put_nowait(CommitArrived(b"", b"", None, 0))  # the host counts it
            return
        arrived = CommitArrived(block.certificate, block.block_bytes, block.block_hash, block.height)
        self._queue.put_nowait(arrived)

    def on_vote(self, vote: bytes) -> None:
        self._queue.put_nowait(VoteReceived(vote))

    def on_evidence(self, evidence: bytes) -> None:
        proof = self._evidence.add(evidence)  # verified; none already committed or held
        if proof is not None:
            log.warning(
                "evidence of double vote",
                height=proof.height,
                round=proof.round,
                validator=proof.validator,
                type=proof.vote_a.type.name,
            )

    def held_block(self, digest: bytes) -> bytes | None:
        """Bytes of a block held for the current or next height (proposed or built)."""
        return self.host.held_block(digest)

    def notify_work(self) -> None:
        """A transaction was admitted: a waiting height may start."""
        self._work.set()
        if self._enough_pending():
            self._wait_over.set()

    def resend_to(self, send: Callable[[node_pb2.PeerMessage], None]) -> None:
        """A peer (re)connected: give it what we already said in this height, and the
        prevotes behind our valid value (from the consensus task, see _Resend)."""
        self._queue.put_nowait(_Resend(send))

    def _resend(self, resend: _Resend) -> None:
        if resend.send is None:
            effects: list[_Said] = self.host.repeat_if_stuck()
        else:
            effects = [*self.host.said()]
        for effect in effects:
            if not isinstance(effect, SendProposal | BroadcastVote) or effect.message not in self._taken_over:
                self._say(effect, resend.send or self._broadcast)

    def _say(self, effect: _Said, send: Callable[[node_pb2.PeerMessage], None]) -> None:
        """Send a consensus message with `send` (one peer, or every peer); pass on what we
        heard from others to the validators that cannot hear its signer."""
        if isinstance(effect, RelayVotes):
            for vote in effect.votes:
                send(node_pb2.PeerMessage(vote=vote))
        elif isinstance(effect, Heard):
            self._pass_on(effect.signer, _peer_message(effect))
        else:
            send(_peer_message(effect))

    async def _repeat_while_stuck(self) -> None:
        while True:
            await asyncio.sleep(self.repeat_s)
            self._queue.put_nowait(_Resend(None))

    async def pause_for(self, work: Callable[[], Awaitable[None]]) -> None:
        """Run `work` (block sync) with the machine stopped, then restart at the new tip."""
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Pause(work, done))
        await done

    # --- the loop ------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            event = await self._queue.get()
            try:
                await self._handle(event)
            except asyncio.CancelledError:
                raise
            except Exception:
                # A bug must not leave the validator silently wedged: log loudly and go on;
                # safety does not depend on this loop (sign-state guards every signature).
                log.exception("consensus event %r failed", type(event).__name__)

    async def _handle(self, event: Input | _Begin | _Pause | _Resend) -> None:
        if isinstance(event, _Pause):
            await self._paused(event)
            return
        if isinstance(event, _Resend):
            self._resend(event)
            return
        if isinstance(event, _Begin):
            if event.height != self.machine.height + 1 or not self.host.decided:
                return  # stale: block sync restarted the machine meanwhile
            await self._step(StartHeight(event.height, self.validators_at(event.height)))
        else:
            await self._step(event)
        if self.host.decided and self.machine.next_height_buffered:
            self._wait_over.set()
            # A validator has started the next height (the machine kept its message only
            # after checking who sent it and the signature): join it rather than wait.
            self._work.set()

    async def _step(self, item: Input) -> None:
        if isinstance(item, StartHeight):
            self._taken_over.clear()
            self._clock.begin_height(item.height)
        effects = self.host.step(item)
        if self._clock.phase in _VOTING_PHASES:
            phase = _VOTING[self.machine.step]
            if phase != self._clock.phase:
                self._clock.enter(phase)
        await self._execute(effects)

    async def _execute(self, effects: list[Effect]) -> None:
        for effect in effects:
            if isinstance(effect, WriteWal):
                self._wal.append(effect.entry)
                self._faults.crash_point("after-wal-write")
                continue
            if self._faults.misbehave is not None and self._faults.misbehave(effect):
                if isinstance(effect, SendProposal | BroadcastVote):
                    self._taken_over.add(effect.message)
                continue
            if isinstance(effect, PersistSignState):
                # Durable before the next effect (the broadcast it protects); the fsyncs run
                # on the disk thread so the event loop keeps serving peers and clients.
                await asyncio.get_running_loop().run_in_executor(
                    self._disk, self._sign_state.save, effect.data
                )
                self._faults.crash_point("after-sign-before-broadcast")
            elif isinstance(effect, SendProposal | BroadcastVote | RelayVotes | Heard):
                self._say(effect, self._broadcast)
            elif isinstance(effect, ScheduleTimeout):
                asyncio.get_running_loop().call_later(
                    effect.duration_ms / 1000,
                    self._queue.put_nowait,
                    TimeoutFired(effect.height, effect.round, effect.step),
                )
            elif isinstance(effect, BuildBlock):
                self._spawn(self._build(effect.height, effect.round))
            elif isinstance(effect, ValidateBlock):
                self._spawn(self._validate(effect))
            elif isinstance(effect, CommitBlock):
                await self._commit(effect)
            elif isinstance(effect, ReportEvidence):
                self.on_evidence(effect.evidence)
                self._broadcast(node_pb2.PeerMessage(evidence=effect.evidence))
            elif isinstance(effect, Notice):
                log.log(logging.getLevelName(effect.level.upper()), "%s", effect.text)

    # --- block work on the pool ----------------------------------------------------------
    def _block_work_took(self, work: str, started: float) -> None:
        seconds = time.monotonic() - started
        self._clock.executed(seconds)
        if self._observe_block_work is not None:
            self._observe_block_work(work, seconds)

    async def _build(self, height: int, round_: int) -> None:
        started = time.monotonic()
        try:
            built = await self.chain.build(
                height=height,
                proposer=self.public_key,
                validators_hash=self.validators_at(height).hash(),
                evidence=self._evidence.for_block(height),
                # A third of what validators wait for the proposal: they need about as long
                # again to execute it, and the transfer takes the rest.
                time_budget_s=self.config.timeout_ms(Step.PROPOSE, round_) / 3000,
            )
        except Exception:
            log.exception("building the block for height %d round %d failed", height, round_)
            return  # not answered: timeoutPropose moves the round on
        self._block_work_took("build", started)
        self._queue.put_nowait(Built(height, round_, built.block_hash, built.block_bytes, built))

    async def _validate(self, request: ValidateBlock) -> None:
        result: ExecutedBlock | None = None
        error = ""
        started = time.monotonic()
        try:
            # The one block transition judges it, evidence included (node.ledger.transition).
            result = await self.chain.validate(
                request.block, height=request.height, validators=self.validators_at(request.height)
            )
        except LedgerError as err:
            result, error = None, str(err)
        except Exception as exc:
            # The host waits for an answer (a decision may wait on it): a bug here must
            # still give one.
            log.exception("validating block %s failed", request.block_hash.hex()[:16])
            result, error = None, f"internal error: {exc}"
        self._block_work_took("validate", started)
        self._queue.put_nowait(Validated(request.height, request.block_hash, result, error))

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- heights -------------------------------------------------------------------------
    async def _commit(self, commit: CommitBlock) -> None:
        self._clock.enter("commit")
        await self.chain.commit(commit.result, commit.certificate)
        self._wal.append(EndHeight(commit.height))
        self._wal.reset()
        self._evidence.prune()
        self._watch_height(commit)
        log.info(
            "committed",
            height=commit.height,
            round=commit.round,
            txs=commit.result.header.tx_count,
            hash=commit.block_hash.hex()[:16],
            **self._clock.end_height(),
        )
        self._announce()
        self._open_gate(commit.height + 1)

    def _open_gate(self, height: int) -> None:
        if self._gate is not None:
            self._gate.cancel()
        self._gate = asyncio.create_task(self._wait_for_work(height))

    async def _wait_for_work(self, height: int) -> None:
        """Start `height` when there is something to decide, or at the heartbeat; but not
        sooner than commit_delay_s after the last commit (CometBFT's timeout_commit), so that
        under load each block carries more transactions: the work every height costs (votes,
        signatures, fsyncs, a synced LevelDB batch, a write per peer per message) is then
        shared by more of them. The wait ends early when a validator has already started the
        next height (join it), or when commit_delay_txs transactions are pending: a block
        that full already shares that cost well, and waiting longer would only add latency
        (and, at the machine's limit, let the backlog grow)."""
        self._wait_over.clear()
        if self.commit_delay_s > 0 and not (self.machine.next_height_buffered or self._enough_pending()):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_over.wait(), self.commit_delay_s)
        if not (self.create_empty_blocks or len(self.chain.mempool) or self._evidence):
            self._work.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), self.heartbeat_s)
        self._queue.put_nowait(_Begin(height))

    def _enough_pending(self) -> bool:
        return bool(self.commit_delay_txs) and len(self.chain.mempool) >= self.commit_delay_txs

    def _announce(self) -> None:
        tip = self.chain.store.tip()
        self._announce_tip(tip.height, tip.block_hash)

    # --- sync pause ----------------------------------------------------------------------
    async def _paused(self, pause: _Pause) -> None:
        before = self.chain.store.height
        try:
            await pause.work()
        except Exception as exc:
            if not pause.done.done():
                pause.done.set_exception(exc)
        finally:
            tip = self.chain.store.height
            if tip > before:
                self._look_back(before, tip, "block sync brought")
            if tip >= self.machine.height:
                # The store moved past the height the machine was deciding: restart after it.
                self._wal.reset()
                await self._step(StartHeight(tip + 1, self.validators_at(tip + 1)))
                self._announce()
            if not pause.done.done():
                pause.done.set_result(None)


# The machine's step, as the phase of a height it names (node.height_clock).
_VOTING = {Step.PROPOSE: "propose", Step.PREVOTE: "prevote", Step.PRECOMMIT: "precommit"}
_VOTING_PHASES = frozenset(_VOTING.values())


def _peer_message(effect: SendProposal | BroadcastVote | Heard) -> node_pb2.PeerMessage:
    """A proposal with its block, or a vote (a Heard without a block)."""
    if isinstance(effect, SendProposal) or (isinstance(effect, Heard) and effect.block):
        return node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=effect.message, block=effect.block))
    return node_pb2.PeerMessage(vote=effect.message)
