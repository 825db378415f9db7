"""Block sync's pipeline (node.net.block_sync.BlockApplier, fetch_blocks): signatures of the next
blocks are verified ahead, on threads or worker processes, while one block executes. These
tests pin what must not change with that: every block re-executed to the served state,
every signature verified (once), and a bad block from a peer refused with SyncError even
when its certificate is genuine."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import nacl.signing
import pytest

from consensus.validators import ValidatorSet
from node.bench.ledger import VALIDATOR_SEED, build_workload
from node.bench.sync import _certify
from node.ledger.genesis import Genesis
from node.ledger.keys import KeyPair
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import verification_pool, verify_ahead
from node.ledger.store import Store
from node.ledger.txcodec import decode_tx
from node.ledger_service import LedgerService
from node.net import block_sync as sync
from node.net.block_sync import BlockApplier, SyncError, SyncServicer, check_committed, fetch_blocks
from node.net.peers import PeerState
from proto import ledger_pb2, node_pb2, node_pb2_grpc

TRANSFERS = 240
BLOCK_SIZE = 60


@dataclass
class Served:
    genesis: Genesis
    validators: ValidatorSet
    committed: list[bytes]  # CommittedBlock bytes, height 1 first
    tip_root: bytes
    transactions: int
    path: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    workdir = tmp_path_factory.mktemp("served")
    work = build_workload(str(workdir), TRANSFERS, 20, BLOCK_SIZE)
    store = Store.open(str(workdir / "server"), work.genesis)
    key = nacl.signing.SigningKey(KeyPair.from_seed(VALIDATOR_SEED).seed)
    txs = _certify(store, work.genesis, [*work.setup_blocks, *work.blocks], key)
    committed = [store.get_block(height=h) for h in range(1, store.height + 1)]
    root = store.tip().state_root
    store.close()
    validators = ValidatorSet([(v.public_key, v.power) for v in work.genesis.validators])
    yield Served(work.genesis, validators, committed, root, txs, str(workdir / "server"))  # type: ignore[arg-type]


def _fresh(tmp_path: Path, served: Served, executor: Executor) -> LedgerService:
    store = Store.open(str(tmp_path / "fresh"), served.genesis)
    return LedgerService(store, served.genesis, Mempool(MempoolLimits()), SignatureCache(), executor)


def _apply(
    chain: LedgerService, served: Served, committed: list[bytes], verifier: Executor | None = None
) -> int:
    async def run() -> int:
        applier = BlockApplier(chain, served.validators, verifier=verifier, lookahead_bytes=20_000)
        try:
            for height, raw in enumerate(committed, 1):
                applier.add(check_committed(chain, served.validators, raw, height))
            return await applier.apply()
        finally:
            applier.close()

    return asyncio.run(run())


def _tamper_signature(raw: bytes, index: int) -> bytes:
    """The same CommittedBlock with one byte of tx `index`'s signature flipped: txids, the
    header and therefore the certificate stay valid (signatures are not in the txid)."""
    committed = ledger_pb2.CommittedBlock.FromString(raw)
    block = ledger_pb2.Block.FromString(committed.block)
    tx = ledger_pb2.Transaction.FromString(block.txs[index])
    signature = bytearray(tx.signatures[0])
    signature[5] ^= 0x01
    tx.signatures[0] = bytes(signature)
    block.txs[index] = tx.SerializeToString()
    tampered = ledger_pb2.CommittedBlock(block=block.SerializeToString(), commit=committed.commit)
    return tampered.SerializeToString()


@pytest.mark.parametrize("verifier", ["threads", "processes"])
def test_every_block_is_executed_to_the_served_state_with_each_signature_verified_once(
    tmp_path: Path, served: Served, verifier: str
) -> None:
    with ThreadPoolExecutor(2) as executor:
        pool = verification_pool(1) if verifier == "processes" else None
        chain = _fresh(tmp_path, served, executor)
        try:
            assert _apply(chain, served, served.committed, pool) == len(served.committed)
        finally:
            if pool is not None:
                pool.shutdown()
        store = chain.store
        assert store.height == len(served.committed)
        assert store.tip().state_root == served.tip_root == store.recompute_state_root()
        stats = chain.sigcache.stats()
        # Execution found every transaction verified ahead (a hit each); on threads the
        # look-ahead itself went through the cache (a miss each), a process pool reports
        # successes without a lookup.
        assert stats.hits == served.transactions
        assert stats.misses == (served.transactions if verifier == "threads" else 0)
        store.close()


def test_a_tampered_signature_under_a_genuine_certificate_is_refused(tmp_path: Path, served: Served) -> None:
    bad_height = len(served.committed) - 1
    committed = list(served.committed)
    committed[bad_height - 1] = _tamper_signature(committed[bad_height - 1], 7)
    with ThreadPoolExecutor(2) as executor:
        chain = _fresh(tmp_path, served, executor)
        with pytest.raises(SyncError, match=rf"block {bad_height}: .*tx #7 .*bad_signature"):
            _apply(chain, served, committed)
        assert chain.store.height == bad_height - 1
        bad = ledger_pb2.CommittedBlock.FromString(committed[bad_height - 1])
        block = ledger_pb2.Block.FromString(bad.block)
        assert not chain.sigcache.contains(decode_tx(block.txs[7], served.genesis), served.genesis.chain_id)
        chain.store.close()


@pytest.mark.parametrize("enabled", [True, False])
def test_applying_a_batch_leaves_the_garbage_collector_as_it_found_it(
    tmp_path: Path, served: Served, enabled: bool
) -> None:
    """The applier turns automatic collection off for a batch (one young collection per
    block instead); the process's setting comes back afterwards, also when a block is refused."""
    committed = list(served.committed)
    committed[-1] = _tamper_signature(committed[-1], 3)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        with ThreadPoolExecutor(2) as executor:
            chain = _fresh(tmp_path, served, executor)
            assert _apply(chain, served, committed[:-1]) == len(committed) - 1
            assert gc.isenabled() is enabled
            with pytest.raises(SyncError, match="bad_signature"):
                _apply(chain, served, committed)
            assert gc.isenabled() is enabled
            assert chain.store.tip().state_root == chain.store.recompute_state_root()
            chain.store.close()
    finally:
        (gc.enable if was else gc.disable)()


def test_a_certificate_for_another_block_is_refused(tmp_path: Path, served: Served) -> None:
    first, second = (ledger_pb2.CommittedBlock.FromString(raw) for raw in served.committed[:2])
    swapped = ledger_pb2.CommittedBlock(block=first.block, commit=second.commit).SerializeToString()
    with ThreadPoolExecutor(1) as executor:
        chain = _fresh(tmp_path, served, executor)
        with pytest.raises(SyncError, match="bad commit certificate"):
            check_committed(chain, served.validators, swapped, 1)
        with pytest.raises(SyncError, match="peer sent block 1, expected 2"):
            check_committed(chain, served.validators, served.committed[0], 2)
        chain.store.close()


def test_blocks_the_tip_already_has_are_skipped_and_a_gap_stops_the_run(
    tmp_path: Path, served: Served
) -> None:
    with ThreadPoolExecutor(2) as executor:
        chain = _fresh(tmp_path, served, executor)
        assert _apply(chain, served, served.committed[:2]) == 2

        async def run() -> int:
            applier = BlockApplier(chain, served.validators)
            try:
                for height in (1, 2, 3, 5):  # 1 and 2 committed meanwhile; 4 is missing
                    raw = served.committed[height - 1]
                    applier.add(check_committed(chain, served.validators, raw, height))
                return await applier.apply()
            finally:
                applier.close()

        assert asyncio.run(run()) == 1
        assert chain.store.height == 3
        chain.store.close()


def test_fetch_blocks_streams_from_a_sync_service_and_the_applier_catches_up(
    tmp_path: Path, served: Served
) -> None:
    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            server_store = Store.open(served.path, served.genesis)
            server_chain = LedgerService(
                server_store, served.genesis, Mempool(MempoolLimits()), SignatureCache(), executor
            )
            server = grpc.aio.server()
            node_pb2_grpc.add_SyncServicer_to_server(SyncServicer(server_chain), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            chain = _fresh(tmp_path, served, executor)
            try:
                while chain.store.height < server_store.height:
                    applier = BlockApplier(chain, served.validators)
                    try:
                        fetched = await fetch_blocks(
                            chain, served.validators, f"127.0.0.1:{port}", server_store.height, applier,
                            max_message_bytes=16 * 1024 * 1024,
                        )
                        assert fetched > 0
                        assert await applier.apply() == fetched
                    finally:
                        applier.close()
                assert chain.store.tip() == server_store.tip()
            finally:
                await server.stop(None)
                chain.store.close()
                server_store.close()

    asyncio.run(scenario())


def test_verify_ahead_on_a_shut_down_executor_leaves_the_checks_to_the_block(served: Served) -> None:
    block = ledger_pb2.Block.FromString(ledger_pb2.CommittedBlock.FromString(served.committed[-1]).block)
    txs = [decode_tx(raw, served.genesis) for raw in block.txs]
    executor = ThreadPoolExecutor(1)
    executor.shutdown()
    sigcache = SignatureCache()
    assert verify_ahead(executor, txs, sigcache, served.genesis.chain_id) == []
    assert len(sigcache) == 0


class _ListSync(node_pb2_grpc.SyncServicer):
    """A peer's Sync service serving fixed CommittedBlock bytes (possibly doctored)."""

    def __init__(self, committed: list[bytes]) -> None:
        self.committed = committed

    async def GetBlocks(self, request, context):
        end = min(request.to_height or len(self.committed), len(self.committed))
        for height in range(request.from_height, end + 1):
            yield node_pb2.CommittedBlockMsg(height=height, committed_block=self.committed[height - 1])


class _Peers:
    def __init__(self, states: list[PeerState]) -> None:
        self.states = states

    def peer_states(self) -> list[PeerState]:
        return self.states

    def max_peer_height(self) -> int:
        return max(p.height for p in self.states)


class _Driver:
    async def pause_for(self, work) -> None:
        await work()


@pytest.mark.parametrize("pool", [False, True], ids=["threads", "process-pool"])
def test_syncer_abandons_a_peer_whose_block_does_not_execute_and_catches_up_from_another(
    tmp_path: Path, served: Served, monkeypatch: pytest.MonkeyPatch, pool: bool
) -> None:
    if pool:
        monkeypatch.setattr(sync, "POOL_MIN_LAG", 1)
    doctored = list(served.committed)
    doctored[3] = _tamper_signature(doctored[3], 2)
    top = len(served.committed)

    async def scenario() -> None:
        servers, states = [], []
        for n, blocks in enumerate((doctored, served.committed)):
            server = grpc.aio.server()
            node_pb2_grpc.add_SyncServicer_to_server(_ListSync(blocks), server)
            port = server.add_insecure_port("127.0.0.1:0")
            await server.start()
            servers.append(server)
            # The liar announces more, so it is asked first.
            address = f"127.0.0.1:{port}"
            states.append(PeerState(bytes([n]) * 32, address, True, True, top + 1 - n, b"", 0, 1, ""))
        with ThreadPoolExecutor(2) as executor:
            chain = _fresh(tmp_path, served, executor)
            syncer = sync.Syncer(
                chain, _Driver(), _Peers(states), served.validators, max_message_bytes=16 * 1024 * 1024  # type: ignore[arg-type]
            )
            try:
                for _ in range(5):
                    await syncer._catch_up()
                    if chain.store.height == top:
                        break
                assert chain.store.height == top
                assert chain.store.tip().state_root == served.tip_root
                assert set(syncer._banned_until) == {states[0].key}
                assert (syncer._pool is not None) == pool
            finally:
                await syncer.stop()
                chain.store.close()
                for server in servers:
                    await server.stop(None)

    asyncio.run(scenario())
