"""Transaction gossip: admitted client transactions reach a peer in batches, once the oldest
has waited its delay or the batch is full, each batch in one stream write. Real PeerNetworks
on 127.0.0.1 (ephemeral ports) in one event loop."""

from __future__ import annotations

import asyncio

from node.net.peers import PeerNetwork
from node.net.tx_gossip import GOSSIP_BATCH, GOSSIP_DELAY_S, TxGossip

from .mesh import Member, pair, stop_all, wait_until


def writes(net: PeerNetwork) -> float:
    return net.metrics.registry.get_sample_value("cbdc_peer_stream_writes_total") or 0.0


def received(member: Member) -> list[tuple[str | None, list[bytes]]]:
    """(kind, gossiped transactions) of each message `member` received, in order."""
    return [(m.WhichOneof("kind"), list(m.tx_batch.txs)) for _, m in member.inbox.messages]


def test_a_batch_leaves_after_its_delay_or_when_full_in_one_write() -> None:
    async def scenario() -> None:
        a, b = await pair()
        gossip = TxGossip(a.net.broadcast)
        loop = asyncio.get_running_loop()
        before = writes(a.net)
        added_at = loop.time()
        gossip.add(b"t1")
        gossip.add(b"t2")
        await wait_until(lambda: len(b.inbox.messages) == 1, what="the batch")
        assert loop.time() - added_at >= GOSSIP_DELAY_S
        assert received(b) == [("tx_batch", [b"t1", b"t2"])]
        assert writes(a.net) == before + 1

        full = [i.to_bytes(4, "big") for i in range(GOSSIP_BATCH)]
        for raw in full:
            gossip.add(raw)
        # At GOSSIP_BATCH it is already queued for the peer, without waiting for the delay.
        assert a.net.peer_states()[0].queued == 1
        await wait_until(lambda: len(b.inbox.messages) == 2, what="the full batch")
        assert received(b)[1] == ("tx_batch", full)
        await stop_all([a, b])

    asyncio.run(scenario())
