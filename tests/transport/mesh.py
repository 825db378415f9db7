"""Helpers for transport tests: peer networks on 127.0.0.1 with ephemeral ports, in one loop."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import grpc.aio

from node.config import PeerConfig
from node.ledger.crypto import public_key, sign
from node.metrics import NodeMetrics
from node.net.peers import CONNECT_METHOD, PROTOCOL_VERSION, PeerNetwork, handshake_message
from proto import node_pb2

CHAIN = "cbdc-test"
FAST_BACKOFF = {"reconnect_min_s": 0.05, "reconnect_max_s": 0.4}


@dataclass
class Inbox:
    """A message handler that records what arrived, from whom, in order."""

    messages: list[tuple[bytes, node_pb2.PeerMessage]] = field(default_factory=list)

    async def __call__(self, key: bytes, msg: node_pb2.PeerMessage) -> None:
        self.messages.append((key, msg))

    def votes_from(self, key: bytes) -> list[bytes]:
        return [m.vote for k, m in self.messages if k == key and m.WhichOneof("kind") == "vote"]


@dataclass
class Member:
    seed: bytes
    net: PeerNetwork
    inbox: Inbox
    port: int

    @property
    def key(self) -> bytes:
        return self.net.public_key

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def peer_config(self) -> PeerConfig:
        return PeerConfig(address=self.address, validator_key=self.key)


async def start_member(
    seed: bytes | None = None, *, chain: str = CHAIN, port: int = 0, **kwargs: object
) -> Member:
    seed = seed or os.urandom(32)
    inbox = Inbox()
    options: dict[str, object] = {**FAST_BACKOFF, "metrics": NodeMetrics(), **kwargs}
    net = PeerNetwork(chain, seed, inbox, **options)  # type: ignore[arg-type]
    bound = await net.start(f"127.0.0.1:{port}")
    assert bound is not None
    return Member(seed=seed, net=net, inbox=inbox, port=bound)


def connect_all(members: list[Member]) -> None:
    """Every member lists every other one as a peer."""
    for m in members:
        m.net.update_peers([o.peer_config() for o in members if o is not m])


async def wait_until(predicate: Callable[[], bool], timeout: float = 10.0, what: str = "condition") -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.01)


async def fully_connected(members: list[Member], timeout: float = 10.0) -> None:
    n = len(members) - 1
    await wait_until(
        lambda: all(len(m.net.connected_peers()) == n and len(m.net.inbound_peers()) == n for m in members),
        timeout,
        "a full mesh",
    )


async def pair(**kwargs: object) -> tuple[Member, Member]:
    """Two members (started with `kwargs`), each the other's only peer, connected both ways."""
    a, b = await start_member(**kwargs), await start_member(**kwargs)
    a.net.update_peers([b.peer_config()])
    b.net.update_peers([a.peer_config()])
    await fully_connected([a, b])
    return a, b


async def stop_all(members: list[Member]) -> None:
    await asyncio.gather(*(m.net.stop() for m in members))


def vote(payload: bytes) -> node_pb2.PeerMessage:
    return node_pb2.PeerMessage(vote=payload)


async def dial_by_hand(channel: grpc.aio.Channel, seed: bytes, target: Member, chain: str = CHAIN) -> Any:
    """A Peer stream to `target`, handshaken by hand as the validator `seed`, on which the
    test writes raw bytes (what a hostile or differently built peer could send)."""
    connect = channel.stream_stream(
        CONNECT_METHOD, request_serializer=bytes, response_deserializer=node_pb2.PeerMessage.FromString
    )
    call = connect()
    key = public_key(seed)
    nonce = os.urandom(32)
    hello = node_pb2.Hello(protocol_version=PROTOCOL_VERSION, chain_id=chain, public_key=key, nonce=nonce)
    await call.write(node_pb2.PeerMessage(hello=hello).SerializeToString())
    reply = (await call.read()).hello_reply
    proof = sign(seed, handshake_message(chain, reply.nonce, key, target.key))
    proof_msg = node_pb2.PeerMessage(hello_proof=node_pb2.HelloProof(signature=proof))
    await call.write(proof_msg.SerializeToString())
    accepted = await call.read()
    assert accepted.WhichOneof("kind") == "hello_accepted"
    return call
