"""A validator's consensus key rotated on four real validator processes under payment load.

The holder signs the rotation (old and new key); committed at H, the new key decides from
H+2 with the same power and name. The node keeps running with its old key: from H+2 its
precommits count for nothing (no certificate carries them) and the other three decide.
Then the node is restarted with its new key. Peers know each other by validator key
([[p2p.peers]], checked in the handshake), so every peer's entry for it changes too and
the peers restart one at a time. The rotated node syncs, votes with the new key, payments
commit again, every node holds the same block hashes and state roots, and `audit verify`
replays the chain from genesis, each certificate against the set of its height.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from consensus.validators import ValidatorSet
from devnet.network import CHAIN_ID
from devnet.processes import is_running, stop
from devnet.traffic import YUAN, Nonces, fund, issue_to_institutions, register_wallets
from node.audit import verify_node
from node.client import govbuild
from node.client.connection import NodeClient
from node.config import load_config
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.keys import KeyPair, save_key
from proto import node_pb2
from tests.node.test_governance_live import PaymentLoad
from tests.support.network import Net, assert_same_chain, reconfigure, start_net, stop_net
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = start_net(tmp_path_factory.mktemp("rotation"))
    yield net
    stop_net(net)


def _signers(client: NodeClient, height: int) -> set[bytes]:
    committed = decode_committed_block(client.block(height).committed_block)
    return set(Certificate.decode(committed.certificate).signers)


def _header(client: NodeClient, height: int):
    return decode_committed_block(client.block(height).committed_block).header


def test_a_rotated_validator_key_decides_from_h_plus_2_and_the_node_returns_with_it(net: Net) -> None:
    genesis = net.genesis()
    nonce = Nonces(31)
    clients = [net.client(i, timeout=30) for i in range(4)]
    keys = net.keys
    shenzhen = keys.institutions["shenzhen"]
    issued = issue_to_institutions(clients[1], keys, 1_000_000 * YUAN, nonce)
    a, b, c, d = register_wallets(clients[1], shenzhen, [1, 1, 1, 1], nonce)
    fund(clients[1], shenzhen, (issued["shenzhen"], 1_000_000 * YUAN),
         [(a, 1_000 * YUAN), (b, 1_000 * YUAN), (c, 1_000 * YUAN), (d, 1_000 * YUAN)], nonce)
    net.wait_height(clients[1].status().height)
    load = PaymentLoad(net.nodes[3].api, a, b)
    load.start()
    wait_for(lambda: load.more_than(1), 60, "payments committing")

    # The holder rotates node 0's key: the old and the new key sign.
    rotating = net.nodes[0]
    old = net.validator_key(rotating)
    new = KeyPair.generate()
    body = govbuild.rotate_validator_key_body(CHAIN_ID, [old.public], old.public, new.public,
                                              nonce=int.from_bytes(os.urandom(6), "big"))
    outcome = clients[1].submit_and_wait(govbuild.build(CHAIN_ID, body, [old, new]), timeout=30)
    assert outcome.status == node_pb2.TX_STATUS_COMMITTED, outcome
    h = outcome.inclusion.height

    before = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
    after = ValidatorSet([(new.public if v.public_key == old.public else v.public_key, v.power)
                          for v in genesis.validators])
    net.wait_height(h + 4)
    assert _header(clients[1], h + 1).validators_hash == before.hash()
    assert _header(clients[1], h + 1).next_validators_hash == after.hash()
    assert _header(clients[1], h + 2).validators_hash == after.hash()
    # Node 0 still runs and votes with the old key: from h+2 no certificate carries it.
    assert old.public in set().union(*(_signers(clients[1], k) for k in range(1, h + 2)))
    top = clients[1].status().height
    for k in range(h + 2, top + 1):
        assert old.public not in _signers(clients[1], k), f"block {k} counts a precommit of the old key"
    before_load = load.committed
    wait_for(lambda: load.more_than(before_load + 1), 60, "payments committing after the rotation decides")
    load.stop()

    # Restart node 0 with its new key; every peer's entry for it names the new key.
    stop([rotating])
    save_key(Path(rotating.home) / "validator.key", new, overwrite=True)
    for node in net.nodes:
        peers = load_config(Path(node.home)).p2p.peers
        renamed = tuple(replace(p, validator_key=new.public) if p.validator_key == old.public else p
                        for p in peers)
        reconfigure(Path(node.home), {"p2p": {"peers": renamed}})
    for node in net.nodes[1:]:  # one at a time: the other two and the returning one decide
        reached = clients[1].status().height if node is not net.nodes[1] else clients[2].status().height
        stop([node])
        wait_for(lambda node=node: not is_running(node), 30, f"{node.name} stopped")
        net.restart(node)
        if node is net.nodes[1]:
            net.restart(rotating)  # back with its new key once a peer knows it
        net.wait_height(reached + 2, [n for n in net.nodes if is_running(n)], timeout=90)

    restarted = NodeClient(rotating.api, timeout=30)
    wait_for(lambda: restarted.status().validator_key == new.public, 60, "node 0 running with its new key")
    start = clients[2].status().height

    def new_key_signs() -> bool:
        tip = clients[2].status().height
        return any(new.public in _signers(clients[2], k) for k in range(start, tip + 1))

    wait_for(new_key_signs, 90, "a certificate carrying a precommit of the new key")
    load = PaymentLoad(net.nodes[0].api, c, d)  # through the rotated node
    load.start()
    wait_for(lambda: load.more_than(2), 90, "payments committing through the rotated node")
    load.stop()

    top = clients[2].status().height
    net.wait_height(top)
    assert assert_same_chain(net) >= top
    report = verify_node(clients[2], genesis)
    assert report.ok, report.failure
    assert report.heights >= top
    for client in (*clients, restarted):
        client.close()


def test_an_emptied_validator_state_syncs_across_the_rotation(net: Net) -> None:
    """After the rotation a peer's snapshot carries its hand-off; a validator whose ledger
    is gone restores it, verified from genesis alone, and syncs on with the others."""
    node = net.nodes[3]
    with NodeClient(net.nodes[1].api, timeout=30) as client:
        sets = client.governance().validator_sets
    assert len(sets) == 2 and sets[1].effective_height < client_height(net)  # the rotation decided
    stop([node])
    data = Path(node.home) / "data"
    shutil.rmtree(data / "ledger")
    (data / "consensus.wal").unlink(missing_ok=True)
    reconfigure(Path(node.home), {"statesync": {"enable": True}})
    net.restart(node)
    target = net.top(net.nodes[:3]) + 2
    net.wait_height(target, [node], timeout=90)
    assert "state sync: restored height" in node.log_path.read_text()
    with NodeClient(node.api, timeout=30) as synced, NodeClient(net.nodes[1].api, timeout=30) as archive:
        base = synced.status().base_height
        assert base > sets[1].effective_height  # it did not replay the rotation
        for height in range(base, target + 1):
            # The same block (each node keeps the certificate it collected: its signers may differ).
            same = synced.block(height).block_hash == archive.block(height).block_hash
            assert same, f"height {height} differs"


def client_height(net: Net) -> int:
    with NodeClient(net.nodes[1].api, timeout=30) as client:
        return client.status().height
