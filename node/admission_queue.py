"""Batch admission: client batches and peer gossip admitted together, in rounds.

A round takes everything queued, verifies the signatures of the whole round (on the thread
pool once the round is large enough to pay for the hand-off, see _INLINE_BELOW), then runs
the rules and the mempool on the event loop in arrival order. While a round
verifies, new arrivals queue up and form the next round, so rounds grow with the load and
the hand-off to the pool is paid per round, not per transaction. There is one future per
queued batch (a client call or a gossip message), none per transaction.

Why threads are enough: PyNaCl's libsodium bindings are cffi API-mode calls, which release
the GIL around every C call (its extension calls PyEval_SaveThread at each of them), so a
verification runs on another core while the loop goes on; only the few Python lines around
each call need the GIL.

Inputs read ahead: a round that goes to the pool also reads the outputs its transactions
spend (`prefetch`, the store's read cache) in the same task, so the rules on the loop find
them cached. Those reads are LevelDB lookups (memtable, block cache, decompression), ~20 µs
each when the output is older than the cache, as a wallet's coin usually is; on the loop they
were a tenth of its busy time at 1,000 tx/s (devnet/PERFORMANCE.md, sixth session).
Nothing is decided there: the rules read the same rows again, from the cache.

Bounded: at most `max_queued` transactions are queued or being verified. Callers check
`room()` first and refuse what does not fit (mempool_full, retryable) instead of queueing it.

Blocks first: while a block is built or validated (`block_work()`), no new round starts, for
up to _BLOCKS_FIRST_S. A block executes on a worker thread and needs the GIL for its rules
and state root; a flood of admission rounds on the loop held it, so at the onset of an
overload every validator's propose timeout fired with the proposal still being validated
and heights took 1.5 s (devnet/PERFORMANCE.md). What waits meanwhile is bounded as above.
LedgerService.block_work decides when blocks go first: only under a backlog.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from node.ledger.errors import LedgerError
from node.ledger.mempool import MempoolFull
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import verify_each
from node.ledger.txcodec import DecodedTx

# A round's signature checks are split over at most this many pool threads, each given at
# least _MIN_CHUNK transactions (a hand-off costs tens of microseconds of loop time).
_WORKERS = 2
_MIN_CHUNK = 16
# A round with fewer unverified transactions than this verifies them here, on the loop.
# Measured (devnet/PERFORMANCE.md, 2026-11-30): with every round handed off, process CPU
# per transaction rose 4-16% at 800-1,000 tx/s and throughput fell in 2 of 5 runs, because
# a worker must take the GIL back after every verification and waits for the busy loop.
# Small rounds (moderate load) stay here; large ones (bursts, overload) go to the pool,
# which also keeps a flood of admissions from starving consensus on the loop.
_INLINE_BELOW = 16
# The longest a round waits for block work to finish: admission still moves while a block
# takes long (a big one on a busy machine), just not ahead of it.
_BLOCKS_FIRST_S = 0.5


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one queued transaction: admitted (`refused` None) or refused, and
    whether it was refused by its signature check (before the rules ran)."""

    refused: LedgerError | MempoolFull | None = None
    at_signature: bool = False


ADMITTED = Verdict()


@dataclass(slots=True)
class _Batch:
    txs: Sequence[DecodedTx]
    gossip: bool
    done: asyncio.Future[list[Verdict]]


class AdmissionQueue:
    def __init__(
        self,
        executor: Executor,
        sigcache: SignatureCache,
        chain_id: str,
        admit: Callable[[DecodedTx, bool], None],
        max_queued: int,
        prefetch: Callable[[Sequence[DecodedTx]], None] | None = None,
    ) -> None:
        """`admit(tx, gossip)` runs the rules and adds to the mempool, raising LedgerError or
        MempoolFull; it is called on the loop, in arrival order, once the signature passed.
        `prefetch(txs)` reads what the rules will read into a cache; it runs on the pool, after
        the signatures of a round handed there (see the module)."""
        self._executor = executor
        self._prefetch = prefetch
        self._sigcache = sigcache
        self._chain_id = chain_id
        self._admit = admit
        self.max_queued = max_queued
        self._queue: list[_Batch] = []
        self.queued = 0  # transactions queued or in the round being verified
        self._pump: asyncio.Task[None] | None = None
        self._block_work = 0  # blocks being built or validated
        self._blocks_idle = asyncio.Event()
        self._blocks_idle.set()

    def room(self) -> int:
        return max(0, self.max_queued - self.queued)

    async def admit(self, txs: Sequence[DecodedTx], *, gossip: bool) -> list[Verdict]:
        """Queue decoded transactions; their verdicts, in order, once their round is done."""
        if not txs:
            return []
        loop = asyncio.get_running_loop()
        batch = _Batch(txs, gossip, loop.create_future())
        self._queue.append(batch)
        self.queued += len(txs)
        if self._pump is None or self._pump.done():
            self._pump = loop.create_task(self._rounds(), name="admission")
        return await batch.done

    @contextlib.contextmanager
    def block_work(self) -> Iterator[None]:
        """Around building or validating a block: rounds wait for it (see the module)."""
        self._block_work += 1
        self._blocks_idle.clear()
        try:
            yield
        finally:
            self._block_work -= 1
            if not self._block_work:
                self._blocks_idle.set()

    async def _rounds(self) -> None:
        while self._queue:
            if not self._blocks_idle.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._blocks_idle.wait(), _BLOCKS_FIRST_S)
            batches, self._queue = self._queue, []
            try:
                txs = [tx for batch in batches for tx in batch.txs]
                errors = await self._verify(txs)
                at = 0
                for batch in batches:
                    gossip = batch.gossip
                    verdicts = [self._judge(tx, errors[at + i], gossip) for i, tx in enumerate(batch.txs)]
                    at += len(batch.txs)
                    if not batch.done.done():  # its caller may have gone (a cancelled call)
                        batch.done.set_result(verdicts)
            except BaseException as exc:  # never leave a caller waiting for ever
                for batch in batches:
                    if not batch.done.done():
                        batch.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError(exc))
                raise
            finally:
                self.queued -= sum(len(batch.txs) for batch in batches)

    def _judge(self, tx: DecodedTx, signature_error: LedgerError | None, gossip: bool) -> Verdict:
        if signature_error is not None:
            return Verdict(signature_error, at_signature=True)
        try:
            self._admit(tx, gossip)
        except (LedgerError, MempoolFull) as refused:
            return Verdict(refused)
        return ADMITTED

    async def _verify(self, txs: list[DecodedTx]) -> list[LedgerError | None]:
        """The signature error (or None) of each, verified on the pool; cache hits stay here."""
        errors: list[LedgerError | None] = [None] * len(txs)
        contains, chain_id = self._sigcache.contains, self._chain_id
        todo = [i for i, tx in enumerate(txs) if not contains(tx, chain_id)]
        if not todo:
            return errors
        if len(todo) < _INLINE_BELOW:
            chunks = [todo]
            results = [verify_each(self._sigcache, [txs[i] for i in todo], chain_id)]
        else:
            parts = max(1, min(_WORKERS, len(todo) // _MIN_CHUNK))
            size = -(-len(todo) // parts)
            chunks = [todo[start : start + size] for start in range(0, len(todo), size)]
            results = await self._on_pool(txs, chunks)
        for chunk, found in zip(chunks, results, strict=True):
            for i, err in zip(chunk, found, strict=True):
                errors[i] = err
        return errors

    async def _on_pool(self, txs: list[DecodedTx], chunks: list[list[int]]) -> list[list[LedgerError | None]]:
        """verify_each of every chunk on the pool; here when the pool is shut down (the node
        is stopping)."""
        loop = asyncio.get_running_loop()
        subsets = [[txs[i] for i in chunk] for chunk in chunks]
        try:
            futures = [loop.run_in_executor(self._executor, self._on_worker, subset) for subset in subsets]
        except RuntimeError:
            return [verify_each(self._sigcache, subset, self._chain_id) for subset in subsets]
        return list(await asyncio.gather(*futures))

    def _on_worker(self, txs: list[DecodedTx]) -> list[LedgerError | None]:
        errors = verify_each(self._sigcache, txs, self._chain_id)
        if self._prefetch is not None:
            # Only a cache is warmed: whatever goes wrong here (a store closing under a node
            # that stops) must not cost the round its verdicts; the rules read it again.
            with contextlib.suppress(Exception):
                self._prefetch([tx for tx, err in zip(txs, errors, strict=True) if err is None])
        return errors
