"""A bounded cache of transactions whose signatures already verified.

Mempool admission verifies a transaction's signatures; when the same bytes arrive again in a
block, block execution finds them here and skips the (dominant) ed25519 cost. The key is
SHA-256 of the full signed bytes (DecodedTx.sig_key) plus the chain id, so a hit means exactly
these signatures over exactly this body were checked for this chain. Only successes are cached:
a failure must be re-checked (and re-reported) every time.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from node.ledger.txcodec import DecodedTx, verify_signatures

DEFAULT_CAPACITY = 65_536  # ~ 10 MB; more than a full mempool plus a few blocks


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    size: int
    capacity: int


class SignatureCache:
    """LRU set of verified transactions, safe to share between threads (the node verifies on a
    thread pool). Verification runs outside the lock, so threads verify in parallel; two
    threads racing on the same transaction both verify once, which is harmless."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self.capacity = capacity
        self._entries: OrderedDict[bytes, None] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _key(tx: DecodedTx, chain_id: str) -> bytes:
        return tx.sig_key + chain_id.encode()

    def verify(self, tx: DecodedTx, chain_id: str) -> None:
        """Raise LedgerError(bad_signature) unless every signature of `tx` verifies; a cache hit
        returns at once."""
        key = tx.sig_key + chain_id.encode()  # == _key(tx, chain_id), inlined: every tx of every block
        with self._lock:
            entries = self._entries
            if key in entries:
                entries.move_to_end(key)
                self.hits += 1
                return
            self.misses += 1
        verify_signatures(tx, chain_id)
        self._add(key)

    def _add(self, key: bytes) -> None:
        with self._lock:
            self._entries[key] = None
            self._entries.move_to_end(key)
            while len(self._entries) > self.capacity:
                self._entries.popitem(last=False)

    def mark_verified(self, tx: DecodedTx, chain_id: str) -> None:
        """Record that `tx`'s signatures were verified elsewhere (another thread or process)."""
        self._add(self._key(tx, chain_id))

    def contains(self, tx: DecodedTx, chain_id: str) -> bool:
        with self._lock:
            return self._key(tx, chain_id) in self._entries

    def discard(self, tx: DecodedTx, chain_id: str) -> None:
        with self._lock:
            self._entries.pop(self._key(tx, chain_id), None)

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(self.hits, self.misses, len(self._entries), self.capacity)
