"""A real devnet of node processes on loopback for integration tests, and checks on it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from devnet import network
from devnet.network import DevnetKeys
from devnet.processes import DevnetRecord, NodeRecord, is_running, spawn, stop
from node.client.connection import NodeClient
from node.ledger.blocks import decode_committed


@dataclass
class Net:
    directory: Path
    record: DevnetRecord
    keys: DevnetKeys

    @property
    def nodes(self) -> list[NodeRecord]:
        return self.record.nodes

    def client(self, i: int = 0, timeout: float = 10.0) -> NodeClient:
        return NodeClient(self.nodes[i].api, timeout=timeout)

    def restart(self, node: NodeRecord) -> None:
        assert not is_running(node)
        spawn(node)

    def heights(self) -> dict[str, int | None]:
        return {n.name: network.node_height(n) for n in self.nodes}

    def wait_height(self, height: int, nodes: list[NodeRecord] | None = None, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        nodes = nodes or self.nodes
        while time.monotonic() < deadline:
            hs = [network.node_height(n) for n in nodes]
            if all(h is not None and h >= height for h in hs):
                return
            time.sleep(0.2)
        raise AssertionError(f"nodes did not reach height {height} in {timeout}s: {self.heights()}")


def start_net(directory: Path, validators: int = 4) -> Net:
    record = network.create(directory, validators)
    network.start(directory, record, wait_s=60)
    return Net(directory, record, network.load_keys(directory))


def stop_net(net: Net) -> None:
    stop(net.nodes)


def chain_of(client: NodeClient, upto: int) -> list[tuple[bytes, bytes]]:
    """(block hash, header state root) of every height 1..upto, as this node stores them."""
    result = []
    for msg in client.blocks(1, upto):
        _, header, _ = decode_committed(msg.committed_block)
        result.append((msg.block_hash, header.state_root))
    return result


def assert_same_chain(net: Net, nodes: list[NodeRecord] | None = None) -> int:
    """Every node holds the same block hash and state root at every height they all have."""
    nodes = nodes or net.nodes
    clients = [NodeClient(n.api, timeout=30) for n in nodes]
    try:
        common = min(c.status().height for c in clients)
        chains = [chain_of(c, common) for c in clients]
        for node, chain in zip(nodes[1:], chains[1:], strict=True):
            for height, (a, b) in enumerate(zip(chains[0], chain, strict=True), 1):
                assert a == b, f"{node.name} differs from {nodes[0].name} at height {height}"
        return common
    finally:
        for c in clients:
            c.close()
