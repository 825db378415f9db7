"""Verifying the signatures of a whole block on other cores, through the signature cache.

Why processes: ed25519 verification (libsodium, via PyNaCl) releases the GIL, but each call
returns to Python, and a thread that wants the GIL back waits for the switch interval (5 ms)
while the rules thread holds it. Threads therefore barely overlap with the Python-bound
rules; worker processes do. Any concurrent.futures.Executor works (a ThreadPoolExecutor
too); `verification_pool` makes the recommended process pool.

What crosses the process boundary is only (body, signers, signatures) per transaction,
and back an error or None; cache hits never leave this process, and successes are
recorded in the cache here so nothing is verified twice.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass

from node.ledger.errors import LedgerError
from node.ledger.sigcache import SignatureCache
from node.ledger.txcodec import DecodedTx, verify_signatures

# Transactions per task: big enough to amortise pickling and the hand-off (~100 us per
# task), small enough that the first results come back while the rules are still running.
CHUNK = 64
# verify_ahead's chunk for a process pool: it runs ahead of the block that needs it, so
# latency matters less than the per-message cost (pickling, pipe, result handling), which
# at 64 was ~12% of the block-executing process's busy time. bench sync (101,009 txs):
# 7,560-8,253 -> 8,545-8,659 tx/s wall.
PROCESS_CHUNK = 256


@dataclass(frozen=True, slots=True)
class SignatureJob:
    """The part of a DecodedTx that signature verification reads (cheap to pickle)."""

    body: bytes
    signers: tuple[bytes, ...]
    signatures: tuple[bytes, ...]


def verify_jobs(jobs: Sequence[SignatureJob], chain_id: str) -> list[LedgerError | None]:
    """Worker side: None for each job whose signatures all verify, else the error."""
    results: list[LedgerError | None] = []
    for job in jobs:
        try:
            verify_signatures(job, chain_id)  # type: ignore[arg-type]  # reads body/signers/signatures
            results.append(None)
        except LedgerError as err:
            results.append(err)
    return results


# (body, signers, signatures): what crosses to a worker process. Plain tuples pickle about
# 5x faster than SignatureJob instances (0.6 vs 2.9 us per transaction).
Triple = tuple[bytes, tuple[bytes, ...], tuple[bytes, ...]]


def _triples(txs: Sequence[DecodedTx]) -> list[Triple]:
    return [(tx.body, tx.signers, tx.signatures) for tx in txs]


def verify_triples(triples: Sequence[Triple], chain_id: str) -> list[LedgerError | None]:
    """verify_jobs for (body, signers, signatures) tuples."""
    return verify_jobs([SignatureJob(*triple) for triple in triples], chain_id)


class PendingVerification:
    """Signature checks of a list of transactions, running on an executor."""

    def __init__(
        self, executor: Executor, txs: Sequence[DecodedTx], sigcache: SignatureCache, chain_id: str
    ) -> None:
        self._txs = txs
        self._sigcache = sigcache
        self._chain_id = chain_id
        self._chunks: list[tuple[list[int], Future[list[LedgerError | None]]]] = []
        todo = [i for i, tx in enumerate(txs) if not sigcache.contains(tx, chain_id)]
        for start in range(0, len(todo), CHUNK):
            indexes = todo[start : start + CHUNK]
            jobs = _triples([txs[i] for i in indexes])
            self._chunks.append((indexes, executor.submit(verify_triples, jobs, chain_id)))

    def first_failure(self, limit: int | None = None) -> tuple[int, LedgerError] | None:
        """Wait for the checks of transactions [0, limit) and return the lowest-indexed
        failure, if any. Successes are recorded in the signature cache."""
        end = len(self._txs) if limit is None else limit
        failure: tuple[int, LedgerError] | None = None
        for indexes, future in self._chunks:
            if indexes[0] >= end or failure is not None:
                future.cancel()
                continue
            for i, err in zip(indexes, future.result(), strict=True):
                if err is None:
                    self._sigcache.mark_verified(self._txs[i], self._chain_id)
                elif i < end and failure is None:
                    failure = (i, err)
        return failure

    def verdicts(self) -> list[LedgerError | None]:
        """Wait for every check; the error (or None) of each transaction, in order."""
        results: list[LedgerError | None] = [None] * len(self._txs)
        for indexes, future in self._chunks:
            for i, err in zip(indexes, future.result(), strict=True):
                results[i] = err
                if err is None:
                    self._sigcache.mark_verified(self._txs[i], self._chain_id)
        return results


def verify_each(
    sigcache: SignatureCache, txs: Sequence[DecodedTx], chain_id: str
) -> list[LedgerError | None]:
    """Verify each through the cache (a hit costs nothing, a success is recorded): the error
    or None of each transaction, in order. Admission runs it on a worker thread: libsodium
    releases the GIL inside every verification, so it runs beside the event loop."""
    verify = sigcache.verify
    errors: list[LedgerError | None] = []
    for tx in txs:
        try:
            verify(tx, chain_id)
            errors.append(None)
        except LedgerError as err:
            errors.append(err)
    return errors


def verify_into_cache(sigcache: SignatureCache, txs: Sequence[DecodedTx], chain_id: str) -> None:
    """Verify each, here; the cache records each success (failures raise and are dropped:
    whoever executes or admits the transaction later finds it missing and decides). The
    thread side of verify_ahead."""
    verify_each(sigcache, txs, chain_id)


def verify_ahead(
    executor: Executor,
    txs: Sequence[DecodedTx],
    sigcache: SignatureCache,
    chain_id: str,
    chunk: int = CHUNK,
) -> list[Future[None]]:
    """Start verifying, on `executor`, the signatures of transactions that a block executed
    later will check through `sigcache`; every success lands in the cache as its chunk
    finishes, so that block's own check is a cache hit. Nothing here decides validity: a
    failure is not recorded anywhere, and the block's execution verifies and reports it.
    Futures in chunk order, each done once its chunk is in the cache.

    A thread pool shares the cache with its workers; a process pool gets only
    (body, signers, signatures) and the successes are recorded here when results return."""
    todo = [tx for tx in txs if not sigcache.contains(tx, chain_id)]
    futures: list[Future[None]] = []
    threads = isinstance(executor, ThreadPoolExecutor)
    if not threads:
        chunk = max(chunk, PROCESS_CHUNK)
    for start in range(0, len(todo), chunk):
        part = todo[start : start + chunk]
        try:
            if threads:
                futures.append(executor.submit(verify_into_cache, sigcache, part, chain_id))
                continue
            remote = executor.submit(verify_triples, _triples(part), chain_id)
        except RuntimeError:  # shut down, or a broken process pool: the block verifies the rest
            break
        done: Future[None] = Future()
        done.set_running_or_notify_cancel()  # settled only by _record, whatever the caller does
        remote.add_done_callback(lambda f, part=part, done=done: _record(f, part, sigcache, chain_id, done))
        futures.append(done)
    return futures


def _record(
    remote: Future[list[LedgerError | None]],
    txs: Sequence[DecodedTx],
    sigcache: SignatureCache,
    chain_id: str,
    done: Future[None],
) -> None:
    try:
        if not remote.cancelled() and remote.exception() is None:
            for tx, err in zip(txs, remote.result(), strict=True):
                if err is None:
                    sigcache.mark_verified(tx, chain_id)
    finally:
        done.set_result(None)


def verification_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool for block signature checks. "spawn": forking a node that already runs
    gRPC threads is unsafe; workers import only node.ledger.txcodec and PyNaCl."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
