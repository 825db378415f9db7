"""LedgerService.submit_batch, the admission of what peers gossip: every transaction gets exactly
one outcome, and the outcomes are what cbdc_gossip_txs_total exports, so an operator can
tell useful gossip from wasted work (duplicates, already committed, forged)."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from node.bench.ledger import _key, _replay_setup, build_workload
from node.client.txbuild import build_transfer
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.types import OutPoint
from node.ledger_service import GOSSIP_OUTCOMES, LedgerService
from node.metrics import NodeMetrics
from proto import ledger_pb2

WALLETS = 8


@dataclass
class Setup:
    genesis: Genesis
    transfers: list[bytes]  # one per wallet, each spending that wallet's funding coin
    store: Store
    executor: ThreadPoolExecutor


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    (tmp_path / "work").mkdir()
    work = build_workload(str(tmp_path / "work"), WALLETS, WALLETS, WALLETS)
    store = Store.open(str(tmp_path / "node"), work.genesis)
    _replay_setup(store, work)
    transfers = list(ledger_pb2.Block.FromString(work.blocks[0]).txs)
    with ThreadPoolExecutor(2) as executor:
        yield Setup(work.genesis, transfers, store, executor)
    store.close()


def _chain(setup: Setup, limits: MempoolLimits | None = None) -> LedgerService:
    mempool = Mempool(limits or MempoolLimits())
    return LedgerService(setup.store, setup.genesis, mempool, SignatureCache(), setup.executor)


def _forged(raw: bytes) -> bytes:
    tx = ledger_pb2.Transaction.FromString(raw)
    sig = bytearray(tx.signatures[0])
    sig[0] ^= 1
    tx.signatures[0] = bytes(sig)
    return tx.SerializeToString()


def _conflict(setup: Setup, raw: bytes) -> bytes:
    """Another transfer by the same wallet spending the same coin as `raw`."""
    tx = ledger_pb2.Transaction.FromString(raw)
    body = ledger_pb2.TxBody.FromString(tx.body)
    coin = body.transfer.inputs[0]
    wallet = next(n for n in range(WALLETS) if _key(b"wallet", n).public == body.transfer.sender)
    amount = sum(o.amount for o in body.transfer.outputs)
    return build_transfer(
        setup.genesis.chain_id, _key(b"wallet", wallet), [OutPoint(coin.txid, coin.index)],
        [(_key(b"wallet", (wallet + 1) % WALLETS).public, amount)], nonce=999,
    )


def test_every_gossiped_transaction_gets_one_outcome(setup: Setup) -> None:
    chain = _chain(setup)
    good = setup.transfers
    batch = [*good[:4], good[0], _forged(good[4]), b"\x00garbage", _conflict(setup, good[1]), good[5]]
    outcomes = asyncio.run(chain.submit_batch(batch))
    assert outcomes == {"admitted": 5, "pending": 1, "bad_signature": 1, "rejected": 2}
    assert sum(outcomes.values()) == len(batch)
    assert len(chain.mempool) == 5

    again = asyncio.run(chain.submit_batch(good[:6]))
    assert again == {"pending": 5, "admitted": 1}  # good[4] only came forged before


def test_a_full_mempool_is_counted_apart(setup: Setup) -> None:
    chain = _chain(setup, MempoolLimits(max_txs=3))
    outcomes = asyncio.run(chain.submit_batch(setup.transfers[:5]))
    assert outcomes == {"admitted": 3, "mempool_full": 2}


def test_outcomes_are_exported_from_zero() -> None:
    metrics = NodeMetrics()
    text = metrics.registry.get_sample_value
    for outcome in GOSSIP_OUTCOMES:
        assert text("cbdc_gossip_txs_total", {"outcome": outcome}) == 0.0
    metrics.gossip_txs.labels(outcome="admitted").inc(3)
    assert text("cbdc_gossip_txs_total", {"outcome": "admitted"}) == 3.0


def test_the_conflict_helper_really_conflicts(setup: Setup) -> None:
    # Guards the first test: the conflict must differ from the original, spend the same coin.
    original = setup.transfers[1]
    other = _conflict(setup, original)
    assert hashlib.sha256(other).digest() != hashlib.sha256(original).digest()
    spent = {
        (i.txid, i.index)
        for raw in (original, other)
        for i in ledger_pb2.TxBody.FromString(ledger_pb2.Transaction.FromString(raw).body).transfer.inputs
    }
    assert len(spent) == 1
