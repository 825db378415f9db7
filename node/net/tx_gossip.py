"""Gossip of client transactions: collected, and broadcast to every peer in batches.

A batch goes out once the oldest pending transaction has waited GOSSIP_DELAY_S, or at
GOSSIP_BATCH transactions, whichever comes first. Each message costs the sender a stream
write and every peer a stream read and an admission round, whatever it holds, so the delay
sets how many messages a second each validator pays for at any load.

Two ways of saving the write a batch costs were measured and not kept (devnet/PERFORMANCE.md,
seventh session): a batch that lingered up to 50 ms on the stream for a vote to share its
write (a quarter fewer writes, 3-7% less main-thread CPU per transaction, ~50 ms more median
latency), and a batch sent ahead of every vote (half as large, twice as many: more admission
rounds at every peer, 4-10% more main-thread CPU, 20-80 ms more median latency).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from proto import node_pb2

# Measured with bench devnet (devnet/PERFORMANCE.md): a 10 -> 30 ms delay took 8% off the CPU
# per transaction at 800 tx/s; 30 -> 100 ms took 15-20% off the main thread's CPU per
# transaction and more under overload, for ~40 ms more median latency (small beside
# timeout_commit, during which the transactions reach the next proposer anyway).
GOSSIP_BATCH = 500
GOSSIP_DELAY_S = 0.100


class TxGossip:
    """`add` what clients submitted and this node admitted; it reaches every peer in batches."""

    def __init__(self, broadcast: Callable[[node_pb2.PeerMessage], object]) -> None:
        self._broadcast = broadcast
        self._pending: list[bytes] = []
        self._timer: asyncio.TimerHandle | None = None

    def add(self, raw: bytes) -> None:
        self._pending.append(raw)
        if len(self._pending) >= GOSSIP_BATCH:
            self.flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(GOSSIP_DELAY_S, self.flush)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._broadcast(node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=batch)))
