"""Upgrading a store written by an older node to this node's schema version, in place.

Each step takes a store from version N to N+1 in ONE synced LevelDB batch that also writes
the new version number, so a crash leaves the store at N or at N+1, never between; running
`cbdc node migrate` again finishes the job. The node itself never migrates on its own: an
upgrade is the operator's decision, taken with the node stopped and a backup at hand.

History (node.ledger.store's docstring has the layouts):
    1 -> 2  adds the base height (b"R"): a version-1 store holds every block from height 1.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import plyvel

from node.ledger.store import K_BASE, K_SCHEMA, SCHEMA_VERSION, StoreVersionError, check_schema_version


class MigrationError(Exception):
    """The directory is not a store this node can migrate; the message says why."""


def _v1_to_v2(db: plyvel.DB, batch: plyvel.WriteBatch) -> None:
    batch.put(K_BASE, (1).to_bytes(8, "big"))


# version N -> the step that makes it N+1
_STEPS: dict[int, Callable[[plyvel.DB, plyvel.WriteBatch], None]] = {1: _v1_to_v2}


@dataclass(frozen=True, slots=True)
class Migration:
    """What `migrate_store` did: the version found and the version left (equal: nothing to do)."""

    path: str
    from_version: int
    to_version: int

    @property
    def changed(self) -> bool:
        return self.from_version != self.to_version


def store_version(path: str) -> int:
    """The schema version of the store at `path` (MigrationError when there is none)."""
    db = _open(path)
    try:
        return _version(db, path)
    finally:
        db.close()


def migrate_store(path: str) -> Migration:
    """Upgrade the store at `path` to SCHEMA_VERSION, one synced step per version. Refuses a
    store written by a newer node (StoreVersionError) and a directory that is no store."""
    db = _open(path)
    try:
        found = version = _version(db, path)
        if version > SCHEMA_VERSION:
            check_schema_version(version, path)  # raises store_too_new
        while version < SCHEMA_VERSION:
            with db.write_batch(sync=True, transaction=True) as batch:
                _STEPS[version](db, batch)
                batch.put(K_SCHEMA, (version + 1).to_bytes(4, "big"))
            version += 1
        return Migration(path, found, version)
    finally:
        db.close()


def _open(path: str) -> plyvel.DB:
    try:
        return plyvel.DB(path, create_if_missing=False)
    except plyvel.Error as err:
        raise MigrationError(f"cannot open the store at {path}: {err}") from None


def _version(db: plyvel.DB, path: str) -> int:
    raw = db.get(K_SCHEMA)
    if raw is None:
        raise MigrationError(f"{path} holds no schema version: it is not a ledger store")
    return int.from_bytes(raw, "big")


__all__ = ["Migration", "MigrationError", "StoreVersionError", "migrate_store", "store_version"]
