"""PeerNetwork: authenticated gRPC streams to and from the configured validators.

Each node dials every configured peer and sends ITS messages on the stream it dialled;
it receives on the streams the others dialled. Each direction between two validators is
then exactly one stream, with no duplicate-connection tie-breaking, and a slow or dead
peer only ever affects its own outgoing queue (node.net.peers.streams).

This module keeps the peer set and what is known of each peer, queues what the node sends
(a message is serialized once, however many peers get it), serves the Peer service (the
dialled half of the handshake, node.net.peers.handshake), and hands what arrives to the
node's handler, unpacking bundles (node.net.peers.bundle) on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import nacl.signing
from proto import node_pb2, node_pb2_grpc

from node.config import NodeConfig, PeerConfig
from node.logs import FieldLogger, get_logger
from node.metrics import NodeMetrics
from node.net.grpc_server import PEER_SERVICE, GrpcServer, open_channel, start_server
from node.net.peers.bundle import PAYLOAD_KINDS, kind_of, unpack
from node.net.peers.handshake import HandshakeError, Identity, accept
from node.net.peers.streams import InboundStream, OutboundStream
from node.net.tls import TlsMaterial, context_peer_key, key_name

# While a bundle is handed on, the reader gives other tasks (other peers' streams, timers)
# a turn this often; alone, each message was a separate await on gRPC.
_BUNDLE_YIELD_EVERY = 16

MessageHandler = Callable[[bytes, node_pb2.PeerMessage], Awaitable[None]]
ConnectedHandler = Callable[[bytes], Awaitable[None]]


@dataclass(frozen=True)
class PeerState:
    """What this node knows about one configured peer (for GetStatus and logs)."""

    key: bytes
    address: str
    outbound: bool        # our stream to it is authenticated and up: we can send
    inbound: bool         # its stream to us is authenticated and up: we receive
    height: int           # last height it announced (0 if none)
    block_hash: bytes
    queued: int           # messages waiting in our queue to it
    connects: int         # successful handshakes of our stream to it so far
    last_error: str       # why our last connection attempt or stream ended ("" if none)


class KindCounters:
    """The per-kind children of one labelled counter family, looked up once: labels() takes
    a lock and builds a key on every call, which shows per message."""

    def __init__(self, family: Any) -> None:
        self._family = family
        self._children: dict[str, Any] = {}

    def inc(self, kind: str, count: int = 1) -> None:
        counter = self._children.get(kind)
        if counter is None:
            counter = self._children[kind] = self._family.labels(kind=kind)
        counter.inc(count)



def peer_channel(
    address: str, key: bytes, max_message_bytes: int, credentials: grpc.ChannelCredentials | None
) -> grpc.aio.Channel:
    """A channel to the peer port of the validator holding `key`: mutual TLS with
    `credentials` (TlsMaterial.channel_credentials) that accepts only a certificate bound to
    `key`, or plaintext when `credentials` is None."""
    return open_channel(address, max_message_bytes, credentials, key_name(key) if credentials else None)

class PeerNetwork:
    """Authenticated streams to and from the configured validators.

    Use:
        net = PeerNetwork(chain_id, seed, handler, peers=cfg.p2p.peers, metrics=m)
        port = await net.start("127.0.0.1:26656")   # or net.attach(server) before it starts,
                                                    # then await net.start()
        net.broadcast(msg); net.send(key, msg)
        ...
        await net.stop()

    `handler(peer_key, message)` is awaited for every message an authenticated peer sends,
    in the order that peer sent them; while it runs, that peer's stream is not read, which
    is the back-pressure that makes a flooding peer's own queue overflow. Calls for
    different peers may interleave. Exceptions from it are logged and counted, never fatal
    to the stream. All methods must be called from the event loop the network runs in.
    """

    def __init__(
        self,
        chain_id: str,
        signing_seed: bytes,
        handler: MessageHandler,
        *,
        peers: Iterable[PeerConfig] = (),
        metrics: NodeMetrics | None = None,
        max_message_bytes: int = 16 * 1024 * 1024,
        send_queue_size: int = 1024,
        reconnect_min_s: float = 0.1,
        reconnect_max_s: float = 10.0,
        handshake_timeout_s: float = 5.0,
        on_peer_connected: ConnectedHandler | None = None,
        on_hearing_changed: Callable[[], None] | None = None,
        log: FieldLogger | None = None,
        genesis_hash: bytes = b"",
        tls: TlsMaterial | None = None,
    ) -> None:
        """`tls` (the node's certificate and the members bundle) turns on mutual TLS: every
        dial checks the peer's certificate is bound to the key it should hold, and every
        accepted stream must present a certificate bound to the key its handshake proves.
        None means plaintext (`[tls] insecure = true`)."""
        if isinstance(signing_seed, bytes) and len(signing_seed) != 32:
            raise ValueError("signing_seed must be the 32-byte ed25519 seed of the validator key")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        # Not bytes: a remote signer's handshake key (node.signer.client.HandshakeKey), which
        # signs proofs of key like a SigningKey while the key stays in the signer process.
        key = nacl.signing.SigningKey(signing_seed) if isinstance(signing_seed, bytes) else signing_seed
        self.identity = Identity(chain_id, key, genesis_hash)
        self.tls = tls
        self._credentials = tls.channel_credentials() if tls is not None else None
        self.chain_id = chain_id
        self.public_key = self.identity.public_key
        self._handler = handler
        self._on_connected = on_peer_connected
        # Called when an inbound stream comes up or goes down: the node re-announces whom
        # it hears nothing from (StatusAnnouncement.unheard), for peers to relay to it.
        self._on_hearing_changed = on_hearing_changed
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.max_message_bytes = max_message_bytes
        self.send_queue_size = send_queue_size
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.handshake_timeout_s = handshake_timeout_s
        self.log = (log or get_logger("peers")).bind(node=self.public_key.hex()[:12])
        self._outbound: dict[bytes, OutboundStream] = {}
        self._inbound: dict[bytes, InboundStream] = {}
        self._announced: dict[bytes, tuple[int, bytes]] = {}
        self._status: bytes | None = None  # our latest StatusAnnouncement, serialized
        self._started = False
        self._stopping = False
        self._own_server: GrpcServer | None = None  # when start() built one
        # Fire-and-forget tasks (peer removals, connect callbacks): referenced here so the
        # loop cannot garbage-collect them half-way, and awaited by stop().
        self._background: set[asyncio.Task[None]] = set()
        self._sent = KindCounters(self.metrics.messages_sent)
        self._writes = self.metrics.peer_writes
        self._received = KindCounters(self.metrics.messages_received)
        self.update_peers(peers)

    @classmethod
    def from_config(
        cls,
        config: NodeConfig,
        chain_id: str,
        signing_seed: bytes,
        handler: MessageHandler,
        *,
        metrics: NodeMetrics | None = None,
        on_peer_connected: ConnectedHandler | None = None,
        on_hearing_changed: Callable[[], None] | None = None,
        genesis_hash: bytes = b"",
        tls: TlsMaterial | None = None,
    ) -> PeerNetwork:
        """A network with the peers and limits of a node's config ([p2p] and [grpc])."""
        p2p = config.p2p
        return cls(
            chain_id,
            signing_seed,
            handler,
            peers=p2p.peers,
            metrics=metrics,
            max_message_bytes=config.grpc.max_message_bytes,
            send_queue_size=p2p.send_queue_size,
            reconnect_min_s=p2p.reconnect_min_ms / 1000,
            reconnect_max_s=p2p.reconnect_max_ms / 1000,
            on_peer_connected=on_peer_connected,
            on_hearing_changed=on_hearing_changed,
            genesis_hash=genesis_hash,
            tls=tls,
        )

    def server_credentials(self) -> grpc.ServerCredentials | None:
        """Mutual TLS for the peer port (members only), or None for plaintext."""
        return self.tls.server_credentials(require_client_auth=True) if self.tls is not None else None

    def channel_to(self, address: str, key: bytes) -> grpc.aio.Channel:
        """A channel to the peer port of the validator holding `key`: mutual TLS that accepts
        only a certificate bound to `key` (or plaintext when TLS is off)."""
        return peer_channel(address, key, self.max_message_bytes, self._credentials)

    # --- lifecycle -------------------------------------------------------------------------

    def attach(self, server: grpc.aio.Server) -> None:
        """Serve the Peer service on a caller's server (call before that server starts)."""
        node_pb2_grpc.add_PeerServicer_to_server(_PeerServicer(self), server)

    async def start(self, listen: str | None = None) -> int | None:
        """Start dialling the peers. With `listen`, also serve the Peer service on a server
        of our own (with health and reflection) and return its bound port."""
        if self._started:
            raise RuntimeError("PeerNetwork.start() called twice")
        port = None
        if listen is not None:
            self._own_server = await start_server(
                listen, [self.attach], [PEER_SERVICE], max_message_bytes=self.max_message_bytes,
                credentials=self.server_credentials(),
            )
            port = self._own_server.port
        self._started = True
        for out in self._outbound.values():
            out.start()
        return port

    async def stop(self, reason: str = "shutting down") -> None:
        """Say Goodbye on every stream, close them, and stop our own server if we have one."""
        self._stopping = True
        await asyncio.gather(
            *(out.stop(reason) for out in self._outbound.values()),
            *(inb.close(reason) for inb in list(self._inbound.values())),
        )
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self._own_server is not None:
            await self._own_server.stop(grace=1.0)
            self._own_server = None
        self.metrics.peers_connected.set(0)

    def update_peers(self, peers: Iterable[PeerConfig]) -> None:
        """Replace the peer set (e.g. after a validator-set change). New peers are dialled,
        removed ones are told Goodbye and no longer accepted, moved ones redialled."""
        wanted = {p.validator_key: p for p in peers if p.validator_key != self.public_key}
        for key, out in list(self._outbound.items()):
            if key not in wanted or wanted[key].address != out.address:
                del self._outbound[key]
                self._spawn(out.stop("no longer a configured peer"))
                inbound = self._inbound.get(key)
                if key not in wanted:
                    self._announced.pop(key, None)
                    if inbound is not None:
                        self._spawn(inbound.close("no longer a configured peer"))
        for key, peer in wanted.items():
            if key not in self._outbound:
                out = OutboundStream(self, key, peer.address)
                self._outbound[key] = out
                if self._started and not self._stopping:
                    out.start()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # --- sending ---------------------------------------------------------------------------

    def broadcast(self, msg: node_pb2.PeerMessage) -> int:
        """Queue `msg` for every peer; returns how many queues took it."""
        data = self._encode(msg)
        if data is None:
            return 0
        kind = kind_of(msg)
        return sum(out.enqueue(data, kind) for out in self._outbound.values())

    def send(self, peer_key: bytes, msg: node_pb2.PeerMessage) -> bool:
        """Queue `msg` for one peer. False if it is not a configured peer or too large.
        A peer that is configured but disconnected gets it when its stream is back (unless
        the queue overflows first)."""
        out = self._outbound.get(peer_key)
        if out is None:
            self.metrics.dropped("no_such_peer")
            return False
        data = self._encode(msg)
        return data is not None and out.enqueue(data, kind_of(msg))

    def announce_status(self, height: int, block_hash: bytes, unheard: Iterable[bytes] = ()) -> None:
        """Tell every peer our height now (and the validators we hear nothing from), and each
        peer again whenever its stream (re)connects."""
        status = node_pb2.StatusAnnouncement(height=height, block_hash=block_hash, unheard=sorted(unheard))
        msg = node_pb2.PeerMessage(status=status)
        self._status = msg.SerializeToString()
        self.broadcast(msg)

    def _encode(self, msg: node_pb2.PeerMessage) -> bytes | None:
        data = msg.SerializeToString()
        if len(data) > self.max_message_bytes:
            # Writing it would make gRPC fail the whole stream: refuse it here instead.
            self.metrics.dropped("too_large")
            self.log.warning(
                "peer message too large, dropped",
                kind=kind_of(msg),
                size=len(data),
                limit=self.max_message_bytes,
            )
            return None
        return data

    # --- state -----------------------------------------------------------------------------

    def connected_peers(self) -> set[bytes]:
        """Keys of the peers our authenticated stream reaches (messages we send arrive)."""
        return {key for key, out in self._outbound.items() if out.connected}

    def inbound_peers(self) -> set[bytes]:
        """Keys of the peers whose authenticated stream to us is up (we hear them)."""
        return set(self._inbound)

    def peer_states(self) -> list[PeerState]:
        states = []
        for key, out in self._outbound.items():
            height, block_hash = self._announced.get(key, (0, b""))
            states.append(
                PeerState(
                    key=key,
                    address=out.address,
                    outbound=out.connected,
                    inbound=key in self._inbound,
                    height=height,
                    block_hash=block_hash,
                    queued=len(out.queue),
                    connects=out.connects,
                    last_error=out.last_error,
                )
            )
        return states

    def max_peer_height(self) -> int:
        return max((h for h, _ in self._announced.values()), default=0)

    def _update_connected_gauge(self) -> None:
        self.metrics.peers_connected.set(sum(out.connected for out in self._outbound.values()))

    def _count_sent(self, kind: str, count: int = 1) -> None:
        self._sent.inc(kind, count)

    def _count_write(self) -> None:
        self._writes.inc()

    def _count_received(self, kind: str) -> None:
        self._received.inc(kind)

    # --- receiving (the dialled side) ------------------------------------------------------

    async def _serve(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting_down: this node is stopping")
        tls_key = context_peer_key(context) if self.tls is not None else None
        if self.tls is not None and tls_key is None:
            # The TLS layer already required a member's certificate; one not bound to a key
            # by its signature is refused before any peer message is read.
            self.metrics.dropped("tls_identity")
            self.log.warning("inbound stream without a key-bound certificate", remote=context.peer())
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                "tls_identity: the client certificate is not signed by the key it names",
            )
        try:
            key = await asyncio.wait_for(
                accept(self.identity, requests, context, lambda key: key in self._outbound),
                self.handshake_timeout_s,
            )
        except HandshakeError as exc:
            self.metrics.dropped(exc.reason)
            self.log.warning("inbound handshake rejected", reason=str(exc), remote=context.peer())
            status = {
                "wrong_chain": grpc.StatusCode.FAILED_PRECONDITION,
                "wrong_genesis": grpc.StatusCode.FAILED_PRECONDITION,
                "unknown_peer": grpc.StatusCode.PERMISSION_DENIED,
            }.get(exc.reason, grpc.StatusCode.UNAUTHENTICATED)
            await context.abort(status, str(exc))
        except TimeoutError:
            self.metrics.dropped("bad_handshake")
            self.log.warning("inbound handshake timed out", remote=context.peer())
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "bad_handshake: handshake timed out")
        if tls_key is not None and tls_key != key:
            # Key A's certificate with key B's handshake: the TLS peer and the consensus
            # identity must be one and the same.
            self.metrics.dropped("tls_identity")
            self.log.warning(
                "inbound stream's certificate and handshake name different keys",
                certificate=tls_key.hex(), handshake=key.hex(), remote=context.peer(),
            )
            await context.abort(
                grpc.StatusCode.UNAUTHENTICATED,
                f"tls_identity: the TLS certificate is bound to {tls_key.hex()}, "
                f"the handshake proved {key.hex()}",
            )
        if self._stopping:  # stop() ran during the handshake and will not see this stream
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting_down: this node is stopping")
        inbound = InboundStream(self, key, requests, context)
        previous = self._inbound.get(key)
        self._inbound[key] = inbound
        if previous is not None:  # the peer redialled: its old stream is dead or dying
            await previous.close("superseded by a new stream from the same peer")
        self.log.info("inbound stream up", peer=key)
        if previous is None and self._on_hearing_changed is not None:
            self._on_hearing_changed()
        try:
            await inbound.run()
        finally:
            if self._inbound.get(key) is inbound:
                del self._inbound[key]
                self.log.info("inbound stream down", peer=key, reason=inbound.end_reason)
                if self._on_hearing_changed is not None:
                    self._on_hearing_changed()

    async def _deliver(self, key: bytes, msg: node_pb2.PeerMessage, kind: str) -> None:
        if kind in PAYLOAD_KINDS:
            await self._deliver_payload(key, kind, msg)
        elif kind == "bundle":
            await self._deliver_bundle(key, msg.bundle.messages)
        else:
            self.metrics.dropped("unexpected")
            self.log.warning("unexpected message on inbound stream", peer=key, kind=kind)

    async def _deliver_bundle(self, key: bytes, messages: Sequence[bytes]) -> None:
        """The payload messages of a bundle, in order, each as if it had come alone; what
        node.net.peers.bundle.unpack refuses (FramingError) ends the stream, and what it
        skips is counted and logged as "unexpected" while the stream goes on."""
        unpacked = unpack(messages)
        try:
            for entry in unpacked:
                if entry.index and entry.index % _BUNDLE_YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                await self._deliver_payload(key, entry.kind, entry.message)
        finally:
            if unpacked.unexpected:
                # One line per bundle, not per entry: a bundle must not multiply log volume.
                self.metrics.dropped("unexpected", len(unpacked.unexpected))
                self.log.warning(
                    "unexpected messages in a bundle",
                    peer=key,
                    kinds=",".join(sorted(set(unpacked.unexpected))),
                    count=len(unpacked.unexpected),
                )

    async def _deliver_payload(self, key: bytes, kind: str, msg: node_pb2.PeerMessage) -> None:
        self._count_received(kind)
        if kind == "status":
            self._announced[key] = (msg.status.height, bytes(msg.status.block_hash))
        try:
            await self._handler(key, msg)
        except Exception:
            self.metrics.dropped("handler_error")
            self.log.exception("peer message handler failed", peer=key, kind=kind)


class _PeerServicer(node_pb2_grpc.PeerServicer):
    def __init__(self, network: PeerNetwork) -> None:
        self._network = network

    async def Connect(self, request_iterator: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        # Requests come through the iterator (not context.read()) so that, behind the
        # RejectionInterceptor, undecodable bytes surface as LedgerError(MALFORMED), which the
        # inbound stream takes for broken framing (FramingError).
        await self._network._serve(request_iterator, context)

