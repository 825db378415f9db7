"""The two kinds of stream between validators, one per direction.

OutboundStream: our stream to one peer. It dials, runs our half of the handshake, drains
the peer's send queue (in bundles, node.net.peers.bundle) and redials with backoff; it never
reads anything but control messages. InboundStream: a stream a peer dialled to us, after
the handshake: only read, each message handed to the network's delivery, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import deque
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from proto import node_pb2

from node.ledger.errors import Code, LedgerError
from node.net.peers.bundle import FramingError, Queued, bundle_budget, kind_of, take
from node.net.peers.handshake import CONNECT_METHOD, HandshakeError, dial

if TYPE_CHECKING:
    from node.net.peers.network import PeerNetwork


def _identity(data: bytes) -> bytes:
    return data


class InboundStream:
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
        if isinstance(exc, FramingError):  # bytes that are not a PeerMessage: end the stream
            self.end_reason = str(exc)
            self.network.metrics.dropped(exc.reason)
            await self.context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
        if exc is not None:
            self.end_reason = describe(exc)
            raise exc

    async def _read_loop(self) -> None:
        try:
            async for msg in self.requests:
                kind = kind_of(msg)
                if kind == "goodbye":
                    self.end_reason = f"goodbye: {msg.goodbye.reason}"
                    continue  # the peer half-closes next; EOF ends the loop
                await self.network._deliver(self.key, msg, kind)
        except LedgerError as exc:
            # Behind the RejectionInterceptor, request bytes that do not decode come out of
            # the iterator as LedgerError(MALFORMED): for this stream that is broken framing.
            if exc.code != Code.MALFORMED:
                raise
            raise FramingError(exc.message) from None
        self.end_reason = self.end_reason or "stream closed by peer"

    async def close(self, reason: str) -> None:
        if self._closing is not None or self._closed.is_set():
            return
        self._closing = reason
        if self._reader is not None:
            self._reader.cancel()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._closed.wait(), 2.0)


class OutboundStream:
    """Our stream to one peer: dial, handshake, drain the queue; redial with backoff.

    Sending never blocks: messages go to a bounded queue that drops its oldest entry when
    the peer falls behind (consensus re-sends what matters on its timeouts; a stale vote is
    worth less than a fresh one), so a slow or dead peer only ever affects its own queue.
    The writer takes everything queued when it runs: messages queued together (in one turn
    of the event loop) share one write (node.net.peers.bundle)."""

    def __init__(self, network: PeerNetwork, key: bytes, address: str) -> None:
        self.network = network
        self.key = key
        self.address = address
        self.queue: deque[Queued] = deque()
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
                self.last_error = describe(exc)
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
        channel = net.channel_to(self.address, self.key)
        call: Any = None
        try:
            connect = channel.stream_stream(
                CONNECT_METHOD,
                request_serializer=_identity,  # the queue holds messages serialized once
                response_deserializer=node_pb2.PeerMessage.FromString,
            )
            call = connect()
            try:
                handshake = dial(net.identity, call, self.key, self.address)
                await asyncio.wait_for(handshake, net.handshake_timeout_s)
            except HandshakeError as exc:
                net.metrics.dropped(exc.reason)
                self.log.warning("peer failed our handshake", reason=str(exc))
                raise
            except Exception as exc:
                raise await call_failure(call, describe(exc)) from exc
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
                failure = await call_failure(call, describe(exc))
                if isinstance(failure, StreamFailed) and failure.code == grpc.StatusCode.RESOURCE_EXHAUSTED:
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
        budget = bundle_budget(net.max_message_bytes)
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
            write = take(queue, budget)
            await call.write(write.data)
            net._count_write()
            for sent_kind, count in write.kinds.items():
                net._count_sent(sent_kind, count)

    async def _read_loop(self, call: Any) -> None:
        while True:
            msg = await call.read()
            if msg is grpc.aio.EOF:
                code = await call.code()
                if code != grpc.StatusCode.OK:
                    raise await call_failure(call, "stream ended")
                self.last_error = self.last_error or "stream closed by peer"
                return
            if kind_of(msg) == "goodbye":
                self.last_error = f"peer said goodbye: {msg.goodbye.reason}"
                self.log.info("peer said goodbye", reason=msg.goodbye.reason)
                continue
            self.network.metrics.dropped("unexpected")
            self.log.warning("unexpected message on our outbound stream", kind=kind_of(msg))


class StreamFailed(Exception):
    """The call ended with a non-OK status (the peer's rejection, a transport error)."""

    def __init__(self, code: grpc.StatusCode | None, details: str) -> None:
        super().__init__(f"{code.name if code else 'UNKNOWN'}: {details}")
        self.code = code


async def call_failure(call: Any, what: str) -> Exception:
    """The call's own status when it has ended with one - the useful reason, since a write
    to a failed call only says "RPC already finished" - else a failure described by `what`."""
    if call.done():
        code = await call.code()
        if code != grpc.StatusCode.OK:
            return StreamFailed(code, await call.details())
    return StreamFailed(None, what)


def describe(exc: BaseException) -> str:
    """A short reason for logs and PeerState.last_error."""
    if isinstance(exc, grpc.aio.AioRpcError):
        return f"{exc.code().name}: {exc.details()}"
    if isinstance(exc, TimeoutError):
        return "timed out"
    return str(exc) or type(exc).__name__
