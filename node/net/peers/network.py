"""The validator-to-validator transport: authenticated gRPC streams on grpc.aio.

Each node dials every configured peer and sends ITS messages on the stream it dialled;
it receives on the streams the others dialled. Each direction between two validators is
then exactly one stream, with no duplicate-connection tie-breaking, and a slow or dead
peer only ever affects its own outgoing queue.

Handshake (see proto/node.proto): each side signs the other's fresh random nonce together
with the chain id and both keys, with its validator key. A dialled node accepts only keys
of its configured peers; a dialler accepts only the key configured for that address.

Sending never blocks: messages go to a bounded per-peer queue that drops its oldest entry
when a peer falls behind (consensus re-sends what matters on its timeouts; a stale vote is
worth less than a fresh one). A message is serialized once, however many peers get it.

Writing is where the Python cost of a stream goes (each grpc.aio write is tens of µs), so a
writer that finds several messages queued sends them as one Bundle: a PeerMessage whose
only content is the serialized messages, in order. The receiver unpacks a bundle and hands
each message on exactly as if it had come alone. Messages queue up while a write is in
flight, so this batches under load and adds no delay when idle.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import nacl.signing
from google.protobuf.message import DecodeError
from proto import node_pb2, node_pb2_grpc

from node.config import NodeConfig, PeerConfig
from node.ledger.crypto import KEY_SIZE, verify
from node.ledger.errors import Code, LedgerError
from node.logs import FieldLogger, get_logger
from node.metrics import NodeMetrics
from node.net.grpc_server import PEER_SERVICE, GrpcServer, channel_options, start_server

# 2: PeerMessage.bundle and PeerMessage.commit. A version-1 node would drop bundles as
# unexpected without a word, so the two refuse each other at the handshake instead.
PROTOCOL_VERSION = 2
HANDSHAKE_DOMAIN = b"cbdc/peer-handshake/v1"
NONCE_SIZE = 32
CONNECT_METHOD = f"/{PEER_SERVICE}/Connect"

# Message kinds the dialled side accepts after the handshake, alone or in a bundle (and
# Goodbye, and a bundle itself, only alone); anything else is a protocol violation (the
# handshake kinds) and is dropped as "unexpected".
_PAYLOAD_KINDS = frozenset({"proposal", "vote", "tx_batch", "evidence", "status", "commit"})

# Bundles. The count cap is part of the protocol: a receiver ends the stream of a peer that
# sends more per bundle, which bounds the per-entry work of a bundle of millions of empty
# entries (the bytes limit alone would allow 8 million in 16 MiB). 256 already makes the
# per-write cost negligible per message, so a larger cap would buy nothing.
BUNDLE_MAX_MESSAGES = 256
# Bytes per bundle, below max_message_bytes: a write's fixed cost is already small against
# copying 1 MiB, while a bundle lost on a failing stream (or refused by a peer configured
# with a smaller limit) takes everything in it, and nothing in a bundle can be handled
# before all of it has arrived.
BUNDLE_MAX_BYTES = 1024 * 1024
# Wire framing, upper bounds: the PeerMessage.bundle tag (2 bytes) and length (varint, at
# most 5), and per entry the Bundle.messages tag (1) and length (at most 5).
_BUNDLE_FRAMING = 7
_ENTRY_FRAMING = 6
# While a bundle is handed on, the reader gives other tasks (other peers' streams, timers)
# a turn this often; alone, each message was a separate await on gRPC.
_BUNDLE_YIELD_EVERY = 16

MessageHandler = Callable[[bytes, node_pb2.PeerMessage], Awaitable[None]]
ConnectedHandler = Callable[[bytes], Awaitable[None]]


def handshake_message(chain_id: str, nonce: bytes, signer: bytes, verifier: bytes) -> bytes:
    """What a handshake signature covers. Binding both keys stops a signature made for one
    peer from being replayed to another; the domain keeps it apart from votes and txs."""
    return HANDSHAKE_DOMAIN + b"\x00" + chain_id.encode() + b"\x00" + nonce + signer + verifier


class HandshakeError(Exception):
    """The other side is not the validator we expect; `reason` is a metrics drop reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


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


def _kind(msg: node_pb2.PeerMessage) -> str:
    return msg.WhichOneof("kind") or "empty"


def _identity(data: bytes) -> bytes:
    return data


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
        log: FieldLogger | None = None,
    ) -> None:
        if len(signing_seed) != 32:
            raise ValueError("signing_seed must be the 32-byte ed25519 seed of the validator key")
        if not 0 < reconnect_min_s <= reconnect_max_s:
            raise ValueError("need 0 < reconnect_min_s <= reconnect_max_s")
        self.chain_id = chain_id
        self._signer = nacl.signing.SigningKey(signing_seed)
        self.public_key = bytes(self._signer.verify_key)
        self._handler = handler
        self._on_connected = on_peer_connected
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.max_message_bytes = max_message_bytes
        self.send_queue_size = send_queue_size
        self.reconnect_min_s = reconnect_min_s
        self.reconnect_max_s = reconnect_max_s
        self.handshake_timeout_s = handshake_timeout_s
        self.log = (log or get_logger("peers")).bind(node=self.public_key.hex()[:12])
        self._outbound: dict[bytes, _Outbound] = {}
        self._inbound: dict[bytes, _Inbound] = {}
        self._announced: dict[bytes, tuple[int, bytes]] = {}
        self._status: bytes | None = None  # our latest StatusAnnouncement, serialized
        self._started = False
        self._stopping = False
        self._own_server: GrpcServer | None = None  # when start() built one
        # Fire-and-forget tasks (peer removals, connect callbacks): referenced here so the
        # loop cannot garbage-collect them half-way, and awaited by stop().
        self._background: set[asyncio.Task[None]] = set()
        # Per-kind counter children, looked up once: labels() takes a lock and builds a key
        # on every call, which shows per message.
        self._sent_counters: dict[str, Any] = {}
        self._received_counters: dict[str, Any] = {}
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
        )

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
                listen, [self.attach], [PEER_SERVICE], max_message_bytes=self.max_message_bytes
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
                out = _Outbound(self, key, peer.address)
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
        kind = _kind(msg)
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
        return data is not None and out.enqueue(data, _kind(msg))

    def announce_status(self, height: int, block_hash: bytes) -> None:
        """Tell every peer our height now, and each peer again whenever its stream (re)connects."""
        msg = node_pb2.PeerMessage(status=node_pb2.StatusAnnouncement(height=height, block_hash=block_hash))
        self._status = msg.SerializeToString()
        self.broadcast(msg)

    def _encode(self, msg: node_pb2.PeerMessage) -> bytes | None:
        data = msg.SerializeToString()
        if len(data) > self.max_message_bytes:
            # Writing it would make gRPC fail the whole stream: refuse it here instead.
            self.metrics.dropped("too_large")
            self.log.warning(
                "peer message too large, dropped",
                kind=_kind(msg),
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
        _count(self._sent_counters, self.metrics.messages_sent, kind, count)

    def _count_received(self, kind: str) -> None:
        _count(self._received_counters, self.metrics.messages_received, kind, 1)

    # --- handshake pieces ------------------------------------------------------------------

    def _sign(self, nonce: bytes, verifier: bytes) -> bytes:
        return self._signer.sign(handshake_message(self.chain_id, nonce, self.public_key, verifier)).signature

    def _check_hello(self, chain_id: str, version: int, key: bytes, nonce: bytes) -> None:
        if version != PROTOCOL_VERSION:
            raise HandshakeError(
                "bad_handshake", f"protocol version {version}, this node speaks {PROTOCOL_VERSION}"
            )
        if chain_id != self.chain_id:
            raise HandshakeError("wrong_chain", f"this node is on chain {self.chain_id!r}, not {chain_id!r}")
        if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
            raise HandshakeError("bad_handshake", "key and nonce must be 32 bytes")

    # --- receiving (the dialled side) ------------------------------------------------------

    async def _serve(self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]) -> None:
        if self._stopping:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting_down: this node is stopping")
        try:
            key = await asyncio.wait_for(self._accept(requests, context), self.handshake_timeout_s)
        except HandshakeError as exc:
            self.metrics.dropped(exc.reason)
            self.log.warning("inbound handshake rejected", reason=str(exc), remote=context.peer())
            status = {
                "wrong_chain": grpc.StatusCode.FAILED_PRECONDITION,
                "unknown_peer": grpc.StatusCode.PERMISSION_DENIED,
            }.get(exc.reason, grpc.StatusCode.UNAUTHENTICATED)
            await context.abort(status, str(exc))
        except TimeoutError:
            self.metrics.dropped("bad_handshake")
            self.log.warning("inbound handshake timed out", remote=context.peer())
            await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, "bad_handshake: handshake timed out")
        if self._stopping:  # stop() ran during the handshake and will not see this stream
            await context.abort(grpc.StatusCode.UNAVAILABLE, "shutting_down: this node is stopping")
        inbound = _Inbound(self, key, requests, context)
        previous = self._inbound.get(key)
        self._inbound[key] = inbound
        if previous is not None:  # the peer redialled: its old stream is dead or dying
            await previous.close("superseded by a new stream from the same peer")
        self.log.info("inbound stream up", peer=key)
        try:
            await inbound.run()
        finally:
            if self._inbound.get(key) is inbound:
                del self._inbound[key]
                self.log.info("inbound stream down", peer=key, reason=inbound.end_reason)

    async def _accept(
        self, requests: AsyncIterator[Any], context: grpc.aio.ServicerContext[Any, Any]
    ) -> bytes:
        first = await _next(requests)
        if first is None:
            raise HandshakeError("bad_handshake", "the dialler closed the stream before Hello")
        if _kind(first) != "hello":
            raise HandshakeError("bad_handshake", f"expected Hello first, got {_kind(first)}")
        hello = first.hello
        self._check_hello(hello.chain_id, hello.protocol_version, hello.public_key, hello.nonce)
        key = bytes(hello.public_key)
        if key not in self._outbound:
            raise HandshakeError("unknown_peer", f"validator key {key.hex()} is not a peer of this node")
        nonce = os.urandom(NONCE_SIZE)
        await context.write(
            node_pb2.PeerMessage(
                hello_reply=node_pb2.HelloReply(
                    protocol_version=PROTOCOL_VERSION,
                    chain_id=self.chain_id,
                    public_key=self.public_key,
                    nonce=nonce,
                    signature=self._sign(bytes(hello.nonce), key),
                )
            )
        )
        proof = await _next(requests)
        if proof is None:
            # The dialler refused our reply (it expected another key or chain) and hung up.
            raise HandshakeError("bad_handshake", f"{key.hex()} closed the stream instead of proving its key")
        if _kind(proof) != "hello_proof":
            raise HandshakeError("bad_handshake", f"expected HelloProof, got {_kind(proof)}")
        # One verification per connection: cheap enough to do inline on the loop.
        signed = handshake_message(self.chain_id, nonce, key, self.public_key)
        if not verify(key, signed, proof.hello_proof.signature):
            raise HandshakeError("bad_handshake", f"signature does not prove key {key.hex()}")
        await context.write(node_pb2.PeerMessage(hello_accepted=node_pb2.HelloAccepted()))
        return key

    async def _deliver(self, key: bytes, msg: node_pb2.PeerMessage, kind: str) -> None:
        if kind in _PAYLOAD_KINDS:
            await self._deliver_payload(key, kind, msg)
        elif kind == "bundle":
            await self._deliver_bundle(key, msg.bundle.messages)
        else:
            self.metrics.dropped("unexpected")
            self.log.warning("unexpected message on inbound stream", peer=key, kind=kind)

    async def _deliver_bundle(self, key: bytes, messages: Sequence[bytes]) -> None:
        """The messages of a bundle, in order, each as if it had come alone.

        Bytes that are not a PeerMessage end the stream, inside a bundle as outside one
        (raised as LedgerError, like the request iterator's own; the entries before them
        have been handled, as they would have been). Kinds that may not travel in a bundle
        (handshake, goodbye, another bundle: never nested, so a bundle in a bundle is not
        unpacked) are dropped as "unexpected", as handshake kinds are outside one, and the
        stream goes on. More entries than BUNDLE_MAX_MESSAGES is malformed framing."""
        count = len(messages)  # O(1): refuse an oversized bundle before touching its entries
        if count > BUNDLE_MAX_MESSAGES:
            raise LedgerError(
                Code.MALFORMED, f"a bundle of {count} messages, more than the {BUNDLE_MAX_MESSAGES} allowed"
            )
        unexpected: list[str] = []
        try:
            for index, data in enumerate(messages):
                if index and index % _BUNDLE_YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                try:
                    msg = node_pb2.PeerMessage.FromString(data)
                except DecodeError as exc:
                    raise LedgerError(
                        Code.MALFORMED, f"message {index} of a bundle does not decode: {exc}"
                    ) from None
                kind = _kind(msg)
                if kind in _PAYLOAD_KINDS:
                    await self._deliver_payload(key, kind, msg)
                else:
                    unexpected.append(kind)
            if not count:  # never written by a sender, harmless: visible, like an empty message
                unexpected.append("empty bundle")
        finally:
            if unexpected:
                # One line per bundle, not per entry: a bundle must not multiply log volume.
                self.metrics.dropped("unexpected", len(unexpected))
                self.log.warning(
                    "unexpected messages in a bundle",
                    peer=key,
                    kinds=",".join(sorted(set(unexpected))),
                    count=len(unexpected),
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
        # RejectionInterceptor, undecodable bytes surface as LedgerError(MALFORMED).
        await self._network._serve(request_iterator, context)


async def _next(requests: AsyncIterator[Any]) -> Any:
    """The next request, or None at the end of the stream; garbage is a failed handshake."""
    try:
        return await anext(requests, None)
    except LedgerError as exc:
        raise HandshakeError("bad_handshake", exc.message) from None


def _count(children: dict[str, Any], family: Any, kind: str, count: int) -> None:
    """Add `count` to `family`'s child for `kind`, looked up once and kept in `children`."""
    counter = children.get(kind)
    if counter is None:
        counter = children[kind] = family.labels(kind=kind)
    counter.inc(count)


class _Inbound:
    """One authenticated stream a peer dialled to us: we only read from it."""

    def __init__(
        self,
        network: PeerNetwork,
        key: bytes,
        requests: AsyncIterator[Any],
        context: grpc.aio.ServicerContext[Any, Any],
    ) -> None:
        self.network = network
        self.key = key
        self.requests = requests
        self.context = context
        self.end_reason = ""
        self._closing: str | None = None
        self._closed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def run(self) -> None:
        # Reading happens in a task of our own so close() can interrupt it without
        # cancelling the task gRPC runs the handler in.
        reader = asyncio.get_running_loop().create_task(self._read_loop())
        self._reader = reader
        try:
            await asyncio.wait({reader})
        finally:
            reader.cancel()  # when the handler itself is cancelled (server stop, peer gone)
            self._closed.set()
        if reader.cancelled():
            # close() ended the stream: tell the peer why, then end the call with OK.
            self.end_reason = f"closed: {self._closing}"
            with contextlib.suppress(Exception):
                await self.context.write(node_pb2.PeerMessage(goodbye=node_pb2.Goodbye(reason=self._closing)))
            return
        exc = reader.exception()
        if isinstance(exc, LedgerError):  # bytes that are not a PeerMessage: end the stream
            self.end_reason = str(exc)
            self.network.metrics.dropped("malformed")
            await self.context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if exc is not None:
            self.end_reason = _describe(exc)
            raise exc

    async def _read_loop(self) -> None:
        async for msg in self.requests:
            kind = _kind(msg)
            if kind == "goodbye":
                self.end_reason = f"goodbye: {msg.goodbye.reason}"
                continue  # the peer half-closes next; EOF ends the loop
            await self.network._deliver(self.key, msg, kind)
        self.end_reason = self.end_reason or "stream closed by peer"

    async def close(self, reason: str) -> None:
        if self._closing is not None or self._closed.is_set():
            return
        self._closing = reason
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), 2.0)


class _Outbound:
    """Our stream to one peer: dial, handshake, drain the queue; redial with backoff."""

    def __init__(self, network: PeerNetwork, key: bytes, address: str) -> None:
        self.network = network
        self.key = key
        self.address = address
        self.queue: deque[tuple[bytes, str]] = deque()
        self.connected = False
        self.connects = 0
        self.last_error = ""
        self.log = network.log.bind(peer=key, address=address)
        self._wakeup = asyncio.Event()
        self._closing: str | None = None
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            loop = asyncio.get_running_loop()
            self._task = loop.create_task(self._run(), name=f"peer-{self.key.hex()[:8]}")

    def enqueue(self, data: bytes, kind: str) -> bool:
        if self._closing is not None:
            return False
        if len(self.queue) >= self.network.send_queue_size:
            self.queue.popleft()
            self.network.metrics.dropped("queue_full")
        self.queue.append((data, kind))
        self._wakeup.set()
        return True

    async def stop(self, reason: str) -> None:
        self._closing = reason
        self._wakeup.set()
        if self._task is None:
            return
        try:
            await asyncio.wait_for(asyncio.shield(self._task), 3.0)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        attempt = 0
        while self._closing is None:
            connects_before = self.connects
            try:
                await self._connect_once()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # every failure is logged and retried; none is fatal
                self.last_error = _describe(exc)
                self.log.info("peer connection failed", error=self.last_error, attempt=attempt)
            if self._closing is not None:
                return
            if self.connects > connects_before:  # it worked for a while: redial promptly
                attempt = 0
            # Exponential backoff with jitter: N validators restarting together must not
            # redial in lockstep, and a peer that is down for long costs little.
            ceiling = min(self.network.reconnect_max_s, self.network.reconnect_min_s * 2**attempt)
            attempt = min(attempt + 1, 32)
            self._wakeup.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wait_closing(), random.uniform(ceiling / 2, ceiling))

    async def _wait_closing(self) -> None:
        while self._closing is None:
            self._wakeup.clear()
            await self._wakeup.wait()

    async def _connect_once(self) -> None:
        net = self.network
        channel = grpc.aio.insecure_channel(self.address, options=channel_options(net.max_message_bytes))
        call: Any = None
        try:
            connect = channel.stream_stream(
                CONNECT_METHOD,
                request_serializer=_identity,  # the queue holds messages serialized once
                response_deserializer=node_pb2.PeerMessage.FromString,
            )
            call = connect()
            try:
                await asyncio.wait_for(self._handshake(call), net.handshake_timeout_s)
            except HandshakeError as exc:
                net.metrics.dropped(exc.reason)
                self.log.warning("peer failed our handshake", reason=str(exc))
                raise
            except Exception as exc:
                raise await _call_failure(call, _describe(exc)) from exc
            self.connected = True
            self.connects += 1
            self.last_error = ""
            net._update_connected_gauge()
            self.log.info("outbound stream up")
            if net._status is not None:  # the peer learns our height first thing
                self.queue.appendleft((net._status, "status"))
            if net._on_connected is not None:
                net._spawn(self._notify_connected())
            try:
                await self._pump(call)
            except Exception as exc:
                failure = await _call_failure(call, _describe(exc))
                if isinstance(failure, _StreamFailed) and failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
                    # The peer's limit is below ours: the message is lost, the stream redialled.
                    net.metrics.dropped("too_large")
                raise failure from exc
        finally:
            if self.connected:
                self.connected = False
                net._update_connected_gauge()
                self.log.info("outbound stream down", reason=self.last_error or "closed")
            if call is not None and not call.done():
                call.cancel()
            await channel.close()

    async def _notify_connected(self) -> None:
        assert self.network._on_connected is not None
        try:
            await self.network._on_connected(self.key)
        except Exception:
            self.network.log.exception("on_peer_connected callback failed", peer=self.key)

    async def _handshake(self, call: Any) -> None:
        net = self.network
        nonce = os.urandom(NONCE_SIZE)
        hello = node_pb2.Hello(
            protocol_version=PROTOCOL_VERSION, chain_id=net.chain_id, public_key=net.public_key, nonce=nonce
        )
        await call.write(node_pb2.PeerMessage(hello=hello).SerializeToString())
        reply = await call.read()
        if reply is grpc.aio.EOF or _kind(reply) != "hello_reply":
            raise HandshakeError("bad_handshake", "expected HelloReply")
        r = reply.hello_reply
        net._check_hello(r.chain_id, r.protocol_version, r.public_key, r.nonce)
        answered = bytes(r.public_key)
        if answered != self.key:
            raise HandshakeError(
                "unknown_peer", f"{self.address} answered as {answered.hex()}, expected {self.key.hex()}"
            )
        signed = handshake_message(net.chain_id, nonce, self.key, net.public_key)
        if not verify(self.key, signed, r.signature):
            raise HandshakeError("bad_handshake", f"signature does not prove key {self.key.hex()}")
        proof = node_pb2.HelloProof(signature=net._sign(bytes(r.nonce), self.key))
        await call.write(node_pb2.PeerMessage(hello_proof=proof).SerializeToString())
        accepted = await call.read()
        if accepted is grpc.aio.EOF or _kind(accepted) != "hello_accepted":
            raise HandshakeError("bad_handshake", "expected HelloAccepted")

    async def _pump(self, call: Any) -> None:
        """Write the queue until closing, while reading the (control-only) return stream."""
        writer = asyncio.ensure_future(self._write_loop(call))
        reader = asyncio.ensure_future(self._read_loop(call))
        try:
            done, _ = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
            if writer in done and writer.exception() is None:
                # We said Goodbye and half-closed: give the peer a moment to end the call.
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), 1.0)
            for task in (writer, reader):
                if task.done() and not task.cancelled() and task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
        finally:
            for task in (writer, reader):
                task.cancel()
            await asyncio.gather(writer, reader, return_exceptions=True)

    async def _write_loop(self, call: Any) -> None:
        net = self.network
        queue = self.queue
        budget = min(net.max_message_bytes, BUNDLE_MAX_BYTES) - _BUNDLE_FRAMING
        while True:
            if self._closing is not None:
                goodbye = node_pb2.PeerMessage(goodbye=node_pb2.Goodbye(reason=self._closing))
                await call.write(goodbye.SerializeToString())
                await call.done_writing()
                return
            if not queue:
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            data, kind = queue.popleft()
            if not queue or kind not in _PAYLOAD_KINDS or len(data) + _ENTRY_FRAMING > budget:
                await call.write(data)
                net._count_sent(kind)
                continue
            parts, kinds = self._take_bundle(data, kind, budget)
            if len(parts) == 1:  # the next one did not fit: no envelope for a single message
                await call.write(data)
            else:
                # Built by the message class: upb copies and frames the parts in C, a few
                # times cheaper than joining varint-framed pieces in Python.
                bundle = node_pb2.PeerMessage(bundle=node_pb2.Bundle(messages=parts))
                await call.write(bundle.SerializeToString())
            for sent_kind, count in kinds.items():
                net._count_sent(sent_kind, count)

    def _take_bundle(self, data: bytes, kind: str, budget: int) -> tuple[list[bytes], dict[str, int]]:
        """`data` and as many of the messages queued behind it as fit in one bundle, in order,
        with how many of each kind. Only payload kinds travel in a bundle (nothing else is
        queued today; anything that were would go alone, where the receiver expects it)."""
        queue = self.queue
        parts = [data]
        kinds = {kind: 1}
        size = len(data) + _ENTRY_FRAMING
        while queue and len(parts) < BUNDLE_MAX_MESSAGES:
            data, kind = queue[0]
            size += len(data) + _ENTRY_FRAMING
            if size > budget or kind not in _PAYLOAD_KINDS:
                break
            queue.popleft()
            parts.append(data)
            kinds[kind] = kinds.get(kind, 0) + 1
        return parts, kinds

    async def _read_loop(self, call: Any) -> None:
        while True:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                code = await call.code()
                if code != grpc.StatusCode.OK:
                    raise await _call_failure(call, "stream ended")
                self.last_error = self.last_error or "stream closed by peer"
                return
            if _kind(msg) == "goodbye":
                self.last_error = f"peer said goodbye: {msg.goodbye.reason}"
                self.log.info("peer said goodbye", reason=msg.goodbye.reason)
                continue
            self.network.metrics.dropped("unexpected")
            self.log.warning("unexpected message on our outbound stream", kind=_kind(msg))


class _StreamFailed(Exception):
    """The call ended with a non-OK status (the peer's rejection, a transport error)."""

    def __init__(self, code: grpc.StatusCode | None, details: str) -> None:
        super().__init__(f"{code.name if code else 'UNKNOWN'}: {details}")
        self.code = code


async def _call_failure(call: Any, what: str) -> Exception:
    """The call's own status when it has ended with one - the useful reason, since a write
    to a failed call only says "RPC already finished" - else a failure described by `what`."""
    if call.done():
        code = await call.code()
        if code != grpc.StatusCode.OK:
            return _StreamFailed(code, await call.details())
    return _StreamFailed(None, what)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
