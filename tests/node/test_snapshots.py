"""Snapshots, state sync, pruning and store upgrades with real node processes.

One devnet of four validators, the first of which prunes. In order: a snapshot is taken
from a running (pruning) node while the chain goes on; a validator whose ledger is gone is
restored from it and syncs forward to the others' chain; the same validator, emptied again,
state-syncs from its peers on its own; a validator whose store is in the previous format
is refused until `cbdc node migrate` upgrades it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import plyvel
import pytest

from devnet.network import client_for
from devnet.processes import NodeRecord, is_running, spawn, stop
from devnet.traffic import prepare_load
from node.client.connection import Rejected
from node.ledger.store import K_BASE, K_SCHEMA
from proto import node_pb2
from tests.cli.helpers import assert_error, ok, ok_json, run
from tests.support.network import Net, reconfigure, start_net, stop_net

RETAIN = 16


def _config(i: int) -> dict:
    changes = {"consensus": {"create_empty_blocks": True, "timeout_commit_ms": 100}}
    if i == 0:
        changes["storage"] = {"retain_blocks": RETAIN}
    return changes


# The CLI reaches --node as the devnet of the module's `net` says (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_devnet_dir")


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory):
    # TLS: the CLI's snapshot is an auditor's signed read over TLS, state sync a peer's over
    # mutual TLS.
    net = start_net(tmp_path_factory.mktemp("snapnet"), config=_config, tls=True)
    yield net
    stop_net(net)



@pytest.fixture(scope="module")
def committed_early(net: Net) -> list[bytes]:
    """Transfers committed before any snapshot (with wallets registered and funded)."""
    with net.client(0, timeout=30) as client:
        transfers = prepare_load(client, net.keys, transactions=4, wallets_per_institution=1)
        txids = [client.submit(raw) for raw in transfers[:2]]
        for txid in txids:
            assert client.wait(txid, 30).status == node_pb2.TX_STATUS_COMMITTED
    return txids


def _wipe_ledger(node: NodeRecord) -> None:
    """What a lost disk leaves of a validator: its keys, config and sign-state (the file
    that keeps it from signing twice); no ledger, no consensus WAL."""
    data = Path(node.home) / "data"
    shutil.rmtree(data / "ledger")
    (data / "consensus.wal").unlink(missing_ok=True)
    assert (data / "sign_state.bin").exists()


def _status(node: NodeRecord) -> node_pb2.NodeStatus:
    with client_for(node, timeout=10) as client:
        return client.status()


def _same_blocks(a: NodeRecord, b: NodeRecord, heights: range) -> None:
    with client_for(a, timeout=30) as ca, client_for(b, timeout=30) as cb:
        for height in heights:
            assert ca.block(height).block_hash == cb.block(height).block_hash, f"height {height} differs"


def _pruned_code(node: NodeRecord, height: int) -> str:
    with client_for(node, timeout=10) as client, pytest.raises(Rejected) as refused:
        client.block(height)
    return refused.value.code


def test_a_snapshot_of_a_running_pruning_node_restores_a_lost_validator_that_syncs_on(
    net: Net, committed_early: list[bytes], tmp_path: Path
) -> None:
    source, lost = net.nodes[0], net.nodes[3]
    net.wait_height(RETAIN + 8)
    # The pruning node holds only its window, and says so.
    status = _status(source)
    assert status.base_height > 1 and status.height - status.base_height + 1 <= RETAIN + 1
    assert _pruned_code(source, 1) == "pruned"
    assert int(ok_json("chain", "status", "--node", source.api)["base_height"]) > 1  # 64-bit: a JSON string

    stop([lost])
    _wipe_ledger(lost)
    snap = tmp_path / "state.snap"
    taken = ok_json("node", "snapshot", "create", "--node", source.api, "--out", str(snap))
    assert taken["height"] >= RETAIN + 8 and snap.is_file()
    assert ok_json("node", "snapshot", "info", str(snap))["state_root"] == taken["state_root"]
    net.wait_height(taken["height"] + 3, net.nodes[:3])  # the chain goes on without it

    restored = ok_json("node", "snapshot", "restore", "--home", lost.home, "--file", str(snap))
    assert (restored["height"], restored["state_root"]) == (taken["height"], taken["state_root"])
    again = run("node", "snapshot", "restore", "--home", lost.home, "--file", str(snap))
    assert_error(again, 2, "already holds a ledger")

    spawn(lost)
    target = net.top(net.nodes[:3]) + 2
    net.wait_height(target, [lost], timeout=60)
    status = _status(lost)
    assert status.base_height == taken["height"]
    _same_blocks(net.nodes[1], lost, range(taken["height"], target + 1))  # an archive node
    assert _pruned_code(lost, taken["height"] - 1) == "pruned"
    # Its transaction index came with the snapshot: what was committed before is known
    # (and a replay of it would be refused as a duplicate).
    with client_for(lost, timeout=10) as client:
        for txid in committed_early:
            outcome = client.wait(txid, 0)
            assert outcome.status == node_pb2.TX_STATUS_COMMITTED
            assert outcome.inclusion.height < taken["height"]


def test_an_empty_validator_with_state_sync_starts_from_a_peer_snapshot(net: Net) -> None:
    node = net.nodes[3]
    stop([node])
    _wipe_ledger(node)
    reconfigure(Path(node.home), {"statesync": {"enable": True}})
    spawn(node)
    target = net.top(net.nodes[:3]) + 2
    net.wait_height(target, [node], timeout=60)
    log = node.log_path.read_text()
    assert "state sync: restored height" in log
    base = _status(node).base_height
    assert base > 1  # it did not replay from genesis
    _same_blocks(net.nodes[1], node, range(base, target + 1))


def test_a_store_of_the_previous_format_is_refused_until_migrated(net: Net) -> None:
    node = net.nodes[2]
    stop([node])
    ledger = Path(node.home) / "data" / "ledger"
    db = plyvel.DB(str(ledger))  # the version-1 layout: no base height
    db.delete(K_BASE)
    db.put(K_SCHEMA, (1).to_bytes(4, "big"))
    db.close()
    refused = run("node", "start", "--home", node.home)
    assert_error(refused, 1, "store_outdated", "cbdc node migrate", log_lines=True)
    assert ok("node", "migrate", "--home", node.home).stdout.strip().endswith("schema version 1 -> 2")
    assert "nothing to do" in ok("node", "migrate", "--home", node.home).stdout
    spawn(node)
    target = net.top([net.nodes[0], net.nodes[1]]) + 2
    net.wait_height(target, [node], timeout=60)
    assert _status(node).base_height == 1
    assert is_running(node)


def test_a_store_of_a_newer_format_is_refused(net: Net) -> None:
    node = net.nodes[2]
    stop([node])
    ledger = Path(node.home) / "data" / "ledger"
    db = plyvel.DB(str(ledger))
    db.put(K_SCHEMA, (99).to_bytes(4, "big"))
    db.close()
    assert_error(run("node", "start", "--home", node.home), 1, "store_too_new", "newer node", log_lines=True)
    assert_error(run("node", "migrate", "--home", node.home), 1, "store_too_new")
