"""The server builder: health, reflection, limits and rejection mapping on a real aio server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from typing import Any

import grpc
import grpc.aio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from node.config import PeerConfig
from node.ledger.errors import Code, LedgerError
from node.net.grpc_server import (
    HEALTH_SERVICE,
    NODE_SERVICE,
    PEER_SERVICE,
    SYNC_SERVICE,
    GrpcServer,
    insecure_channel,
    start_server,
)
from node.net.grpc_status import NodeCode, NodeError, parse_rpc_error
from node.net.peers import PeerNetwork
from proto import node_pb2, node_pb2_grpc

from .mesh import CHAIN, FAST_BACKOFF, Inbox, vote, wait_until

LIMIT = 64 * 1024


class FakeNode(node_pb2_grpc.NodeServicer):
    """Just enough of the Node API to exercise the server plumbing (the real one is the node's)."""

    async def SubmitTransaction(self, request: Any, context: Any) -> node_pb2.SubmitTransactionResponse:
        if request.tx == b"poor":
            raise LedgerError(Code.INSUFFICIENT_FUNDS, "inputs total 100 fen but outputs need 200")
        if request.tx == b"again":
            raise LedgerError(Code.DUPLICATE, "transaction ab is already pending")
        return node_pb2.SubmitTransactionResponse(txid=b"\x01" * 32, status=node_pb2.TX_STATUS_PENDING)

    async def GetStatus(self, request: Any, context: Any) -> node_pb2.NodeStatus:
        return node_pb2.NodeStatus(chain_id=CHAIN, height=5)

    async def WatchBlocks(self, request: Any, context: Any) -> AsyncIterator[node_pb2.CommittedBlockMsg]:
        yield node_pb2.CommittedBlockMsg(height=request.from_height)
        raise NodeError(NodeCode.SYNCING, "catching up from height 3 to 90")


async def serve_fake(address: str = "127.0.0.1:0") -> GrpcServer:
    return await start_server(
        address,
        [lambda s: node_pb2_grpc.add_NodeServicer_to_server(FakeNode(), s)],
        [NODE_SERVICE],
        max_message_bytes=LIMIT,
    )


def test_health_answers_for_the_server_and_each_service() -> None:
    async def scenario() -> None:
        server = await serve_fake()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            serving = health_pb2.HealthCheckResponse.SERVING
            for service in ("", NODE_SERVICE):
                reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert reply.status == serving
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await health.Check(health_pb2.HealthCheckRequest(service=SYNC_SERVICE))
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
            await server.set_serving(NODE_SERVICE, False)  # e.g. while syncing
            reply = await health.Check(health_pb2.HealthCheckRequest(service=NODE_SERVICE))
            assert reply.status == health_pb2.HealthCheckResponse.NOT_SERVING
        await server.stop(0)

    asyncio.run(scenario())


def test_reflection_lists_and_describes_the_services() -> None:
    async def scenario() -> None:
        server = await serve_fake()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            stub = reflection_pb2_grpc.ServerReflectionStub(channel)
            requests = [
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(file_containing_symbol=NODE_SERVICE),
            ]
            replies = [r async for r in stub.ServerReflectionInfo(iter(requests))]
        names = {s.name for s in replies[0].list_services_response.service}
        assert {NODE_SERVICE, HEALTH_SERVICE, "grpc.reflection.v1alpha.ServerReflection"} <= names
        files = replies[1].file_descriptor_response.file_descriptor_proto
        assert files, "the descriptor of node.proto (and what it imports) is served"
        await server.stop(0)

    asyncio.run(scenario())


def test_raised_rejections_become_statuses_with_the_machine_code() -> None:
    async def scenario() -> None:
        server = await serve_fake()
        async with grpc.aio.insecure_channel(f"127.0.0.1:{server.port}") as channel:
            node = node_pb2_grpc.NodeStub(channel)
            ok = await node.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=b"fine"))
            assert ok.status == node_pb2.TX_STATUS_PENDING
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await node.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=b"poor"))
            assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert err.value.details() == "insufficient_funds: inputs total 100 fen but outputs need 200"
            code, message = parse_rpc_error(err.value)
            assert (code, message) == ("insufficient_funds", "inputs total 100 fen but outputs need 200")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await node.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=b"again"))
            assert err.value.code() == grpc.StatusCode.ALREADY_EXISTS

            # A streaming handler: what was sent arrives, then the status.
            got = []
            with pytest.raises(grpc.aio.AioRpcError) as err:
                async for block in node.WatchBlocks(node_pb2.WatchBlocksRequest(from_height=3)):
                    got.append(block.height)
            assert got == [3]
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert parse_rpc_error(err.value) == ("syncing", "catching up from height 3 to 90")
        await server.stop(0)

    asyncio.run(scenario())


def test_an_oversized_request_is_refused_and_the_server_keeps_serving() -> None:
    async def scenario() -> None:
        server = await serve_fake()
        # The client allows itself more than the server accepts.
        async with insecure_channel(f"127.0.0.1:{server.port}", 8 * LIMIT) as channel:
            node = node_pb2_grpc.NodeStub(channel)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await node.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=b"x" * (2 * LIMIT)))
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            assert parse_rpc_error(err.value)[0] == "message_too_large"
            # Garbage that is not a SubmitTransactionRequest at all.
            raw = channel.unary_unary("/cbdc.node.v1.Node/SubmitTransaction")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await raw(b"\xff\xff\xff\xff")
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            code, message = parse_rpc_error(err.value)
            assert code == "malformed"
            assert message.startswith("request to /cbdc.node.v1.Node/SubmitTransaction does not decode")
            status = await node.GetStatus(node_pb2.GetStatusRequest())
            assert (status.chain_id, status.height) == (CHAIN, 5)
        await server.stop(0)

    asyncio.run(scenario())


def test_a_port_in_use_is_an_error_not_a_shared_port() -> None:
    async def scenario() -> None:
        first = await serve_fake()
        with pytest.raises(OSError, match="cannot listen on"):
            await serve_fake(f"127.0.0.1:{first.port}")
        await first.stop(0)

    asyncio.run(scenario())


def test_the_peer_service_can_share_a_server_with_the_api() -> None:
    async def scenario() -> None:
        inboxes = [Inbox(), Inbox()]
        nets = [PeerNetwork(CHAIN, os.urandom(32), inbox, **FAST_BACKOFF) for inbox in inboxes]  # type: ignore[arg-type]
        servers = [
            await start_server(
                "127.0.0.1:0",
                [net.attach, lambda s: node_pb2_grpc.add_NodeServicer_to_server(FakeNode(), s)],
                [PEER_SERVICE, NODE_SERVICE],
                max_message_bytes=LIMIT,
            )
            for net in nets
        ]
        for i, net in enumerate(nets):
            other = 1 - i
            net.update_peers([PeerConfig(f"127.0.0.1:{servers[other].port}", nets[other].public_key)])
            assert await net.start() is None  # no server of its own
        await wait_until(lambda: all(net.connected_peers() for net in nets), what="connection")
        nets[0].broadcast(vote(b"shared"))
        await wait_until(lambda: inboxes[1].votes_from(nets[0].public_key) == [b"shared"], what="vote")
        for net in nets:
            await net.stop()
        for server in servers:
            await server.stop(0)

    asyncio.run(scenario())
