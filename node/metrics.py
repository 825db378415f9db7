"""Prometheus metrics of one node, and its readiness on /healthz.

Each node gets its own CollectorRegistry instead of prometheus-client's global one: tests
run several nodes in one process, and the global registry refuses a second metric of the
same name. The exposition server (optional, off by default) serves that registry only, so
the process and Python collectors the global registry would carry (CPU, memory, open file
descriptors, garbage collection, interpreter version) are registered on it explicitly. It
answers /metrics (and, as before, any other path) and /healthz: the node's readiness as JSON
(node.health), 200 when ready and 503 with the failed checks when not.

No `*_created` series: prometheus-client would export one per counter and histogram (and
per label set), doubling the series count for a timestamp nobody graphs.
"""

from __future__ import annotations

import json
import ssl
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from importlib import metadata
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    GCCollector,
    Histogram,
    Info,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
    make_wsgi_app,
)
from prometheus_client.core import CounterMetricFamily

from node.config import split_address
from node.health import STARTING, Readiness
from node.ledger_service import GOSSIP_OUTCOMES

NAMESPACE = "cbdc"

disable_created_metrics()  # process-wide in prometheus-client; see the module docstring

# Why a message was not delivered; fixed label values keep the series count bounded.
DROP_REASONS = (
    "queue_full",      # a slow peer's send queue overflowed; the oldest message went
    "too_large",       # over grpc.max_message_bytes (ours or the peer's)
    "unknown_peer",    # handshake from a key that is not an expected validator
    "wrong_chain",     # handshake for another chain
    "wrong_genesis",   # handshake from a node built from another genesis (same chain id)
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

# Seconds a validator spends in each phase of a height (node.height_clock), and building or
# validating a block: tens of milliseconds when healthy, a timeout (1 s and up) when not.
STEP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

# Garbage-collection pauses: a young collection takes well under a millisecond, a full one
# over a large heap tens to hundreds.
GC_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# Serialized block sizes: an empty heartbeat block is a few hundred bytes, a full one up to
# block.max_bytes (4 MiB by default).
BLOCK_SIZE_BUCKETS = (
    512, 2_048, 8_192, 32_768, 131_072, 524_288, 1_048_576, 2_097_152, 4_194_304, 16_777_216,
)


def package_version() -> str:
    """The installed cbdc version ("unknown" when run from a tree that was never installed)."""
    try:
        return metadata.version("cbdc")
    except metadata.PackageNotFoundError:
        return "unknown"


class NodeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry(auto_describe=True)
        r = self.registry
        # What the global registry would have exported: process_* (CPU seconds, resident
        # memory, open fds, start time), python_info and python_gc_*.
        ProcessCollector(registry=r)
        PlatformCollector(registry=r)
        GCCollector(registry=r)
        self.build = Info(
            "build", "The software version and the chain this node serves.", namespace=NAMESPACE, registry=r
        )
        self.height = Gauge("height", "Last committed block height.", namespace=NAMESPACE, registry=r)
        self.round = Gauge("round", "Consensus round at the current height.", namespace=NAMESPACE, registry=r)
        self.block_interval = Histogram(
            "block_interval_seconds",
            "Time between consecutive committed blocks.",
            namespace=NAMESPACE,
            buckets=BLOCK_INTERVAL_BUCKETS,
            registry=r,
        )
        # CometBFT's consensus_step_duration_seconds, by this node's phases of a height.
        self.step_duration, self.block_work = (
            Histogram(name, doc, [label], namespace=NAMESPACE, buckets=STEP_BUCKETS, registry=r)
            for name, doc, label in (
                (
                    "consensus_step_duration_seconds",
                    "Time spent in each phase of a height: wait (before it starts), propose (until "
                    "this validator prevotes), prevote, precommit (until the decision), commit.",
                    "step",
                ),
                (
                    "block_work_seconds",
                    "Time to build a proposal or validate a received block (execution, state root).",
                    "work",
                ),
            )
        )
        # Beside python_gc_collections_total (how often): how long each stopped every thread.
        self.gc_pause = Histogram(
            "gc_pause_seconds",
            "Duration of each garbage collection, by generation (all threads wait for it).",
            ["generation"],
            namespace=NAMESPACE,
            buckets=GC_BUCKETS,
            registry=r,
        )
        # Every generation exported from the start: with node.gc_policy's thresholds an idle
        # node may not collect for a long time, and a missing series reads as a broken one.
        for generation in ("0", "1", "2"):
            self.gc_pause.labels(generation=generation)
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
        self.peer_writes = Counter(
            "peer_stream_writes",
            "gRPC writes on this node's streams to peers; each carries one message or a bundle "
            "of several (messages sent per write = peer_messages_sent / this).",
            namespace=NAMESPACE,
            registry=r,
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
        self.block_size = Histogram(
            "block_size_bytes",
            "Serialized size of each committed block.",
            namespace=NAMESPACE,
            buckets=BLOCK_SIZE_BUCKETS,
            registry=r,
        )
        self.evidence_committed = Counter(
            "evidence_committed",
            "Evidence of validator misbehaviour (double votes) in committed blocks.",
            namespace=NAMESPACE,
            registry=r,
        )
        self.precommits_signed = Counter(
            "validator_precommits_signed",
            "Committed blocks whose commit certificate carries this validator's precommit.",
            ["validator"],
            namespace=NAMESPACE,
            registry=r,
        )
        self.precommits_missed = Counter(
            "validator_precommits_missed",
            "Committed blocks whose commit certificate lacks this validator's precommit (it was "
            "down, slow, or its vote arrived after the block was decided).",
            ["validator"],
            namespace=NAMESPACE,
            registry=r,
        )
        self._validator_names: dict[bytes, str] = {}
        for reason in DROP_REASONS:  # export zeros, so a rate() works before the first drop
            self.messages_dropped.labels(reason=reason)
        for outcome in GOSSIP_OUTCOMES:
            self.gossip_txs.labels(outcome=outcome)

    def describe(self, chain_id: str, validators: Iterable[tuple[str, bytes]],
                 version: str | None = None) -> None:
        """Set cbdc_build_info{version,chain_id} and the validators (name, public key) whose
        precommits are counted; each starts at zero so a rate() works from the first scrape."""
        self.build.info({"version": version if version is not None else package_version(),
                         "chain_id": chain_id})
        self._validator_names = {key: name for name, key in validators}
        for name in self._validator_names.values():
            self.precommits_signed.labels(validator=name)
            self.precommits_missed.labels(validator=name)

    def block_committed(self, size_bytes: int, evidence: int, signers: Iterable[bytes]) -> None:
        """Account one committed block: its size, its evidence, and which validators'
        precommits its certificate carries (`signers`: their public keys)."""
        self.block_size.observe(size_bytes)
        if evidence:
            self.evidence_committed.inc(evidence)
        signed = set(signers)
        for key, name in self._validator_names.items():
            counter = self.precommits_signed if key in signed else self.precommits_missed
            counter.labels(validator=name).inc()

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
    address: str,
    metrics: NodeMetrics,
    readiness: Callable[[], Readiness] | None = None,
    *,
    certfile: str | None = None,
    keyfile: str | None = None,
) -> MetricsServer | None:
    """Serve `metrics` on /metrics and `readiness()` on /healthz; None when `address` is ""
    (metrics off). Port 0 binds an ephemeral port (see MetricsServer.port). With `certfile`
    and `keyfile` (the node's TLS chain and key) it serves https only, TLS 1.3. `readiness`
    is called on the HTTP thread: it must only read a snapshot."""
    if not address:
        return None
    host, port = split_address(address)
    app = _with_healthz(make_wsgi_app(metrics.registry), readiness or (lambda: STARTING))
    server = make_server(host, port, app, _ThreadingServer, handler_class=_QuietHandler)
    if certfile and keyfile:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_3
        context.load_cert_chain(certfile, keyfile)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True)
    thread.start()
    return MetricsServer(port=server.server_port, _server=server, _thread=thread)


def _with_healthz(metrics_app: Callable[..., Iterable[bytes]], readiness: Callable[[], Readiness]):
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").rstrip("/") != "/healthz":
            return metrics_app(environ, start_response)
        verdict = readiness()
        body = (json.dumps(verdict.to_json(), sort_keys=True) + "\n").encode()
        status = "200 OK" if verdict.ready else "503 Service Unavailable"
        start_response(
            status,
            [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
             ("Cache-Control", "no-store")],
        )
        return [body]

    return app


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True  # a slow scraper never holds up the node's shutdown


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # every scrape is not news
        pass


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
