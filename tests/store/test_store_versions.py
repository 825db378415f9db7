"""The store's schema version and pruning, on real LevelDB stores: a store of the previous
format is refused until `migrate_store` upgrades it, a newer one is refused outright, and a
pruning store keeps exactly the window of block bodies it is asked to."""

from __future__ import annotations

from pathlib import Path

import nacl.signing
import plyvel
import pytest

from node.bench.ledger import VALIDATOR_SEED, build_workload
from node.bench.sync import _certify
from node.ledger.keys import KeyPair
from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks, write_snapshot
from node.ledger.store import K_BASE, K_SCHEMA, P_TX, SCHEMA_VERSION, Store, StoreVersionError
from node.ledger.store_audit import audit_store
from node.ledger.store_migrate import MigrationError, migrate_store, store_version

KEY = nacl.signing.SigningKey(KeyPair.from_seed(VALIDATOR_SEED).seed)


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory):
    return build_workload(str(tmp_path_factory.mktemp("versions")), 60, 8, 10)


def _blocks(work) -> list[bytes]:
    return [*work.setup_blocks, *work.blocks]


def _version_1_store(path: Path, work) -> None:
    """A store in the version-1 layout: the current rows minus the base height, version 1."""
    with Store.open(str(path), work.genesis) as store:
        _certify(store, work.genesis, _blocks(work), KEY)
    db = plyvel.DB(str(path))
    db.delete(K_BASE)
    db.put(K_SCHEMA, (1).to_bytes(4, "big"))
    db.close()


def test_a_version_1_store_is_refused_until_migrated_then_reads_as_before(tmp_path: Path, work) -> None:
    path = tmp_path / "ledger"
    _version_1_store(path, work)
    with pytest.raises(StoreVersionError) as refused:
        Store.open(str(path), work.genesis)
    assert refused.value.code == "store_outdated" and "cbdc node migrate" in refused.value.message
    assert store_version(str(path)) == 1

    done = migrate_store(str(path))
    assert (done.from_version, done.to_version, done.changed) == (1, SCHEMA_VERSION, True)
    with Store.open(str(path), work.genesis) as store:
        assert store.height == len(_blocks(work))
        assert store.base_height == 1
        assert all(store.get_block(height=h) is not None for h in range(1, store.height + 1))
        assert audit_store(store) == []
        fingerprint = store.fingerprint()
    again = migrate_store(str(path))
    assert not again.changed
    with Store.open(str(path), work.genesis) as store:
        assert store.fingerprint() == fingerprint


def test_a_store_from_a_newer_node_is_refused_and_left_alone(tmp_path: Path, work) -> None:
    path = tmp_path / "ledger"
    Store.open(str(path), work.genesis).close()
    db = plyvel.DB(str(path))
    db.put(K_SCHEMA, (SCHEMA_VERSION + 1).to_bytes(4, "big"))
    db.close()
    with pytest.raises(StoreVersionError) as refused:
        Store.open(str(path), work.genesis)
    assert refused.value.code == "store_too_new"
    assert "newer node" in refused.value.message
    with pytest.raises(StoreVersionError):
        migrate_store(str(path))
    assert store_version(str(path)) == SCHEMA_VERSION + 1


def test_migrate_refuses_a_directory_that_is_not_a_store(tmp_path: Path) -> None:
    with pytest.raises(MigrationError, match="cannot open"):
        migrate_store(str(tmp_path / "nothing"))
    plyvel.DB(str(tmp_path / "empty"), create_if_missing=True).close()
    with pytest.raises(MigrationError, match="not a ledger store"):
        migrate_store(str(tmp_path / "empty"))


def test_a_pruning_store_keeps_the_last_blocks_and_every_index(tmp_path: Path, work) -> None:
    blocks = _blocks(work)
    assert len(blocks) >= 6
    with Store.open(str(tmp_path / "archive"), work.genesis) as archive:
        _certify(archive, work.genesis, blocks, KEY)
        archive_fingerprint_rows = {k: v for k, v in archive.snapshot().iterator(prefix=P_TX)}
    with Store.open(str(tmp_path / "pruned"), work.genesis, retain_blocks=3) as store:
        _certify(store, work.genesis, blocks, KEY)
        tip = store.height
        assert store.base_height == tip - 2
        held = [h for h in range(1, tip + 1) if store.get_block(height=h) is not None]
        assert held == [tip - 2, tip - 1, tip]
        assert store.is_pruned(1) and not store.is_pruned(tip) and not store.is_pruned(tip + 1)
        with store.snapshot() as snap:
            assert {k: v for k, v in snap.iterator(prefix=P_TX)} == archive_fingerprint_rows
        old = next(k[1:] for k, v in archive_fingerprint_rows.items() if int.from_bytes(v[:8], "big") == 1)
        assert store.tx_location(old)[0] == 1 and store.get_tx(old) is None
        assert audit_store(store) == []
        # A pruned store still makes a snapshot a new node can start from.
        write_snapshot(store, str(tmp_path / "snap"))
    chunks = snapshot_file_chunks(str(tmp_path / "snap"))
    info = restore_snapshot(chunks, str(tmp_path / "restored"), work.genesis)
    assert info.height == tip
    # Reopened with pruning off, the base stays where it was (bodies do not come back).
    with Store.open(str(tmp_path / "pruned"), work.genesis) as store:
        assert store.base_height == tip - 2
