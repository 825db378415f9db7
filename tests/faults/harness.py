"""The fault tests' devnet: the real devnet of tests.support.network (four validator
processes, TLS on every channel), its links run through per-link TCP proxies on 127.0.0.1 (devnet.proxy), with
payments and the end-of-test invariants (devnet.chaos)."""

from __future__ import annotations

import os
import re
import signal
import struct
from dataclasses import dataclass, field
from pathlib import Path

from devnet import network
from devnet.chaos import (
    ChainAuditor,
    PaymentLoad,
    audit_stores,
    prepare_payments,
    spawn_node,
    wait_converged,
)
from devnet.network import client_for
from devnet.processes import NodeRecord, is_running, stop
from devnet.proxy import LinkProxies, install_proxies
from tests.support.network import Net, create_net


@dataclass
class FaultNet(Net):
    proxies: LinkProxies
    auditor: ChainAuditor
    validator_keys: dict[str, bytes]  # node name -> validator public key
    payments: list[bytes] = field(default_factory=list)
    seed: int = 1

    def by_key(self, key: bytes) -> NodeRecord:
        return next(n for n in self.nodes if self.validator_keys[n.name] == key)

    def load(self, count: int, per_second: float = 30.0) -> PaymentLoad:
        """Start submitting `count` fresh pre-signed transfers to whichever nodes are up."""
        while len(self.payments) < count:
            self.seed += 1
            more = prepare_payments(self.directory, self.record, max(count, 300), seed=self.seed)
            self.payments.extend(more)
        txs, self.payments = self.payments[:count], self.payments[count:]
        load = PaymentLoad(txs, per_second, self.live_apis, access=network.access_for(self.nodes[0]))
        load.start()
        return load

    def finish(self, load: PaymentLoad, *, min_committed: float = 0.5) -> list[bytes]:
        """Restart anything down, let payments drain, then check every invariant on every node."""
        for node in self.nodes:
            if not is_running(node):
                spawn_node(node)
        committed = load.finish(wait_s=60)
        assert len(committed) >= min_committed * len(load.submitted), (
            f"only {len(committed)} of {len(load.submitted)} submitted payments committed"
        )
        assert wait_converged(self.nodes, 90) is not None, f"nodes did not converge: {self.heights()}"
        violations = self.auditor.check_all(committed)
        assert not violations, "\n".join(violations)
        return committed


def log_offset(node: NodeRecord) -> int:
    return node.log_path.stat().st_size if node.log_path.exists() else 0


def log_since(node: NodeRecord, offset: int) -> str:
    with open(node.log_path, "rb") as f:
        f.seek(offset)
        return f.read().decode(errors="replace")


def heights_logged(text: str, pattern: str) -> list[int]:
    """Heights of the log lines matching `pattern` (a regex with a `height=(\\d+)` group)."""
    return [int(m) for m in re.findall(pattern, text)]


def start_fault_net(directory: Path, payments: int = 400) -> FaultNet:
    """Four validators over TLS (mutual TLS between them, the API checked against the
    members bundle): the faults hit the transport a consortium really runs."""
    plain = create_net(directory, 4, tls=True)
    links = install_proxies(directory, plain.record)
    proxies = LinkProxies(links, seed=7)
    proxies.start()
    keys = {n.name: plain.validator_key(n).public for n in plain.nodes}
    net = FaultNet(plain.directory, plain.record, plain.keys, proxies, ChainAuditor(plain.nodes), keys)
    try:
        net.start(wait_s=90)
    except BaseException:
        proxies.stop()
        raise
    net.payments = prepare_payments(directory, net.record, payments, seed=1)
    return net


def stop_fault_net(net: FaultNet) -> list[str]:
    """Stop every node and the proxies; the offline audit of every store (problems found)."""
    for node in net.nodes:  # a SIGSTOPped node cannot act on SIGTERM
        if is_running(node):
            os.kill(node.pid, signal.SIGCONT)
    stop(net.nodes)
    net.proxies.stop()
    return audit_stores(net.record, net.directory / "genesis.json")


# --- the consensus WAL file, for the torn/corrupt tests --------------------------------------

_FRAME = struct.Struct(">II")


def wal_frames(data: bytes) -> list[tuple[int, int]]:
    """(offset, total size) of each complete record frame in a WAL file."""
    frames = []
    offset = 0
    while offset + _FRAME.size <= len(data):
        length, _ = _FRAME.unpack_from(data, offset)
        end = offset + _FRAME.size + length
        if end > len(data):
            break
        frames.append((offset, end - offset))
        offset = end
    return frames


def wal_path(node: NodeRecord) -> Path:
    return Path(node.home) / "data" / "consensus.wal"


def max_height_client(node: NodeRecord) -> int:
    with client_for(node, timeout=10) as client:
        return client.status().height
