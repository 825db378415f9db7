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
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass

from node.errors import LedgerError
from node.sigcache import SignatureCache
from node.txcodec import DecodedTx, verify_signatures

# Transactions per task: big enough to amortise pickling and the hand-off (~100 us per
# task), small enough that the first results come back while the rules are still running.
CHUNK = 64


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
            jobs = [SignatureJob(txs[i].body, txs[i].signers, txs[i].signatures) for i in indexes]
            self._chunks.append((indexes, executor.submit(verify_jobs, jobs, chain_id)))

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


def verification_pool(workers: int) -> ProcessPoolExecutor:
    """A process pool for block signature checks. "spawn": forking a node that already runs
    gRPC threads is unsafe; workers import only node.txcodec and PyNaCl."""
    return ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
