"""Properties of the ledger state over random blocks of valid and invalid transactions,
applied through the real proposer/validator paths to a real LevelDB store."""

from __future__ import annotations

import hashlib
import random
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.ledger.blocks import decode_committed_block, encode_committed, evidence_root, tx_root, witness_root
from node.ledger.errors import Code, LedgerError
from node.ledger.store import CACHE_ENTRIES, Store
from node.ledger.store_audit import audit_store
from node.ledger.transition import ExecutedBlock
from node.ledger.txcodec import decode_tx
from proto import ledger_pb2

from .harness import Net, Node, TxFactory, sum_utxos

NET = Net()
_POOL = ThreadPoolExecutor(2, thread_name_prefix="verify")


@pytest.fixture(scope="module", autouse=True)
def _shutdown_pool():
    yield
    _POOL.shutdown()


def supply_change(raws: list[bytes], net: Net) -> tuple[int, int]:
    """(issued, redeemed) by these transactions, read off the transactions themselves."""
    issued = redeemed = 0
    for raw in raws:
        tx = decode_tx(raw, net.genesis)
        if tx.kind == "issue":
            issued += sum(o.amount for o in tx.outputs)
        elif tx.kind == "redeem":
            redeemed += tx.msg.redeem.amount
    return issued, redeemed


@settings(max_examples=25)
@given(
    rng=st.randoms(use_true_random=False),
    blocks=st.integers(1, 6),
    parallel=st.booleans(),
    cache_entries=st.sampled_from((0, 3, CACHE_ENTRIES)),  # tiny caches: evictions everywhere
)
def test_random_blocks_conserve_money_and_roots(
    rng: random.Random, blocks: int, parallel: bool, cache_entries: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(f"{tmp}/db", NET, executor=_POOL if parallel else None, cache_entries=cache_entries)
        store = node.store
        factory = TxFactory(NET, store)
        ever_spent: set = set()
        issued = redeemed = 0
        try:
            for _ in range(blocks):
                candidates = factory.candidates(rng, rng.randint(0, 14))
                built, skipped = node.propose_skipping(candidates)
                block = ledger_pb2.Block.FromString(built.block_bytes)
                included = list(block.txs)
                # The proposer leaves out exactly what failed; everything else is in, in order.
                assert len(included) + len(skipped) == len(candidates)
                assert all(err.code != Code.INVALID_BLOCK for _, err in skipped)

                overlay = node.commit(built.block_bytes)
                factory.note_committed(overlay)

                # No output is spent twice, ever; spent outputs never come back.
                spent = set(overlay.spent)
                assert not spent & ever_spent
                ever_spent |= spent
                assert not set(overlay.created) & ever_spent
                assert all(store.utxo(op) is None for op in spent)

                # Money: sum of UTXOs == issued - redeemed, and the counters match the txs.
                d_issued, d_redeemed = supply_change(included, NET)
                issued += d_issued
                redeemed += d_redeemed
                supply = store.supply()
                assert (supply.issued, supply.redeemed) == (issued, redeemed)
                assert sum_utxos(store) == supply.outstanding

                # Incremental root == from-scratch root == the header's; indexes agree.
                assert store.recompute_state_root() == store.tip().state_root == built.header.state_root
                assert audit_store(store) == []

                # Every included tx is found where the block put it.
                for position, raw in enumerate(included):
                    txid = decode_tx(raw, NET.genesis).txid
                    assert store.get_tx(txid) == (raw, store.height, position)
        finally:
            node.close()


@settings(max_examples=10)
@given(
    rng=st.randoms(use_true_random=False),
    warmup=st.integers(1, 3),
    parallel=st.booleans(),
    kind=st.sampled_from(("bad_signature", "wrong_chain", "garbage", "unknown_input", "spent_input")),
)
def test_invalid_block_changes_nothing(rng: random.Random, warmup: int, parallel: bool, kind: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(f"{tmp}/db", NET, executor=_POOL if parallel else None)
        store = node.store
        factory = TxFactory(NET, store)
        try:
            for _ in range(warmup):
                factory.note_committed(node.commit(node.propose(factory.candidates(rng, 8)).block_bytes))
            # A block the proposer would build, plus one invalid tx at a random position,
            # with every header field consistent with those contents.
            built = node.propose(factory.candidates(rng, 6, invalid_share=0.0))
            good = list(ledger_pb2.Block.FromString(built.block_bytes).txs)
            bad = factory.invalid(rng, kind)
            pos = rng.randint(0, len(good))
            raws = [*good[:pos], bad, *good[pos:]]
            txids = [_txid_or_zero(r) for r in raws]
            header = ledger_pb2.BlockHeader()
            header.CopyFrom(built.header)
            header.tx_count = len(raws)
            header.tx_root = tx_root(txids)
            header.witness_root = witness_root([hashlib.sha256(r).digest() for r in raws])
            block_bytes = ledger_pb2.Block(header=header.SerializeToString(), txs=raws).SerializeToString()

            before = (store.fingerprint(), store.tip(), store.state_root())
            with pytest.raises(LedgerError) as err:
                node.validate(block_bytes)
            assert err.value.code == Code.INVALID_BLOCK
            assert f"tx #{pos} " in err.value.message  # the first bad tx is named
            assert (store.fingerprint(), store.tip(), store.state_root()) == before
            assert store.recompute_state_root() == before[2]

            # Store.commit refuses the good block's overlay under a header that lies about it.
            good_block = node.validate(built.block_bytes)
            lying = ledger_pb2.BlockHeader()
            lying.CopyFrom(good_block.header)
            lying.state_root = bytes(32)
            lying_block = ExecutedBlock(
                built.block_bytes, lying, good_block.block_hash, good_block.overlay, ()
            )
            with pytest.raises(LedgerError) as err:
                store.commit(lying_block, b"")
            assert err.value.code == Code.INVALID_BLOCK
            assert (store.fingerprint(), store.tip(), store.state_root()) == before
        finally:
            node.close()


def _txid_or_zero(raw: bytes) -> bytes:
    try:
        return decode_tx(raw, NET.genesis).txid
    except LedgerError:
        return bytes(32)  # undecodable: the block fails before tx_root matters


headers = st.builds(
    ledger_pb2.BlockHeader,
    chain_id=st.text(max_size=20),
    height=st.integers(0, 2**64 - 1),
    time_ms=st.integers(0, 2**64 - 1),
    prev_hash=st.binary(min_size=32, max_size=32),
    tx_root=st.binary(min_size=32, max_size=32),
    state_root=st.binary(min_size=32, max_size=32),
    validators_hash=st.binary(min_size=32, max_size=32),
    proposer=st.binary(min_size=32, max_size=32),
    evidence_root=st.binary(min_size=32, max_size=32),
    tx_count=st.integers(0, 2**32 - 1),
)


@given(headers, st.lists(st.binary(max_size=50), max_size=5), st.lists(st.binary(max_size=20), max_size=3),
       st.binary(max_size=40))
def test_block_encoding_round_trips(
    header: ledger_pb2.BlockHeader, txs: list[bytes], evidence: list[bytes], commit: bytes
) -> None:
    header_bytes = header.SerializeToString(deterministic=True)
    block_bytes = ledger_pb2.Block(header=header_bytes, txs=txs, evidence=evidence).SerializeToString()
    committed = decode_committed_block(encode_committed(block_bytes, commit))
    block, decoded, cert = committed.block, committed.header, committed.certificate
    assert committed.block_bytes == block_bytes
    assert committed.block_hash == hashlib.sha256(header_bytes).digest()
    assert decoded == header
    assert decoded.SerializeToString(deterministic=True) == header_bytes
    assert list(block.txs) == txs and list(block.evidence) == evidence and cert == commit
    assert block.header == header_bytes  # the hashed bytes travel untouched


@settings(max_examples=10)
@given(rng=st.randoms(use_true_random=False))
def test_reopened_store_serves_the_same_chain(rng: random.Random) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        node = Node(f"{tmp}/db", NET)
        factory = TxFactory(NET, node.store)
        for _ in range(3):
            factory.note_committed(node.commit(node.propose(factory.candidates(rng, 6)).block_bytes))
        tip, blocks = node.store.tip(), [node.store.get_block(height=h) for h in range(1, 4)]
        fingerprint = node.store.fingerprint()
        node.close()
        with Store.open(f"{tmp}/db", NET.genesis) as store:
            assert store.tip() == tip and store.fingerprint() == fingerprint
            assert audit_store(store) == []
            for height, raw in enumerate(blocks, start=1):
                committed = decode_committed_block(raw)
                block, header = committed.block, committed.header
                assert store.get_block(hash=hashlib.sha256(block.header).digest()) == raw
                assert header.height == height
                assert header.evidence_root == evidence_root([])
                assert header.validators_hash == node.validators.hash()
