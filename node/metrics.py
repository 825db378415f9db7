"""Prometheus metrics of one node.

Each node gets its own CollectorRegistry instead of prometheus-client's global one: tests
run several nodes in one process, and the global registry refuses a second metric of the
same name. The exposition server (optional, off by default) serves that registry only.
"""

from __future__ import annotations

import ssl
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.exposition import start_http_server

from node.config import split_address
from node.ledger_service import GOSSIP_OUTCOMES

NAMESPACE = "cbdc"

# Why a message was not delivered; fixed label values keep the series count bounded.
DROP_REASONS = (
    "queue_full",      # a slow peer's send queue overflowed; the oldest message went
    "too_large",       # over grpc.max_message_bytes (ours or the peer's)
    "unknown_peer",    # handshake from a key that is not an expected validator
    "wrong_chain",     # handshake for another chain
    "bad_handshake",   # malformed handshake, bad signature or protocol version
    "no_such_peer",    # send() to a key that is not a configured peer
    "handler_error",   # the node's handler raised on this message
    "unexpected",      # a message kind not allowed in that direction of a stream
    "malformed",       # bytes that do not decode as a PeerMessage (the stream is ended)
    "tls_identity",    # a peer's TLS certificate is not bound to the key its handshake proved
)

# Seconds between consecutive blocks: finality is a few message delays on loopback and
# up to the heartbeat interval when idle.
BLOCK_INTERVAL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)


class NodeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        self.height = Gauge("height", "Last committed block height.", namespace=NAMESPACE, registry=r)
        self.round = Gauge("round", "Consensus round at the current height.", namespace=NAMESPACE, registry=r)
        self.block_interval = Histogram(
            "block_interval_seconds",
            "Time between consecutive committed blocks.",
            namespace=NAMESPACE,
            buckets=BLOCK_INTERVAL_BUCKETS,
            registry=r,
        )
        self.txs_committed = Counter(
            "txs_committed", "Transactions in committed blocks.", namespace=NAMESPACE, registry=r
        )
        self.mempool_size = Gauge(
            "mempool_txs", "Pending transactions in the mempool.", namespace=NAMESPACE, registry=r
        )
        self.mempool_bytes = Gauge(
            "mempool_bytes", "Bytes of pending transactions in the mempool.", namespace=NAMESPACE, registry=r
        )
        self.peers_connected = Gauge(
            "peers_connected",
            "Validators this node has an authenticated outgoing stream to.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.messages_dropped = Counter(
            "messages_dropped",
            "Peer messages dropped, by reason.",
            ["reason"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.messages_sent = Counter(
            "peer_messages_sent", "Peer messages written, by kind.", ["kind"], namespace=NAMESPACE, registry=r
        )
        self.messages_received = Counter(
            "peer_messages_received",
            "Peer messages received from authenticated peers, by kind.",
            ["kind"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.sync_lag = Gauge(
            "sync_lag_blocks",
            "Highest height announced by a peer minus this node's height (0 when caught up).",
            namespace=NAMESPACE,
            registry=r,
        )
        self.gossip_txs = Counter(
            "gossip_txs",
            "Transactions gossiped by peers, by what became of them: admitted, pending (already "
            "held), rejected (ledger rules, e.g. already committed), bad_signature, mempool_full.",
            ["outcome"],
            namespace=NAMESPACE,
            registry=r,
        )
        for reason in DROP_REASONS:  # export zeros, so a rate() works before the first drop
            self.messages_dropped.labels(reason=reason)
        for outcome in GOSSIP_OUTCOMES:
            self.gossip_txs.labels(outcome=outcome)

    def export_consensus_drops(self, counts: Callable[[], Mapping[str, int]]) -> None:
        """Export the consensus machine's own drop counters (not_validator, wrong_chain,
        old_height, bad_signature, ...) as cbdc_consensus_messages_ignored_total{reason},
        read when scraped, so there is one source of truth and no per-message cost."""
        self.registry.register(_IgnoredCollector(counts))

    def dropped(self, reason: str, count: int = 1) -> None:
        if reason not in DROP_REASONS:
            raise ValueError(f"unknown drop reason {reason!r}")
        self.messages_dropped.labels(reason=reason).inc(count)

    def dropped_count(self, reason: str) -> float:
        """Current value of one drop counter (for status output and tests)."""
        value = self.registry.get_sample_value(f"{NAMESPACE}_messages_dropped_total", {"reason": reason})
        return value or 0.0

    def exposition(self) -> bytes:
        """The registry in Prometheus text format, as the /metrics endpoint serves it."""
        return generate_latest(self.registry)


@dataclass
class MetricsServer:
    """A running /metrics HTTP endpoint (a daemon thread); `port` is the bound port."""

    port: int
    _server: WSGIServer
    _thread: threading.Thread

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


def start_metrics_server(
    address: str, metrics: NodeMetrics, *, certfile: str | None = None, keyfile: str | None = None
) -> MetricsServer | None:
    """Serve `metrics` on http://address/metrics; None when `address` is "" (metrics off).
    Port 0 binds an ephemeral port (see MetricsServer.port). With `certfile` and `keyfile`
    (the node's TLS chain and key) it serves https only, TLS 1.3."""
    if not address:
        return None
    host, port = split_address(address)
    tls: dict[str, Any] = {}
    if certfile and keyfile:
        tls = {"certfile": certfile, "keyfile": keyfile, "tls_min_version": ssl.TLSVersion.TLSv1_3}
    server, thread = start_http_server(port, addr=host, registry=metrics.registry, **tls)
    return MetricsServer(port=server.server_port, _server=server, _thread=thread)


class _IgnoredCollector:
    def __init__(self, counts: Callable[[], Mapping[str, int]]) -> None:
        self._counts = counts

    def collect(self):
        family = CounterMetricFamily(
            f"{NAMESPACE}_consensus_messages_ignored",
            "Consensus messages the state machine or driver ignored, by reason.",
            labels=["reason"],
        )
        for reason, count in sorted(self._counts().items()):
            family.add_metric([reason], count)
        yield family
