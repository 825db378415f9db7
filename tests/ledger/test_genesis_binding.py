"""A chain is bound to its genesis: block 1 builds on the genesis hash, so a replay (`audit
verify --genesis G`) against a genesis the chain was not built from fails at block 1 and
names both hashes, even when every block would also be valid under that other genesis
(here: the same keys and chain id, one tier limit changed)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from node.audit import replay
from node.client.txbuild import build_issue
from node.ledger.genesis import Genesis
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.transition import validate_block

from .test_block_paths import BANK, GENESIS, ISSUER, VALIDATORS, _build, certified


def _other_genesis() -> Genesis:
    tiers = dict(GENESIS.tiers)
    tiers[4] = replace(tiers[4], daily=tiers[4].daily + 1)
    return replace(GENESIS, tiers=tiers)


def _chain(tmp_path: Path) -> list[tuple[int, bytes]]:
    blocks = []
    sigcache = SignatureCache()
    with Store.open(str(tmp_path / "chain"), GENESIS) as store:
        for n in range(2):
            issue = build_issue(GENESIS.chain_id, [(BANK.public, 100)], [ISSUER], n)
            block = _build(store, sigcache, [issue], [])
            executed = validate_block(
                store, block, GENESIS, expected_height=store.height + 1, validators=VALIDATORS,
                min_time_ms=store.tip().time_ms, sigcache=sigcache,
            )
            committed = certified(block)
            store.commit(executed, committed)
            blocks.append((store.height, committed))
        assert executed.header.height == 2
    return blocks


def test_replay_against_another_genesis_fails_at_block_1_naming_both_hashes(tmp_path: Path) -> None:
    blocks = _chain(tmp_path)
    assert replay(blocks, GENESIS, len(blocks)).ok
    other = _other_genesis()
    assert other.chain_id == GENESIS.chain_id and other.hash() != GENESIS.hash()
    report = replay(blocks, other, len(blocks))
    assert not report.ok and report.failed_height == 1
    assert f"builds on genesis {GENESIS.hash().hex()}" in report.failure
    assert f"this node's genesis hash is {other.hash().hex()}" in report.failure
