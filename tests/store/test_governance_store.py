"""Governance state on a real LevelDB store: committed by the state root, recomputable from
scratch, kept across a reopen, and the same on a node that validates the proposer's blocks."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.client import govbuild as gb
from node.client.txbuild import build_issue, build_register, build_transfer
from node.ledger.errors import LedgerError
from node.ledger.governance import SUSPENDED
from node.ledger.store import Store
from node.ledger.store_audit import audit_store
from node.ledger.txcodec import decode_tx
from node.ledger.types import WALLET_FROZEN_BY_AUTHORITY, OutPoint

from .harness import Net, Node, key
from .test_blocks import with_txs


def _signed(net: Net, body: bytes, keys) -> bytes:
    return gb.build(net.chain, body, keys)


def test_governance_is_committed_by_the_state_root_and_survives_reopen(tmp_path: Path) -> None:
    net = Net()
    auth = net.issuers[:2]
    signers = [k.public for k in auth]
    proposer = Node(str(tmp_path / "a"), net)
    follower = Node(str(tmp_path / "b"), net)
    wallet = net.wallets[0]

    def both(txs: list[bytes]) -> bytes:
        block = proposer.propose(txs)
        assert len(block.txids) == len(txs), "every transaction of the step is valid"
        proposer.store.commit(block, b"cert")
        follower.commit(block.block_bytes)
        assert follower.store.state_root() == proposer.store.state_root()
        return proposer.store.state_root()

    src = build_issue(net.chain, [(net.banks[0].public, 1_000)], auth, nonce=1)
    reg = build_register(net.chain, net.banks[0], wallet.public, 4, nonce=2)
    root_payments = both([src, reg])
    assert proposer.store.governance() is None  # no change yet: genesis governs, no record

    suspend = _signed(net, gb.institution_body(net.chain, "suspend", signers, "inst-1", 3), auth)
    freeze = _signed(net, gb.wallet_body(net.chain, "freeze", signers, wallet.public, 1, 4), auth)
    root_gov = both([suspend, freeze])
    assert root_gov != root_payments
    for node in (proposer, follower):
        assert audit_store(node.store) == []
        assert node.store.recompute_state_root() == root_gov
        assert node.store.governance().institution_by_id("inst-1").status == SUSPENDED

    # A frozen wallet cannot be paid: the proposer leaves the payment out.
    pay = build_transfer(net.chain, net.banks[0], [OutPoint(_txid(net, src), 0)], [(wallet.public, 1_000)], 5)
    _, skipped = proposer.propose_skipping([pay])
    assert [err.code.value for _, err in skipped] == ["wallet_frozen"]

    proposer.close()
    follower.close()
    reopened = Store.open(str(tmp_path / "a"), net.genesis)
    try:
        assert reopened.state_root() == root_gov == reopened.recompute_state_root()
        assert reopened.governance().institution_by_id("inst-1").status == SUSPENDED
        assert reopened.wallet(wallet.public).status == WALLET_FROZEN_BY_AUTHORITY
    finally:
        reopened.close()


def test_key_rotation_through_blocks(tmp_path: Path) -> None:
    net = Net()
    node = Node(str(tmp_path / "a"), net)
    new = key(60)
    src = build_issue(net.chain, [(net.banks[0].public, 500)], net.issuers[:2], nonce=1)
    body = gb.rotate_institution_key_body(net.chain, [net.banks[0].public], "inst-0", new.public, 2)
    rotate = gb.build(net.chain, body, [net.banks[0], new])
    node.store.commit(node.propose([src, rotate]), b"cert")
    spend = build_transfer(net.chain, new, [OutPoint(_txid(net, src), 0)], [(new.public, 500)], nonce=3)
    block = node.propose([spend])
    assert len(block.txids) == 1
    node.store.commit(block, b"cert")
    assert node.store.balance(new.public) == 500 and node.store.balance(net.banks[0].public) == 0
    assert audit_store(node.store) == []
    node.close()


def _txid(net: Net, raw: bytes) -> bytes:
    return decode_tx(raw, net.genesis).txid


def test_block_limits_bind_the_proposer_and_every_validator(tmp_path: Path) -> None:
    net = Net()
    node = Node(str(tmp_path / "a"), net)
    auth = net.issuers[:2]
    body = gb.block_limits_body(net.chain, [k.public for k in auth], 3, 2, 100_000, 1)
    node.store.commit(node.propose([_signed(net, body, auth)]), b"cert")        # height 1
    issues = [build_issue(net.chain, [(net.banks[0].public, 10 + n)], auth, nonce=10 + n) for n in range(3)]
    assert len(node.propose(issues).txids) == 3                                  # height 2: genesis caps
    node.store.commit(node.propose([]), b"cert")                                 # height 2 (empty)
    built, skipped = node.propose_skipping(issues)                               # height 3: at most 2
    assert len(built.txids) == 2 and skipped == []
    forged = with_txs(built.block_bytes, issues)
    with pytest.raises(LedgerError, match="carries 3 transactions; the limit at this height is 2"):
        node.validate(forged)
    node.close()


def test_a_snapshot_carries_the_governance_record(tmp_path: Path) -> None:
    """Governance is state: a snapshot holds its record, and the restored store's recomputed
    root (which counts it) equals the certified one."""
    import nacl.signing

    from consensus.commit import encode_commit
    from consensus.messages import VoteType, sign_vote
    from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks, write_snapshot

    net = Net()
    auth = net.issuers[:2]
    signers = [k.public for k in auth]
    node = Node(str(tmp_path / "a"), net)
    src = build_issue(net.chain, [(net.banks[0].public, 1_000)], auth, nonce=1)
    node.store.commit(node.propose([src]), b"cert")
    suspend = _signed(net, gb.institution_body(net.chain, "suspend", signers, "inst-1", 2), auth)
    block = node.propose([suspend])
    # The snapshot's tip must carry a real certificate: restore checks it against genesis.
    vote = sign_vote(nacl.signing.SigningKey(net.proposer.seed), net.chain, block.height, 0,
                     VoteType.PRECOMMIT, block.block_hash)
    node.store.commit(block, encode_commit(block.height, 0, block.block_hash, [vote]))
    info = write_snapshot(node.store, str(tmp_path / "state.snap"))
    chunks = snapshot_file_chunks(str(tmp_path / "state.snap"))
    restore_snapshot(chunks, str(tmp_path / "restored"), net.genesis)
    with Store.open(str(tmp_path / "restored"), net.genesis) as restored:
        assert restored.governance() == node.store.governance()
        assert restored.recompute_state_root() == info.state_root == node.store.state_root()
    node.close()
