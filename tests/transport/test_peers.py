"""The peer transport with real grpc.aio servers on 127.0.0.1 (ephemeral ports), several
PeerNetwork instances in one event loop."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import grpc
import grpc.aio
import pytest

from node.config import PeerConfig, load_config, write_default_config
from node.ledger.crypto import sign, verify
from node.net.peers import CONNECT_METHOD, PROTOCOL_VERSION, PeerNetwork, handshake_message
from proto import node_pb2

from .mesh import (
    CHAIN,
    FAST_BACKOFF,
    Inbox,
    connect_all,
    fully_connected,
    start_member,
    stop_all,
    vote,
    wait_until,
)


def test_four_validators_exchange_every_kind_of_message_in_order() -> None:
    async def scenario() -> None:
        members = [await start_member() for _ in range(4)]
        connect_all(members)
        await fully_connected(members)
        for i, m in enumerate(members):
            for n in range(20):
                assert m.net.broadcast(vote(bytes([i, n]))) == 3
        a, b = members[0], members[1]
        a.net.broadcast(node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=b"p", block=b"blk")))
        a.net.broadcast(node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=[b"t1", b"t2"])))
        a.net.broadcast(node_pb2.PeerMessage(evidence=b"ev"))
        assert a.net.send(b.key, vote(b"only-for-b"))
        a.net.announce_status(7, b"\x07" * 32)

        await wait_until(lambda: all(len(m.inbox.messages) >= 60 for m in members), what="all votes")
        await wait_until(lambda: any(p.height == 7 for p in b.net.peer_states()), what="status")
        for m in members:
            for i, other in enumerate(members):
                if other is not m:
                    # Each sender's messages arrive once each, in the order it sent them.
                    got = [v for v in m.inbox.votes_from(other.key) if v != b"only-for-b"]
                    assert got == [bytes([i, n]) for n in range(20)]
        kinds = [msg.WhichOneof("kind") for k, msg in b.inbox.messages if k == a.key]
        assert kinds[20:] == ["proposal", "tx_batch", "evidence", "vote", "status"]
        assert b.inbox.votes_from(a.key)[-1] == b"only-for-b"
        assert b"only-for-b" not in members[2].inbox.votes_from(a.key)
        proposal = next(msg.proposal for k, msg in b.inbox.messages if msg.WhichOneof("kind") == "proposal")
        assert (proposal.proposal, proposal.block) == (b"p", b"blk")
        state = {p.key: p for p in b.net.peer_states()}[a.key]
        assert (state.outbound, state.inbound, state.height) == (True, True, 7)
        assert state.block_hash == b"\x07" * 32
        assert b.net.max_peer_height() == 7
        assert a.net.metrics.registry.get_sample_value("cbdc_peers_connected") == 3
        sent_votes = a.net.metrics.registry.get_sample_value(
            "cbdc_peer_messages_sent_total", {"kind": "vote"}
        )
        assert sent_votes == 61
        await stop_all(members)
        assert all(not m.net.connected_peers() for m in members)

    asyncio.run(scenario())


def test_stop_tells_peers_goodbye_and_a_late_joiner_learns_our_status() -> None:
    async def scenario() -> None:
        connected: list[bytes] = []

        async def on_connected(key: bytes) -> None:
            connected.append(key)

        a, b = await start_member(on_peer_connected=on_connected), await start_member()
        a.net.announce_status(3, b"\x03" * 32)  # before any connection exists
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await fully_connected([a, b])
        await wait_until(lambda: b.net.max_peer_height() == 3, what="status sent on connect")
        assert connected == [b.key]
        await a.net.stop("maintenance")
        await wait_until(lambda: not b.net.connected_peers(), what="b to notice")
        state = b.net.peer_states()[0]
        assert "goodbye: maintenance" in state.last_error
        assert not b.net.inbound_peers()
        await b.net.stop()

    asyncio.run(scenario())


def test_handshake_rejects_the_wrong_chain() -> None:
    async def scenario() -> None:
        a = await start_member(chain="other-chain")
        b = await start_member()
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await wait_until(lambda: b.net.metrics.dropped_count("wrong_chain") >= 2, what="rejections")
        assert not a.net.connected_peers() and not b.net.inbound_peers()
        assert not b.net.connected_peers() and not a.net.inbound_peers()
        errors = {p.key: p.last_error for p in a.net.peer_states()}
        assert (
            "FAILED_PRECONDITION: wrong_chain: this node is on chain 'cbdc-test', not 'other-chain'"
            in (errors[b.key])
        )
        await stop_all([a, b])

    asyncio.run(scenario())


def test_handshake_rejects_an_unknown_dialler_and_an_impostor() -> None:
    async def scenario() -> None:
        a, b = await start_member(), await start_member()
        # b does not list a: a's stream is refused and counted at b.
        a.net.update_peers([b.peer_config()])
        await wait_until(lambda: b.net.metrics.dropped_count("unknown_peer") >= 2, what="refusal")
        error = a.net.peer_states()[0].last_error
        assert error.startswith("PERMISSION_DENIED: unknown_peer: validator key " + a.key.hex())
        assert not a.net.connected_peers() and not b.net.inbound_peers()

        # a expects some other validator at b's address: b cannot prove that key.
        expected = PeerNetwork(CHAIN, os.urandom(32), Inbox()).public_key
        b.net.update_peers([a.peer_config()])
        a.net.update_peers([PeerConfig(address=b.address, validator_key=expected)])
        await wait_until(lambda: a.net.metrics.dropped_count("unknown_peer") >= 1, what="impostor")
        error = a.net.peer_states()[0].last_error
        assert f"answered as {b.key.hex()}, expected {expected.hex()}" in error
        assert not a.net.connected_peers()
        await stop_all([a, b])

    asyncio.run(scenario())


def test_a_restarted_peer_is_redialled_and_messages_flow_again() -> None:
    async def scenario() -> None:
        a, b, c = [await start_member() for _ in range(3)]
        connect_all([a, b, c])
        await fully_connected([a, b, c])
        a.net.broadcast(vote(b"before"))
        await wait_until(lambda: c.inbox.votes_from(a.key) == [b"before"], what="first vote")

        await c.net.stop()
        await wait_until(lambda: c.key not in a.net.connected_peers(), what="a to see c go")
        # Sent while c is down: queued (bounded) and delivered once the stream is back.
        a.net.send(c.key, vote(b"while-down"))

        def state_of_c():
            return {p.key: p for p in a.net.peer_states()}[c.key]

        # A redial has failed (c's goodbye was the error before): the message waits in the queue.
        await wait_until(lambda: "UNAVAILABLE" in state_of_c().last_error, what="a failed redial to c")
        assert state_of_c().outbound is False

        c2 = await start_member(c.seed, port=c.port)
        c2.net.update_peers([a.peer_config(), b.peer_config()])
        await fully_connected([a, b, c2])
        a.net.broadcast(vote(b"after"))
        c2.net.broadcast(vote(b"from-c2"))
        await wait_until(lambda: c2.inbox.votes_from(a.key) == [b"while-down", b"after"], what="redelivery")
        await wait_until(lambda: a.inbox.votes_from(c.key) == [b"from-c2"], what="c2 -> a")
        state = {p.key: p for p in a.net.peer_states()}[c.key]
        assert state.connects == 2 and state.outbound
        await stop_all([a, b, c2])

    asyncio.run(scenario())


def test_oversized_messages_are_refused_and_the_stream_keeps_working() -> None:
    async def scenario() -> None:
        # a accepts up to 1 MiB, b only 64 KiB (a misconfiguration the transport survives).
        a = await start_member(max_message_bytes=1024 * 1024)
        b = await start_member(max_message_bytes=64 * 1024)
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await fully_connected([a, b])

        # Over the sender's own limit: refused before it reaches any stream.
        assert a.net.broadcast(vote(b"x" * (2 * 1024 * 1024))) == 0
        assert not a.net.send(b.key, vote(b"x" * (2 * 1024 * 1024)))
        assert a.net.metrics.dropped_count("too_large") == 2

        # Under a's limit, over b's: b's gRPC refuses it with RESOURCE_EXHAUSTED; a counts it,
        # redials, and the next message arrives.
        a.net.send(b.key, vote(b"y" * (200 * 1024)))
        await wait_until(lambda: a.net.metrics.dropped_count("too_large") == 3, what="peer refusal")
        a.net.send(b.key, vote(b"small"))
        await wait_until(lambda: b.inbox.votes_from(a.key) == [b"small"], what="small vote")
        b.net.broadcast(vote(b"z" * (60 * 1024)))  # at b's limit, under a's: arrives
        await wait_until(lambda: a.inbox.votes_from(b.key) == [b"z" * (60 * 1024)], what="big-but-ok vote")
        await stop_all([a, b])

    asyncio.run(scenario())


def test_a_slow_peer_drops_its_oldest_messages_and_never_blocks_the_sender() -> None:
    async def scenario() -> None:
        release = asyncio.Event()
        received: list[bytes] = []

        async def slow(key: bytes, msg: node_pb2.PeerMessage) -> None:
            await release.wait()
            received.append(msg.vote)

        a = await start_member(send_queue_size=8)
        b = PeerNetwork(CHAIN, os.urandom(32), slow, **FAST_BACKOFF)  # type: ignore[arg-type]
        b_port = await b.start("127.0.0.1:0")
        a.net.update_peers([PeerConfig(f"127.0.0.1:{b_port}", b.public_key)])
        b.update_peers([a.peer_config()])
        await wait_until(lambda: a.net.connected_peers() == {b.public_key}, what="connection")

        payload = b"v" * 16 * 1024  # big enough to fill HTTP/2 flow-control windows quickly
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(300):
            a.net.send(b.public_key, vote(n.to_bytes(2, "big") + payload))
        assert loop.time() - started < 1.0  # queued, never awaited
        # Counted as the queue overflowed: nothing ran between those sends to take any away.
        dropped = a.net.metrics.dropped_count("queue_full")
        assert dropped > 0
        release.set()
        await wait_until(lambda: len(received) == 300 - dropped, what="the rest")
        numbers = [int.from_bytes(v[:2], "big") for v in received]
        assert numbers == sorted(numbers) and numbers[-1] == 299  # oldest dropped, newest kept
        await a.net.stop()
        await b.stop()

    asyncio.run(scenario())


def test_a_failing_handler_is_counted_and_the_stream_survives() -> None:
    async def scenario() -> None:
        seen: list[bytes] = []

        async def picky(key: bytes, msg: node_pb2.PeerMessage) -> None:
            if msg.vote == b"bad":
                raise ValueError("cannot handle this one")
            seen.append(msg.vote)

        a = await start_member()
        b = PeerNetwork(CHAIN, os.urandom(32), picky, **FAST_BACKOFF)  # type: ignore[arg-type]
        port = await b.start("127.0.0.1:0")
        a.net.update_peers([PeerConfig(f"127.0.0.1:{port}", b.public_key)])
        b.update_peers([a.peer_config()])
        await wait_until(lambda: bool(a.net.connected_peers()), what="connection")
        for payload in (b"one", b"bad", b"two"):
            a.net.broadcast(vote(payload))
        await wait_until(lambda: seen == [b"one", b"two"], what="both good votes")
        assert b.metrics.dropped_count("handler_error") == 1
        assert a.net.peer_states()[0].connects == 1
        await a.net.stop()
        await b.stop()

    asyncio.run(scenario())


def test_removed_peers_are_disconnected_and_refused() -> None:
    async def scenario() -> None:
        a, b = await start_member(), await start_member()
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await fully_connected([a, b])
        b.net.update_peers([])  # a left the validator set
        await wait_until(lambda: not b.net.connected_peers() and not b.net.inbound_peers(), what="removal")
        assert not b.net.send(a.key, vote(b"x"))
        assert b.net.metrics.dropped_count("no_such_peer") == 1
        await wait_until(lambda: b.net.metrics.dropped_count("unknown_peer") >= 1, what="refused redial")
        await stop_all([a, b])

    asyncio.run(scenario())


def test_garbage_on_the_peer_stream_ends_only_that_stream() -> None:
    async def scenario() -> None:
        a, b = await start_member(), await start_member()
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await fully_connected([a, b])

        async with grpc.aio.insecure_channel(b.address) as channel:
            connect = channel.stream_stream(
                CONNECT_METHOD,
                request_serializer=bytes,
                response_deserializer=node_pb2.PeerMessage.FromString,
            )
            # Garbage instead of Hello: refused as a bad handshake.
            call = connect()
            await call.write(b"\xff\xff\xff\xff")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call.read()
            assert err.value.code() == grpc.StatusCode.UNAUTHENTICATED
            assert err.value.details().startswith("bad_handshake: request to /cbdc.node.v1.Peer/Connect")

            # A correct handshake by hand (as a, whom b expects), then garbage.
            call = connect()
            nonce = os.urandom(32)
            hello = node_pb2.Hello(
                protocol_version=PROTOCOL_VERSION, chain_id=CHAIN, public_key=a.key, nonce=nonce
            )
            await call.write(node_pb2.PeerMessage(hello=hello).SerializeToString())
            reply = (await call.read()).hello_reply
            assert verify(b.key, handshake_message(CHAIN, nonce, b.key, a.key), reply.signature)
            proof = sign(a.seed, handshake_message(CHAIN, reply.nonce, a.key, b.key))
            proof_msg = node_pb2.PeerMessage(hello_proof=node_pb2.HelloProof(signature=proof))
            await call.write(proof_msg.SerializeToString())
            assert (await call.read()).WhichOneof("kind") == "hello_accepted"
            await call.write(node_pb2.PeerMessage(vote=b"by-hand").SerializeToString())
            await call.write(b"\xff\xff\xff\xff")
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await call.read()
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert b.net.metrics.dropped_count("malformed") == 1
        assert b.net.metrics.dropped_count("bad_handshake") == 1
        assert b"by-hand" in b.inbox.votes_from(a.key)

        # a's own stream was superseded by the hand-made one; a redials and is heard again.
        await fully_connected([a, b])
        a.net.broadcast(vote(b"still-here"))
        await wait_until(lambda: b.inbox.votes_from(a.key)[-1:] == [b"still-here"], what="a heard again")
        await stop_all([a, b])

    asyncio.run(scenario())


def test_a_network_built_from_a_node_config_connects(tmp_path: Path) -> None:
    async def scenario() -> None:
        b = await start_member()
        seed = os.urandom(32)
        a_key = PeerNetwork(CHAIN, seed, Inbox()).public_key
        config = write_default_config(
            tmp_path,
            p2p={"peers": [b.peer_config()], "reconnect_min_ms": 20, "send_queue_size": 4},
            grpc={"max_message_bytes": 128 * 1024},
            block={"max_bytes": 64 * 1024},
        )
        a = PeerNetwork.from_config(load_config(tmp_path), CHAIN, seed, Inbox())
        assert (a.public_key, a.send_queue_size, a.max_message_bytes) == (a_key, 4, 128 * 1024)
        assert a.reconnect_min_s == 0.02 and config.p2p.peers == (b.peer_config(),)
        b.net.update_peers([PeerConfig("127.0.0.1:1", a_key)])  # b need not reach a to hear it
        await a.start()
        a.broadcast(vote(b"configured"))
        await wait_until(lambda: b.inbox.votes_from(a_key) == [b"configured"], what="vote")
        await a.stop()
        await b.net.stop()

    asyncio.run(scenario())
