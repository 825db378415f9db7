"""The ledger side of a running node: admission, block building/validation/commit, and the
clients waiting on transactions and blocks.

Blocks go through node.ledger.transition, the one block transition every path uses:
`build` and `validate` return an ExecutedBlock (validation includes the evidence rule, so
it takes the ValidatorSet of the height), `commit` writes it with its certificate.

Admission policy lives here too, not in the API handlers: `admit` reports the txid with
every outcome, and when a transaction spends an input this node does not know yet while
peers announced blocks we lack, it waits (once per client call) for those blocks and
judges the transaction again.

Threading: everything here is called from the node's event loop. CPU-heavy work runs on the
thread pool (`executor`): signature checks (libsodium releases the GIL, so they use the
other core) and whole-block execution. Store reads are thread-safe; commits are serialized
by the consensus driver, one height at a time.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter, OrderedDict, deque
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from enum import IntEnum

from consensus.validators import ValidatorSet
from proto import ledger_pb2

from node.admission_queue import AdmissionQueue, Verdict
from node.ledger.blocks import decode_committed_block
from node.ledger.crypto import sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool, MempoolFull
from node.ledger.rules import BlockContext, check_tx
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.transition import ExecutedBlock, build_block, validate_block
from node.ledger.txcodec import DecodedTx, decode_tx
from node.ledger.types import OutPoint

log = logging.getLogger("cbdc.chain")

# How many recent rejections are remembered for WaitTransaction after the fact.
_REMEMBERED_REJECTIONS = 20_000
# What became of each gossiped transaction (LedgerService.submit_batch; cbdc_gossip_txs_total).
GOSSIP_OUTCOMES = ("admitted", "pending", "rejected", "bad_signature", "mempool_full")
# Transactions of client batches and gossip queued or being verified at once (config
# mempool.max_admitting); beyond, a client batch is refused whole (mempool_full).
DEFAULT_MAX_ADMITTING = 20_000
# Client batches are admitted while the mempool holds less than this many seconds of this
# node's recent commits (config mempool.max_backlog_ms; 0: only the mempool's bounds), and
# never less than _MIN_BACKLOG; the rate is measured over the last _RATE_WINDOW_S.
DEFAULT_MAX_BACKLOG_S = 2.0
_MIN_BACKLOG = 2_000
_RATE_WINDOW_S = 5.0
# How long a submission whose inputs are unknown waits for blocks peers already announced.
CATCH_UP_WAIT_S = 2.0
# How long a request that names the height its client has seen may wait for this node to
# get there (a block or two under load); beyond it the client is told to retry (Behind).
READ_YOUR_WRITES_WAIT_S = 5.0
# Refusals that depend on committed state a node behind its peers may not hold yet: a
# spent-or-unknown input, a recipient not (yet) registered.
STATE_DEPENDENT = frozenset({Code.UNKNOWN_INPUT, Code.UNREGISTERED_RECIPIENT})


class TxStatus(IntEnum):
    UNKNOWN = 1
    PENDING = 2
    COMMITTED = 3
    REJECTED = 4


@dataclass(frozen=True, slots=True)
class TxOutcome:
    txid: bytes
    status: TxStatus
    height: int = 0
    index: int = 0
    block_hash: bytes = b""
    time_ms: int = 0
    code: str = ""
    message: str = ""


@dataclass(frozen=True, slots=True)
class _Dropped:
    """A transaction seen and refused because one of its inputs is spent by a transaction
    this node holds (double_spend) or is not in the UTXO set (unknown_input): the loser of a
    double spend once a rival is committed, and until then not known to be one."""

    inputs: tuple[OutPoint, ...]
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class Admission:
    """What became of one submitted transaction: admitted (`refused` None) or refused."""

    txid: bytes | None                             # None: the bytes do not decode
    refused: LedgerError | MempoolFull | Behind | None = None


class Behind(Exception):
    """This node has not reached the state an answer depends on: the client has seen
    `needed` (or peers announce it) and this node holds `height`. Retryable: the client
    should retry shortly, here or on another node. `refusal`: what the rules said from
    this node's older state, for the message."""

    def __init__(self, height: int, needed: int, refusal: LedgerError | None = None) -> None:
        self.height = height
        self.needed = needed
        self.refusal = refusal
        if refusal is None:
            text = (
                f"this node is at height {height} and has not reached height {needed}, which the "
                f"client has seen, within {READ_YOUR_WRITES_WAIT_S:g}s; retry shortly or ask another node"
            )
        else:
            text = (
                f"this node (height {height}) would refuse it ({refusal.code.value}: {refusal.message}), "
                f"but peers are at height {needed} and it may not hold that state yet; retry shortly, "
                f"or send the height you have seen (seen_height) so the node waits for it"
            )
        super().__init__(text)
        self.message = text


class CatchUpBudget:
    """What one client call has used up of the catch-up wait (LedgerService.admit): at most
    one wait per call, so a batch of junk cannot hold the call for long."""

    __slots__ = ("waited",)

    def __init__(self) -> None:
        self.waited = False


class LedgerService:
    def __init__(
        self,
        store: Store,
        genesis: Genesis,
        mempool: Mempool,
        sigcache: SignatureCache,
        executor: Executor,
        *,
        clock: Callable[[], float] = time.time,
        on_admitted: Callable[[DecodedTx, bool], None] | None = None,
        on_committed: Callable[[ExecutedBlock, bytes], None] | None = None,
        max_block_txs: int | None = None,
        max_block_bytes: int | None = None,
        max_admitting: int = DEFAULT_MAX_ADMITTING,
        max_backlog_s: float = DEFAULT_MAX_BACKLOG_S,
    ) -> None:
        self.store = store
        self.genesis = genesis
        self.mempool = mempool
        self.sigcache = sigcache
        self.executor = executor
        self.clock = clock
        self.on_admitted = on_admitted
        self.on_committed = on_committed
        # This proposer's own block limits (config), never above the chain's (genesis).
        params = genesis.params
        self.max_block_txs = min(max_block_txs or params.max_block_txs, params.max_block_txs)
        self.max_block_bytes = min(max_block_bytes or params.max_block_bytes, params.max_block_bytes)
        self._waiters: dict[bytes, list[asyncio.Future[TxOutcome]]] = {}
        self._rejected: OrderedDict[bytes, TxOutcome] = OrderedDict()
        self._dropped: OrderedDict[bytes, _Dropped] = OrderedDict()
        self._new_block = asyncio.Condition()
        # Client batches and gossip are admitted in rounds (node.admission_queue): signatures
        # of a round verified on the pool, then rules and mempool here in arrival order.
        self.max_backlog_s = max_backlog_s
        self._recent_commits: deque[tuple[float, int]] = deque()  # (monotonic time, txs)
        self.admission = AdmissionQueue(
            executor, sigcache, genesis.chain_id, self._admit, max_admitting, prefetch=self._read_inputs
        )

    # --- admission -----------------------------------------------------------------------
    def next_context(self) -> BlockContext:
        """The block context a transaction admitted now will most likely be executed in."""
        tip = self.store.tip()
        return BlockContext(height=tip.height + 1, time_ms=max(self.now_ms(), tip.time_ms))

    def now_ms(self) -> int:
        return int(self.clock() * 1000)

    def _check(self, tx: DecodedTx) -> None:
        check_tx(self.store, tx, self.genesis, self.next_context())

    def _read_inputs(self, txs: Sequence[DecodedTx]) -> None:
        """Into the store's read cache: the outputs `txs` spend (on a worker thread, ahead of
        the rules; node.admission_queue)."""
        utxo = self.store.utxo
        for tx in txs:
            for outpoint in tx.inputs:
                utxo(outpoint)

    def decode(self, raw: bytes) -> DecodedTx:
        return decode_tx(raw, self.genesis)

    def txid_of(self, raw: bytes) -> bytes | None:
        """The id of transaction bytes (SHA-256 of the body as received) whenever they parse
        as a Transaction with a body, even one refused (another chain's, a wrong shape), so a
        refusal can name what it refused; None for bytes that are not a transaction."""
        if len(raw) > self.genesis.max_tx_bytes:
            return None
        try:
            body = ledger_pb2.Transaction.FromString(raw).body
        except Exception:  # untrusted bytes: any parser failure means "not a transaction"
            return None
        return sha256(body) if body else None

    def submit(self, raw: bytes, *, gossip: bool = True) -> DecodedTx:
        """Admit one transaction to the mempool; raises LedgerError or MempoolFull."""
        tx = decode_tx(raw, self.genesis)
        self._submit_decoded(tx, gossip)
        return tx

    def _submit_decoded(self, tx: DecodedTx, gossip: bool = True) -> None:
        # The signature check (~70 us) runs right here: cheaper than a hand-off to a worker
        # thread, which costs context switches and waits for the GIL behind this loop.
        self._reject_known(tx)
        self.sigcache.verify(tx, self.genesis.chain_id)
        self._admit(tx, gossip)

    async def admit(
        self,
        raw: bytes,
        *,
        peers_ahead: Callable[[], int],
        budget: CatchUpBudget | None = None,
        seen_height: int = 0,
    ) -> Admission:
        """Admit a client's transaction; the outcome carries its txid either way.

        Read-your-writes. A client told "committed at height h" by another node may send a
        dependent transaction here while this node is still a block behind: an input or a
        recipient unknown only for now.
        - With `seen_height` (the height the client has seen), the transaction is judged
          once this node holds that height, waiting at most READ_YOUR_WRITES_WAIT_S; not
          there by then, the answer is Behind (retryable), never a refusal from old state.
        - Without it, a refusal that depends on state (STATE_DEPENDENT) while peers announce
          more heights is judged again once we hold them (at most CATCH_UP_WAIT_S, at most
          once per `budget`, i.e. per client call); still refused while peers remain ahead,
          the answer is Behind, since this node cannot tell the refusal is final.
        """
        try:
            tx = decode_tx(raw, self.genesis)
        except LedgerError as err:
            return Admission(self.txid_of(raw), err)
        budget = budget if budget is not None else CatchUpBudget()
        if seen_height > self.store.height and not await self.reach(seen_height):
            return Admission(tx.txid, Behind(self.store.height, seen_height))
        try:
            try:
                self._submit_decoded(tx)
            except LedgerError as err:
                ahead = peers_ahead()
                if err.code not in STATE_DEPENDENT or ahead <= 0 or seen_height:
                    self._note_refusal(tx, err)
                    return Admission(tx.txid, err)  # the state it depends on is here
                if budget.waited:
                    return Admission(tx.txid, Behind(self.store.height, self.store.height + ahead, err))
                budget.waited = True
                await self.wait_for_height(self.store.height + ahead, CATCH_UP_WAIT_S)
                try:
                    self._submit_decoded(tx)
                except LedgerError as again:
                    ahead = peers_ahead()
                    if again.code in STATE_DEPENDENT and ahead > 0:
                        return Admission(tx.txid, Behind(self.store.height, self.store.height + ahead, again))
                    raise
        except (LedgerError, MempoolFull) as refused:
            if isinstance(refused, LedgerError):
                self._note_refusal(tx, refused)
            return Admission(tx.txid, refused)
        return Admission(tx.txid)

    async def reach(self, seen_height: int) -> bool:
        """Wait (at most READ_YOUR_WRITES_WAIT_S) until this node holds `seen_height`."""
        if seen_height <= self.store.height:
            return True
        return await self.wait_for_height(seen_height, READ_YOUR_WRITES_WAIT_S)

    def _note_refusal(self, tx: DecodedTx, err: LedgerError) -> None:
        """Remember a transaction refused over its inputs, so WaitTransaction can tell a
        double-spend loser from a transaction never seen (see outcome)."""
        if err.code is not Code.DOUBLE_SPEND and err.code is not Code.UNKNOWN_INPUT:
            return
        self._dropped[tx.txid] = _Dropped(tuple(tx.inputs), err.code.value, err.message)
        while len(self._dropped) > _REMEMBERED_REJECTIONS:
            self._dropped.popitem(last=False)

    def room(self, *, client: bool = True) -> int:
        """Transactions that can be taken for admission now: what the mempool has room for,
        less what is already queued or being verified for it (and the queue's own bound).
        For clients the mempool's bound is also the backlog this node commits in
        `max_backlog_s` at its recent rate: beyond that, a transaction would only wait,
        and the whole network slows down carrying it (larger blocks, lost rounds)."""
        bound = self.mempool.limits.max_txs
        if client:
            bound = min(bound, self.backlog_bound())
        free = bound - len(self.mempool) - self.admission.queued
        return max(0, min(free, self.admission.room()))

    def backlog_bound(self) -> int:
        """Pending transactions worth `max_backlog_s` of recent commits (at least
        _MIN_BACKLOG); the mempool's own bound when the option is 0."""
        if self.max_backlog_s <= 0:
            return self.mempool.limits.max_txs
        now = time.monotonic()
        recent = self._recent_commits
        while recent and recent[0][0] < now - _RATE_WINDOW_S:
            recent.popleft()
        rate = sum(count for _, count in recent) / _RATE_WINDOW_S
        return max(_MIN_BACKLOG, int(rate * self.max_backlog_s))

    def block_work(self) -> AbstractContextManager[object]:
        """Around building or validating a block. Blocks first (node.admission_queue) only
        while the mempool already holds at least half the clients' backlog bound: then the
        next blocks are full whatever is admitted now, and admitting more only takes the
        GIL from the block that commits (an overload's onset: propose timeouts, heights of
        1.5 s). Below that, at a load the network keeps up with, admission never waits for
        blocks: nothing is gained by holding it there (the version that always held it let
        the 75% point fall behind in both its runs, though the tree without it sometimes
        does too: devnet/PERFORMANCE.md)."""
        if 2 * len(self.mempool) >= self.backlog_bound():
            return self.admission.block_work()
        return nullcontext()

    def full(self) -> MempoolFull | None:
        """The refusal for a whole client batch, before any of it is decoded, while nothing
        more can be admitted (mempool or admission queue at its bound); else None."""
        if self.mempool.size_bytes >= self.mempool.limits.max_bytes or self.room() <= 0:
            return self._overflow()
        return None

    def _overflow(self) -> MempoolFull:
        return MempoolFull(
            f"mempool is full ({len(self.mempool)} transactions pending, {self.admission.queued} being "
            "admitted); retry later"
        )

    async def admit_batch(
        self, raws: list[bytes], *, peers_ahead: Callable[[], int], seen_height: int = 0
    ) -> list[Admission]:
        """Admit a client's batch, each transaction with the outcome `admit` would give it:
        decoded in one pass, signatures of the batch verified on the pool together with
        whatever else is being admitted, rules and mempool in order. Transactions beyond
        the room left are refused (mempool_full) without being verified."""
        results: list[Admission | None] = [None] * len(raws)
        decoded: list[tuple[int, DecodedTx]] = []
        for i, raw in enumerate(raws):
            try:
                decoded.append((i, decode_tx(raw, self.genesis)))
            except LedgerError as err:
                results[i] = Admission(self.txid_of(raw), err)
        if decoded and seen_height > self.store.height and not await self.reach(seen_height):
            for i, tx in decoded:
                results[i] = Admission(tx.txid, Behind(self.store.height, seen_height))
            return results  # type: ignore[return-value]  # every slot is filled
        queued: list[tuple[int, DecodedTx]] = []
        room = self.room()
        for i, tx in decoded:
            if tx.txid in self.mempool:
                results[i] = Admission(
                    tx.txid, LedgerError(Code.DUPLICATE, f"transaction {tx.txid.hex()} is already pending")
                )
            elif len(queued) >= room:
                results[i] = Admission(tx.txid, self._overflow())
            else:
                queued.append((i, tx))
        verdicts = await self.admission.admit([tx for _, tx in queued], gossip=True)
        budget = CatchUpBudget()
        for (i, tx), verdict in zip(queued, verdicts, strict=True):
            refused = verdict.refused
            if isinstance(refused, LedgerError):
                if refused.code in STATE_DEPENDENT and not seen_height and peers_ahead() > 0:
                    # Perhaps unknown only for now: the one-at-a-time path waits for the
                    # blocks peers announced (its signature is a cache hit by now).
                    results[i] = await self.admit(tx.raw, peers_ahead=peers_ahead, budget=budget)
                    continue
                self._note_refusal(tx, refused)
            results[i] = Admission(tx.txid, refused)
        return results  # type: ignore[return-value]  # every slot is filled

    async def submit_batch(self, raws: list[bytes]) -> Counter[str]:
        """Admit what peers gossiped; failures are dropped quietly (the sender admitted
        them against its own state). Signatures are verified on the pool, in one round
        with whatever else is being admitted. Returns how many transactions had each
        outcome (GOSSIP_OUTCOMES), so an operator can see gossip that is wasted."""
        outcomes: Counter[str] = Counter()
        fresh: list[DecodedTx] = []
        room = self.room(client=False)  # what peers admitted is bounded by the mempool only
        for raw in raws:
            if raw in self.mempool.by_raw:
                outcomes["pending"] += 1
                continue
            try:
                tx = decode_tx(raw, self.genesis)
            except LedgerError:
                outcomes["rejected"] += 1
                continue
            if tx.txid in self.mempool:  # the same transaction in other bytes
                outcomes["pending"] += 1
            elif len(fresh) >= room:
                outcomes["mempool_full"] += 1
            else:
                fresh.append(tx)
        for tx, verdict in zip(fresh, await self.admission.admit(fresh, gossip=False), strict=True):
            outcomes[self._gossip_outcome(tx, verdict)] += 1
        return outcomes

    def _gossip_outcome(self, tx: DecodedTx, verdict: Verdict) -> str:
        refused = verdict.refused
        if refused is None:
            return "admitted"
        if verdict.at_signature:
            return "bad_signature"
        if isinstance(refused, MempoolFull):
            return "mempool_full"
        if refused.code is Code.DUPLICATE:  # admitted meanwhile, through another path
            return "pending"
        self._note_refusal(tx, refused)
        return "rejected"

    def _admit(self, tx: DecodedTx, gossip: bool) -> None:
        self.mempool.add(tx, self._check)
        if self.on_admitted is not None:
            self.on_admitted(tx, gossip)

    def _reject_known(self, tx: DecodedTx) -> None:
        # A committed duplicate needs no store lookup here: the rules refuse it (its inputs
        # are spent, or, for input-less kinds, its id is already committed).
        if tx.txid in self.mempool:
            raise LedgerError(Code.DUPLICATE, f"transaction {tx.txid.hex()} is already pending")

    # --- blocks --------------------------------------------------------------------------
    async def build(
        self,
        *,
        height: int,
        proposer: bytes,
        validators_hash: bytes,
        evidence: list[bytes],
        time_budget_s: float | None = None,
    ) -> ExecutedBlock:
        """Build the proposal for `height` from the mempool; candidates left out are
        rejected (their waiters answered)."""
        candidates = self.mempool.reap(self.max_block_txs, self.max_block_bytes)
        time_ms = max(self.now_ms(), self.store.tip().time_ms)
        deadline = None if time_budget_s is None else time.monotonic() + time_budget_s
        with self.block_work():
            built, skipped = await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: build_block(
                    self.store,
                    candidates,
                    self.genesis,
                    height=height,
                    time_ms=time_ms,
                    proposer=proposer,
                    validators_hash=validators_hash,
                    evidence=evidence,
                    sigcache=self.sigcache,
                    executor=self.executor,
                    deadline=deadline,
                ),
            )
        for txid, err in skipped:
            self._reject(txid, err)
        return built

    async def validate(self, block_bytes: bytes, *, height: int, validators: ValidatorSet) -> ExecutedBlock:
        """Check (evidence included) and execute a received block against the tip, for the
        validator set deciding `height`; raises LedgerError(INVALID_BLOCK)."""
        with self.block_work():
            return await asyncio.get_running_loop().run_in_executor(
                None,
                lambda: validate_block(
                    self.store,
                    block_bytes,
                    self.genesis,
                    expected_height=height,
                    validators=validators,
                    min_time_ms=0,
                    sigcache=self.sigcache,
                    executor=self.executor,
                    # Transactions gossiped to us were decoded on admission: not again. (Single
                    # dict reads from this worker thread are safe while the loop mutates it.)
                    known=self.mempool.by_raw,
                ),
            )

    async def commit(self, block: ExecutedBlock, certificate: bytes) -> None:
        """Write the decided block with its certificate (one synced batch), then update the
        mempool and answer everyone waiting on its transactions."""
        await asyncio.get_running_loop().run_in_executor(None, self.store.commit, block, certificate)
        overlay = block.overlay
        txids = [tx.txid for tx in overlay.txs]
        self._recent_commits.append((time.monotonic(), len(txids)))
        evicted = self.mempool.on_commit(txids, overlay.spent.keys(), self._check)
        height, time_ms = block.header.height, block.header.time_ms
        for index, txid in enumerate(txids):
            self._resolve(TxOutcome(txid, TxStatus.COMMITTED, height, index, block.block_hash, time_ms))
        for tx, err in evicted:
            self._reject(tx.txid, err)
        for txid in [t for t in self._waiters if t in self._dropped]:
            settled = self.outcome(txid)  # its rival may have just spent the contested input
            if settled.status in (TxStatus.COMMITTED, TxStatus.REJECTED):
                self._resolve(settled)
        if self.on_committed is not None:
            self.on_committed(block, certificate)
        async with self._new_block:
            self._new_block.notify_all()

    # --- waiting -------------------------------------------------------------------------
    def outcome(self, txid: bytes) -> TxOutcome:
        located = self.store.tx_location(txid)
        if located is not None:
            height, index = located
            raw = self.store.get_block(height=height)
            if raw is None:  # its block is pruned: where it is, without the block's hash and time
                return TxOutcome(txid, TxStatus.COMMITTED, height, index, b"", 0)
            committed = decode_committed_block(raw)
            return TxOutcome(
                txid, TxStatus.COMMITTED, height, index, committed.block_hash, committed.header.time_ms
            )
        if txid in self.mempool:
            return TxOutcome(txid, TxStatus.PENDING)
        rejected = self._rejected.get(txid)
        if rejected is not None:
            return rejected
        dropped = self._dropped.get(txid)
        if dropped is not None:
            return self._dropped_outcome(txid, dropped)
        return TxOutcome(txid, TxStatus.UNKNOWN)

    def _dropped_outcome(self, txid: bytes, dropped: _Dropped) -> TxOutcome:
        """A dropped transaction not committed: REJECTED double_spend once one of its inputs was
        created and spent on the chain (final: it can never commit); until then UNKNOWN (not
        held here) with the reason it was dropped, as a rival may still fail, or a missing
        input appear, and it may commit through another node."""
        for outpoint in dropped.inputs:
            if self.store.utxo(outpoint) is None and self.store.has_tx(outpoint.txid):
                return TxOutcome(txid, TxStatus.REJECTED, code=Code.DOUBLE_SPEND.value, message=(
                    f"lost a double spend: output {outpoint.txid.hex()}:{outpoint.index} "
                    "was spent by a committed transaction"
                ))
        message = f"seen and dropped: {dropped.message}"
        return TxOutcome(txid, TxStatus.UNKNOWN, code=dropped.code, message=message)

    async def wait(self, txid: bytes, timeout: float) -> TxOutcome:
        current = self.outcome(txid)
        if current.status in (TxStatus.COMMITTED, TxStatus.REJECTED) or timeout <= 0:
            return current
        future: asyncio.Future[TxOutcome] = asyncio.get_running_loop().create_future()
        self._waiters.setdefault(txid, []).append(future)
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        except TimeoutError:
            return self.outcome(txid)
        finally:
            waiters = self._waiters.get(txid)
            if waiters is not None:
                if future in waiters:
                    waiters.remove(future)
                if not waiters:
                    del self._waiters[txid]

    async def wait_for_height(self, height: int, timeout: float | None = None) -> bool:
        """Until the tip reaches `height` (True) or the timeout passes (False)."""

        async def reached() -> None:
            async with self._new_block:
                await self._new_block.wait_for(lambda: self.store.height >= height)

        try:
            await asyncio.wait_for(reached(), timeout)
        except TimeoutError:
            return False
        return True

    def _reject(self, txid: bytes, err: LedgerError) -> None:
        outcome = TxOutcome(txid, TxStatus.REJECTED, code=err.code.value, message=err.message)
        self._rejected[txid] = outcome
        while len(self._rejected) > _REMEMBERED_REJECTIONS:
            self._rejected.popitem(last=False)
        self.mempool.remove(txid)
        self._resolve(outcome)

    def _resolve(self, outcome: TxOutcome) -> None:
        for future in self._waiters.pop(outcome.txid, ()):
            if not future.done():
                future.set_result(outcome)


__all__ = [
    "Admission", "Behind", "CatchUpBudget", "ExecutedBlock", "LedgerService", "MempoolFull", "TxOutcome",
    "TxStatus",
]
