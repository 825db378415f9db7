"""Pushing committed blocks to validators that fell a height or two behind.

Under load a validator can miss the decision of a height: the proposal reached it while it
was still committing the height before (messages more than one height ahead are not
buffered), or its CPU was busy when the votes went by. It then sits one height behind,
and if it is the next proposer, everyone waits out a propose timeout for it. Block sync
would get it back, but only after a grace period (one height behind is usually a moment's
delay, not a fault).

Instead, like CometBFT's consensus gossip, a node that sees a peer's announced tip stay
below its own for `delay_s` sends it the next committed block with its certificate
(PeerMessage.commit). The receiver decides by that certificate (the machine verifies it)
and executes the block as usual, so nothing is trusted that was not before. A push is
repeated every `repeat_s` while the peer still lags (a message can be dropped), and never
for a peer more than MAX_PUSH_LAG behind: block sync serves those in batches. A peer two or
more behind is pushed to at once: it cannot be a moment's delay any more.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from proto import node_pb2

from node.ledger.store import Store

# Beyond this many heights behind, block sync (batches) is the better tool; node/net/block_sync.py
# leaves lags up to this to the pushes for a grace period.
MAX_PUSH_LAG = 4


class CommitRelay:
    def __init__(
        self,
        store: Store,
        send: Callable[[bytes, node_pb2.PeerMessage], bool],
        *,
        delay_s: float = 0.1,
        repeat_s: float = 0.5,
        max_lag: int = MAX_PUSH_LAG,
    ) -> None:
        self._store = store
        self._send = send
        self.delay_s = delay_s
        self.repeat_s = repeat_s
        self.max_lag = max_lag
        self._announced: dict[bytes, int] = {}
        self._timers: dict[bytes, asyncio.TimerHandle] = {}
        self._pushed: dict[bytes, tuple[int, float]] = {}  # peer -> (height, when)

    def on_status(self, peer: bytes, height: int) -> None:
        """A peer announced its tip."""
        moved = self._announced.get(peer) != height
        self._announced[peer] = height
        if moved and peer in self._timers:
            self._timers.pop(peer).cancel()  # a repeat of the last push is moot now
        self._arm(peer)

    def on_tip(self, height: int) -> None:
        """We committed `height`: peers that announced less now lag us."""
        for peer, announced in self._announced.items():
            if announced < height:
                self._arm(peer)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()

    def _arm(self, peer: bytes) -> None:
        lag = self._store.height - self._announced[peer]
        if peer in self._timers or lag <= 0:
            return
        delay = self.delay_s if lag == 1 else 0.0
        self._timers[peer] = asyncio.get_running_loop().call_later(delay, self._fire, peer)

    def _fire(self, peer: bytes) -> None:
        del self._timers[peer]
        announced = self._announced[peer]
        tip = self._store.height
        if announced >= tip or tip - announced > self.max_lag:
            return
        target = announced + 1
        now = time.monotonic()
        last = self._pushed.get(peer)
        if last is not None and last[0] == target and now - last[1] < self.repeat_s:
            wait = self.repeat_s - (now - last[1])  # pushed it a moment ago: give it time
        else:
            committed = self._store.get_block(height=target)
            if committed is None:
                return
            self._send(peer, node_pb2.PeerMessage(commit=committed))
            self._pushed[peer] = (target, now)
            wait = self.repeat_s
        self._timers[peer] = asyncio.get_running_loop().call_later(wait, self._fire, peer)
