"""Drives the pure consensus machine (consensus/) with real I/O.

One task owns the machine: it takes events from a queue (peer messages, timer expiries,
results of block building/validation), writes them to the WAL, feeds them to the machine
and executes the returned actions in order. A PersistSignState is fsynced before the next
action runs, so no signature can leave before the fact that it was made is on disk.

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
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
from consensus.config import ConsensusConfig
from consensus.events import (
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
from consensus.machine import FUTURE_HEIGHTS, ConsensusMachine
from consensus.messages import InvalidMessage, Step, VoteType, decode_proposal
from consensus.signer import Signer
from consensus.validators import ValidatorSet
from consensus.wal import EndHeight, OwnMessage, replay
from google.protobuf.message import DecodeError
from proto import ledger_pb2, node_pb2

from node.consensus_disk import SignStateFile, WalFile
from node.hooks import FaultHooks
from node.ledger.blocks import block_hash, decode_block
from node.ledger.errors import LedgerError
from node.ledger.evidence import EvidencePool
from node.ledger.transition import ExecutedBlock
from node.ledger_service import LedgerService

log = logging.getLogger("cbdc.consensus")

# Blocks kept for heights we are deciding (and the next one): bounds what peers can make
# us hold even if they send many different proposals.
_MAX_HELD_BLOCKS = 64
# A proposer may equivocate; more than this many blocks for one (height, round) can only
# come from it, and the machine keeps no more proposals than that either.
_MAX_BLOCKS_PER_ROUND = 4


@dataclass(frozen=True, slots=True)
class _Begin:
    """Internal event: start deciding `height` now."""

    height: int


@dataclass(frozen=True, slots=True)
class _Built:
    height: int
    round: int
    block: ExecutedBlock | None


@dataclass(frozen=True, slots=True)
class _Validated:
    height: int
    block_hash: bytes
    block: ExecutedBlock | None
    error: str


@dataclass(frozen=True, slots=True)
class _Pushed:
    """Internal event: a peer pushed a committed block (we had announced the height before)."""

    height: int
    block_hash: bytes
    block: bytes
    certificate: bytes


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
        validators: ValidatorSet,
        signing_key: nacl.signing.SigningKey | None,
        data_dir: Path,
        config: ConsensusConfig,
        broadcast: Callable[[node_pb2.PeerMessage], None],
        announce: Callable[[int, bytes], None],
        create_empty_blocks: bool = False,
        heartbeat_s: float = 10.0,
        commit_delay_s: float = 0.0,
        faults: FaultHooks | None = None,
    ) -> None:
        self.chain = chain
        self.validators = validators
        self.config = config
        self._broadcast = broadcast
        self._announce_tip = announce
        self.create_empty_blocks = create_empty_blocks
        self.heartbeat_s = heartbeat_s
        self.commit_delay_s = commit_delay_s
        self.chain_id = chain.genesis.chain_id
        self.public_key = bytes(signing_key.verify_key) if signing_key else b""
        self._sign_state = SignStateFile(data_dir / "sign_state.bin")
        # The sign-state file, not the WAL, is what prevents equivocation: it is fsynced
        # before every signature leaves. WAL records are written unsynced (losing the tail
        # in a crash costs at most a round, never safety).
        self._disk = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sign-state")
        self._wal = WalFile(data_dir / "consensus.wal")
        is_validator = signing_key is not None and self.public_key in validators
        self._signer = Signer(signing_key, self._sign_state.load()) if is_validator else None
        self.machine = ConsensusMachine(self.chain_id, self._signer, config)
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._blocks: dict[bytes, tuple[int, int, bytes]] = {}  # hash -> (height, round, bytes)
        self._validated: dict[bytes, ExecutedBlock] = {}
        # Validations of proposed blocks still running, by hash: their result (None when the
        # block failed), so a decision that outruns one waits for it instead of executing
        # the same block a second time.
        self._validating: dict[bytes, asyncio.Future[ExecutedBlock | None]] = {}
        self._own_messages: list[node_pb2.PeerMessage] = []  # this height, for late peers
        # A height decided by certificate before we held its block (a WAL replay, or votes
        # that outran the proposal): committed as soon as the block arrives.
        self._undone: Decide | None = None
        # Bytes of a pushed block while the machine checks its certificate: held only if
        # that decides the height, so a junk push cannot make us keep anything.
        self._pushed: tuple[bytes, bytes] | None = None
        self._evidence = EvidencePool(
            validators, self.chain_id, chain.store.committed_evidence, lambda: chain.store.height + 2
        )
        # Test-only hooks (node.hooks): crash points and a Byzantine mode that sees each action
        # first. No-ops on every real validator.
        self._faults = faults if faults is not None else FaultHooks()
        self._work = asyncio.Event()
        self._moved_on = asyncio.Event()  # a validator has started the height after ours
        self._gate: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._runner: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        """Recover from the WAL and start deciding the height after the stored tip."""
        contents = self._wal.load()
        self._wal.open()
        start = StartHeight(self.chain.store.height + 1, self.validators)
        result = replay(self.machine, contents.entries, start)
        if result.replayed:
            log.info(
                "resumed from WAL: height=%d round=%d step=%s entries=%d",
                result.state.height,
                result.state.round,
                result.state.step.name,
                result.replayed,
            )
        self._runner = asyncio.create_task(self._run(), name="consensus")
        await self._execute(result.actions)
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
    def height(self) -> int:
        return self.machine.height

    @property
    def round(self) -> int:
        return self.machine.round

    # --- inputs from the node ------------------------------------------------------------
    def on_proposal(self, proposal: bytes, block: bytes) -> None:
        """Hold the block of a proposal, but only of one that can matter: signed by the
        proposer of its height and round, for this chain, for the height being decided or
        one just ahead, naming exactly this block; at most a few per (height, round). Anything
        else is left to the machine to count, so junk cannot crowd out the real block."""
        try:
            decoded, header = decode_block(block)
            digest = block_hash(decoded.header)
            p = decode_proposal(proposal)
        except (LedgerError, InvalidMessage):
            self.machine.ignored["malformed_block"] += 1
            return
        if p.height < self.machine.height or p.height > self.machine.height + FUTURE_HEIGHTS:
            self.machine.ignored["old_height" if p.height < self.machine.height else "future_height"] += 1
            return
        if (
            p.chain_id != self.chain_id
            or p.block_hash != digest
            or header.height != p.height
            or p.proposer != self.validators.proposer(p.height, p.round)
        ):
            self._queue.put_nowait(ProposalReceived(proposal, digest))  # the machine counts why
            return
        if digest not in self._blocks:
            same_round = sum(1 for h, r, _ in self._blocks.values() if (h, r) == (p.height, p.round))
            if same_round >= _MAX_BLOCKS_PER_ROUND or len(self._blocks) >= _MAX_HELD_BLOCKS:
                self.machine.ignored["too_many_blocks"] += 1
                return
            self._blocks[digest] = (p.height, p.round, block)
        self._queue.put_nowait(ProposalReceived(proposal, digest))

    def on_commit(self, committed: bytes) -> None:
        """A peer pushed a CommittedBlock for the height after our tip (node.net.commit_push): if
        its certificate verifies, the height is decided without waiting for a round."""
        try:
            msg = ledger_pb2.CommittedBlock.FromString(committed)
            decoded, header = decode_block(msg.block)
        except (LedgerError, DecodeError):
            self.machine.ignored["malformed_block"] += 1
            return
        if header.height != self.machine.height:
            # Usually a push that crossed our own commit: harmless, counted like late votes.
            late = header.height < self.machine.height
            self.machine.ignored["old_height" if late else "future_height"] += 1
            return
        self._queue.put_nowait(_Pushed(header.height, block_hash(decoded.header), msg.block, msg.commit))

    def on_vote(self, vote: bytes) -> None:
        self._queue.put_nowait(VoteReceived(vote))

    def on_evidence(self, evidence: bytes) -> None:
        proof = self._evidence.add(evidence)  # verified; none already committed or held
        if proof is not None:
            log.warning(
                "evidence of double vote validator=%s height=%d round=%d type=%s",
                proof.validator.hex(),
                proof.height,
                proof.round,
                proof.vote_a.type.name,
            )

    def held_block(self, digest: bytes) -> bytes | None:
        """Bytes of a block held for the current or next height (proposed or built)."""
        held = self._blocks.get(digest)
        return None if held is None else held[2]

    def notify_work(self) -> None:
        """A transaction was admitted: a waiting height may start."""
        self._work.set()

    def resend_to(self, send: Callable[[node_pb2.PeerMessage], None]) -> None:
        """A peer (re)connected: give it what we already said in this height, and the
        prevotes behind our valid value."""
        for message in self._own_messages:
            send(message)
        self._relay_proof_of_lock(send)

    def _relay_proof_of_lock(self, send: Callable[[node_pb2.PeerMessage], None]) -> None:
        """Send the prevotes that justify our valid value. A validator that missed some of
        them (a dropped message, a restart) could otherwise stay locked on another value
        while we wait for it: the simulator showed honest validators split that way for
        hundreds of rounds. Sent when a round moves on and when a peer (re)connects."""
        state = self.machine.state()
        if state.valid_round < 0 or self.machine.decision is not None:
            return
        for vote in self.machine.votes_for(state.valid_round, VoteType.PREVOTE, state.valid_hash):
            send(node_pb2.PeerMessage(vote=vote))

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

    async def _handle(self, event: object) -> None:
        if isinstance(event, _Begin):
            if event.height == self.machine.height + 1 and self.machine.decision is not None:
                await self._start_height(event.height)
            return
        if isinstance(event, _Built):
            if event.block is None:
                return
            self._remember(event.block, event.height, event.round)
            event = BlockBuilt(event.height, event.round, event.block.block_hash)
        elif isinstance(event, _Validated):
            if event.block is not None:
                self._validated[event.block_hash] = event.block
            elif event.error:
                log.warning("rejected proposed block %s: %s", event.block_hash.hex()[:16], event.error)
            event = BlockValidated(event.block_hash, event.block is not None)
        elif isinstance(event, _Pause):
            await self._paused(event)
            return
        elif isinstance(event, _Pushed):
            if event.height != self.machine.height:
                return
            if self._undone is not None:
                if self._undone.block_hash == event.block_hash:
                    # The very block a certificate decided: safe to hold (_commit finds it).
                    self._blocks[event.block_hash] = (event.height, -1, event.block)
                    await self._commit(self._undone)
                return
            if self.machine.decision is not None:
                return  # decided and committing (or committed) already
            self._pushed = (event.block_hash, event.block)
            log.info(
                "height=%d: a peer pushed its committed block; deciding by its certificate", event.height
            )
            event = CommitReceived(event.certificate, event.block_hash)
        if isinstance(
            event,
            ProposalReceived | VoteReceived | TimeoutFired | BlockValidated | BlockBuilt | CommitReceived,
        ):
            self._wal.append(event)
            self._faults.crash_point("after-wal-write")
        if (
            isinstance(event, TimeoutFired)
            and (event.height, event.round) == (self.machine.height, self.machine.round)
            and self.machine.decision is None
            and (event.step is self.machine.step or event.step is Step.PRECOMMIT)
        ):
            log.info(
                "timeout height=%d round=%d step=%s %s",
                event.height,
                event.round,
                event.step.name,
                self.machine.round_summary(),
            )
        round_before = self.machine.round
        try:
            await self._execute(self.machine.handle(event))
        finally:
            self._pushed = None
        if self.machine.round > round_before:
            self._relay_proof_of_lock(self._broadcast)
        if self._undone is not None and self._undone.block_hash in self._blocks:
            await self._commit(self._undone)  # the decided block arrived in a proposal
        if self.machine.decision is not None and self.machine.next_height_buffered:
            self._moved_on.set()
            # A validator has started the next height (the machine kept its message only
            # after checking who sent it and the signature): join it rather than wait.
            self._work.set()

    async def _execute(self, actions: list) -> None:
        for action in actions:
            if self._faults.misbehave is not None and self._faults.misbehave(action):
                continue
            if isinstance(action, PersistSignState):
                # Durable before the next action (the broadcast it protects); the fsyncs run
                # on the disk thread so the event loop keeps serving peers and clients.
                await asyncio.get_running_loop().run_in_executor(
                    self._disk, self._sign_state.save, action.data
                )
                self._faults.crash_point("after-sign-before-broadcast")
            elif isinstance(action, BroadcastVote):
                self._wal.append(OwnMessage.of(action))
                self._faults.crash_point("after-wal-write")
                self._say(node_pb2.PeerMessage(vote=action.message))
            elif isinstance(action, BroadcastProposal):
                held = self._blocks.get(action.block_hash)
                if held is None:
                    log.warning("no block bytes for own proposal %s; not sent", action.block_hash.hex()[:16])
                    continue
                self._wal.append(OwnMessage.of(action))
                self._faults.crash_point("after-wal-write")
                self._say(
                    node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=action.message, block=held[2]))
                )
            elif isinstance(action, ScheduleTimeout):
                asyncio.get_running_loop().call_later(
                    action.duration_ms / 1000,
                    self._queue.put_nowait,
                    TimeoutFired(action.height, action.round, action.step),
                )
            elif isinstance(action, RequestBlock):
                self._spawn(self._build(action.height, action.round))
            elif isinstance(action, RequestValidation):
                self._request_validation(action.block_hash)
            elif isinstance(action, Decide):
                await self._commit(action)
            elif isinstance(action, ReportEvidence):
                self.on_evidence(action.evidence)
                self._broadcast(node_pb2.PeerMessage(evidence=action.evidence))

    def _say(self, message: node_pb2.PeerMessage) -> None:
        self._own_messages.append(message)
        self._broadcast(message)

    # --- block work on the pool ----------------------------------------------------------
    async def _build(self, height: int, round_: int) -> None:
        try:
            block: ExecutedBlock | None = await self.chain.build(
                height=height,
                proposer=self.public_key,
                validators_hash=self.validators.hash(),
                evidence=self._evidence.for_block(height),
                # A third of what validators wait for the proposal: they need about as long
                # again to execute it, and the transfer takes the rest.
                time_budget_s=self.config.timeout_ms(Step.PROPOSE, round_) / 3000,
            )
        except Exception:
            log.exception("building the block for height %d round %d failed", height, round_)
            block = None
        self._queue.put_nowait(_Built(height, round_, block))

    def _request_validation(self, digest: bytes) -> None:
        if digest in self._validated:
            self._queue.put_nowait(_Validated(self.machine.height, digest, self._validated[digest], ""))
            return
        held = self._blocks.get(digest)
        if held is None or held[0] != self.machine.height:
            return  # unknown or not for this height: the round will time out
        if digest not in self._validating:
            self._validating[digest] = asyncio.get_running_loop().create_future()
            self._spawn(self._validate(held[0], digest, held[2]))

    async def _validate(self, height: int, digest: bytes, block: bytes) -> None:
        validated: ExecutedBlock | None = None
        try:
            validated = await self.chain.validate(block, height=height, validators=self.validators)
            self._queue.put_nowait(_Validated(height, digest, validated, ""))
        except LedgerError as err:
            self._queue.put_nowait(_Validated(height, digest, None, str(err)))
        except Exception as exc:
            # The machine waits for an answer (it may extend the propose timeout for it):
            # a bug here must still give one.
            log.exception("validating block %s failed", digest.hex()[:16])
            validated = None
            self._queue.put_nowait(_Validated(height, digest, None, f"internal error: {exc}"))
        finally:
            pending = self._validating.pop(digest, None)
            if pending is not None and not pending.done():
                pending.set_result(validated)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _remember(self, block: ExecutedBlock, height: int, round_: int) -> None:
        self._blocks[block.block_hash] = (height, round_, block.block_bytes)
        self._validated[block.block_hash] = block

    # --- heights -------------------------------------------------------------------------
    async def _commit(self, decide: Decide) -> None:
        block = self._validated.get(decide.block_hash)
        if block is None:
            block = await self._validate_decided(decide)
            if block is None:
                self._undone = decide
                return
        self._undone = None
        await self.chain.commit(block, decide.certificate)
        self._wal.append(EndHeight(decide.height))
        self._wal.reset()
        self._evidence.prune()
        log.info(
            "committed height=%d round=%d txs=%d hash=%s",
            decide.height,
            decide.round,
            block.header.tx_count,
            decide.block_hash.hex()[:16],
        )
        self._forget_below(decide.height + 1)
        self._announce()
        self._open_gate(decide.height + 1)

    async def _validate_decided(self, decide: Decide) -> ExecutedBlock | None:
        """Execute a block that a certificate decided before we validated it (pushed by a
        peer, or held from a proposal whose validation had not finished). It must still
        produce the state root its header claims; if it does not, > 1/3 of the power signed
        an invalid block and this node refuses to follow (operators must look)."""
        pending = self._validating.get(decide.block_hash)
        if pending is not None:
            validated = await asyncio.shield(pending)  # our own validation of its proposal
            if validated is not None:
                return validated
        raw = self._pushed[1] if self._pushed and self._pushed[0] == decide.block_hash else None
        if raw is None:
            held = self._blocks.get(decide.block_hash)
            raw = held[2] if held is not None and held[0] == decide.height else None
        if raw is None:
            # Peers that see our announced tip behind theirs push the block (node.net.commit_push);
            # block sync is the fallback.
            log.warning("decided height %d before receiving its block; waiting for it", decide.height)
            return None
        try:
            return await self.chain.validate(raw, height=decide.height, validators=self.validators)
        except LedgerError as err:
            log.error(
                "block %s decided at height %d does not execute: %s",
                decide.block_hash.hex()[:16],
                decide.height,
                err,
            )
            self._blocks.pop(decide.block_hash, None)
            return None

    def _open_gate(self, height: int) -> None:
        if self._gate is not None:
            self._gate.cancel()
        self._gate = asyncio.create_task(self._wait_for_work(height))

    async def _wait_for_work(self, height: int) -> None:
        """Start `height` when there is something to decide, or at the heartbeat; but not
        sooner than commit_delay_s after the last commit (CometBFT's timeout_commit), so that
        under load each block carries more transactions: the work every height costs (votes,
        signatures, fsyncs, a synced LevelDB batch) is then shared by more of them. If a
        validator has already started the next height, join it at once."""
        self._moved_on.clear()
        if self.commit_delay_s > 0 and not self.machine.next_height_buffered:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._moved_on.wait(), self.commit_delay_s)
        if not (self.create_empty_blocks or len(self.chain.mempool) or self._evidence):
            self._work.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._work.wait(), self.heartbeat_s)
        self._queue.put_nowait(_Begin(height))

    async def _start_height(self, height: int) -> None:
        self._own_messages = []
        self._undone = None
        await self._execute(self.machine.handle(StartHeight(height, self.validators)))

    def _forget_below(self, height: int) -> None:
        for digest in [d for d, (h, _, _) in self._blocks.items() if h < height]:
            del self._blocks[digest]
            self._validated.pop(digest, None)

    def _announce(self) -> None:
        tip = self.chain.store.tip()
        self._announce_tip(tip.height, tip.block_hash)

    # --- sync pause ----------------------------------------------------------------------
    async def _paused(self, pause: _Pause) -> None:
        try:
            await pause.work()
        except Exception as exc:
            if not pause.done.done():
                pause.done.set_exception(exc)
        finally:
            tip = self.chain.store.height
            if tip >= self.machine.height:
                # The store moved past the height the machine was deciding: restart after it.
                self._wal.reset()
                self._forget_below(tip + 1)
                await self._start_height(tip + 1)
                self._announce()
            if not pause.done.done():
                pause.done.set_result(None)
