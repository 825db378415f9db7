"""A validator killed or stopped under load comes back, catches up, and the chain never forks."""

from __future__ import annotations

import os
import signal
import threading
import time

import pytest

from devnet.chaos import wait_exit
from devnet.network import CHAIN_ID
from devnet.processes import is_running, stop
from devnet.traffic import prepare_load
from node.client import txbuild
from node.client.connection import NodeClient, Rejected, Unreachable
from proto import node_pb2
from tests.support.network import Net, assert_same_chain, start_net, stop_net


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = start_net(tmp_path_factory.mktemp("devnet"))
    yield net
    stop_net(net)


class Load:
    """Pre-signed independent transfers submitted at a steady pace to the given nodes."""

    def __init__(self, net: Net, count: int, per_second: float) -> None:
        with net.client(0, timeout=30) as client:
            self.txs = prepare_load(client, net.keys, transactions=count, wallets_per_institution=10)
            net.wait_height(client.status().height)
        self.per_second = per_second
        self.committed: list[bytes] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, apis: list[str]) -> None:
        self._thread = threading.Thread(target=self._run, args=(apis,), daemon=True)
        self._thread.start()

    def _run(self, apis: list[str]) -> None:
        clients = [NodeClient(api, timeout=5) for api in apis]
        pending: list[tuple[bytes, NodeClient]] = []
        for i, raw in enumerate(self.txs):
            if self._stop.is_set():
                break
            client = clients[i % len(clients)]
            try:
                pending.append((client.submit(raw), client))
            except (Rejected, Unreachable):
                pass
            time.sleep(1 / self.per_second)
        for txid, client in pending:
            try:
                if client.wait(txid, 20).status == node_pb2.TX_STATUS_COMMITTED:
                    self.committed.append(txid)
            except (Rejected, Unreachable):
                pass

    def finish(self) -> list[bytes]:
        assert self._thread is not None
        self._thread.join(timeout=120)
        return self.committed

    def stop(self) -> None:
        self._stop.set()


def _present_everywhere(net: Net, txids: list[bytes]) -> None:
    for node in net.nodes:
        with NodeClient(node.api, timeout=30) as client:
            missing = [t for t in txids if client.wait(t, 0).status != node_pb2.TX_STATUS_COMMITTED]
        assert not missing, f"{node.name} lacks {len(missing)} transactions another node reported committed"


def test_sigkilled_validator_restarts_catches_up_and_never_forks(net: Net) -> None:
    load = Load(net, count=300, per_second=60)
    victim = net.nodes[3]
    survivors = net.nodes[:3]
    with NodeClient(survivors[0].api) as client:
        started = client.status().height
    load.start([n.api for n in survivors])
    net.wait_height(started + 2, survivors)  # the load is committing
    os.kill(victim.pid, signal.SIGKILL)
    assert wait_exit(victim, 10) is not None, f"{victim.name} outlived SIGKILL"
    # The three survivors commit without it: it misses heights it must catch up on.
    net.wait_height(net.top(survivors) + 2, survivors)
    with NodeClient(survivors[0].api) as client:
        during = client.status().height
    net.restart(victim)
    committed = load.finish()
    with NodeClient(survivors[0].api) as client:
        tip = client.status().height
    assert tip > during, "the three survivors stopped committing"
    net.wait_height(tip, timeout=60)
    assert assert_same_chain(net) >= tip
    assert len(committed) >= 250, f"only {len(committed)} of 300 committed"
    _present_everywhere(net, committed)


def test_stopped_validator_syncs_back_in(net: Net) -> None:
    load = Load(net, count=200, per_second=50)
    victim = net.nodes[1]
    with NodeClient(victim.api) as client:
        before = client.status().height
    stop([victim])  # a clean stop: SIGTERM
    assert not is_running(victim)
    load.start([n.api for n in net.nodes if n is not victim])
    committed = load.finish()
    with net.client(0) as client:
        tip = client.status().height
    assert tip >= before + 5, "the other three did not keep committing"
    net.restart(victim)
    net.wait_height(tip, nodes=[victim], timeout=60)
    assert assert_same_chain(net) >= tip
    _present_everywhere(net, committed)
    # And it takes part again: a new transaction submitted to it commits.
    shenzhen = net.keys.institutions["shenzhen"]
    fresh = txbuild.build_issue(
        CHAIN_ID, [(shenzhen.public, 100)], net.keys.issuers[:2], nonce=time.time_ns()
    )
    with NodeClient(victim.api) as client:
        assert client.submit_and_wait(fresh).status == node_pb2.TX_STATUS_COMMITTED


def test_restarted_node_kept_every_committed_transaction(net: Net) -> None:
    victim = net.nodes[2]
    with NodeClient(victim.api) as client:
        height = client.status().height
        block = client.block(height=height)
    os.kill(victim.pid, signal.SIGKILL)
    assert wait_exit(victim, 10) is not None, f"{victim.name} outlived SIGKILL"
    net.restart(victim)
    net.wait_height(height, nodes=[victim])
    with NodeClient(victim.api) as client:
        assert client.block(height=height).committed_block == block.committed_block
