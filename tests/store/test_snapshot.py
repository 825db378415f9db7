"""State snapshots (node.ledger.snapshot) on real LevelDB stores with real certificates:
a restored store equals its source and syncs forward; a snapshot that is altered, of
another chain, uncertified or incomplete is refused and leaves no store behind."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import nacl.signing
import pytest

from node.bench.ledger import VALIDATOR_SEED, build_workload
from node.bench.sync import _certify
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.snapshot import (
    MAGIC,
    SnapshotSource,
    read_snapshot_info,
    restore_snapshot,
    snapshot_file_chunks,
    write_snapshot,
)
from node.ledger.store import P_TX, P_UTXO, Store
from node.ledger.store_audit import audit_store

KEY = nacl.signing.SigningKey(KeyPair.from_seed(VALIDATOR_SEED).seed)


@dataclass
class Chain:
    genesis: Genesis
    blocks: list[bytes]  # Block bytes, height 1 first
    workdir: Path


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> Chain:
    workdir = tmp_path_factory.mktemp("snapchain")
    work = build_workload(str(workdir), 60, 8, 15)
    return Chain(work.genesis, [*work.setup_blocks, *work.blocks], workdir)


def _served(path: Path, chain: Chain, upto: int, retain_blocks: int = 0) -> Store:
    """A store holding blocks 1..upto of the chain, each with a real certificate."""
    store = Store.open(str(path), chain.genesis, retain_blocks=retain_blocks)
    _certify(store, chain.genesis, chain.blocks[:upto], KEY)
    return store


def _rows(store: Store, prefix: bytes) -> list[tuple[bytes, bytes]]:
    with store.snapshot() as snap:
        return list(snap.iterator(prefix=prefix))


def _records(data: bytes) -> Iterator[tuple[bytes, bytes]]:
    p = 12
    while p < len(data):
        kind, length = data[p : p + 1], int.from_bytes(data[p + 1 : p + 5], "big")
        yield kind, data[p + 5 : p + 5 + length]
        p += 5 + length


def _reseal(data: bytes, change) -> bytes:
    """The snapshot with `change(kind, payload) -> payload | None` applied to each record and
    an end record that counts and hashes the result honestly: what a forger would send."""
    out = bytearray(data[:12])
    rows = 0
    for kind, payload in _records(data):
        if kind == b"Z":
            break
        payload = change(kind, payload)
        if payload is None:
            continue
        out += kind + len(payload).to_bytes(4, "big") + payload
        if kind == b"R":
            rows += _count_rows(payload)
    digest = hashlib.sha256(bytes(out)).digest()
    return bytes(out) + b"Z" + (40).to_bytes(4, "big") + rows.to_bytes(8, "big") + digest


def _count_rows(payload: bytes) -> int:
    p = n = 0
    while p < len(payload):
        q = p + 1 + payload[p]
        p = q + 4 + int.from_bytes(payload[q : q + 4], "big")
        n += 1
    return n


def _drop_first_row_with(prefix: bytes):
    def change(kind: bytes, payload: bytes) -> bytes:
        if kind != b"R":
            return payload
        p = 0
        while p < len(payload):
            q = p + 1 + payload[p]
            end = q + 4 + int.from_bytes(payload[q : q + 4], "big")
            if payload[p + 1 : p + 2] == prefix:
                return payload[:p] + payload[end:]
            p = end
        return payload

    return change


@pytest.fixture
def snapshot_file(tmp_path: Path, chain: Chain) -> tuple[Path, int]:
    height = len(chain.blocks) - 2
    with _served(tmp_path / "source", chain, height) as store:
        write_snapshot(store, str(tmp_path / "state.snap"))
    return tmp_path / "state.snap", height


def test_a_restored_store_holds_the_source_state_and_syncs_forward(tmp_path: Path, chain: Chain) -> None:
    height = len(chain.blocks) - 2
    source = _served(tmp_path / "source", chain, height)
    info = write_snapshot(source, str(tmp_path / "state.snap"))
    assert (info.height, info.state_root) == (height, source.tip().state_root)

    restored_info = restore_snapshot(snapshot_file_chunks(str(tmp_path / "state.snap")),
                                     str(tmp_path / "restored"), chain.genesis)
    assert restored_info.rows == info.rows > 0
    with Store.open(str(tmp_path / "restored"), chain.genesis) as restored:
        assert restored.tip() == source.tip()
        assert restored.recompute_state_root() == source.tip().state_root
        assert audit_store(restored) == []
        for prefix in (P_UTXO, P_TX):
            assert _rows(restored, prefix) == _rows(source, prefix)
        assert list(restored.wallets()) == list(source.wallets())
        assert restored.balance(chain.genesis.institutions[0].public_key) == source.balance(
            chain.genesis.institutions[0].public_key)
        # Only the snapshot's own block is held: older ones are "pruned", still indexed.
        assert restored.base_height == height
        assert restored.get_block(height=height) == source.get_block(height=height)
        assert restored.get_block(height=height - 1) is None and restored.is_pruned(height - 1)
        first_tx = _rows(source, P_TX)[0][0][1:]
        assert restored.tx_location(first_tx) == source.tx_location(first_tx)
        # ... and it follows the chain from there exactly as the source does.
        _certify(restored, chain.genesis, chain.blocks[height:], KEY)
        _certify(source, chain.genesis, chain.blocks[height:], KEY)
        assert restored.tip() == source.tip()
        assert audit_store(restored) == []
    source.close()


def test_a_snapshot_is_the_state_when_it_was_taken_while_blocks_keep_committing(
    tmp_path: Path, chain: Chain
) -> None:
    height = len(chain.blocks) - 2
    with _served(tmp_path / "source", chain, height) as store:
        taken_root = store.tip().state_root
        with SnapshotSource(store) as source:
            _certify(store, chain.genesis, chain.blocks[height:], KEY)  # the node goes on
            assert store.height == len(chain.blocks)
            data = b"".join(source.chunks(chunk_bytes=512))
    info = restore_snapshot([data], str(tmp_path / "restored"), chain.genesis)
    assert (info.height, info.state_root) == (height, taken_root)


def test_snapshot_info_reads_the_header_only(snapshot_file: tuple[Path, int]) -> None:
    path, height = snapshot_file
    info = read_snapshot_info(snapshot_file_chunks(str(path)))
    assert info.height == height and info.chain_id == "cbdc-bench"


@pytest.mark.parametrize(
    ("name", "change", "code"),
    [
        ("a UTXO row left out", _drop_first_row_with(P_UTXO), Code.INVALID_BLOCK),
        ("a UTXO amount raised", lambda k, p: p if k != b"R" else _raise_first_amount(p),
         Code.INVALID_BLOCK),
        ("the certificate stripped", lambda k, p: p if k != b"M" else _strip_certificate(p),
         Code.INVALID_BLOCK),
        ("a foreign row added",
         lambda k, p: p if k != b"R" else b"\x02Zz" + (1).to_bytes(4, "big") + b"x" + p, Code.MALFORMED),
    ],
)
def test_a_forged_snapshot_is_refused_and_leaves_no_store(
    tmp_path: Path, chain: Chain, snapshot_file: tuple[Path, int], name: str, change, code: Code
) -> None:
    forged = _reseal(snapshot_file[0].read_bytes(), change)
    with pytest.raises(LedgerError) as refused:
        restore_snapshot([forged], str(tmp_path / "restored"), chain.genesis)
    assert refused.value.code == code, name
    assert not (tmp_path / "restored").exists()
    assert not (tmp_path / "restored.restoring").exists()


def _raise_first_amount(payload: bytes) -> bytes:
    p = 0
    while p < len(payload):
        klen = payload[p]
        q = p + 1 + klen
        vlen = int.from_bytes(payload[q : q + 4], "big")
        if payload[p + 1 : p + 2] == P_UTXO:
            value = payload[q + 4 : q + 4 + vlen]
            amount = int.from_bytes(value[32:], "big") + 1
            return payload[: q + 4] + value[:32] + amount.to_bytes(8, "big") + payload[q + 4 + vlen :]
        p = q + 4 + vlen
    raise AssertionError("no UTXO row")


def _strip_certificate(meta: bytes) -> bytes:
    from proto import ledger_pb2

    blen = int.from_bytes(meta[:2], "big")
    head, raw = meta[: 42 + blen], meta[42 + blen :]
    committed = ledger_pb2.CommittedBlock.FromString(raw)
    committed.commit = b""
    return head + committed.SerializeToString()


def test_a_damaged_or_truncated_snapshot_is_malformed(
    tmp_path: Path, chain: Chain, snapshot_file: tuple[Path, int]
) -> None:
    data = snapshot_file[0].read_bytes()
    flipped = bytearray(data)
    flipped[len(data) // 2] ^= 0x01
    for bad in (data[: len(data) - 10], bytes(flipped), b"not a snapshot at all", data + b"\x00"):
        with pytest.raises(LedgerError) as refused:
            restore_snapshot([bad], str(tmp_path / "restored"), chain.genesis)
        assert refused.value.code in (Code.MALFORMED, Code.INVALID_BLOCK)
        assert not (tmp_path / "restored").exists()
    assert data.startswith(MAGIC)


def test_a_snapshot_of_another_chain_is_refused(
    tmp_path: Path, chain: Chain, snapshot_file: tuple[Path, int]
) -> None:
    other = make_genesis(
        issuers=[KeyPair.from_seed(b"\x01" * 32)], institutions=[KeyPair.from_seed(b"\x02" * 32)],
        validators=[KeyPair.from_seed(VALIDATOR_SEED)], issue_threshold=1, chain_id="cbdc-other",
        genesis_time_ms=chain.genesis.genesis_time_ms,
    )
    with pytest.raises(LedgerError) as refused:
        restore_snapshot(snapshot_file_chunks(str(snapshot_file[0])), str(tmp_path / "restored"), other)
    assert refused.value.code == Code.WRONG_CHAIN


def test_restore_refuses_an_existing_directory(
    tmp_path: Path, chain: Chain, snapshot_file: tuple[Path, int]
) -> None:
    (tmp_path / "restored").mkdir()
    (tmp_path / "restored" / "keep").write_text("x")
    with pytest.raises(FileExistsError):
        restore_snapshot(
            snapshot_file_chunks(str(snapshot_file[0])), str(tmp_path / "restored"), chain.genesis
        )
    assert (tmp_path / "restored" / "keep").read_text() == "x"
