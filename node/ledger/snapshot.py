"""State snapshots: the ledger state at one committed height, as one verifiable byte stream.

A snapshot is read from a LevelDB snapshot of a store (consistent while the node keeps
committing: no `cp -r` of a live directory) and restored into an EMPTY store directory of a
new node, which then syncs forward from the snapshot's height like any node that is behind.
The anchors are CometBFT's state sync and Bitcoin Core's dumptxoutset/loadtxoutset.

What makes it trustworthy without trusting its source (only the genesis is trusted):
- it carries the committed block at its height with the block's commit certificate, and the
  hand-offs (node.ledger.handoffs) from the genesis validator set to the set deciding that
  block: each certified by the set before it and committing to the set after it, as an
  auditor's proof carries them. The restorer walks them from genesis.json (a tampered one is
  refused by name), checks that the block's header names the set they lead to, and that the
  certificate carries > 2/3 of that set's power (transition.check_certificate): the header,
  and the state root in it, are the chain's;
- the restorer recomputes the state root from the rows it receives (MuHash3072 over the
  UTXO set and the wallet registry, the governance record with every validator set, and the
  supply) and refuses the snapshot unless it equals the certified header's.
The transaction index (replay protection of input-less transactions) and the index of
committed evidence are carried too, but the state root does not commit to them: a source
could leave rows out. Such a node would still follow the honest chain (honest blocks never
replay), but could admit or propose a replay the others refuse; take snapshots for
validators from a node you run, or check the node afterwards against an archive node.
The restored store keeps the hand-offs (it holds no block below the snapshot's), so the
snapshots it serves in turn carry them too.

Stream format (integers big-endian):

    b"CBDCSNAP" | format version 4
    record*:  kind 1 | payload length 4 | payload
      b"M" meta (first):  binding length 2 | binding (genesis hash 32 | chain_id UTF-8)
                          | height 8 | Supply.encode() 32 | CommittedBlock bytes (the rest)
      b"F" hand-offs (second): a JSON list of hand-off documents, oldest first (empty while
                          the genesis set decides)
      b"R" rows:          (key length 1 | key | value length 4 | value)*   keys strictly
                          ascending over the whole stream, each a store row (node.ledger.store)
                          of one of the prefixes E, K, Q, T, U, W
      b"Z" end (last):    rows 8 | SHA-256 of every byte before this record

The store's derived rows (per-address UTXO index, balances, the MuHash accumulator) are
recomputed on restore, never taken from the stream.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import plyvel

from node.ledger.blocks import CommittedBlock, decode_committed_block, encode_committed
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import Governance
from node.ledger.handoffs import HandoffError, encode_doc, follow_handoffs, keep_row, stored_handoffs
from node.ledger.muhash import MuHash3072
from node.ledger.state_root import record_element, state_root
from node.ledger.store import (
    K_BASE,
    K_CHAIN,
    K_GOVERNANCE,
    K_MUHASH,
    K_SCHEMA,
    K_SUPPLY,
    K_TIP,
    P_ADDR_UTXO,
    P_BALANCE,
    P_BLOCK,
    P_BLOCK_HASH,
    P_EVIDENCE,
    P_HANDOFF,
    P_RECORD,
    P_TX,
    P_UTXO,
    P_WALLET,
    SCHEMA_VERSION,
    Store,
    Tip,
)
from node.ledger.transition import BadCertificate, check_certificate
from node.ledger.types import Supply, Wallet

MAGIC = b"CBDCSNAP"
FORMAT_VERSION = 2  # 2: the b"F" hand-off record
# Snapshot rows by prefix: the exact key length (None: keyed records, up to _MAX_RECORD_KEY)
# and, for fixed-size rows, the value length.
_ROW_SHAPES: dict[bytes, tuple[int | None, int | None]] = {
    P_EVIDENCE: (1 + 32 + 8, 8),
    P_RECORD: (None, None),
    K_GOVERNANCE: (1, None),  # the governance record, one row (node.ledger.governance)
    P_TX: (1 + 32, 12),
    P_UTXO: (1 + 36, 40),
    P_WALLET: (1 + 32, None),
}
_SNAPSHOT_PREFIXES = tuple(sorted(_ROW_SHAPES))  # E, K, Q, T, U, W: the stream is in key order
_MAX_RECORD_KEY = 1 + 256
_MAX_RECORD_VALUE = 64 << 10
# Bytes of rows per "R" record; also what one gRPC message carries (well under its cap).
CHUNK_BYTES = 1 << 20
_MAX_RECORD = 64 << 20  # a meta record holds one block (at most a few MB); anything larger is garbage
_MAX_WALLET_BYTES = 69 + 255 + 24
_WRITE_BATCH_ROWS = 20_000
RESTORING_SUFFIX = ".restoring"


@dataclass(frozen=True, slots=True)
class SnapshotInfo:
    """Which state a snapshot holds."""

    chain_id: str
    height: int
    block_hash: bytes
    state_root: bytes
    time_ms: int
    rows: int = 0


def _record(kind: bytes, payload: bytes) -> bytes:
    return kind + len(payload).to_bytes(4, "big") + payload


class SnapshotSource:
    """A consistent view of a store's state at its tip, to stream as a snapshot.

    Created from a LevelDB snapshot: later commits do not change what it streams. Use as a
    context manager (or call close) so the LevelDB snapshot is released.
    """

    def __init__(self, store: Store) -> None:
        self.rows = 0  # counted while streaming
        self._snap = store.snapshot()
        try:
            snap = self._snap
            tip = Tip.decode(snap.get(K_TIP))
            if tip.height == 0:
                raise LedgerError(
                    Code.INVALID_BLOCK, "nothing is committed yet: a snapshot needs at least one block"
                )
            self._block = snap.get(P_BLOCK + tip.height.to_bytes(8, "big"))
            self._binding = snap.get(K_CHAIN)
            self._supply = snap.get(K_SUPPLY)
            committed = decode_committed_block(self._block)
            gov_row = snap.get(K_GOVERNANCE)
            self._handoffs = stored_handoffs(
                None if gov_row is None else Governance.decode(gov_row), tip.height,
                lambda h: snap.get(P_BLOCK + h.to_bytes(8, "big")),
                lambda h: snap.get(P_HANDOFF + h.to_bytes(8, "big")),
            )
            self.info = SnapshotInfo(
                store.chain_id, tip.height, tip.block_hash, tip.state_root, tip.time_ms
            )
            if committed.block_hash != tip.block_hash:  # the store contradicts itself
                raise LedgerError(Code.INVALID_BLOCK, "the stored tip block is not the tip")
        except BaseException:
            self._snap.close()
            raise

    def __enter__(self) -> SnapshotSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._snap.close()

    def chunks(self, chunk_bytes: int = CHUNK_BYTES) -> Iterator[bytes]:
        """The snapshot stream, in pieces of about `chunk_bytes` (each whole records)."""
        digest = hashlib.sha256()

        def out(data: bytes) -> bytes:
            digest.update(data)
            return data

        meta = (
            len(self._binding).to_bytes(2, "big") + self._binding
            + self.info.height.to_bytes(8, "big") + self._supply + self._block
        )
        yield out(MAGIC + FORMAT_VERSION.to_bytes(4, "big") + _record(b"M", meta)
                  + _record(b"F", _encode_handoffs(self._handoffs)))
        rows = 0
        pending: list[bytes] = []
        size = 0
        for prefix in _SNAPSHOT_PREFIXES:
            for key, value in self._snap.iterator(prefix=prefix):
                pending.append(bytes([len(key)]) + key + len(value).to_bytes(4, "big") + value)
                size += len(key) + len(value) + 5
                rows += 1
                if size >= chunk_bytes:
                    yield out(_record(b"R", b"".join(pending)))
                    pending, size = [], 0
        if pending:
            yield out(_record(b"R", b"".join(pending)))
        self.rows = rows
        yield _record(b"Z", rows.to_bytes(8, "big") + digest.digest())


def _encode_handoffs(docs: list[dict[str, Any]]) -> bytes:
    return b"[" + b",".join(encode_doc(d) for d in docs) + b"]"


def write_snapshot(store: Store, path: str) -> SnapshotInfo:
    """Write a snapshot of `store`'s state at its tip to the file `path` (atomically: a
    temporary file renamed into place once complete and synced)."""
    tmp = path + ".partial"
    with SnapshotSource(store) as source, open(tmp, "wb") as f:
        for chunk in source.chunks():
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
        info, rows = source.info, source.rows
    os.replace(tmp, path)
    return SnapshotInfo(info.chain_id, info.height, info.block_hash, info.state_root, info.time_ms, rows)


def _file_chunks(path: str, size: int = CHUNK_BYTES) -> Iterator[bytes]:
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


def snapshot_file_chunks(path: str) -> Iterator[bytes]:
    """A snapshot file as the chunks restore_snapshot reads."""
    return _file_chunks(path)


class _Reader:
    """Exact reads from an iterable of byte chunks, hashing everything read."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = iter(chunks)
        self._buffer = bytearray()
        self._offset = 0
        self.digest = hashlib.sha256()

    def read(self, n: int, what: str) -> bytes:
        while len(self._buffer) - self._offset < n:
            try:
                chunk = next(self._chunks)
            except StopIteration:
                raise _malformed(f"the stream ends inside {what}; the snapshot is truncated") from None
            del self._buffer[: self._offset]
            self._offset = 0
            self._buffer += chunk
        data = bytes(self._buffer[self._offset : self._offset + n])
        self._offset += n
        return data

    def record(self, hashed: bool = True) -> tuple[bytes, bytes]:
        head = self.read(5, "a record header")
        length = int.from_bytes(head[1:], "big")
        if length > _MAX_RECORD:
            raise _malformed(f"a record of {length} bytes is larger than any snapshot writes")
        kind = head[:1]
        if kind == b"Z":
            hashed = False  # the end record carries the hash of what precedes it
        payload = self.read(length, f"a {kind!r} record")
        if hashed:
            self.digest.update(head + payload)
        return kind, payload

    def at_end(self) -> bool:
        if len(self._buffer) > self._offset:
            return False
        for chunk in self._chunks:
            if chunk:
                self._buffer = bytearray(chunk)
                self._offset = 0
                return False
        return True


def _malformed(message: str) -> LedgerError:
    return LedgerError(Code.MALFORMED, f"snapshot: {message}")


@dataclass(frozen=True, slots=True)
class _Meta:
    binding: bytes
    height: int
    supply_raw: bytes
    committed: CommittedBlock
    handoffs: list[Any]  # hand-off documents, unverified (node.ledger.handoffs)


def _read_head(reader: _Reader) -> _Meta:
    head = reader.read(12, "the file header")
    reader.digest.update(head)
    if head[:8] != MAGIC:
        raise _malformed("this is not a cbdc snapshot (wrong magic bytes)")
    version = int.from_bytes(head[8:], "big")
    if version != FORMAT_VERSION:
        raise _malformed(f"snapshot format {version} is not the one this node reads ({FORMAT_VERSION})")
    kind, meta = reader.record()
    if kind != b"M" or len(meta) < 2:
        raise _malformed("the first record is not the snapshot's meta record")
    blen = int.from_bytes(meta[:2], "big")
    if len(meta) < 2 + blen + 40 or blen < 32:
        raise _malformed("the meta record is too short")
    binding = meta[2 : 2 + blen]
    height = int.from_bytes(meta[2 + blen : 10 + blen], "big")
    supply_raw = meta[10 + blen : 42 + blen]
    committed = decode_committed_block(meta[42 + blen :])
    kind, payload = reader.record()
    if kind != b"F":
        raise _malformed("the second record is not the snapshot's hand-off record")
    try:
        handoffs = json.loads(payload)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than any hand-off
        raise _malformed("the hand-off record is not JSON") from None
    return _Meta(binding, height, supply_raw, committed, handoffs)


def _check_meta(meta: _Meta, genesis: Genesis) -> SnapshotInfo:
    """The snapshot is of this chain and its block is certified by the validator set its
    hand-offs lead to from the genesis set."""
    expected = genesis.hash() + genesis.chain_id.encode()
    if meta.binding != expected:
        chain = meta.binding[32:].decode(errors="replace")
        raise LedgerError(
            Code.WRONG_CHAIN,
            f"snapshot is of chain {chain!r} (genesis {meta.binding[:32].hex()[:16]}), this genesis is "
            f"{genesis.chain_id!r} ({genesis.hash().hex()[:16]}); use a snapshot of this network",
        )
    committed = meta.committed
    if committed.height != meta.height or meta.height < 1:
        raise LedgerError(
            Code.INVALID_BLOCK, f"snapshot claims height {meta.height} but carries block {committed.height}"
        )
    try:
        validators = follow_handoffs(meta.handoffs, genesis, meta.height)
    except HandoffError as err:
        raise LedgerError(Code.INVALID_BLOCK, f"snapshot: {err}") from None
    which = "the genesis validators" if not meta.handoffs else (
        f"the validator set its {len(meta.handoffs)} hand-off(s) lead to from genesis"
    )
    if committed.header.validators_hash != validators.hash():
        raise LedgerError(
            Code.INVALID_BLOCK,
            f"snapshot block {meta.height} names a validator set other than {which} (a validator-set "
            "change without its hand-off?)",
        )
    try:
        check_certificate(committed, validators, genesis.chain_id)
    except BadCertificate as err:
        raise LedgerError(
            Code.INVALID_BLOCK, f"snapshot block {meta.height} is not certified by {which}: {err.reason}",
        ) from None
    return SnapshotInfo(
        genesis.chain_id, meta.height, committed.block_hash, committed.header.state_root,
        committed.header.time_ms,
    )


def _rows(payload: bytes) -> Iterator[tuple[bytes, bytes]]:
    p, end = 0, len(payload)
    while p < end:
        klen = payload[p]
        key = payload[p + 1 : p + 1 + klen]
        q = p + 1 + klen
        if q + 4 > end:
            raise _malformed("a row runs past its record")
        vlen = int.from_bytes(payload[q : q + 4], "big")
        value = payload[q + 4 : q + 4 + vlen]
        if len(value) != vlen:
            raise _malformed("a row runs past its record")
        p = q + 4 + vlen
        yield key, value


def _check_row(key: bytes, value: bytes, previous: bytes) -> None:
    shape = _ROW_SHAPES.get(key[:1])
    if shape is None:
        raise _malformed(f"a row with prefix {key[:1]!r} is not snapshot state")
    key_len, value_len = shape
    if key_len is None:  # a keyed record (node.ledger.purposes): bounded, not fixed
        if not 1 < len(key) <= _MAX_RECORD_KEY or len(value) > _MAX_RECORD_VALUE:
            raise _malformed(f"a {key[:1].decode()} row has the wrong size")
    elif len(key) != key_len or (value_len is not None and len(value) != value_len):
        raise _malformed(f"a {key[:1].decode()} row has the wrong size")
    if key <= previous:
        raise _malformed("rows are not in strictly ascending key order (duplicated or reordered)")
    if key[:1] == P_WALLET:
        if not 69 <= len(value) <= _MAX_WALLET_BYTES or len(value) != 69 + value[68] + 24:
            raise _malformed("a wallet record has the wrong size")
        if Wallet.decode(value).address != key[1:]:
            raise _malformed("a wallet record is filed under another address")


def read_snapshot_info(chunks: Iterable[bytes]) -> SnapshotInfo:
    """What a snapshot says it holds, read WITHOUT verifying anything (for display)."""
    reader = _Reader(chunks)
    meta = _read_head(reader)
    rows = 0
    while True:
        kind, payload = reader.record()
        if kind == b"Z":
            rows = int.from_bytes(payload[:8], "big")
            break
    committed = meta.committed
    return SnapshotInfo(
        meta.binding[32:].decode(errors="replace"), meta.height, committed.block_hash,
        committed.header.state_root, committed.header.time_ms, rows,
    )


def restore_snapshot(chunks: Iterable[bytes], path: str, genesis: Genesis) -> SnapshotInfo:
    """Build a new store at `path` (which must not exist) from a snapshot stream, trusting
    only `genesis`: the certificate of the snapshot's block must verify against the genesis
    validators and the state root recomputed from the rows must equal its header's. The
    store is built beside `path` and renamed into place only once complete and synced, so
    a failure or crash leaves no store at `path`. Raises LedgerError (MALFORMED: not a
    complete snapshot; WRONG_CHAIN; INVALID_BLOCK: not certified or a state root mismatch).
    """
    if os.path.exists(path):
        raise FileExistsError(f"{path} already exists; restore only into an empty data directory")
    tmp = path + RESTORING_SUFFIX
    shutil.rmtree(tmp, ignore_errors=True)  # a restore that crashed earlier
    db = plyvel.DB(tmp, create_if_missing=True, error_if_exists=True)
    try:
        info = _restore_into(db, _Reader(chunks), genesis)
    except BaseException:
        db.close()
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    db.close()
    os.replace(tmp, path)
    return info


def _restore_into(db: Any, reader: _Reader, genesis: Genesis) -> SnapshotInfo:
    info = _check_meta(meta := _read_head(reader), genesis)
    accumulator = MuHash3072()
    previous = b""
    rows = 0
    batch = db.write_batch()
    pending = 0
    while True:
        kind, payload = reader.record()
        if kind == b"Z":
            break
        if kind != b"R":
            raise _malformed(f"unexpected record kind {kind!r}")
        elements: list[bytes] = []
        for key, value in _rows(payload):
            _check_row(key, value, previous)
            previous = key
            rows += 1
            prefix = key[:1]
            batch.put(key, value)
            if prefix == P_UTXO:
                elements.append(b"u" + key[1:] + value)
                batch.put(P_ADDR_UTXO + value[:32] + key[1:], value[32:])
            elif prefix == P_WALLET:
                elements.append(b"w" + value)
            elif prefix == P_RECORD:
                elements.append(record_element(key[1:], value))
            elif prefix == K_GOVERNANCE:
                elements.append(b"g" + value)  # as node.ledger.state_root counts it
            pending += 1
            if pending >= _WRITE_BATCH_ROWS:
                batch.write()
                batch, pending = db.write_batch(), 0
        accumulator.insert_many(elements)
    batch.write()
    if len(payload) != 40 or int.from_bytes(payload[:8], "big") != rows:
        raise _malformed(f"the end record does not count the {rows} rows received")
    if payload[8:] != reader.digest.digest():
        raise _malformed("the checksum does not match: the snapshot was altered or damaged")
    if not reader.at_end():
        raise _malformed("bytes follow the end record")
    supply = Supply.decode(meta.supply_raw)
    root = state_root(accumulator, supply)
    if root != info.state_root:
        raise LedgerError(
            Code.INVALID_BLOCK,
            f"the state root recomputed from the snapshot ({root.hex()[:16]}) differs from the one "
            f"certified in block {info.height} ({info.state_root.hex()[:16]}); the snapshot is not "
            "this chain's state",
        )
    total = _write_balances(db)
    if total != supply.outstanding:  # cannot happen once the root matched; checked anyway
        raise LedgerError(
            Code.INVALID_BLOCK, f"UTXOs sum to {total}, issued - redeemed is {supply.outstanding}"
        )
    committed = meta.committed
    height_bytes = info.height.to_bytes(8, "big")
    tip = Tip(info.height, info.block_hash, root, info.time_ms)
    with db.write_batch(sync=True) as final:
        final.put(P_BLOCK + height_bytes, encode_committed(committed.block_bytes, committed.certificate))
        final.put(P_BLOCK_HASH + info.block_hash, height_bytes)
        final.put(K_SUPPLY, meta.supply_raw)
        final.put(K_MUHASH, accumulator.to_bytes())
        final.put(K_TIP, tip.encode())
        final.put(K_BASE, height_bytes)  # no block body below the snapshot's
        final.put(K_CHAIN, meta.binding)
        for doc in meta.handoffs:  # verified: kept to hand on (this store holds no block below)
            height, row = keep_row(doc)
            final.put(P_HANDOFF + height.to_bytes(8, "big"), row)
        final.put(K_SCHEMA, SCHEMA_VERSION.to_bytes(4, "big"))  # last: a store only once complete
    return SnapshotInfo(info.chain_id, info.height, info.block_hash, root, info.time_ms, rows)


def _write_balances(db: Any) -> int:
    """Balance rows from the per-address UTXO index (sorted by owner, so one pass and no
    table in memory); returns the sum of every UTXO."""
    total = 0
    owner: bytes | None = None
    balance = 0
    with db.write_batch() as batch:
        for key, value in db.iterator(prefix=P_ADDR_UTXO):
            if key[1:33] != owner:
                if owner is not None:
                    batch.put(P_BALANCE + owner, balance.to_bytes(16, "big"))
                owner, balance = key[1:33], 0
            amount = int.from_bytes(value, "big")
            balance += amount
            total += amount
        if owner is not None:
            batch.put(P_BALANCE + owner, balance.to_bytes(16, "big"))
    return total
