"""Snapshots after validator-set changes, on real LevelDB stores with real certificates.

A chain of four validators changes its set twice (a validator joins; then one rotates its
consensus key), each change committed at H and deciding from H+2. A snapshot of its tip
carries the two hand-offs; a restore trusting only the genesis walks them to the set that
certified the tip. A tampered or missing hand-off is refused by name; a store restored from
a snapshot serves snapshots that restore too (it kept the hand-offs it was given).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from consensus.commit import encode_commit
from consensus.messages import VoteType, sign_vote
from node.client import govbuild as gb
from node.client.txbuild import build_issue
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, Validator, make_genesis
from node.ledger.governance import validator_set_at
from node.ledger.keys import KeyPair
from node.ledger.sigcache import SignatureCache
from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks, write_snapshot
from node.ledger.store import P_HANDOFF, Store
from node.ledger.store_audit import audit_store
from node.ledger.transition import build_block
from tests.support import cast
from tests.support.cast import BLOCK_MS, T0, key

from .test_snapshot import _reseal

JOINS_AT, ROTATES_AT, TIP = 2, 5, 8  # committed at 2 -> decides from 4; at 5 -> from 7


@dataclass
class Chain:
    genesis: Genesis
    store: Store
    keys: dict[bytes, KeyPair]  # every validator key the chain ever had
    sigcache: SignatureCache

    def commit(self, txs: list[bytes]) -> None:
        """The next block, proposed and precommitted by every validator of its height's set."""
        h = self.store.height + 1
        validators = validator_set_at(self.store, self.genesis, h)
        block, skipped = build_block(
            self.store, txs, self.genesis, height=h, time_ms=T0 + h * BLOCK_MS,
            proposer=validators.proposer(h, 0), validators_hash=validators.hash(), sigcache=self.sigcache,
        )
        assert skipped == [] and len(block.txids) == len(txs)
        votes = [
            sign_vote(nacl.signing.SigningKey(self.keys[v.public_key].seed), self.genesis.chain_id, h, 0,
                      VoteType.PRECOMMIT, block.block_hash)
            for v in validators.validators
        ]
        self.store.commit(block, encode_commit(h, 0, block.block_hash, votes))


@pytest.fixture
def chain(tmp_path: Path):
    issuers, validators = cast.issuers(), cast.validators(4)
    genesis = make_genesis(
        issuers=issuers, institutions=cast.institutions(), issue_threshold=2, genesis_time_ms=T0,
        validators=[Validator(f"val-{i}", k.public, 10) for i, k in enumerate(validators)],
    )
    joiner, rotated = key(44), key(45)
    chain = Chain(genesis, Store.open(str(tmp_path / "source"), genesis),
                  {k.public: k for k in (*validators, joiner, rotated)}, SignatureCache())
    auth, c = issuers[:2], genesis.chain_id
    for h in range(1, TIP + 1):
        txs = [build_issue(c, [(cast.institutions()[0].public, 100 + h)], auth, nonce=h)]
        if h == JOINS_AT:
            body = gb.validators_body(c, [k.public for k in auth], [(joiner.public, 3, "joiner")], 100)
            txs.append(gb.build(c, body, auth))
        if h == ROTATES_AT:  # by the holder: old and new key sign
            old = validators[0]
            body = gb.rotate_validator_key_body(c, [old.public], old.public, rotated.public, 101)
            txs.append(gb.build(c, body, [old, rotated]))
        chain.commit(txs)
    gov = chain.store.governance()
    assert [s.effective_height for s in gov.validator_sets] == [1, JOINS_AT + 2, ROTATES_AT + 2]
    assert validator_set_at(chain.store, genesis, TIP) != validator_set_at(chain.store, genesis, 1)
    yield chain
    chain.store.close()


def _snapshot(chain: Chain, tmp_path: Path) -> Path:
    path = tmp_path / "state.snap"
    write_snapshot(chain.store, str(path))
    return path


def _handoffs(data: bytes) -> list[dict]:
    p = 12 + 5 + int.from_bytes(data[13:17], "big")  # past the header and the meta record
    assert data[p : p + 1] == b"F"
    return json.loads(data[p + 5 : p + 5 + int.from_bytes(data[p + 1 : p + 5], "big")])


def test_restore_after_two_set_changes_verifies_from_genesis_alone(chain: Chain, tmp_path: Path) -> None:
    data = _snapshot(chain, tmp_path).read_bytes()
    assert [d["height"] for d in _handoffs(data)] == [JOINS_AT + 1, ROTATES_AT + 1]
    info = restore_snapshot([data], str(tmp_path / "restored"), chain.genesis)
    assert info.height == TIP and info.state_root == chain.store.state_root()
    with Store.open(str(tmp_path / "restored"), chain.genesis) as restored:
        assert restored.governance() == chain.store.governance()
        assert restored.recompute_state_root() == info.state_root
        assert audit_store(restored) == []
        with restored.snapshot() as snap:
            kept = [int.from_bytes(k[1:], "big") for k, _ in snap.iterator(prefix=P_HANDOFF)]
        assert kept == [JOINS_AT + 1, ROTATES_AT + 1]
        # It holds no block below the snapshot's, yet serves a snapshot that restores: the
        # hand-offs it kept travel on.
        again = tmp_path / "again.snap"
        write_snapshot(restored, str(again))
    assert _handoffs(again.read_bytes()) == _handoffs(data)
    restore_snapshot(snapshot_file_chunks(str(again)), str(tmp_path / "restored-again"), chain.genesis)


def _forged(data: bytes, change) -> bytes:
    """The snapshot with its hand-off list changed (and the end record resealed honestly)."""
    def edit(kind: bytes, payload: bytes) -> bytes:
        if kind != b"F":
            return payload
        docs = json.loads(payload)
        change(docs)
        return json.dumps(docs).encode()

    return _reseal(data, edit)


@pytest.mark.parametrize(
    ("name", "change", "message"),
    [
        ("a power raised in the set handed on",
         lambda docs: docs[1]["next_validators"][0].__setitem__(1, 99),
         r"hand-off #1 \(block 6\): next_validators is not the set its header commits to"),
        ("a key swapped in the set handed on",
         lambda docs: docs[0]["next_validators"][0].__setitem__(0, key(77).public.hex()),
         r"hand-off #0 \(block 3\): next_validators is not the set its header commits to"),
        ("a certificate of another block",
         lambda docs: docs[1].__setitem__("commit", docs[0]["commit"]),
         r"hand-off #1 \(block 6\): the commit certificate does not verify against the set before it"),
        ("the second hand-off left out", lambda docs: docs.pop(),
         r"snapshot block 8 names a validator set other than the validator set its 1 hand-off\(s\) lead to"),
        ("every hand-off left out", lambda docs: docs.clear(),
         r"snapshot block 8 names a validator set other than the genesis validators"),
    ],
)
def test_a_tampered_handoff_is_refused_by_name(
    chain: Chain, tmp_path: Path, name: str, change, message: str
) -> None:
    forged = _forged(_snapshot(chain, tmp_path).read_bytes(), change)
    with pytest.raises(LedgerError, match=message) as refused:
        restore_snapshot([forged], str(tmp_path / "restored"), chain.genesis)
    assert refused.value.code == Code.INVALID_BLOCK, name
    assert not (tmp_path / "restored").exists()
    assert not (tmp_path / "restored.restoring").exists()


def test_a_pruned_store_keeps_the_handoffs_and_serves_a_snapshot_that_restores(
    chain: Chain, tmp_path: Path
) -> None:
    chain.store.close()
    pruned = Store.open(str(tmp_path / "source"), chain.genesis, retain_blocks=2)
    chain.store = pruned
    chain.commit([])  # prunes the bodies below the last two, the hand-offs' included
    assert pruned.base_height == TIP and pruned.get_block(height=ROTATES_AT + 1) is None
    path = _snapshot(chain, tmp_path)
    assert [d["height"] for d in _handoffs(path.read_bytes())] == [JOINS_AT + 1, ROTATES_AT + 1]
    restore_snapshot(snapshot_file_chunks(str(path)), str(tmp_path / "restored"), chain.genesis)


def test_a_store_missing_a_handoff_refuses_to_serve_a_snapshot(chain: Chain, tmp_path: Path) -> None:
    """A store that lost a hand-off (its body deleted, no document kept: an older node's
    pruning) says why it cannot serve a snapshot, instead of serving one nobody can restore."""
    import plyvel

    from node.ledger.store import P_BLOCK

    chain.store.close()
    db = plyvel.DB(str(tmp_path / "source"))
    db.delete(P_BLOCK + (JOINS_AT + 1).to_bytes(8, "big"))
    db.close()
    chain.store = Store.open(str(tmp_path / "source"), chain.genesis)
    with pytest.raises(LedgerError, match=r"no longer holds block 3, which hands the chain to the validator"):
        write_snapshot(chain.store, str(tmp_path / "state.snap"))


def test_a_handoff_record_that_is_not_json_is_malformed(chain: Chain, tmp_path: Path) -> None:
    data = _snapshot(chain, tmp_path).read_bytes()
    for garbage in (b"not json", b"[" * 100_000):
        forged = _reseal(data, lambda kind, payload, garbage=garbage: garbage if kind == b"F" else payload)
        with pytest.raises(LedgerError, match="the hand-off record is not JSON") as refused:
            restore_snapshot([forged], str(tmp_path / "restored"), chain.genesis)
        assert refused.value.code == Code.MALFORMED
        assert not (tmp_path / "restored").exists()
