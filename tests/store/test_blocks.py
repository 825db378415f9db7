"""Block validation and commit refusals, one header field or cap at a time, on a real store."""

from __future__ import annotations

import contextlib
import hashlib
import time
from collections.abc import Callable, Iterator
from concurrent.futures import Executor, ThreadPoolExecutor
from pathlib import Path

import nacl.signing
import pytest

from consensus.evidence import encode_duplicate_vote
from consensus.messages import NIL, VoteType, sign_vote
from node.client.txbuild import build_issue, build_register, build_transfer
from node.ledger.blocks import decode_block, encode_committed, evidence_root, tx_root, witness_root
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import LedgerParams, make_genesis
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import verification_pool
from node.ledger.store import Store
from node.ledger.store_audit import audit_store
from node.ledger.transition import ExecutedBlock, build_block
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint
from proto import ledger_pb2

from .harness import Net, Node

NET = Net()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(str(tmp_path / "db"), NET)
    yield n
    n.close()


def issue(amount: int, nonce: int, bank: int = 0) -> bytes:
    return build_issue(NET.chain, [(NET.banks[bank].public, amount)], NET.issuers[:2], nonce)


def reheader(block_bytes: bytes, change: Callable[[ledger_pb2.BlockHeader], None]) -> bytes:
    block, header = decode_block(block_bytes)
    change(header)
    rebuilt = ledger_pb2.Block(header=header.SerializeToString(), txs=block.txs, evidence=block.evidence)
    return rebuilt.SerializeToString()


def with_txs(block_bytes: bytes, txs: list[bytes]) -> bytes:
    """The block with other transactions and a header that counts and roots them honestly."""
    block, _ = decode_block(block_bytes)
    txids = [hashlib.sha256(ledger_pb2.Transaction.FromString(t).body).digest() for t in txs]
    rebuilt = ledger_pb2.Block(header=block.header, txs=txs, evidence=block.evidence).SerializeToString()

    def count_and_root(h: ledger_pb2.BlockHeader) -> None:
        h.tx_count = len(txs)
        h.tx_root = tx_root(txids)
        h.witness_root = witness_root([hashlib.sha256(t).digest() for t in txs])

    return reheader(rebuilt, count_and_root)


def test_fresh_store_tip_and_reopen_with_other_genesis_refused(tmp_path: Path) -> None:
    path = str(tmp_path / "db")
    with Store.open(path, NET.genesis) as store:
        tip = store.tip()
        # At height 0 the tip's hash is the genesis hash: block 1 builds on it.
        genesis = NET.genesis
        assert (tip.height, tip.block_hash, tip.time_ms) == (0, genesis.hash(), genesis.genesis_time_ms)
        assert tip.state_root == store.recompute_state_root()
        assert store.get_block(height=1) is None and store.get_block(height=0) is None
        assert audit_store(store) == []
    foreign = make_genesis(issuers=NET.issuers, institutions=NET.banks, chain_id="another-chain")
    with pytest.raises(LedgerError) as err:
        Store.open(path, foreign)
    assert err.value.code == Code.WRONG_CHAIN and "another-chain" in err.value.message


def test_commit_and_queries(node: Node) -> None:
    bank, wallet = NET.banks[0], NET.wallets[0]
    register = build_register(NET.chain, bank, wallet.public, 1)
    overlay = node.commit(node.propose([issue(1_000, 1), register]).block_bytes)
    issued = OutPoint(overlay.txids[0], 0)
    pay = build_transfer(NET.chain, bank, [issued], [(wallet.public, 300), (bank.public, 700)])
    built = node.propose([pay])
    node.commit(built.block_bytes, commit=b"certificate")
    store = node.store
    assert store.height == 2
    assert store.tip().block_hash == hashlib.sha256(decode_block(built.block_bytes)[0].header).digest()
    assert store.balance(wallet.public) == 300 and store.balance(bank.public) == 700
    assert store.utxo(issued) is None
    assert [out.amount for _, out in store.utxos_of(wallet.public)] == [300]
    assert store.wallet(wallet.public).tier == 1
    assert store.supply().outstanding == 1_000
    raw = store.get_block(height=2)
    assert raw == encode_committed(built.block_bytes, b"certificate")
    assert store.get_block(hash=store.tip().block_hash) == raw
    assert store.get_block(hash=bytes(32)) is None
    assert store.get_tx(bytes(32)) is None
    assert store.has_tx(overlay.txids[0]) and not store.has_tx(bytes(32))


def test_utxos_of_pages_in_outpoint_order(node: Node) -> None:
    bank = NET.banks[0]
    raw = build_issue(NET.chain, [(bank.public, n + 1) for n in range(7)], NET.issuers[:2])
    node.commit(node.propose([raw]).block_bytes)
    all_ = node.store.utxos_of(bank.public)
    assert [out.amount for _, out in all_] == list(range(1, 8))
    first = node.store.utxos_of(bank.public, limit=3)
    rest = node.store.utxos_of(bank.public, limit=10, start_after=first[-1][0])
    assert first + rest == all_
    assert node.store.utxos_of(NET.banks[1].public) == []
    assert node.store.utxos_of(bank.public, limit=0) == []


@pytest.mark.parametrize(
    ("field", "change", "reason"),
    [
        ("chain_id", lambda h: setattr(h, "chain_id", "other"), "chain"),
        ("height", lambda h: setattr(h, "height", h.height + 1), "height"),
        ("prev_hash", lambda h: setattr(h, "prev_hash", b"\x01" * 32), "prev_hash"),
        ("time_ms", lambda h: setattr(h, "time_ms", 1), "time"),
        ("validators_hash", lambda h: setattr(h, "validators_hash", b"\x02" * 32), "validators_hash"),
        ("tx_count", lambda h: setattr(h, "tx_count", h.tx_count + 1), "counts"),
        ("tx_root", lambda h: setattr(h, "tx_root", b"\x03" * 32), "tx_root"),
        ("evidence_root", lambda h: setattr(h, "evidence_root", b"\x04" * 32), "evidence_root"),
        ("state_root", lambda h: setattr(h, "state_root", b"\x05" * 32), "state_root"),
        ("proposer", lambda h: setattr(h, "proposer", b"\x06" * 31), "proposer"),
    ],
)
def test_header_that_lies_is_rejected_and_changes_nothing(
    node: Node, field: str, change, reason: str
) -> None:
    node.commit(node.propose([issue(10, 1)]).block_bytes)  # so prev_hash is a real hash
    built = node.propose([issue(20, 2), issue(30, 3)])
    before = node.store.fingerprint()
    with pytest.raises(LedgerError) as err:
        node.validate(reheader(built.block_bytes, change))
    assert err.value.code == Code.INVALID_BLOCK
    assert reason in err.value.message, err.value.message
    assert node.store.fingerprint() == before
    node.commit(built.block_bytes)  # the honest block still goes in


def test_garbage_block_bytes_are_invalid_block(node: Node) -> None:
    for junk in (b"\xff\xff\xff", ledger_pb2.Block(header=b"\x0a\xff").SerializeToString()):
        with pytest.raises(LedgerError) as err:
            node.validate(junk)
        assert err.value.code == Code.INVALID_BLOCK


def test_commit_refuses_wrong_height_and_parent(node: Node) -> None:
    built = node.propose([issue(10, 1)])
    executed = node.validate(built.block_bytes)
    before = node.store.fingerprint()
    for change in (lambda h: setattr(h, "height", 2), lambda h: setattr(h, "prev_hash", b"\x09" * 32)):
        lying = ledger_pb2.BlockHeader()
        lying.CopyFrom(executed.header)
        change(lying)
        with pytest.raises(LedgerError) as err:
            node.store.commit(
                ExecutedBlock(executed.block_bytes, lying, executed.block_hash, executed.overlay, ()), b""
            )
        assert err.value.code == Code.INVALID_BLOCK
        assert node.store.fingerprint() == before
    node.store.commit(executed, b"")
    with pytest.raises(LedgerError):  # the same block twice: height no longer tip + 1
        node.store.commit(executed, b"")
    assert node.store.height == 1 and audit_store(node.store) == []


def test_block_with_double_spend_across_txs_is_rejected(node: Node) -> None:
    bank = NET.banks[0]
    overlay = node.commit(node.propose([issue(100, 1)]).block_bytes)
    src = OutPoint(overlay.txids[0], 0)
    a = build_transfer(NET.chain, bank, [src], [(bank.public, 100)], nonce=1)
    b = build_transfer(NET.chain, bank, [src], [(bank.public, 100)], nonce=2)
    built, skipped = node.propose_skipping([a, b])
    assert built.header.tx_count == 1 and skipped[0][1].code == Code.DOUBLE_SPEND
    forged_bytes = with_txs(built.block_bytes, [a, b])
    before = node.store.fingerprint()
    with pytest.raises(LedgerError) as err:
        node.validate(forged_bytes)
    assert "tx #1 " in err.value.message and "double_spend" in err.value.message
    assert node.store.fingerprint() == before


def test_caps_on_transactions_per_block_and_bytes(tmp_path: Path) -> None:
    net = Net(params=LedgerParams(max_block_txs=3, max_block_bytes=4_096, max_body_bytes=2_048))
    node = Node(str(tmp_path / "db"), net)
    try:
        raws = [build_issue(net.chain, [(net.banks[0].public, 5)], net.issuers[:2], n) for n in range(5)]
        built = node.propose(raws)
        assert built.header.tx_count == 3  # the proposer stops at the cap
        with pytest.raises(LedgerError) as err:
            node.validate(with_txs(built.block_bytes, raws[:4]))
        assert "at most 3" in err.value.message
        # Bytes: big issuances (many outputs) fill the budget before the count cap.
        outputs = [(net.banks[0].public, 1)] * 40
        big = [build_issue(net.chain, outputs, net.issuers[:2], 100 + n) for n in range(3)]
        built, skipped = node.propose_skipping(big)
        assert len(built.block_bytes) <= 4_096
        assert 0 < built.header.tx_count < 3
        assert any("byte budget" in err.message for _, err in skipped)
        node.commit(built.block_bytes)
    finally:
        node.close()


def _double_vote(height: int) -> bytes:
    """Evidence that the network's one validator (the proposer) prevoted twice at `height`."""
    key = nacl.signing.SigningKey(NET.proposer.seed)
    votes = [sign_vote(key, NET.chain, height, 0, VoteType.PREVOTE, b) for b in (bytes(32), NIL)]
    return encode_duplicate_vote(*votes)


def test_evidence_is_committed_by_its_root(node: Node) -> None:
    node.commit(node.propose([]).block_bytes)  # evidence may name heights up to the block's
    vote_a, vote_b = _double_vote(1), _double_vote(2)
    evidence = [vote_a, vote_b]
    built = node.propose([issue(10, 1)], evidence=evidence)
    assert built.header.evidence_root == evidence_root(evidence)
    block, _ = decode_block(built.block_bytes)
    swapped = ledger_pb2.Block(header=block.header, txs=block.txs, evidence=[vote_b, vote_a])
    with pytest.raises(LedgerError) as err:
        node.validate(swapped.SerializeToString())
    assert "evidence_root" in err.value.message
    node.commit(built.block_bytes)


@pytest.fixture(scope="module")
def process_pool() -> Iterator[Executor]:
    pool = verification_pool(2)
    yield pool
    pool.shutdown()


@pytest.mark.parametrize("kind", ["threads", "processes"])
def test_parallel_verification_agrees_with_sequential(tmp_path: Path, kind: str, request) -> None:
    """Same blocks, same roots, and the same (lowest) failing index is reported."""
    pool = ThreadPoolExecutor(2) if kind == "threads" else request.getfixturevalue("process_pool")
    with contextlib.ExitStack() as stack:
        if kind == "threads":
            stack.enter_context(pool)
        seq = Node(str(tmp_path / "seq"), NET)
        par = Node(str(tmp_path / "par"), NET, executor=pool)
        try:
            raws = [issue(n + 1, n) for n in range(70)]  # > 2 verification chunks
            # ... and > 512 new outputs, so the state root's products run on the pool too.
            outputs = [(NET.banks[1].public, 3)] * 120
            raws += [build_issue(NET.chain, outputs, NET.issuers[:2], 1_000 + n) for n in range(5)]
            a = seq.propose(raws)
            b = par.propose(raws)
            assert a.block_bytes == b.block_bytes
            bad_sig = ledger_pb2.Transaction.FromString(raws[40])
            swapped = [bad_sig.signatures[1], bad_sig.signatures[0]]
            broken = ledger_pb2.Transaction(body=bad_sig.body, signatures=swapped)
            replay = raws[5]  # duplicate of tx #5: fails the rules at index 60
            txs = [*raws[:40], broken.SerializeToString(), *raws[41:60], replay]
            block = with_txs(a.block_bytes, txs)
            for node in (seq, par):
                with pytest.raises(LedgerError) as err:
                    node.validate(block, sigcache=SignatureCache())
                assert "tx #40 " in err.value.message and "bad_signature" in err.value.message
            # The pool recorded its successes: validating the good block again verifies nothing.
            fresh = SignatureCache()
            par.validate(a.block_bytes, sigcache=fresh)
            assert len(fresh) == 75
            seq.validate(a.block_bytes, sigcache=fresh)
            assert (fresh.stats().hits, fresh.stats().misses) == (75, 0)
            seq.commit(a.block_bytes)
            par.commit(b.block_bytes)
            assert seq.store.fingerprint() == par.store.fingerprint()
        finally:
            seq.close()
            par.close()


def test_proposer_takes_decoded_mempool_txs_as_they_are(node: Node) -> None:
    raws = [issue(n + 1, n) for n in range(3)]
    decoded = [decode_tx(raw, NET.genesis) for raw in raws]
    from_raw = node.propose(raws)
    from_decoded = node.propose([decoded[0], raws[1], decoded[2]])
    assert from_raw.block_bytes == from_decoded.block_bytes
    assert [tx.txid for tx in from_decoded.overlay.txs] == [tx.txid for tx in decoded]


def test_proposer_stops_taking_transactions_at_its_deadline(node: Node) -> None:
    candidates = [issue(1_000 + n, n) for n in range(200)]
    late, skipped = build_block(
        node.store,
        candidates,
        NET.genesis,
        height=node.store.height + 1,
        time_ms=node.next_time(),
        proposer=NET.proposer.public,
        validators_hash=node.validators.hash(),
        sigcache=node.sigcache,
        deadline=time.monotonic() - 1,  # already passed: only the first stretch gets in
    )
    assert 0 < late.header.tx_count < len(candidates) and not skipped
    node.validate(late.block_bytes)  # what it did take is a complete, valid block
    on_time = node.propose(candidates)
    assert on_time.header.tx_count == len(candidates)
