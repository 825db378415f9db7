"""Block sync: serving committed blocks to peers, and catching up from them.

A node that is behind (restarted, new machine, healed partition) trusts nothing it
receives: every block comes with its commit certificate, which must carry > 2/3 of the
validator set's power in precommits for exactly that block hash at that height, and the
block itself is executed and must produce the state root its header claims before it is
committed. A peer that sends anything else is abandoned for another. Both checks are the
block transition's (node.ledger.transition: check_certificate while fetching, validate_block,
evidence rule included, when applying), the same rules every other path applies.

A node far behind, or new, can instead start from a state snapshot (node.ledger.snapshot):
the Sync service streams one (GetSnapshot) from a LevelDB snapshot of its store, and
`download_snapshot` fetches one into a file that restore_snapshot verifies before a store is
built from it, by the rule every certificate path follows: the snapshot carries the hand-offs
from the genesis validator set to the set deciding its block (node.ledger.handoffs, as an
auditor's proof does), its certificate must verify against the set they lead to, and the
state root recomputed from its rows must be the certified one. A peer's tampered hand-off
is refused by name and state sync tries the next peer.
A node that no longer holds old blocks (pruned, or itself started from a snapshot) answers
GetBlocks below its base height with "pruned: ..." (NOT_FOUND); the syncer asks another peer.

Catching up is a pipeline (BlockApplier): blocks are fetched and their certificates checked
with consensus running; while one block executes (rules, state root, one synced batch) the
next ones are decoded and their signatures verified on other cores, so that execution finds
them in the signature cache. Each transaction is decoded once.

Validator sets change (node.ledger.governance): a change committed at H decides from H+2,
so while fetching, the set of a height up to tip + 2 is known and beyond it only predicted
(the latest scheduled set). A certificate is checked against the set of its height as far
as the fetcher knows it; when the block is applied, with the store at the height before
it, a certificate checked against another set than the one that turned out to decide is
checked again. A certificate that fails against a predicted set ends the batch there: the
next batch fetches it again once the blocks before it are applied.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Executor, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import grpc
import grpc.aio
from consensus.validators import ValidatorSet
from proto import node_pb2, node_pb2_grpc

from node.driver import ConsensusDriver
from node.ledger.blocks import Certificate, CommittedBlock, decode_committed_block
from node.ledger.errors import LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import VALIDATOR_DELAY
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import verification_pool, verify_ahead
from node.ledger.snapshot import SnapshotSource
from node.ledger.transition import (
    BadCertificate,
    ExecutedBlock,
    check_certificate,
    decode_block_txs,
    validate_block,
)
from node.ledger.txcodec import DecodedTx
from node.ledger_service import LedgerService
from node.logs import get_logger
from node.net.commit_push import MAX_PUSH_LAG
from node.net.grpc_server import insecure_channel
from node.net.grpc_status import NodeCode, status_details
from node.net.peers import PeerNetwork, PeerState

log = get_logger("sync")

# Blocks streamed per GetBlocks call before the client asks again (bounds one call's work
# and what is held in memory before it is applied).
_BATCH = 500
# ... and at most this many bytes of blocks (blocks can be up to max_block_bytes each).
_BATCH_BYTES = 64 * 1024 * 1024
# Blocks decoded and signature-checked ahead of the one executing, in bytes: a few blocks,
# enough to keep the executor busy while one executes, and far fewer transactions than
# the signature cache holds (an entry evicted before its block runs is verified again).
_LOOKAHEAD_BYTES = 1024 * 1024
# One fetch must finish within this; a peer that fails is not asked again for a while.
_FETCH_TIMEOUT_S = 10.0
_PEER_BACKOFF_S = 30.0
# A snapshot download gives up on a peer that sends nothing for this long.
_SNAPSHOT_IDLE_S = 30.0
# From this many blocks behind, signatures are verified in worker processes (catch_up_pool).
# On threads, every libsodium call hands the GIL back and forth with the thread executing
# blocks: on the 2-core development VM that cost ~25% more CPU per transaction than
# verifying inline, a worker process ~10-15% (pickling, its own decoding of the job), and
# it runs truly in parallel. Starting one costs ~0.3-0.5 s of CPU, once per node.
POOL_MIN_LAG = 32
_POOL_MAX_WORKERS = 2


def catch_up_workers() -> int:
    """Worker processes for the signatures of a long catch-up: one per core but one (this
    process executes the blocks), at least one, at most _POOL_MAX_WORKERS."""
    return max(1, min(_POOL_MAX_WORKERS, (os.cpu_count() or 2) - 1))


def catch_up_pool() -> ProcessPoolExecutor:
    return verification_pool(catch_up_workers())


class SyncError(Exception):
    """A peer sent a block we cannot accept; try another peer. `error` is the block
    transition's refusal (its machine code and sentence), when that is what failed."""

    def __init__(self, message: str, error: LedgerError | None = None) -> None:
        super().__init__(message)
        self.error = error


class SyncServicer(node_pb2_grpc.SyncServicer):
    def __init__(self, chain: LedgerService) -> None:
        self.chain = chain
        # One snapshot stream at a time: each reads the whole state, on the node's CPU.
        self._snapshot_busy = False

    async def GetBlocks(
        self, request: node_pb2.GetBlocksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[node_pb2.CommittedBlockMsg]:
        store = self.chain.store
        tip = store.height
        start = request.from_height or 1
        if start > tip:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"not_found: from_height {start} is above the tip {tip}"
            )
        if store.is_pruned(start):
            await context.abort(grpc.StatusCode.NOT_FOUND, _pruned_details(start, store.base_height))
        end = min(request.to_height or tip, tip, start + _BATCH - 1)
        for height in range(start, end + 1):
            raw = store.get_block(height=height)
            if raw is None and store.is_pruned(height):  # pruned while we streamed
                await context.abort(grpc.StatusCode.NOT_FOUND, _pruned_details(height, store.base_height))
            if raw is None:  # cannot happen below the tip; be explicit rather than crash
                await context.abort(grpc.StatusCode.INTERNAL, f"internal: block {height} missing")
            committed = decode_committed_block(raw)
            yield node_pb2.CommittedBlockMsg(
                height=height, block_hash=committed.block_hash, committed_block=raw
            )

    async def GetSnapshot(
        self, request: node_pb2.GetSnapshotRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[node_pb2.SnapshotChunk]:
        if self._snapshot_busy:
            await context.abort(
                grpc.StatusCode.RESOURCE_EXHAUSTED,
                "busy: this node is already streaming a snapshot; retry when it is done",
            )
        self._snapshot_busy = True
        loop = asyncio.get_running_loop()
        try:
            try:
                source = await loop.run_in_executor(None, SnapshotSource, self.chain.store)
            except LedgerError as err:
                await context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(err))
            log.info("streaming a snapshot at height %d", source.info.height)
            chunks = source.chunks()
            pending: asyncio.Future[bytes | None] | None = None
            try:
                while True:
                    pending = loop.run_in_executor(None, next, chunks, None)
                    data = await pending
                    if data is None:
                        break
                    yield node_pb2.SnapshotChunk(data=data, height=source.info.height)
            finally:
                # Release the LevelDB snapshot only once no thread reads from it.
                if pending is not None and not pending.done():
                    pending.add_done_callback(lambda _: source.close())
                else:
                    source.close()
        finally:
            self._snapshot_busy = False

    async def GetTip(
        self, request: node_pb2.GetTipRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.Tip:
        tip = self.chain.store.tip()
        return node_pb2.Tip(
            chain_id=self.chain.genesis.chain_id,
            height=tip.height,
            block_hash=tip.block_hash,
            state_root=tip.state_root,
            time_ms=tip.time_ms,
        )


def _pruned_details(height: int, base: int) -> str:
    return status_details(
        NodeCode.PRUNED,
        f"block {height} is no longer held by this node (it keeps blocks from {base}); "
        "ask an archive node, or start a new node from a snapshot",
    )


async def download_snapshot(
    channel: grpc.aio.Channel, path: str, *, idle_timeout_s: float = _SNAPSHOT_IDLE_S
) -> int:
    """Fetch a snapshot from the Sync service over `channel` (the node's channel to a peer's
    port, mutual TLS unless the node is plaintext; it is closed when done) into the file
    `path` (written beside it and renamed once complete). Nothing is verified here:
    restore_snapshot does that (hand-offs from genesis, certificate, state root). A peer that
    sends nothing for `idle_timeout_s` is given up on (TimeoutError). Returns the snapshot's
    height. (The CLI's download is node.client.connection.NodeClient.snapshot.)"""
    tmp = path + ".partial"
    height = 0
    try:
        async with channel:
            call = node_pb2_grpc.SyncStub(channel).GetSnapshot(node_pb2.GetSnapshotRequest())
            with open(tmp, "wb") as f:
                while (chunk := await asyncio.wait_for(call.read(), idle_timeout_s)) is not grpc.aio.EOF:
                    f.write(chunk.data)
                    height = chunk.height
                f.flush()
                os.fsync(f.fileno())
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    os.replace(tmp, path)
    return height


@dataclass(frozen=True, slots=True)
class FetchedBlock:
    """A block whose commit certificate verified against the validator set; not executed."""

    committed: CommittedBlock
    certificate: Certificate
    validators_hash: bytes = b""  # of the set the certificate verified against

    @property
    def height(self) -> int:
        return self.committed.height

    @property
    def block_bytes(self) -> bytes:
        return self.committed.block_bytes


# The validator set of each height (the chain's: LedgerService.validators_at), or one set
# for every height (tests, benchmarks).
ValidatorsAt = ValidatorSet | Callable[[int], ValidatorSet]


def _set_at(validators: ValidatorsAt, height: int) -> ValidatorSet:
    return validators if isinstance(validators, ValidatorSet) else validators(height)


def check_committed(chain: LedgerService, validators: ValidatorsAt, raw: bytes, height: int) -> FetchedBlock:
    """Check that a CommittedBlock from an untrusted source is block `height` and carries a
    valid commit certificate for it (transition.check_certificate) by the validator set of
    that height as far as it is known now; raises SyncError."""
    try:
        committed = decode_committed_block(raw)
    except LedgerError as err:
        raise SyncError(f"block {height}: does not decode: {err}", err) from None
    if committed.height != height:
        raise SyncError(f"peer sent block {committed.height}, expected {height}")
    deciding = _set_at(validators, height)
    try:
        certificate = check_certificate(committed, deciding, chain.genesis.chain_id)
    except BadCertificate as err:
        raise SyncError(f"block {height}: bad commit certificate: {err.reason}", err) from None
    return FetchedBlock(committed, certificate, deciding.hash())


async def fetch_blocks(
    chain: LedgerService,
    validators: ValidatorsAt,
    address: str,
    end: int,
    applier: BlockApplier,
    *,
    max_message_bytes: int,
    channel: grpc.aio.Channel | None = None,
) -> int:
    """Stream blocks after our tip up to `end` from the Sync service at `address` (over
    `channel` when given, e.g. a mutual-TLS one from PeerNetwork.channel_to; it is closed
    when done), check each
    certificate and hand it to `applier` (which starts decoding and verifying signatures
    at once). Stops after _BATCH blocks or _BATCH_BYTES; returns how many were fetched."""
    start = chain.store.height + 1
    end = min(end, start + _BATCH - 1)
    count = size = 0
    if channel is None:
        channel = insecure_channel(address, max_message_bytes)
    async with channel:
        stub = node_pb2_grpc.SyncStub(channel)
        request = node_pb2.GetBlocksRequest(from_height=start, to_height=end)
        async for msg in stub.GetBlocks(request):
            try:
                fetched = check_committed(chain, validators, msg.committed_block, start + count)
            except SyncError:
                if start + count > chain.store.height + VALIDATOR_DELAY:
                    break  # its set depends on blocks not applied yet: fetched again after them
                raise
            applier.add(fetched)
            count += 1
            size += len(msg.committed_block)
            if size >= _BATCH_BYTES:
                break  # leaving the channel cancels the rest of the call
    return count


# What _prepare hands back: the decoded transactions (None if they do not decode) and the
# futures of their signature checks.
_Prepared = tuple[list[DecodedTx] | None, list[Future[None]]]


class _Preparation:
    """One block decoded and its signatures being verified ahead of its execution."""

    __slots__ = ("block", "ready")

    def __init__(self, block: FetchedBlock, ready: asyncio.Future[_Prepared]) -> None:
        self.block = block
        self.ready = ready


def _prepare(
    committed: CommittedBlock, genesis: Genesis, sigcache: SignatureCache, executor: Executor
) -> _Prepared:
    try:
        txs = decode_block_txs(list(committed.block.txs), genesis)
    except LedgerError:
        return None, []  # validate_block finds the same problem and reports it
    return txs, verify_ahead(executor, txs, sigcache, genesis.chain_id)


class BlockApplier:
    """Executes certificate-checked blocks in height order, one at a time, while the next
    blocks are decoded and their signatures verified on the chain's executor.

    Execution (validate_block: evidence, rules, state root; then one synced batch) is Python on one
    thread; ed25519 verification runs in libsodium without the GIL, so verifying block N+1
    while block N executes uses the other core. Each block's transactions are decoded once,
    here, and handed to validate_block. Correctness does not rest on the look-ahead:
    validate_block checks every signature through the signature cache, which records only
    successes, so a signature that failed (or was not checked) ahead is verified there and
    reported exactly as without it. Blocks whose checks are still running are waited for,
    not verified twice.
    """

    def __init__(
        self,
        chain: LedgerService,
        validators: ValidatorsAt,
        *,
        verifier: Executor | None = None,
        lookahead_bytes: int = _LOOKAHEAD_BYTES,
    ) -> None:
        self.chain = chain
        self._verifier = verifier if verifier is not None else chain.executor
        self._validators = validators
        self._lookahead_bytes = lookahead_bytes
        self._waiting: deque[FetchedBlock] = deque()  # not yet being prepared
        self._preparing: deque[_Preparation] = deque()  # in height order, before _waiting
        self._ahead_bytes = 0

    def add(self, block: FetchedBlock) -> None:
        """Queue the next block (heights must follow each other) and start preparing it if
        the look-ahead allows. Call from the event loop."""
        self._waiting.append(block)
        self._fill()

    def _fill(self) -> None:
        loop = asyncio.get_running_loop()
        chain = self.chain
        while self._waiting and (not self._preparing or self._ahead_bytes < self._lookahead_bytes):
            block = self._waiting.popleft()
            ready = loop.run_in_executor(
                None, _prepare, block.committed, chain.genesis, chain.sigcache, self._verifier
            )
            self._preparing.append(_Preparation(block, ready))
            self._ahead_bytes += len(block.block_bytes)

    def _next(self) -> _Preparation | None:
        if not self._preparing:
            self._fill()
        if not self._preparing:
            return None
        prepared = self._preparing.popleft()
        self._ahead_bytes -= len(prepared.block.block_bytes)
        return prepared

    async def apply(self) -> int:
        """Execute and commit every queued block that extends the tip, in order; returns how
        many were committed. Blocks the tip already passed (consensus committed them
        meanwhile) are skipped; a gap stops the run. Raises SyncError on a bad block."""
        loop = asyncio.get_running_loop()
        committed = 0
        with _young_collections_per_block() as block_done:
            while (prepared := self._next()) is not None:
                block = prepared.block
                tip = self.chain.store.height
                if block.height <= tip:
                    continue
                if block.height != tip + 1:
                    self.close()
                    break
                txs, checks = await prepared.ready
                self._fill()  # the next blocks' signatures are verified while this one executes
                validated = await loop.run_in_executor(None, self._validate, block, txs, checks)
                await self.chain.commit(validated, block.certificate.raw)
                committed += 1
                block_done()
        return committed

    def _validate(
        self, block: FetchedBlock, txs: list[DecodedTx] | None, checks: list[Future[None]]
    ) -> ExecutedBlock:
        wait(checks)
        known = {tx.raw: tx for tx in txs} if txs is not None else None
        # The store is at the height before this block: the set deciding it is exact now.
        deciding = _set_at(self._validators, block.height)
        if deciding.hash() != block.validators_hash:
            try:
                check_certificate(block.committed, deciding, self.chain.genesis.chain_id)
            except BadCertificate as err:
                raise SyncError(f"block {block.height}: bad commit certificate: {err.reason}", err) from None
        try:
            return validate_block(
                self.chain.store,
                block.block_bytes,
                self.chain.genesis,
                expected_height=block.height,
                validators=deciding,
                min_time_ms=0,
                sigcache=self.chain.sigcache,
                known=known,
            )
        except LedgerError as err:
            raise SyncError(f"block {block.height}: {err}", err) from None

    def close(self) -> None:
        """Drop every queued block; verification not yet started is cancelled."""
        self._waiting.clear()
        while self._preparing:
            prepared = self._preparing.popleft()
            prepared.ready.add_done_callback(_cancel_checks)
        self._ahead_bytes = 0


@contextlib.contextmanager
def _young_collections_per_block() -> Iterator[Callable[[], None]]:
    """Automatic garbage collection off while a batch applies, one young-generation
    collection after each block (the callable yielded), the previous setting restored after.

    Why: a catch-up allocates a dozen tracked objects per transaction (decoded messages,
    overlay rows) that live until their block commits, so the collector keeps promoting them
    and runs full collections over the whole heap, which grows as the read caches fill:
    `bench sync` (101,009 txs) spent 113-132 us of the syncing process's CPU per transaction
    with automatic collection, 92-97 with this (measured with gc.callbacks, and interleaved).
    Collecting the youngest generation once per block still frees each block's garbage
    cycles; what survives into older generations waits for the collector's next automatic
    run once the batch is done (seconds later).
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield (lambda: gc.collect(0)) if was_enabled else (lambda: None)
    finally:
        if was_enabled:
            gc.enable()


def _cancel_checks(ready: asyncio.Future[_Prepared]) -> None:
    if ready.cancelled() or ready.exception() is not None:
        return
    for check in ready.result()[1]:
        check.cancel()


class Syncer:
    """Watches peers' announced heights and catches up when we fall behind."""

    def __init__(
        self,
        chain: LedgerService,
        driver: ConsensusDriver,
        peers: PeerNetwork,
        validators: ValidatorsAt,
        *,
        max_message_bytes: int,
        grace_s: float = 3.0,
        poll_s: float = 0.25,
        on_lag: Callable[[int], None] | None = None,
        channel_to: Callable[[str, bytes], grpc.aio.Channel] | None = None,
    ) -> None:
        """`channel_to(address, key)` opens the channel to a peer's Sync service
        (PeerNetwork.channel_to: mutual TLS bound to the peer's key); None: plaintext."""
        self.chain = chain
        self.driver = driver
        self.peers = peers
        self.channel_to = channel_to
        self.validators = validators
        self.max_message_bytes = max_message_bytes
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.on_lag = on_lag
        self.catching_up = False
        self._behind_since: float | None = None
        self._banned_until: dict[bytes, float] = {}
        self._task: asyncio.Task[None] | None = None
        self._pool: ProcessPoolExecutor | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def syncing(self) -> bool:
        """Far enough behind that answers from our state would mislead clients. Catching
        up one block behind (routine under load) still serves them."""
        return self.catching_up and self.lag() > 2

    def lag(self) -> int:
        return max(0, self.peers.max_peer_height() - self.chain.store.height)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            lag = self.lag()
            if self.on_lag is not None:
                self.on_lag(lag)
            if lag == 0:
                self._behind_since = None
                continue
            now = time.monotonic()
            if self._behind_since is None:
                self._behind_since = now
            # A few heights behind, peers push us the committed blocks (node.net.commit_push) and
            # consensus decides them in a message delay; give that `grace_s` before pausing
            # consensus for a sync. Further behind, batches are the better tool at once.
            if lag > MAX_PUSH_LAG or now - self._behind_since >= self.grace_s:
                await self._catch_up()
                self._behind_since = None

    async def _catch_up(self) -> None:
        """Fetch and verify with consensus running; pause it only to apply what verified.
        A peer that cannot serve what it announced is ignored for a while, so a lying or
        broken validator can neither stall consensus nor keep us busy."""
        now = time.monotonic()
        ahead = sorted(
            (
                p
                for p in self.peers.peer_states()
                if p.height > self.chain.store.height and self._banned_until.get(p.key, 0.0) <= now
            ),
            key=lambda p: -p.height,
        )
        for peer in ahead:
            applier = BlockApplier(self.chain, self.validators, verifier=self._verifier(peer.height))
            try:
                if await self._sync_from(peer, applier):
                    return
            finally:
                applier.close()

    def _verifier(self, target: int) -> Executor | None:
        """Where signatures are verified ahead for a catch-up to `target`: the chain's
        thread pool (None) for a short one, else the process pool, (re)started if needed."""
        if target - self.chain.store.height < POOL_MIN_LAG:
            return None
        if self._pool is not None:
            try:
                self._pool.submit(abs, 0)
            except RuntimeError:  # broken: a worker died
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
        if self._pool is None:
            self._pool = catch_up_pool()
        return self._pool

    async def _sync_from(self, peer: PeerState, applier: BlockApplier) -> bool:
        """One batch from `peer`; False (and the peer ignored for a while) if it failed."""
        try:
            fetched = await asyncio.wait_for(self._fetch(peer, applier), _FETCH_TIMEOUT_S)
        except (SyncError, grpc.aio.AioRpcError, TimeoutError) as err:
            log.warning("sync failed", peer=peer.key, address=peer.address, error=str(err) or "timed out")
            fetched = 0
        if fetched:
            self.catching_up = True
            try:
                await self.driver.pause_for(lambda: self._apply(applier))
                return True
            except (SyncError, LedgerError) as err:
                log.warning(
                    "synced blocks did not apply", peer=peer.key, address=peer.address, error=str(err)
                )
            finally:
                self.catching_up = False
        self._banned_until[peer.key] = time.monotonic() + _PEER_BACKOFF_S
        return False

    async def _fetch(self, peer: PeerState, applier: BlockApplier) -> int:
        """Up to _BATCH blocks after our tip from `peer`, each with a verified certificate,
        queued on `applier` (which starts verifying their signatures meanwhile)."""
        return await fetch_blocks(
            self.chain, self.validators, peer.address, peer.height, applier,
            max_message_bytes=self.max_message_bytes,
            channel=self.channel_to(peer.address, peer.key) if self.channel_to is not None else None,
        )

    async def _apply(self, applier: BlockApplier) -> None:
        first = self.chain.store.height + 1
        if await applier.apply():
            log.info("synced heights", first=first, height=self.chain.store.height)
