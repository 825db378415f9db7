"""Building the node's grpc.aio servers and channels with one set of limits.

Every server gets the standard health service (grpc.health.v1) and server reflection, so
generic tools (grpcurl, grpc_health_probe, load balancers) work against a node, and the
RejectionInterceptor, so handlers raise LedgerError/NodeError instead of aborting by hand.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc
import grpc.aio
from grpc_health.v1 import health as grpc_health
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from proto import node_pb2

from node.net.grpc_status import RejectionInterceptor

_SERVICES = node_pb2.DESCRIPTOR.services_by_name
PEER_SERVICE: str = _SERVICES["Peer"].full_name   # "cbdc.node.v1.Peer"
SYNC_SERVICE: str = _SERVICES["Sync"].full_name
NODE_SERVICE: str = _SERVICES["Node"].full_name
HEALTH_SERVICE: str = health_pb2.DESCRIPTOR.services_by_name["Health"].full_name

# Keepalive: a peer that vanished without closing its TCP connection (power loss, cable,
# partition) is noticed within ~15 s instead of the kernel's hours, and the stream is
# redialled. The server must accept pings that often or it answers with GOAWAY.
KEEPALIVE_TIME_MS = 10_000
KEEPALIVE_TIMEOUT_MS = 5_000
MIN_PING_INTERVAL_MS = 5_000


def server_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.http2.min_ping_interval_without_data_ms", MIN_PING_INTERVAL_MS),
        ("grpc.keepalive_permit_without_calls", 1),
        # Exactly one process may own a node's port: never share it with a stale instance.
        ("grpc.so_reuseport", 0),
    ]


def channel_options(max_message_bytes: int) -> list[tuple[str, Any]]:
    return [
        ("grpc.max_receive_message_length", max_message_bytes),
        ("grpc.max_send_message_length", max_message_bytes),
        ("grpc.keepalive_time_ms", KEEPALIVE_TIME_MS),
        ("grpc.keepalive_timeout_ms", KEEPALIVE_TIMEOUT_MS),
        ("grpc.keepalive_permit_without_calls", 1),
    ]


def insecure_channel(address: str, max_message_bytes: int) -> grpc.aio.Channel:
    """A plaintext client channel with the node's limits (`[tls] insecure = true` only)."""
    return grpc.aio.insecure_channel(address, options=channel_options(max_message_bytes))


def open_channel(
    address: str,
    max_message_bytes: int,
    credentials: grpc.ChannelCredentials | None = None,
    target_name: str | None = None,
) -> grpc.aio.Channel:
    """A client channel with the node's limits: TLS with `credentials`, checking the server's
    certificate under `target_name` (node.net.tls.key_name / API_NAME), else plaintext."""
    if credentials is None:
        return insecure_channel(address, max_message_bytes)
    options = channel_options(max_message_bytes)
    if target_name:
        options.append(("grpc.ssl_target_name_override", target_name))
    return grpc.aio.secure_channel(address, credentials, options=options)


# A registrar adds servicers to a server, e.g. `lambda s: add_NodeServicer_to_server(svc, s)`
# or `peer_network.attach`.
Registrar = Callable[[grpc.aio.Server], None]


@dataclass
class GrpcServer:
    """A started server. `port` is the bound port (the real one when asked for port 0)."""

    server: grpc.aio.Server
    port: int
    health: grpc_health.aio.HealthServicer
    service_names: tuple[str, ...] = field(default=())

    async def set_serving(self, service: str, serving: bool) -> None:
        """Report `service` (or "" for the whole server) as SERVING / NOT_SERVING, e.g.
        NOT_SERVING for the Node service while the node is still syncing."""
        states = health_pb2.HealthCheckResponse
        await self.health.set(service, states.SERVING if serving else states.NOT_SERVING)

    async def stop(self, grace: float | None = 2.0) -> None:
        """Report NOT_SERVING, let in-flight calls finish for `grace` seconds, then cancel."""
        await self.health.enter_graceful_shutdown()
        await self.server.stop(grace)


async def start_server(
    address: str,
    registrars: Sequence[Registrar],
    service_names: Sequence[str],
    *,
    max_message_bytes: int,
    interceptors: Sequence[grpc.aio.ServerInterceptor] = (),
    credentials: grpc.ServerCredentials | None = None,
) -> GrpcServer:
    """Create, register, bind and start an aio server on `address` ("host:port", port 0 for
    an ephemeral one). `service_names` are the full names of the services the registrars
    add; each is reported SERVING by the health service and listed by reflection.

    Must run inside the event loop that will serve it. Raises OSError if the address cannot
    be bound (gRPC itself only returns port 0 for that). With `credentials` the port speaks
    TLS only (a plaintext client fails its handshake); without, plaintext only."""
    server = grpc.aio.server(
        interceptors=[RejectionInterceptor(), *interceptors],
        options=server_options(max_message_bytes),
    )
    for register in registrars:
        register(server)
    health_servicer = grpc_health.aio.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    for name in service_names:
        await health_servicer.set(name, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection(
        (*service_names, HEALTH_SERVICE, reflection.SERVICE_NAME), server
    )
    try:
        if credentials is None:
            port = server.add_insecure_port(address)
        else:
            port = server.add_secure_port(address, credentials)
    except RuntimeError as exc:  # grpcio raises RuntimeError("Failed to bind ...") on some paths
        raise OSError(f"cannot listen on {address}: {exc}") from None
    if port == 0:
        raise OSError(f"cannot listen on {address}: address in use or not available")
    await server.start()
    return GrpcServer(server=server, port=port, health=health_servicer, service_names=tuple(service_names))
