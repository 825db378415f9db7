"""Block sync: serving committed blocks to peers, and catching up from them.

A node that is behind (restarted, new machine, healed partition) trusts nothing it
receives: every block comes with its commit certificate, which must carry > 2/3 of the
validator set's power in precommits for exactly that block hash at that height, and the
block itself is executed and must produce the state root its header claims before it is
committed. A peer that sends anything else is abandoned for another.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import grpc
import grpc.aio
from consensus.commit import CommitError, verify_commit
from consensus.validators import ValidatorSet
from google.protobuf.message import DecodeError
from proto import ledger_pb2, node_pb2, node_pb2_grpc

from node.blocks import block_hash, decode_block, decode_committed
from node.catchup import MAX_PUSH_LAG
from node.chain import Chain
from node.driver import ConsensusDriver
from node.errors import LedgerError
from node.grpc_server import insecure_channel
from node.peers import PeerNetwork, PeerState

log = logging.getLogger("cbdc.sync")

# Blocks streamed per GetBlocks call before the client asks again (bounds one call's work
# and what is held in memory before it is applied).
_BATCH = 500
# One fetch must finish within this; a peer that fails is not asked again for a while.
_FETCH_TIMEOUT_S = 10.0
_PEER_BACKOFF_S = 30.0


class SyncError(Exception):
    """A peer sent a block we cannot accept; try another peer."""


class SyncServicer(node_pb2_grpc.SyncServicer):
    def __init__(self, chain: Chain) -> None:
        self.chain = chain

    async def GetBlocks(
        self, request: node_pb2.GetBlocksRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[node_pb2.CommittedBlockMsg]:
        store = self.chain.store
        tip = store.height
        start = request.from_height or 1
        if start > tip:
            await context.abort(
                grpc.StatusCode.NOT_FOUND, f"not_found: from_height {start} is above the tip {tip}"
            )
        end = min(request.to_height or tip, tip, start + _BATCH - 1)
        for height in range(start, end + 1):
            raw = store.get_block(height=height)
            if raw is None:  # cannot happen below the tip; be explicit rather than crash
                await context.abort(grpc.StatusCode.INTERNAL, f"internal: block {height} missing")
            block, _, _ = decode_committed(raw)
            yield node_pb2.CommittedBlockMsg(
                height=height, block_hash=block_hash(block.header), committed_block=raw
            )

    async def GetTip(
        self, request: node_pb2.GetTipRequest, context: grpc.aio.ServicerContext
    ) -> node_pb2.Tip:
        tip = self.chain.store.tip()
        return node_pb2.Tip(
            chain_id=self.chain.genesis.chain_id,
            height=tip.height,
            block_hash=tip.block_hash,
            state_root=tip.state_root,
            time_ms=tip.time_ms,
        )


def verify_committed(chain: Chain, validators: ValidatorSet, raw: bytes, height: int) -> tuple[bytes, bytes]:
    """Check that a CommittedBlock from an untrusted source is block `height` and carries a
    valid commit certificate for it. Returns (block bytes, certificate); raises SyncError."""
    try:
        committed = ledger_pb2.CommittedBlock.FromString(raw)
        block, header = decode_block(committed.block)
        certificate = committed.commit
    except (LedgerError, DecodeError) as err:
        raise SyncError(f"block {height}: does not decode: {err}") from None
    if header.height != height:
        raise SyncError(f"peer sent block {header.height}, expected {height}")
    try:
        verify_commit(certificate, validators, chain.genesis.chain_id, height, block_hash(block.header))
    except CommitError as err:
        raise SyncError(f"block {height}: bad commit certificate: {err}") from None
    return committed.block, certificate


async def apply_verified(chain: Chain, validators: ValidatorSet, block: bytes, certificate: bytes) -> None:
    """Execute a block whose certificate verified (it must still produce the state root its
    header claims) and commit it."""
    height = chain.store.height + 1
    try:
        validated = await chain.validate(block, height=height, validators_hash=validators.hash())
    except LedgerError as err:
        raise SyncError(f"block {height}: {err}") from None
    await chain.commit(validated, certificate)


async def apply_committed(chain: Chain, validators: ValidatorSet, raw: bytes) -> int:
    """Verify one CommittedBlock from an untrusted source and commit it; returns its height."""
    height = chain.store.height + 1
    block, certificate = verify_committed(chain, validators, raw, height)
    await apply_verified(chain, validators, block, certificate)
    return height


class Syncer:
    """Watches peers' announced heights and catches up when we fall behind."""

    def __init__(
        self,
        chain: Chain,
        driver: ConsensusDriver,
        peers: PeerNetwork,
        validators: ValidatorSet,
        *,
        max_message_bytes: int,
        grace_s: float = 3.0,
        poll_s: float = 0.25,
        on_lag: Callable[[int], None] | None = None,
    ) -> None:
        self.chain = chain
        self.driver = driver
        self.peers = peers
        self.validators = validators
        self.max_message_bytes = max_message_bytes
        self.grace_s = grace_s
        self.poll_s = poll_s
        self.on_lag = on_lag
        self.catching_up = False
        self._behind_since: float | None = None
        self._banned_until: dict[bytes, float] = {}
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._watch(), name="sync")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    @property
    def syncing(self) -> bool:
        """Far enough behind that answers from our state would mislead clients. Catching
        up one block behind (routine under load) still serves them."""
        return self.catching_up and self.lag() > 2

    def lag(self) -> int:
        return max(0, self.peers.max_peer_height() - self.chain.store.height)

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(self.poll_s)
            lag = self.lag()
            if self.on_lag is not None:
                self.on_lag(lag)
            if lag == 0:
                self._behind_since = None
                continue
            now = time.monotonic()
            if self._behind_since is None:
                self._behind_since = now
            # A few heights behind, peers push us the committed blocks (node.catchup) and
            # consensus decides them in a message delay; give that `grace_s` before pausing
            # consensus for a sync. Further behind, batches are the better tool at once.
            if lag > MAX_PUSH_LAG or now - self._behind_since >= self.grace_s:
                await self._catch_up()
                self._behind_since = None

    async def _catch_up(self) -> None:
        """Fetch and verify with consensus running; pause it only to apply what verified.
        A peer that cannot serve what it announced is ignored for a while, so a lying or
        broken validator can neither stall consensus nor keep us busy."""
        now = time.monotonic()
        ahead = sorted(
            (
                p
                for p in self.peers.peer_states()
                if p.height > self.chain.store.height and self._banned_until.get(p.key, 0.0) <= now
            ),
            key=lambda p: -p.height,
        )
        for peer in ahead:
            try:
                fetched = await asyncio.wait_for(self._fetch(peer), _FETCH_TIMEOUT_S)
            except (SyncError, grpc.aio.AioRpcError, TimeoutError) as err:
                log.warning("sync from %s failed: %s", peer.address, err or "timed out")
                self._banned_until[peer.key] = time.monotonic() + _PEER_BACKOFF_S
                continue
            if not fetched:
                self._banned_until[peer.key] = time.monotonic() + _PEER_BACKOFF_S
                continue
            self.catching_up = True
            try:
                await self.driver.pause_for(lambda fetched=fetched: self._apply(fetched))
                return
            except (SyncError, LedgerError) as err:
                log.warning("blocks from %s did not apply: %s", peer.address, err)
                self._banned_until[peer.key] = time.monotonic() + _PEER_BACKOFF_S
            finally:
                self.catching_up = False

    async def _fetch(self, peer: PeerState) -> list[tuple[int, bytes, bytes]]:
        """Up to _BATCH blocks after our tip from `peer`, each with a verified certificate."""
        start = self.chain.store.height + 1
        end = min(peer.height, start + _BATCH - 1)
        fetched: list[tuple[int, bytes, bytes]] = []
        async with insecure_channel(peer.address, self.max_message_bytes) as channel:
            stub = node_pb2_grpc.SyncStub(channel)
            request = node_pb2.GetBlocksRequest(from_height=start, to_height=end)
            async for msg in stub.GetBlocks(request):
                height = start + len(fetched)
                block, certificate = verify_committed(
                    self.chain, self.validators, msg.committed_block, height
                )
                fetched.append((height, block, certificate))
        return fetched

    async def _apply(self, fetched: list[tuple[int, bytes, bytes]]) -> None:
        first = self.chain.store.height + 1
        for height, block, certificate in fetched:
            if height < first:
                continue  # consensus committed it meanwhile
            if height != self.chain.store.height + 1:
                break
            await apply_verified(self.chain, self.validators, block, certificate)
        if fetched:
            log.info("synced heights %d..%d", first, self.chain.store.height)
