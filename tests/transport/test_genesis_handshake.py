"""The genesis hash in the peer handshake: two nodes on the same chain id built from
different genesis files refuse each other, and say which two hashes differ."""

from __future__ import annotations

import asyncio

from node.ledger.crypto import sha256

from .mesh import start_member, stop_all, wait_until

MINE = sha256(b"genesis a")
THEIRS = sha256(b"genesis b")


def test_handshake_refuses_a_node_with_another_genesis_naming_both_hashes() -> None:
    async def scenario() -> None:
        a = await start_member(genesis_hash=THEIRS)
        b = await start_member(genesis_hash=MINE)
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await wait_until(lambda: b.net.metrics.dropped_count("wrong_genesis") >= 2, what="rejections")
        assert not a.net.connected_peers() and not b.net.inbound_peers()
        assert not b.net.connected_peers() and not a.net.inbound_peers()
        error = {p.key: p.last_error for p in a.net.peer_states()}[b.key]
        assert "FAILED_PRECONDITION: wrong_genesis" in error
        assert f"this node's genesis hash is {MINE.hex()}, the peer's is {THEIRS.hex()}" in error
        await stop_all([a, b])

    asyncio.run(scenario())


def test_nodes_with_the_same_genesis_connect() -> None:
    async def scenario() -> None:
        a = await start_member(genesis_hash=MINE)
        b = await start_member(genesis_hash=MINE)
        a.net.update_peers([b.peer_config()])
        b.net.update_peers([a.peer_config()])
        await wait_until(lambda: a.net.connected_peers() and b.net.connected_peers(), what="both streams")
        assert b.net.metrics.dropped_count("wrong_genesis") == 0
        await stop_all([a, b])

    asyncio.run(scenario())
