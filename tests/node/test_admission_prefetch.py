"""Admission reads the outputs a round spends on the pool, beside its signature checks, so the
rules on the event loop find them cached (node.admission_queue, "Inputs read ahead"): a
LevelDB lookup per input was a tenth of a validator's event-loop time."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from node.admission_queue import _INLINE_BELOW, AdmissionQueue, Verdict
from node.bench.ledger import _replay_setup, build_workload
from node.ledger.genesis import Genesis
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.store import P_UTXO, Store
from node.ledger.txcodec import DecodedTx, decode_tx
from node.ledger_service import LedgerService
from proto import ledger_pb2

TRANSFERS = 2 * _INLINE_BELOW


class _CountingDb:
    """The store's LevelDB handle, counting the output lookups made on each thread."""

    def __init__(self, db: Any) -> None:
        self._db = db
        self.utxo_reads: Counter[int] = Counter()

    def get(self, key: bytes, *args: Any) -> Any:
        if key.startswith(P_UTXO):
            self.utxo_reads[threading.get_ident()] += 1
        return self._db.get(key, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


@pytest.fixture
def fresh(tmp_path: Path) -> Iterator[tuple[Genesis, list[bytes], Store, _CountingDb]]:
    """A store holding every wallet's coin, reopened so its read cache is cold (as for coins
    older than the cache), and TRANSFERS transfers spending those coins."""
    (tmp_path / "work").mkdir()
    work = build_workload(str(tmp_path / "work"), TRANSFERS, TRANSFERS, TRANSFERS)
    with Store.open(str(tmp_path / "node"), work.genesis) as store:
        _replay_setup(store, work)
    store = Store.open(str(tmp_path / "node"), work.genesis)
    counting = _CountingDb(store._db)
    store._db = counting
    transfers = list(ledger_pb2.Block.FromString(work.blocks[0]).txs)
    assert len(transfers) == TRANSFERS
    yield work.genesis, transfers, store, counting
    store.close()


def _admit(genesis: Genesis, store: Store, raws: list[bytes]) -> Counter[str]:
    with ThreadPoolExecutor(2) as executor:
        chain = LedgerService(store, genesis, Mempool(MempoolLimits()), SignatureCache(), executor)
        return asyncio.run(chain.submit_batch(raws))


def test_a_round_on_the_pool_reads_its_inputs_there(fresh) -> None:  # type: ignore[no-untyped-def]
    genesis, transfers, store, counting = fresh
    loop_thread = threading.get_ident()  # asyncio.run runs the loop on this thread
    assert _admit(genesis, store, transfers) == {"admitted": TRANSFERS}
    assert counting.utxo_reads[loop_thread] == 0, "the rules went to LevelDB on the event loop"
    assert sum(counting.utxo_reads.values()) >= TRANSFERS  # each coin read once, on the pool


def test_a_small_round_stays_on_the_loop_with_its_reads(fresh) -> None:  # type: ignore[no-untyped-def]
    # Below _INLINE_BELOW nothing is handed off (a hand-off costs more than it saves), so
    # there is no worker to read ahead on: the rules read on the loop, as before.
    genesis, transfers, store, counting = fresh
    small = transfers[: _INLINE_BELOW - 1]
    assert _admit(genesis, store, small) == {"admitted": len(small)}
    assert set(counting.utxo_reads) == {threading.get_ident()}
    assert counting.utxo_reads[threading.get_ident()] >= len(small)


def test_a_failing_read_ahead_costs_the_round_nothing(fresh) -> None:  # type: ignore[no-untyped-def]
    # It only warms a cache: a store that fails there (one closing under a stopping node)
    # must leave every verdict as it would be, and the rules read for themselves.
    genesis, transfers, _, _ = fresh
    decoded = [decode_tx(raw, genesis) for raw in transfers]
    forged = decoded[3]._replace(signatures=(bytes(64),), sig_key=b"\x01" * 32)
    round_ = [*decoded[:3], forged, *decoded[4:]]

    def failing(_: object) -> None:
        raise RuntimeError("Database is closed")

    async def run() -> list[Verdict]:
        admitted: list[DecodedTx] = []
        with ThreadPoolExecutor(2) as executor:
            queue = AdmissionQueue(
                executor, SignatureCache(), genesis.chain_id,
                lambda tx, gossip: admitted.append(tx), 1000, prefetch=failing,
            )
            verdicts = await queue.admit(round_, gossip=True)
        assert admitted == [tx for tx in round_ if tx is not forged]
        return verdicts

    verdicts = asyncio.run(run())
    assert [i for i, v in enumerate(verdicts) if v.refused is not None] == [3]
    assert verdicts[3].at_signature
