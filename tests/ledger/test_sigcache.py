"""The signature cache: hits skip verification, failures are never cached, bounded, thread safe."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest

from node.client.txbuild import build_issue, encode_tx
from node.ledger.errors import Code, LedgerError
from node.ledger.sigcache import SignatureCache
from node.ledger.txcodec import DecodedTx, decode_tx

from .world import World

W = World()


def issue(nonce: int) -> DecodedTx:
    return decode_tx(build_issue(W.chain, [(W.banks[0].public, 1)], W.issuers[:2], nonce), W.genesis)


def test_hit_after_success() -> None:
    cache = SignatureCache(capacity=10)
    tx = issue(1)
    cache.verify(tx, W.chain)
    cache.verify(tx, W.chain)
    stats = cache.stats()
    assert (stats.hits, stats.misses, stats.size) == (1, 1, 1)
    assert cache.contains(tx, W.chain) and not cache.contains(tx, "other-chain")


def test_failures_are_not_cached() -> None:
    cache = SignatureCache()
    good = issue(2)
    sigs = list(good.signatures)
    sigs[0] = bytes(64)
    bad = decode_tx(encode_tx(good.body, sigs), W.genesis)
    for _ in range(2):
        with pytest.raises(LedgerError) as e:
            cache.verify(bad, W.chain)
        assert e.value.code == Code.BAD_SIGNATURE
    assert len(cache) == 0 and cache.stats().misses == 2
    # Same body, different signature bytes: a different key, so a good entry cannot cover it.
    cache.verify(good, W.chain)
    assert not cache.contains(bad, W.chain)


def test_same_body_other_chain_is_not_a_hit() -> None:
    cache = SignatureCache()
    tx = issue(3)
    cache.verify(tx, W.chain)
    with pytest.raises(LedgerError):
        cache.verify(tx, "cbdc-other")


def test_bounded_lru() -> None:
    cache = SignatureCache(capacity=3)
    txs = [issue(10 + i) for i in range(4)]
    for tx in txs[:3]:
        cache.verify(tx, W.chain)
    cache.verify(txs[0], W.chain)          # touch: now most recent
    cache.verify(txs[3], W.chain)          # evicts txs[1], the least recent
    assert len(cache) == 3
    assert cache.contains(txs[0], W.chain) and not cache.contains(txs[1], W.chain)
    cache.discard(txs[0], W.chain)
    assert not cache.contains(txs[0], W.chain)
    with pytest.raises(ValueError):
        SignatureCache(capacity=0)


def test_thread_safe() -> None:
    cache = SignatureCache(capacity=50)
    txs = [issue(100 + i) for i in range(80)]
    with ThreadPoolExecutor(4) as pool:
        for _ in range(3):
            list(pool.map(lambda t: cache.verify(t, W.chain), txs))
    stats = cache.stats()
    assert stats.hits + stats.misses == 240 and stats.size == 50


def test_raw_with_extra_bytes_is_another_key() -> None:
    # Protobuf accepts unknown fields, so the same body and signatures can arrive in different
    # bytes; the cache key is over the full bytes, and each spelling is verified once.
    tx = issue(7)
    spelled = decode_tx(tx.raw + b"\x18\x01", W.genesis)  # + unknown field 3 = 1
    assert spelled.txid == tx.txid and spelled.sig_key != tx.sig_key
    cache = SignatureCache()
    cache.verify(tx, W.chain)
    cache.verify(spelled, W.chain)
    assert cache.stats().misses == 2
