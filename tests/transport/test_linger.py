"""Lingering: a message that can wait (gossip) is queued without a write of its
own and leaves with the next message that cannot wait, or when its linger runs out; nothing
is reordered. Real PeerNetworks on 127.0.0.1 (ephemeral ports) in one event loop."""

from __future__ import annotations

import asyncio

from node.net.peers import PeerNetwork
from proto import node_pb2

from .mesh import Member, fully_connected, start_member, stop_all, vote, wait_until


def writes(net: PeerNetwork) -> float:
    return net.metrics.registry.get_sample_value("cbdc_peer_stream_writes_total") or 0.0


def gossip(tag: bytes) -> node_pb2.PeerMessage:
    return node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=[tag]))


async def pair() -> tuple[Member, Member]:
    a, b = await start_member(), await start_member()
    a.net.update_peers([b.peer_config()])
    b.net.update_peers([a.peer_config()])
    await fully_connected([a, b])
    return a, b


def kinds(member: Member, sender: Member) -> list[str | None]:
    return [msg.WhichOneof("kind") for key, msg in member.inbox.messages if key == sender.key]


def test_a_lingering_message_leaves_with_the_next_urgent_one_in_the_same_write() -> None:
    async def scenario() -> None:
        a, b = await pair()
        before = writes(a.net)
        # Long lingers: only the vote can make these leave within the test.
        assert a.net.send(b.key, gossip(b"g1"), linger_s=30)
        assert a.net.broadcast(gossip(b"g2"), linger_s=30) == 1
        a.net.send(b.key, vote(b"urgent"))
        await wait_until(lambda: b.inbox.votes_from(a.key) == [b"urgent"], what="the vote")
        # Queued first, delivered first, all three in one write.
        assert kinds(b, a) == ["tx_batch", "tx_batch", "vote"]
        assert [m.tx_batch.txs[0] for _, m in b.inbox.messages[:2]] == [b"g1", b"g2"]
        assert writes(a.net) == before + 1
        assert a.net.metrics.registry.get_sample_value(
            "cbdc_peer_messages_sent_total", {"kind": "tx_batch"}
        ) == 2
        await stop_all([a, b])

    asyncio.run(scenario())


async def one_write_after(a: Member, b: Member, messages: list[tuple[bytes, float]]) -> float:
    """Send each (payload, linger) as gossip from a to b; once all arrived, check they took one
    write and return how long after the sends they arrived."""
    loop = asyncio.get_running_loop()
    before = writes(a.net)
    queued_at = loop.time()
    for payload, linger_s in messages:
        assert a.net.send(b.key, gossip(payload), linger_s=linger_s)
    await wait_until(lambda: len(b.inbox.messages) == len(messages), what="the lingering messages")
    waited = loop.time() - queued_at
    assert [m.tx_batch.txs[0] for _, m in b.inbox.messages] == [p for p, _ in messages]
    assert writes(a.net) == before + 1
    return waited


def test_a_lingering_message_alone_leaves_when_its_linger_runs_out() -> None:
    async def scenario() -> None:
        a, b = await pair()
        waited = await one_write_after(a, b, [(b"g", 0.3)])
        assert waited >= 0.3, f"left after {waited:.3f} s, before its linger ran out"
        await stop_all([a, b])

    asyncio.run(scenario())


def test_the_earliest_due_lingering_message_takes_the_others_with_it() -> None:
    async def scenario() -> None:
        a, b = await pair()
        # A later message with a shorter linger brings the flush forward; one with a longer
        # linger rides along with whatever is due first. All three in one write, in order.
        waited = await one_write_after(a, b, [(b"late", 30), (b"soon", 0.2), (b"later", 60)])
        assert 0.2 <= waited < 30
        await stop_all([a, b])

    asyncio.run(scenario())
