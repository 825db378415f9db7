"""Bundles: messages queued together for a peer travel in one gRPC write and arrive one by
one, in order, as if each had come alone; hostile bundles are refused without harm. Real
PeerNetworks on 127.0.0.1 (ephemeral ports) in one event loop."""

from __future__ import annotations

import asyncio
import os
from collections import Counter
from collections.abc import Sequence

import grpc
import grpc.aio
import pytest

from node.config import PeerConfig
from node.ledger.crypto import public_key
from node.net.peers import BUNDLE_MAX_BYTES, BUNDLE_MAX_MESSAGES, PeerNetwork
from proto import node_pb2

from .mesh import dial_by_hand, pair, start_member, stop_all, vote, wait_until


def record_bundles(net: PeerNetwork) -> list[list[bytes]]:
    """The entries of every bundle `net` receives, as they came off the wire."""
    seen: list[list[bytes]] = []
    deliver = net._deliver_bundle

    async def spy(key: bytes, messages: Sequence[bytes]) -> None:
        seen.append(list(messages))
        await deliver(key, messages)

    net._deliver_bundle = spy  # type: ignore[method-assign]
    return seen


def bundle(*messages: bytes) -> bytes:
    return node_pb2.PeerMessage(bundle=node_pb2.Bundle(messages=messages)).SerializeToString()


def sample(kind: str, n: int) -> node_pb2.PeerMessage:
    tag = n.to_bytes(4, "big")
    return {
        "vote": lambda: vote(b"vote" + tag),
        "tx_batch": lambda: node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=[tag + b"a", tag + b"b"])),
        "proposal": lambda: node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=tag, block=tag * 50)),
        "evidence": lambda: node_pb2.PeerMessage(evidence=b"ev" + tag),
        "status": lambda: node_pb2.PeerMessage(
            status=node_pb2.StatusAnnouncement(height=n, block_hash=tag * 8)
        ),
        "commit": lambda: node_pb2.PeerMessage(commit=b"commit" + tag),
    }[kind]()


def test_messages_queued_together_arrive_one_by_one_in_order_and_are_counted_by_kind() -> None:
    async def scenario() -> None:
        a, b = await pair(send_queue_size=2000)
        bundles = record_bundles(b.net)
        kinds = ["tx_batch", "vote", "vote", "status", "vote", "proposal", "evidence", "commit"]
        sent = [sample(kinds[n % len(kinds)], n) for n in range(1000)]
        for msg in sent:  # all queued before the writer runs: it finds 1000 waiting
            assert a.net.send(b.key, msg)

        await wait_until(lambda: len(b.inbox.messages) == len(sent), what="every message")
        assert all(key == a.key for key, _ in b.inbox.messages)
        assert [msg for _, msg in b.inbox.messages] == sent  # same content, same order
        # They travelled as full bundles plus the remainder, and the handler never saw one.
        assert [len(entries) for entries in bundles] == [256, 256, 256, 232] and BUNDLE_MAX_MESSAGES == 256
        assert [node_pb2.PeerMessage.FromString(e) for entries in bundles for e in entries] == sent
        by_kind = Counter(msg.WhichOneof("kind") for msg in sent)
        for kind, count in by_kind.items():
            assert a.net.metrics.registry.get_sample_value(
                "cbdc_peer_messages_sent_total", {"kind": kind}
            ) == count
            assert b.net.metrics.registry.get_sample_value(
                "cbdc_peer_messages_received_total", {"kind": kind}
            ) == count
        for metric in ("cbdc_peer_messages_sent_total", "cbdc_peer_messages_received_total"):
            assert a.net.metrics.registry.get_sample_value(metric, {"kind": "bundle"}) is None
            assert b.net.metrics.registry.get_sample_value(metric, {"kind": "bundle"}) is None
        assert b.net.max_peer_height() == max(m.status.height for m in sent if m.HasField("status"))

        # A lone message goes without an envelope.
        a.net.send(b.key, vote(b"alone"))
        await wait_until(lambda: b.inbox.votes_from(a.key)[-1:] == [b"alone"], what="lone vote")
        assert len(bundles) == 4
        await stop_all([a, b])

    asyncio.run(scenario())


def test_messages_too_big_to_share_a_write_go_alone_and_bundles_stay_within_the_limit() -> None:
    async def scenario() -> None:
        limit = 64 * 1024
        a, b = await pair(max_message_bytes=limit)
        bundles = record_bundles(b.net)

        def sized(size: int, n: int) -> bytes:
            # A vote serializes as tag (1) + length (3 bytes at these sizes) + payload.
            payload = n.to_bytes(4, "big") + b"x" * (size - 8)
            assert vote(payload).ByteSize() == size
            return payload

        small = [n.to_bytes(2, "big") for n in range(4)]
        biggest = [sized(limit, n) for n in range(2)]  # exactly at the limit: fits only alone
        # Two that fit together with the bundle's framing, with 1 byte to spare, and two that
        # fit together only without it (together they would be refused by b's gRPC).
        halves = [sized((limit - 7) // 2 - 6, n) for n in range(2)]
        tight = [sized(limit // 2, n) for n in range(2)]
        order = [small[0], biggest[0], small[1], small[2], biggest[1], *halves, *tight, small[3]]
        for payload in order:
            a.net.send(b.key, vote(payload))

        await wait_until(lambda: len(b.inbox.messages) == len(order), what="every message")
        assert b.inbox.votes_from(a.key) == order
        assert [[node_pb2.PeerMessage.FromString(e).vote for e in entries] for entries in bundles] == [
            [small[1], small[2]],
            halves,
            [tight[1], small[3]],
        ]
        assert a.net.metrics.dropped_count("too_large") == 0
        assert a.net.peer_states()[0].connects == 1  # no write was refused by b's gRPC
        await stop_all([a, b])

    asyncio.run(scenario())


def test_bundles_stay_under_their_own_byte_cap_below_a_larger_message_limit() -> None:
    async def scenario() -> None:
        a, b = await pair()  # 16 MiB messages
        bundles = record_bundles(b.net)
        third = BUNDLE_MAX_BYTES // 3
        payloads = [bytes([n]) * third for n in range(4)] + [b"tail"]
        for payload in payloads:
            a.net.send(b.key, vote(payload))
        await wait_until(lambda: len(b.inbox.messages) == len(payloads), what="every message")
        assert b.inbox.votes_from(a.key) == payloads
        # Three thirds and their framing overflow the cap: two go together, then the others.
        assert [len(entries) for entries in bundles] == [2, 3]
        assert all(sum(len(e) for e in entries) < BUNDLE_MAX_BYTES for entries in bundles)
        await stop_all([a, b])

    asyncio.run(scenario())


def test_hostile_bundles_are_dropped_and_counted_and_the_node_keeps_working() -> None:
    async def scenario() -> None:
        b, c = await start_member(), await start_member()
        hostile_seed = os.urandom(32)
        hostile = public_key(hostile_seed)
        # b accepts the hostile validator's key (it is a configured peer), which never
        # listens: the test is the only one to speak as it.
        b.net.update_peers([PeerConfig("127.0.0.1:1", hostile), c.peer_config()])
        c.net.update_peers([b.peer_config()])
        await wait_until(lambda: c.key in b.net.inbound_peers(), what="c's stream to b")
        metrics = b.net.metrics

        async with grpc.aio.insecure_channel(b.address) as channel:
            call = await dial_by_hand(channel, hostile_seed, b)
            # Kinds that may not travel in a bundle are dropped, the others arrive in order.
            hello = node_pb2.PeerMessage(hello=node_pb2.Hello(protocol_version=1, chain_id="x"))
            goodbye = node_pb2.PeerMessage(goodbye=node_pb2.Goodbye(reason="inside a bundle"))
            await call.write(
                bundle(
                    vote(b"v1").SerializeToString(),
                    bundle(vote(b"nested").SerializeToString()),  # never unpacked
                    hello.SerializeToString(),
                    goodbye.SerializeToString(),
                    b"",  # parses as a PeerMessage of no kind
                    vote(b"v2").SerializeToString(),
                )
            )
            await call.write(bundle())
            await call.write(vote(b"v3").SerializeToString())
            await wait_until(lambda: len(b.inbox.votes_from(hostile)) == 3, what="the three votes")
            assert b.inbox.votes_from(hostile) == [b"v1", b"v2", b"v3"]
            assert metrics.dropped_count("unexpected") == 5  # nested, hello, goodbye, empty, empty bundle
            received = metrics.registry.get_sample_value
            assert received("cbdc_peer_messages_received_total", {"kind": "vote"}) == 3
            assert hostile in b.net.inbound_peers()  # the stream goes on

            # Bytes that are not a PeerMessage end the stream, in a bundle as outside one;
            # what came before them was handled.
            v4, v5 = vote(b"v4").SerializeToString(), vote(b"v5").SerializeToString()
            await call.write(bundle(v4, b"\xff\xff\xff\xff", v5))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(call.read(), 10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details().startswith("malformed: message 1 of a bundle does not decode")
            assert b.inbox.votes_from(hostile) == [b"v1", b"v2", b"v3", b"v4"]
            assert metrics.dropped_count("malformed") == 1

            # A million empty entries (2 MB, under the message limit): refused as a whole,
            # before any entry is looked at.
            call = await dial_by_hand(channel, hostile_seed, b)
            await call.write(bundle(*[b""] * 1_000_000))
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await asyncio.wait_for(call.read(), 10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert err.value.details() == (
                f"malformed: a bundle of 1000000 messages, more than the {BUNDLE_MAX_MESSAGES} allowed"
            )
            assert metrics.dropped_count("malformed") == 2
            assert metrics.dropped_count("unexpected") == 5
            await wait_until(lambda: hostile not in b.net.inbound_peers(), what="the stream to end")

        # The honest peer's stream was never disturbed, and b still hears it.
        for n in range(3):
            c.net.broadcast(vote(b"honest-%d" % n))
        await wait_until(lambda: len(b.inbox.votes_from(c.key)) == 3, what="c's votes")
        assert b.inbox.votes_from(c.key) == [b"honest-0", b"honest-1", b"honest-2"]
        assert c.net.peer_states()[0].connects == 1
        await stop_all([b, c])

    asyncio.run(scenario())
