"""Gossip of client transactions: collected, and broadcast in batches that ride along with
consensus messages.

A batch goes out when the node broadcasts a consensus message (the batch first, then the
message, so one stream write to each peer carries both: a stream's writer takes everything
queued, node.net.peers.streams), or once the oldest pending transaction has waited
GOSSIP_DELAY_S, or at GOSSIP_BATCH transactions, whichever comes first.

Why: each write costs both ends far more than its bytes (a system call, a wake-up of the
peer's gRPC poller and event loop: ~100-200 µs on a busy validator). At 1,000 tx/s a
validator wrote one message per write, and gossip was a third of them (devnet/PERFORMANCE.md,
seventh session). Votes go out about twice per height, so most batches find one within the
delay and none waits longer than before: riding along only ever sends a batch sooner.
Delaying gossip until a vote came instead (a linger on the stream) saved as many writes but
added its linger to the median latency.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from proto import node_pb2

# At most this many transactions per batch, and the longest one waits for a consensus
# message to ride with. Each message also costs every peer an admission round; measured
# with bench devnet (devnet/PERFORMANCE.md): a 10 -> 30 ms delay took 8% off the CPU per
# transaction at 800 tx/s, 30 -> 100 ms 15-20% off the main thread's, for ~40 ms more median
# latency (small beside timeout_commit, during which transactions reach the next proposer).
GOSSIP_BATCH = 500
GOSSIP_DELAY_S = 0.100


class TxGossip:
    """`add` what clients submitted; broadcast consensus messages through `broadcast_with`."""

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

    def broadcast_with(self, msg: node_pb2.PeerMessage) -> None:
        """Broadcast a consensus message, with the pending batch ahead of it (same writes)."""
        self.flush()
        self._broadcast(msg)

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self._broadcast(node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=batch)))
