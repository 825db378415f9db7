"""A real devnet for integration tests: keys, genesis and node homes as `cbdc devnet create`
writes them (devnet.network), node processes on 127.0.0.1, and the checks tests make on it.

One harness for every test that needs a small network of real validators: the node tests
(tests/node), the flood and hostile-peer tests (tests/hostile) and the fault tests, which
add per-link proxies on top (tests/faults/harness.py). A test that changes a node's
configuration does it between `create_net` and `start`, with `config`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devnet import network
from devnet.network import DevnetKeys
from devnet.processes import DevnetRecord, NodeRecord, is_running, spawn, stop
from node.client.connection import NodeClient
from node.config import load_config, write_default_config
from node.ledger.blocks import decode_committed_block
from node.ledger.genesis import Genesis
from node.ledger.keys import KeyPair, load_key
from tests.support.waiting import wait_for

# Per node (by index): config sections to change, each as {option: value}, e.g.
# lambda i: {"mempool": {"max_txs": 64}}.
ConfigChanges = Callable[[int], Mapping[str, Mapping[str, Any]]]


@dataclass
class Net:
    directory: Path
    record: DevnetRecord
    keys: DevnetKeys  # the central bank's issuers and the institutions (clients' keys)

    @property
    def nodes(self) -> list[NodeRecord]:
        return self.record.nodes

    def node(self, name: str) -> NodeRecord:
        return next(n for n in self.nodes if n.name == name)

    def validator_key(self, node: NodeRecord) -> KeyPair:
        return load_key(Path(node.home) / "validator.key")

    def genesis(self) -> Genesis:
        return network.genesis_of(self.directory)

    def client(self, i: int = 0, timeout: float = 10.0) -> NodeClient:
        """A client of node i, over TLS when the net has it (devnet.network.client_for)."""
        return network.client_for(self.nodes[i], timeout=timeout)

    def start(self, wait_s: float = 60.0, min_height: int | None = None) -> None:
        """Start every node; returns once all have committed a block (devnet.network.start),
        or are at `min_height`."""
        network.start(self.directory, self.record, wait_s=wait_s, min_height=min_height)

    def restart(self, node: NodeRecord) -> None:
        assert not is_running(node)
        spawn(node)

    def live_apis(self) -> list[str]:
        return [n.api for n in self.nodes if is_running(n)]

    def heights(self, nodes: list[NodeRecord] | None = None) -> dict[str, int | None]:
        """Each node's tip height (None: not answering)."""
        return {n.name: network.node_height(n) for n in nodes or self.nodes}

    def top(self, nodes: list[NodeRecord] | None = None) -> int:
        return max(h or 0 for h in self.heights(nodes).values())

    def wait_height(self, height: int, nodes: list[NodeRecord] | None = None, timeout: float = 60.0) -> None:
        """Until every one of `nodes` (default: all) is at `height` or beyond."""

        def reached() -> bool:
            return all(h is not None and h >= height for h in self.heights(nodes).values())

        try:
            wait_for(reached, timeout, f"height {height}")
        except AssertionError:
            raise AssertionError(
                f"nodes did not reach height {height} in {timeout}s: {self.heights()}"
            ) from None


def create_net(
    directory: Path, validators: int = 4, *, config: ConfigChanges | None = None, **create_options: Any
) -> Net:
    """Keys, genesis and node homes for a devnet of `validators` nodes (not started), each
    node's config.toml as devnet.network writes it with `config(i)` changed. `create_options`
    go to devnet.network.create (e.g. timeout_commit_ms).

    Unless asked otherwise (tls=True, open_reads=False: tests/security), the nodes speak
    plaintext and serve every read to unsigned clients, as the tests here read with plain
    NodeClients; what TLS and the API roles change is tested in tests/security.

    Heights start as soon as there is work (timeout_commit_ms = 0) unless asked otherwise:
    tests wait for commits one after another, and the wait after a commit is tested on its
    own (tests/node/test_timeout_commit.py)."""
    create_options = {"tls": False, "open_reads": True, "timeout_commit_ms": 0, **create_options}
    record = network.create(directory, validators, **create_options)
    if config is not None:
        for i, node in enumerate(record.nodes):
            reconfigure(Path(node.home), config(i))
    return Net(directory, record, network.load_keys(directory))


def start_net(
    directory: Path,
    validators: int = 4,
    *,
    config: ConfigChanges | None = None,
    wait_s: float = 60.0,
    **create_options: Any,
) -> Net:
    net = create_net(directory, validators, config=config, **create_options)
    net.start(wait_s)
    return net


def stop_net(net: Net) -> None:
    stop(net.nodes)


def reconfigure(home: Path, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """Rewrite `home`'s config.toml: every option as it is, but those in `changes`."""
    current = load_config(home)
    sections = {f.name: getattr(current, f.name) for f in dataclasses.fields(current) if f.name != "home"}
    for name, options in changes.items():
        sections[name] = dataclasses.replace(sections[name], **options)
    write_default_config(home, **sections)


def chain_of(client: NodeClient, upto: int) -> list[tuple[bytes, bytes]]:
    """(block hash, header state root) of every height 1..upto, as this node stores them."""
    result = []
    for msg in client.blocks(1, upto):
        header = decode_committed_block(msg.committed_block).header
        result.append((msg.block_hash, header.state_root))
    return result


def assert_same_chain(net: Net, nodes: list[NodeRecord] | None = None) -> int:
    """Every node holds the same block hash and state root at every height they all have."""
    nodes = nodes or net.nodes
    clients = [network.client_for(n, timeout=30) for n in nodes]
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


def module_net(name: str, validators: int = 4, **options: Any) -> Any:
    """A module-scoped `net` fixture: a test net started (start_net) for the module's tests
    and stopped after them. `net = module_net("gov-cli", 1)` at a test module's top level."""

    @pytest.fixture(scope="module")
    def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Net]:
        started = start_net(tmp_path_factory.mktemp(name), validators, **options)
        yield started
        stop_net(started)

    return net
