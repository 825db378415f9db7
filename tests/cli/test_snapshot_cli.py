"""`cbdc node snapshot create|restore|info` and `cbdc node migrate` on stopped homes: what
they do, and their one-line refusals (exit 2 for usage, 1 for a snapshot the chain refuses)."""

from __future__ import annotations

import json
from pathlib import Path

import nacl.signing
import pytest

from node.bench.ledger import VALIDATOR_SEED, build_workload
from node.bench.sync import _certify
from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair
from node.ledger.store import Store
from tests.cli.helpers import assert_error, free_port, ok, ok_json, run


def _home(path: Path, genesis) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    genesis_file = path.parent / f"{path.name}-genesis.json"
    genesis_file.write_text(json.dumps(genesis.to_dict()))
    ok("node", "init", "--home", str(path), "--genesis", str(genesis_file))
    return path


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory):
    """A stopped node's home holding a few certified blocks."""
    work_dir = tmp_path_factory.mktemp("clisnap")
    work = build_workload(str(work_dir), 30, 4, 10)
    home = _home(work_dir / "source", work.genesis)
    (home / "data").mkdir()
    with Store.open(str(home / "data" / "ledger"), work.genesis) as store:
        key = nacl.signing.SigningKey(KeyPair.from_seed(VALIDATOR_SEED).seed)
        _certify(store, work.genesis, [*work.setup_blocks, *work.blocks], key)
        height = store.height
    return work, home, height


def test_create_from_a_stopped_home_then_restore_into_a_new_one(tmp_path: Path, source) -> None:
    work, home, height = source
    snap = tmp_path / "s.snap"
    made = ok_json("node", "snapshot", "create", "--home", str(home), "--out", str(snap))
    assert made["height"] == height and made["rows"] > 0
    assert ok_json("node", "snapshot", "info", str(snap)) == {k: v for k, v in made.items() if k != "source"}
    again = run("node", "snapshot", "create", "--home", str(home), "--out", str(snap))
    assert_error(again, 2, "already exists")

    fresh = _home(tmp_path / "fresh", work.genesis)
    restored = ok_json("node", "snapshot", "restore", "--home", str(fresh), "--file", str(snap))
    assert (restored["height"], restored["state_root"]) == (height, made["state_root"])
    assert f"--home {fresh}" in restored["next"]
    with Store.open(str(fresh / "data" / "ledger"), work.genesis) as store:
        assert store.height == height and store.base_height == height
    assert "already at schema version" in ok("node", "migrate", "--home", str(fresh)).stdout


def test_refusals(tmp_path: Path, source) -> None:
    work, home, _ = source
    snap = tmp_path / "s.snap"
    ok("node", "snapshot", "create", "--home", str(home), "--out", str(snap))
    other = make_genesis(
        issuers=[KeyPair.from_seed(b"\x01" * 32)], institutions=[KeyPair.from_seed(b"\x02" * 32)],
        validators=[KeyPair.from_seed(VALIDATOR_SEED)], issue_threshold=1, chain_id="cbdc-other",
        genesis_time_ms=work.genesis.genesis_time_ms,
    )
    foreign = _home(tmp_path / "foreign", other)
    assert_error(run("node", "snapshot", "restore", "--home", str(foreign), "--file", str(snap)),
                 1, "snapshot refused", "wrong_chain")
    assert not (foreign / "data" / "ledger").exists()
    assert_error(run("node", "snapshot", "restore", "--home", str(foreign)), 2, "exactly one of")
    garbage = tmp_path / "garbage.snap"
    garbage.write_bytes(b"not a snapshot")
    assert_error(run("node", "snapshot", "info", str(garbage)), 2, "malformed")
    assert_error(run("node", "migrate", "--home", str(foreign)), 2, "holds no ledger")
    # A store in use (a running node holds LevelDB's lock) is not read behind its back.
    with Store.open(str(home / "data" / "ledger"), work.genesis):
        busy = run("node", "snapshot", "create", "--home", str(home), "--out", str(tmp_path / "b.snap"))
    assert_error(busy, 2, "for a running node use --node")
    assert not (tmp_path / "b.snap").exists()


def test_a_node_that_does_not_answer_is_unreachable(tmp_path: Path) -> None:
    dead = f"127.0.0.1:{free_port()}"
    out = tmp_path / "s.snap"
    assert_error(run("node", "snapshot", "create", "--node", dead, "--out", str(out)), 3, dead, "unreachable")
    assert not out.exists() and not (tmp_path / "s.snap.partial").exists()
