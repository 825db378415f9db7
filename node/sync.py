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
from proto import ledger_pb2, node_pb2, node_pb2_grpc

from node.blocks import block_hash, decode_committed
from node.chain import Chain
from node.driver import ConsensusDriver
from node.errors import LedgerError
from node.grpc_server import insecure_channel
from node.peers import PeerNetwork, PeerState

log = logging.getLogger("cbdc.sync")

# Blocks streamed per GetBlocks call before the client asks again (bounds one call's work).
_BATCH = 1000


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


async def apply_committed(chain: Chain, validators: ValidatorSet, raw: bytes) -> int:
    """Verify one CommittedBlock from an untrusted source and commit it; returns its height."""
    committed = ledger_pb2.CommittedBlock.FromString(raw)
    block, header, certificate = decode_committed(raw)
    height = chain.store.height + 1
    if header.height != height:
        raise SyncError(f"peer sent block {header.height}, expected {height}")
    digest = block_hash(block.header)
    try:
        verify_commit(certificate, validators, chain.genesis.chain_id, height, digest)
    except CommitError as err:
        raise SyncError(f"block {height}: bad commit certificate: {err}") from None
    try:
        validated = await chain.validate(committed.block, height=height, validators_hash=validators.hash())
    except LedgerError as err:
        raise SyncError(f"block {height}: {err}") from None
    await chain.commit(validated, certificate)
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
            # Two or more behind: consensus cannot help us (peers have moved on). One behind:
            # we may just be a moment slower to commit; give consensus `grace_s` first.
            if lag >= 2 or now - self._behind_since >= self.grace_s:
                await self._catch_up()
                self._behind_since = None

    async def _catch_up(self) -> None:
        ahead = sorted(
            (p for p in self.peers.peer_states() if p.height > self.chain.store.height),
            key=lambda p: -p.height,
        )
        for peer in ahead:
            self.catching_up = True
            try:
                await self.driver.pause_for(lambda peer=peer: self._fetch_from(peer))
                return
            except (SyncError, grpc.aio.AioRpcError, LedgerError) as err:
                log.warning("sync from %s failed: %s", peer.address, err)
            finally:
                self.catching_up = False

    async def _fetch_from(self, peer: PeerState) -> None:
        start_height = self.chain.store.height
        async with insecure_channel(peer.address, self.max_message_bytes) as channel:
            stub = node_pb2_grpc.SyncStub(channel)
            while self.chain.store.height < peer.height:
                got = 0
                request = node_pb2.GetBlocksRequest(from_height=self.chain.store.height + 1)
                async for msg in stub.GetBlocks(request, timeout=60):
                    await apply_committed(self.chain, self.validators, msg.committed_block)
                    got += 1
                if got == 0:
                    break
        log.info("synced heights %d..%d from %s", start_height + 1, self.chain.store.height, peer.address)
