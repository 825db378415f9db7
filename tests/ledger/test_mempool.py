"""The mempool: bounds, pending double spends, per-signer cap, arrival order, eviction."""

from __future__ import annotations

import pytest

from node.client import txbuild
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair
from node.ledger.mempool import Mempool, MempoolFull, MempoolLimits
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint

CHAIN = "cbdc-devnet"
GENESIS = make_genesis(
    issuers=[KeyPair.from_seed(b"\x01" * 32)], validators=[KeyPair.from_seed(b"\x04" * 32)], chain_id=CHAIN
)
ALICE, BOB = KeyPair.from_seed(b"\x02" * 32), KeyPair.from_seed(b"\x03" * 32)


def transfer(payer: KeyPair, coin: tuple[bytes, int], amount: int = 100, nonce: int = 0):
    raw = txbuild.build_transfer(CHAIN, payer, [coin], [(BOB.public, amount)], nonce=nonce)
    return decode_tx(raw, GENESIS)


def accept(_tx) -> None:
    return None


def coin(n: int) -> tuple[bytes, int]:
    return (n.to_bytes(32, "big"), 0)


def test_arrival_order_and_block_limits() -> None:
    pool = Mempool(MempoolLimits())
    txs = [transfer(ALICE, coin(n)) for n in range(5)]
    for tx in txs:
        pool.add(tx, accept)
    assert [t.txid for t in pool.reap(3, 10**9)] == [t.txid for t in txs[:3]]
    size = len(txs[0].raw)
    assert len(pool.reap(10, 2 * size)) == 2
    assert len(pool) == 5 and pool.size_bytes == sum(len(t.raw) for t in txs)


def test_duplicates_and_pending_double_spends_are_refused() -> None:
    pool = Mempool(MempoolLimits())
    first = transfer(ALICE, coin(1), nonce=1)
    pool.add(first, accept)
    with pytest.raises(LedgerError) as dup:
        pool.add(first, accept)
    assert dup.value.code is Code.DUPLICATE
    with pytest.raises(LedgerError) as double:
        pool.add(transfer(ALICE, coin(1), amount=99, nonce=2), accept)
    assert double.value.code is Code.DOUBLE_SPEND
    assert len(pool) == 1


def test_bounds_by_count_bytes_and_signer() -> None:
    by_count = Mempool(MempoolLimits(max_txs=2))
    by_count.add(transfer(ALICE, coin(1)), accept)
    by_count.add(transfer(BOB, coin(2)), accept)
    with pytest.raises(MempoolFull):
        by_count.add(transfer(BOB, coin(3)), accept)
    one = transfer(ALICE, coin(4))
    by_bytes = Mempool(MempoolLimits(max_bytes=len(one.raw) + 10))
    by_bytes.add(one, accept)
    with pytest.raises(MempoolFull):
        by_bytes.add(transfer(ALICE, coin(5)), accept)
    per_signer = Mempool(MempoolLimits(max_per_signer=1))
    per_signer.add(transfer(ALICE, coin(6)), accept)
    with pytest.raises(MempoolFull):
        per_signer.add(transfer(ALICE, coin(7)), accept)
    per_signer.add(transfer(BOB, coin(8)), accept)  # another signer is unaffected


def test_rules_check_runs_last_and_rejection_leaves_nothing_behind() -> None:
    pool = Mempool(MempoolLimits())

    def refuse(_tx) -> None:
        raise LedgerError(Code.INSUFFICIENT_FUNDS, "not enough")

    tx = transfer(ALICE, coin(1))
    with pytest.raises(LedgerError):
        pool.add(tx, refuse)
    assert len(pool) == 0 and pool.size_bytes == 0 and not pool.by_raw
    pool.add(tx, accept)  # nothing of the refused attempt lingers (no phantom spend)


def test_commit_removes_included_and_evicts_conflicting_spends() -> None:
    pool = Mempool(MempoolLimits())
    included = transfer(ALICE, coin(1), nonce=1)
    conflicting = transfer(BOB, coin(2), nonce=2)
    unrelated = transfer(BOB, coin(3), nonce=3)
    for tx in (included, conflicting, unrelated):
        pool.add(tx, accept)

    def spent_now(tx) -> None:
        if tx is conflicting:
            raise LedgerError(Code.UNKNOWN_INPUT, "spent by the block")

    evicted = pool.on_commit([included.txid], [OutPoint(*coin(2))], spent_now)
    assert [(t.txid, e.code) for t, e in evicted] == [(conflicting.txid, Code.UNKNOWN_INPUT)]
    assert unrelated.txid in pool and included.txid not in pool and conflicting.txid not in pool
    assert len(pool) == 1 and set(pool.by_raw) == {unrelated.raw}
