"""The public gRPC API (`cbdc.node.v1.Node`): submit, wait, and query committed state.

Handlers raise LedgerError/NodeError; grpc_status.RejectionInterceptor turns them into a
status whose message starts with the machine code ("insufficient_funds: ..."). Admission
policy (what to do with an input that is unknown only for now) is LedgerService.admit's;
this module maps its outcome onto the wire.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from importlib.metadata import PackageNotFoundError, version

import grpc
import grpc.aio
from proto import ledger_pb2, node_pb2, node_pb2_grpc

from node.ledger.blocks import decode_committed_block
from node.ledger.crypto import KEY_SIZE
from node.ledger.errors import Code, LedgerError
from node.ledger.governance import governance_of
from node.ledger.governance_codec import encode_tier_rows
from node.ledger.mempool import MempoolFull
from node.ledger.types import U64_MAX, OutPoint
from node.ledger_service import Behind, CatchUpBudget, LedgerService, TxOutcome, TxStatus
from node.net.grpc_status import NodeCode, NodeError

_UTXO_PAGE = 1000
_MAX_WAIT_S = 300.0
# Transactions in one SubmitBatch call: bounds the time one call holds the event loop.
MAX_BATCH = 10_000

try:
    _VERSION = version("cbdc")
except PackageNotFoundError:  # running from a source tree without installing
    _VERSION = "0+unknown"


def _address(raw: bytes, what: str = "address") -> bytes:
    if len(raw) != KEY_SIZE:
        raise LedgerError(Code.MALFORMED, f"{what} must be a 32-byte public key, got {len(raw)} bytes")
    return raw


def _outcome_msg(outcome: TxOutcome) -> node_pb2.TransactionOutcome:
    msg = node_pb2.TransactionOutcome(txid=outcome.txid, status=int(outcome.status))
    if outcome.status is TxStatus.COMMITTED:
        msg.inclusion.CopyFrom(_inclusion(outcome))
    elif outcome.code:  # REJECTED, or UNKNOWN for a double-spend loser still undecided
        msg.rejection.CopyFrom(node_pb2.Rejection(code=outcome.code, message=outcome.message))
    return msg


def _inclusion(outcome: TxOutcome) -> node_pb2.TxInclusion:
    return node_pb2.TxInclusion(
        height=outcome.height, index=outcome.index, block_hash=outcome.block_hash, time_ms=outcome.time_ms
    )


def _refusal(refused: LedgerError | MempoolFull | Behind) -> LedgerError | NodeError:
    if isinstance(refused, MempoolFull):
        return NodeError(NodeCode.MEMPOOL_FULL, str(refused))
    if isinstance(refused, Behind):
        return NodeError(NodeCode.BEHIND, refused.message)
    return refused


def _size_error(raw: bytes, limit: int) -> NodeError | None:
    """message_too_large for a transaction over the chain's size cap (genesis), before it is
    decoded: its size, not its content, is what is wrong."""
    if len(raw) <= limit:
        return None
    return NodeError(
        NodeCode.MESSAGE_TOO_LARGE, f"transaction is {len(raw)} bytes; at most {limit} are allowed"
    )


def _as_result(
    sequence: int, txid: bytes | None, refused: LedgerError | NodeError | None
) -> node_pb2.SubmitTransactionResult:
    """One transaction's answer in a batch: a rejection is reported, not raised."""
    result = node_pb2.SubmitTransactionResult(sequence=sequence)
    if txid is not None:
        result.txid = txid
    if refused is None:
        result.status = node_pb2.TX_STATUS_PENDING
    else:
        result.status = node_pb2.TX_STATUS_REJECTED
        result.rejection.CopyFrom(node_pb2.Rejection(code=refused.code.value, message=refused.message))
    return result


def _syncing_error() -> NodeError:
    return NodeError(NodeCode.SYNCING, "this node is catching up with the chain; retry shortly")


class NodeServicer(node_pb2_grpc.NodeServicer):
    def __init__(
        self,
        chain: LedgerService,
        *,
        status: Callable[[], node_pb2.NodeStatus],
        syncing: Callable[[], bool],
        peers_ahead: Callable[[], int] = lambda: 0,
    ) -> None:
        self.chain = chain
        self._status = status
        self._syncing = syncing
        self._peers_ahead = peers_ahead

    # --- transactions --------------------------------------------------------------------
    async def _submit(self, raw: bytes, seen_height: int = 0) -> bytes:
        too_large = _size_error(raw, self.chain.genesis.max_tx_bytes)
        if too_large is not None:
            raise too_large
        if self._syncing():
            raise _syncing_error()
        admission = await self.chain.admit(raw, peers_ahead=self._peers_ahead, seen_height=seen_height)
        if admission.refused is not None:
            raise _refusal(admission.refused)
        return admission.txid  # type: ignore[return-value]  # admitted: it decoded

    async def SubmitTransaction(self, request, context) -> node_pb2.SubmitTransactionResponse:
        txid = await self._submit(request.tx, request.seen_height)
        return node_pb2.SubmitTransactionResponse(txid=txid, status=node_pb2.TX_STATUS_PENDING)

    async def SubmitTransactions(
        self, request_iterator, context
    ) -> AsyncIterator[node_pb2.SubmitTransactionResult]:
        sequence = 0
        budget = CatchUpBudget()
        async for request in request_iterator:
            yield await self._result(sequence, request.tx, budget, request.seen_height)
            sequence += 1

    async def SubmitBatch(self, request, context) -> node_pb2.SubmitBatchResponse:
        if len(request.txs) > MAX_BATCH:
            raise LedgerError(
                Code.MALFORMED, f"a batch holds at most {MAX_BATCH} transactions, got {len(request.txs)}"
            )
        response = node_pb2.SubmitBatchResponse()
        if not request.txs:
            return response
        if self._syncing():  # each transaction answered as one at a time would be
            budget = CatchUpBudget()
            for sequence, raw in enumerate(request.txs):
                response.results.append(await self._result(sequence, raw, budget, request.seen_height))
            return response
        # Nothing more fits: the whole call is refused (RESOURCE_EXHAUSTED, retryable) before
        # anything is decoded, rather than queued behind what the node cannot yet commit.
        full = self.chain.full()
        if full is not None:
            raise _refusal(full)
        limit = self.chain.genesis.max_tx_bytes
        sized = [(sequence, raw) for sequence, raw in enumerate(request.txs) if len(raw) <= limit]
        admissions = await self.chain.admit_batch(
            [raw for _, raw in sized], peers_ahead=self._peers_ahead, seen_height=request.seen_height
        )
        admitted = dict(zip((sequence for sequence, _ in sized), admissions, strict=True))
        for sequence, raw in enumerate(request.txs):
            admission = admitted.get(sequence)
            if admission is None:
                response.results.append(_as_result(sequence, None, _size_error(raw, limit)))
            else:
                refused = None if admission.refused is None else _refusal(admission.refused)
                response.results.append(_as_result(sequence, admission.txid, refused))
        return response

    async def _result(
        self, sequence: int, raw: bytes, budget: CatchUpBudget, seen_height: int = 0
    ) -> node_pb2.SubmitTransactionResult:
        """Admission of one transaction as a result: a rejection is reported, not raised."""
        too_large = _size_error(raw, self.chain.genesis.max_tx_bytes)
        if too_large is not None:
            txid, refused = None, too_large
        elif self._syncing():
            txid, refused = self.chain.txid_of(raw), _syncing_error()
        else:
            admission = await self.chain.admit(
                raw, peers_ahead=self._peers_ahead, budget=budget, seen_height=seen_height
            )
            txid = admission.txid
            refused = None if admission.refused is None else _refusal(admission.refused)
        return _as_result(sequence, txid, refused)

    async def WaitTransaction(self, request, context) -> node_pb2.TransactionOutcome:
        txid = request.txid
        if len(txid) != 32:
            raise LedgerError(Code.MALFORMED, f"txid must be 32 bytes, got {len(txid)}")
        remaining = context.time_remaining()
        timeout = request.timeout_ms / 1000 if request.timeout_ms else (remaining or _MAX_WAIT_S)
        if remaining is not None:
            timeout = min(timeout, max(0.0, remaining - 0.05))  # answer before the deadline
        outcome = await self.chain.wait(txid, min(timeout, _MAX_WAIT_S))
        return _outcome_msg(outcome)

    async def GetTransaction(self, request, context) -> node_pb2.GetTransactionResponse:
        txid = request.txid
        found = self.chain.store.get_tx(txid) if len(txid) == 32 else None
        if found is not None:
            raw, _, _ = found
            outcome = self.chain.outcome(txid)
            return node_pb2.GetTransactionResponse(
                tx=raw, status=node_pb2.TX_STATUS_COMMITTED, inclusion=_inclusion(outcome)
            )
        pending = self.chain.mempool.get(txid)
        if pending is not None:
            return node_pb2.GetTransactionResponse(tx=pending.raw, status=node_pb2.TX_STATUS_PENDING)
        located = self.chain.store.tx_location(txid) if len(txid) == 32 else None
        if located is not None:
            raise NodeError(
                NodeCode.PRUNED,
                f"transaction {txid.hex()} is committed at height {located[0]}, whose block this "
                f"node no longer holds (it keeps blocks from {self.chain.store.base_height})",
            )
        raise NodeError(NodeCode.NOT_FOUND, f"transaction {txid.hex()} is neither committed nor pending")

    # --- blocks --------------------------------------------------------------------------
    async def GetBlock(self, request, context) -> node_pb2.CommittedBlockMsg:
        which = request.WhichOneof("at")
        store = self.chain.store
        if which == "hash":
            raw = store.get_block(hash=request.hash)
            label = f"hash {request.hash.hex()}"
        else:
            height = request.height if which == "height" else store.height
            raw = store.get_block(height=height)
            label = f"height {height}"
        if raw is None:
            pruned = store.height_of(request.hash) if which == "hash" else height
            if pruned is not None and store.is_pruned(pruned):
                raise NodeError(
                    NodeCode.PRUNED,
                    f"block at {label} is no longer held by this node (it keeps blocks from "
                    f"{store.base_height}); ask an archive node",
                )
            raise NodeError(NodeCode.NOT_FOUND, f"no block at {label} (tip is {store.height})")
        return _block_msg(raw)

    async def WatchBlocks(self, request, context) -> AsyncIterator[node_pb2.CommittedBlockMsg]:
        store = self.chain.store
        height = request.from_height or store.height + 1
        if store.is_pruned(height):
            raise NodeError(
                NodeCode.PRUNED,
                f"block {height} is no longer held by this node (it keeps blocks from "
                f"{store.base_height}); watch from a later height or ask an archive node",
            )
        while True:
            while height <= store.height:
                yield _block_msg(store.get_block(height=height))
                height += 1
            await self.chain.wait_for_height(height)

    # --- state ---------------------------------------------------------------------------
    async def _reach(self, seen_height: int) -> None:
        """Read-your-writes for queries: answer from at least the height the client has
        seen, waiting (bounded) for it; else a retryable refusal, never older state."""
        if seen_height and not await self.chain.reach(seen_height):
            raise _refusal(Behind(self.chain.store.height, seen_height))

    async def GetUtxos(self, request, context) -> node_pb2.GetUtxosResponse:
        address = _address(request.address)
        limit = min(request.limit or _UTXO_PAGE, _UTXO_PAGE)
        after = None
        if request.page_token:
            if len(request.page_token) != 36:
                raise LedgerError(Code.MALFORMED, "page_token is not one this node issued")
            after = OutPoint.from_key(request.page_token)
        await self._reach(request.seen_height)
        height = self.chain.store.height
        rows = self.chain.store.utxos_of(address, limit=limit + 1, start_after=after)
        response = node_pb2.GetUtxosResponse(height=height)
        for outpoint, output in rows[:limit]:
            response.utxos.append(
                node_pb2.Utxo(
                    outpoint=ledger_pb2.OutPoint(txid=outpoint.txid, index=outpoint.index),
                    amount=output.amount,
                )
            )
        if len(rows) > limit:
            response.next_page_token = rows[limit - 1][0].key()
        return response

    async def GetBalance(self, request, context) -> node_pb2.GetBalanceResponse:
        address = _address(request.address)
        await self._reach(request.seen_height)
        store = self.chain.store
        return node_pb2.GetBalanceResponse(
            balance=store.balance(address), utxo_count=_count_utxos(store, address), height=store.height
        )

    async def GetWallet(self, request, context) -> node_pb2.WalletInfo:
        address = _address(request.address)
        await self._reach(request.seen_height)
        store = self.chain.store
        wallet = store.wallet(address)
        if wallet is None:
            raise NodeError(NodeCode.NOT_FOUND, "this address is not a registered wallet")
        return node_pb2.WalletInfo(
            address=wallet.address,
            tier=wallet.tier,
            institution=wallet.institution,
            kyc_commitment=wallet.kyc_commitment,
            balance=store.balance(address),
            day=wallet.day,
            day_outflow=wallet.day_outflow,
            year=wallet.year,
            year_outflow=wallet.year_outflow,
            height=store.height,
            status=wallet.status,
            reason=wallet.reason,
        )

    async def GetGovernance(self, request, context) -> node_pb2.GovernanceInfo:
        store = self.chain.store
        height = store.height  # read first: the record is at least as new as this height
        gov = governance_of(store.governance(), self.chain.genesis)
        return node_pb2.GovernanceInfo(
            authority=list(gov.authority),
            threshold=gov.threshold,
            institutions=[
                node_pb2.InstitutionInfo(
                    id=i.id, name=i.name, public_key=i.public_key, status=i.status,
                    former_keys=list(i.former_keys),
                )
                for i in gov.institutions
            ],
            tier_tables=[
                node_pb2.TierTableInfo(effective_height=t.effective_height, tiers=encode_tier_rows(t.tiers))
                for t in gov.tier_tables
            ],
            height=height,
            validator_sets=[
                node_pb2.ValidatorSetInfo(
                    effective_height=s.effective_height,
                    validators=[
                        node_pb2.ValidatorInfo(name=v.name, public_key=v.public_key, power=v.power)
                        for v in s.validators
                    ],
                    validators_hash=s.validator_set().hash(),
                )
                for s in gov.validator_sets
            ],
        )

    async def GetSupply(self, request, context) -> node_pb2.SupplyInfo:
        supply = self.chain.store.supply()
        if supply.issued > U64_MAX or supply.redeemed > U64_MAX:
            await context.abort(grpc.StatusCode.OUT_OF_RANGE, "out_of_range: supply totals exceed uint64")
        return node_pb2.SupplyInfo(
            issued=supply.issued,
            redeemed=supply.redeemed,
            outstanding=supply.outstanding,
            height=self.chain.store.height,
        )

    async def GetStatus(self, request, context) -> node_pb2.NodeStatus:
        status = self._status()
        status.version = _VERSION
        return status


def _count_utxos(store, address: bytes) -> int:
    count, after = 0, None
    while True:
        page = store.utxos_of(address, limit=10_000, start_after=after)
        count += len(page)
        if len(page) < 10_000:
            return count
        after = page[-1][0]


def _block_msg(raw: bytes) -> node_pb2.CommittedBlockMsg:
    committed = decode_committed_block(raw)
    return node_pb2.CommittedBlockMsg(
        height=committed.height, block_hash=committed.block_hash, committed_block=raw
    )


__all__ = ["NodeServicer"]
