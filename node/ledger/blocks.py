"""Blocks: building a proposal, validating a received one, executing its transactions.

A block is all-or-nothing. `execute_block` applies every transaction to ONE overlay on top
of the committed state; the first invalid transaction rejects the whole block and the
committed state is untouched (the overlay is simply dropped). The overlay it returns is what
`Store.commit_block` writes, together with the decoded transactions (`BlockOverlay.txs`), so
nothing is decoded or verified twice between validation and commit.

Signatures go through the shared SignatureCache: what mempool admission verified is not
verified again. With an `executor` (best: node.ledger.sigverify.verification_pool, a process pool),
the misses are verified on other cores while this thread applies the ledger rules.

Header fields and what checks them here (consensus decides who proposes and when):
chain_id, height (tip + 1), prev_hash (the tip's hash; 32 zero bytes at height 1),
time_ms (not before the parent nor `min_time_ms`), tx_root (RFC 6962 over txids in block
order), tx_count, evidence_root (RFC 6962 over SHA-256 of each evidence item),
validators_hash (as given by consensus), state_root (recomputed from the overlay),
proposer (32 bytes). The block hash is SHA-256 of the header bytes exactly as received.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field

from proto import ledger_pb2

from node.ledger.crypto import HASH_SIZE, KEY_SIZE, sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis
from node.ledger.merkle import merkle_root
from node.ledger.rules import BlockContext, apply_tx
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import PendingVerification
from node.ledger.state import Overlay, StateView
from node.ledger.store import ZERO_HASH, Store
from node.ledger.txcodec import DecodedTx, decode_tx

# Upper bound of a serialized header inside a Block (chain_id <= 50 chars, five 32-byte
# hashes, a 32-byte key, four varints, tags and lengths: < 330 bytes) plus Block framing.
_HEADER_RESERVE = 400


@dataclass
class BlockOverlay(Overlay):
    """An Overlay plus the decoded transactions it applied, in block order."""

    txs: list[DecodedTx] = field(default_factory=list)


# --- encoding helpers --------------------------------------------------------------------


def _field_size(n: int) -> int:
    """Bytes a length-delimited protobuf field with an n-byte payload takes (1-byte tag)."""
    length_bytes, rest = 1, n >> 7
    while rest:
        rest >>= 7
        length_bytes += 1
    return 1 + length_bytes + n


def block_hash(header_bytes: bytes) -> bytes:
    return sha256(header_bytes)


def tx_root(txids: Sequence[bytes]) -> bytes:
    return merkle_root(txids)


def evidence_root(evidence: Sequence[bytes]) -> bytes:
    return merkle_root([sha256(item) for item in evidence])


def decode_header(data: bytes) -> ledger_pb2.BlockHeader:
    """Parse header bytes and check field sizes; LedgerError(INVALID_BLOCK) otherwise."""
    try:
        header = ledger_pb2.BlockHeader.FromString(data)
    except Exception:  # untrusted bytes: any parser failure is the sender's
        raise LedgerError(Code.INVALID_BLOCK, "block header is not a serialized BlockHeader") from None
    for name in ("prev_hash", "tx_root", "state_root", "validators_hash", "evidence_root"):
        if len(getattr(header, name)) != HASH_SIZE:
            size = len(getattr(header, name))
            raise LedgerError(Code.INVALID_BLOCK, f"header {name} is {size} bytes, expected {HASH_SIZE}")
    if len(header.proposer) != KEY_SIZE:
        raise LedgerError(Code.INVALID_BLOCK, f"header proposer is {len(header.proposer)} bytes, expected 32")
    return header


def decode_block(data: bytes) -> tuple[ledger_pb2.Block, ledger_pb2.BlockHeader]:
    """Parse Block bytes and its header; LedgerError(INVALID_BLOCK) on garbage."""
    try:
        block = ledger_pb2.Block.FromString(data)
    except Exception:
        raise LedgerError(Code.INVALID_BLOCK, "not a serialized Block") from None
    return block, decode_header(block.header)


def decode_committed(data: bytes) -> tuple[ledger_pb2.Block, ledger_pb2.BlockHeader, bytes]:
    """(block, header, commit certificate bytes) of CommittedBlock bytes as stored."""
    try:
        committed = ledger_pb2.CommittedBlock.FromString(data)
    except Exception:
        raise LedgerError(Code.INVALID_BLOCK, "not a serialized CommittedBlock") from None
    block, header = decode_block(committed.block)
    return block, header, committed.commit


def encode_committed(block_bytes: bytes, commit: bytes) -> bytes:
    """CommittedBlock bytes for a decided block and its (consensus-defined) certificate."""
    return ledger_pb2.CommittedBlock(block=block_bytes, commit=commit).SerializeToString()


# --- execution ---------------------------------------------------------------------------


def _tx_error(i: int, txid: bytes | None, err: LedgerError) -> LedgerError:
    who = txid.hex() if txid is not None else "(undecodable)"
    return LedgerError(Code.INVALID_BLOCK, f"tx #{i} {who}: {err.code.value}: {err.message}")


def _check_block_caps(raw_txs: Sequence[bytes], genesis: Genesis) -> None:
    params = genesis.params
    if len(raw_txs) > params.max_block_txs:
        raise LedgerError(
            Code.INVALID_BLOCK,
            f"block has {len(raw_txs)} transactions; at most {params.max_block_txs} allowed",
        )
    size = sum(len(raw) for raw in raw_txs)
    if size > params.max_block_bytes:
        raise LedgerError(
            Code.INVALID_BLOCK,
            f"block transactions take {size} bytes; at most {params.max_block_bytes} allowed",
        )


def decode_block_txs(
    raw_txs: Sequence[bytes], genesis: Genesis, known: Mapping[bytes, DecodedTx] | None = None
) -> list[DecodedTx]:
    """Check the block caps and decode every transaction (stateless checks only).

    `known` maps exact transaction bytes to their decoding (the mempool's): a transaction
    already decoded on admission is not decoded again.
    """
    _check_block_caps(raw_txs, genesis)
    txs: list[DecodedTx] = []
    for i, raw in enumerate(raw_txs):
        tx = known.get(raw) if known is not None else None
        if tx is None:
            try:
                tx = decode_tx(raw, genesis)
            except LedgerError as err:
                raise _tx_error(i, None, err) from None
        txs.append(tx)
    return txs


def execute_block(
    view: StateView,
    raw_txs: Sequence[bytes],
    genesis: Genesis,
    ctx: BlockContext,
    sigcache: SignatureCache,
    *,
    executor: Executor | None = None,
) -> BlockOverlay:
    """Apply all transactions of a block to one overlay over `view`, or raise.

    Raises LedgerError(INVALID_BLOCK, "tx #i <txid>: <code>: <message>") naming the first
    invalid transaction (or a block cap); `view` is never modified.
    """
    txs = decode_block_txs(raw_txs, genesis)
    return apply_block_txs(view, txs, genesis, ctx, sigcache, executor=executor)


def apply_block_txs(
    view: StateView,
    txs: Sequence[DecodedTx],
    genesis: Genesis,
    ctx: BlockContext,
    sigcache: SignatureCache,
    *,
    executor: Executor | None = None,
) -> BlockOverlay:
    """execute_block for transactions already decoded (by decode_block_txs)."""
    chain_id = genesis.chain_id
    overlay = BlockOverlay(view)
    overlay.txs = list(txs)
    if executor is None:
        for i, tx in enumerate(txs):
            try:
                sigcache.verify(tx, chain_id)
                apply_tx(overlay, tx, genesis, ctx)
            except LedgerError as err:
                raise _tx_error(i, tx.txid, err) from None
        return overlay

    # Parallel: workers verify signatures while this thread applies the rules. Rules run on
    # transactions whose signatures may still turn out bad; that is harmless because any
    # failure discards the whole overlay. The reported failure is the lowest index.
    pending = PendingVerification(executor, txs, sigcache, chain_id)
    rule_failure: tuple[int, LedgerError] | None = None
    for i, tx in enumerate(txs):
        try:
            apply_tx(overlay, tx, genesis, ctx)
        except LedgerError as err:
            rule_failure = (i, err)
            break
    # Up to and including the tx that broke a rule: a bad signature there wins, as it does
    # on the sequential path (signatures are checked before rules).
    sig_failure = pending.first_failure(rule_failure[0] + 1 if rule_failure is not None else None)
    failure = sig_failure or rule_failure
    if failure is not None:
        i, err = failure
        raise _tx_error(i, txs[i].txid, err)
    return overlay


# --- proposing ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BuiltBlock:
    block_bytes: bytes  # serialized Block, ready to propose
    header: ledger_pb2.BlockHeader
    block_hash: bytes
    overlay: BlockOverlay  # commit this with Store.commit_block once decided
    skipped: list[tuple[bytes, LedgerError]]  # (sha256(raw) or txid, reason) left out

    def __iter__(self):  # unpacks as (block_bytes, header, block_hash, overlay)
        return iter((self.block_bytes, self.header, self.block_hash, self.overlay))


def build_block(
    store: Store,
    candidates: Sequence[bytes | DecodedTx],
    genesis: Genesis,
    *,
    height: int,
    time_ms: int,
    proposer: bytes,
    validators_hash: bytes,
    evidence: Sequence[bytes] = (),
    sigcache: SignatureCache,
    executor: Executor | None = None,
    deadline: float | None = None,
) -> BuiltBlock:
    """Propose the block at `height` on top of the store's tip.

    Candidates are raw Transaction bytes or DecodedTx (what the mempool holds). Takes them
    in order; one that fails (undecodable, bad signature, rule violation
    against the state so far) is left out and reported in `skipped`, never fatal. Stops at
    max_block_txs, and skips a candidate that would push the block over max_block_bytes.
    Stops taking candidates once time.monotonic() passes `deadline` (those left wait for
    the next block): a block that takes longer to build than its validators wait for a
    proposal would lose the round and make the backlog, and the next block, bigger.
    """
    tip = store.tip()
    if height != tip.height + 1:
        raise LedgerError(
            Code.INVALID_BLOCK, f"cannot propose height {height} on a tip at height {tip.height}"
        )
    if len(proposer) != KEY_SIZE or len(validators_hash) != HASH_SIZE:
        raise ValueError("proposer must be a 32-byte key and validators_hash a 32-byte hash")
    if time_ms < tip.time_ms:
        raise ValueError(f"block time {time_ms} is before the parent's {tip.time_ms}")
    params = genesis.params
    chain_id = genesis.chain_id
    ctx = BlockContext(height=height, time_ms=time_ms)
    budget = params.max_block_bytes - _HEADER_RESERVE - sum(_field_size(len(e)) for e in evidence)

    decoded: list[DecodedTx | None] = []
    skipped: list[tuple[bytes, LedgerError]] = []
    for candidate in candidates:
        if isinstance(candidate, DecodedTx):  # from the mempool: decoded once, at admission
            decoded.append(candidate)
            continue
        try:
            decoded.append(decode_tx(candidate, genesis))
        except LedgerError as err:
            decoded.append(None)
            skipped.append((sha256(candidate), err))
    valid = [tx for tx in decoded if tx is not None]
    verdicts: list[LedgerError | None] | None = None
    if executor is not None:
        # Verify every candidate's signatures up front on the pool (mostly cache hits: the
        # mempool verified them); collected in order below.
        verdicts = PendingVerification(executor, valid, sigcache, chain_id).verdicts()

    overlay = BlockOverlay(store)
    raws: list[bytes] = []
    for n, tx in enumerate(valid):
        if len(raws) >= params.max_block_txs:
            break
        if deadline is not None and not n & 63 and n and time.monotonic() > deadline:
            break
        size = _field_size(len(tx.raw))
        if size > budget:
            skipped.append((tx.txid, LedgerError(Code.MALFORMED, "does not fit in the block's byte budget")))
            continue
        try:
            if verdicts is None:
                sigcache.verify(tx, chain_id)
            elif verdicts[n] is not None:
                raise verdicts[n]  # type: ignore[misc]
            apply_tx(overlay, tx, genesis, ctx)
        except LedgerError as err:
            skipped.append((tx.txid, err))
            continue
        budget -= size
        raws.append(tx.raw)
        overlay.txs.append(tx)

    header = ledger_pb2.BlockHeader(
        chain_id=chain_id,
        height=height,
        time_ms=time_ms,
        prev_hash=tip.block_hash,
        tx_root=tx_root([tx.txid for tx in overlay.txs]),
        state_root=store.state_root_after(overlay, executor),
        validators_hash=validators_hash,
        proposer=proposer,
        evidence_root=evidence_root(evidence),
        tx_count=len(raws),
    )
    header_bytes = header.SerializeToString(deterministic=True)
    block_bytes = ledger_pb2.Block(header=header_bytes, txs=raws, evidence=list(evidence)).SerializeToString(
        deterministic=True
    )
    return BuiltBlock(block_bytes, header, block_hash(header_bytes), overlay, skipped)


# --- validating --------------------------------------------------------------------------


def validate_block(
    store: Store,
    block_bytes: bytes,
    genesis: Genesis,
    *,
    expected_height: int,
    validators_hash: bytes,
    min_time_ms: int,
    sigcache: SignatureCache,
    executor: Executor | None = None,
    known: Mapping[bytes, DecodedTx] | None = None,
) -> tuple[ledger_pb2.BlockHeader, bytes, BlockOverlay]:
    """Check a received block against its contents and the chain; return (header,
    block_hash, overlay) for Store.commit_block. Raises LedgerError(INVALID_BLOCK) naming the
    first problem; nothing is written either way.

    Cheap header checks come first, then the tx and evidence roots, then execution, then the
    state root: a forged block costs as little as possible.
    """
    params = genesis.params
    if len(block_bytes) > params.max_block_bytes:
        raise LedgerError(
            Code.INVALID_BLOCK, f"block is {len(block_bytes)} bytes; at most {params.max_block_bytes} allowed"
        )
    block, header = decode_block(block_bytes)
    tip = store.tip()

    def bad(message: str) -> LedgerError:
        return LedgerError(Code.INVALID_BLOCK, f"block {header.height}: {message}")

    if header.chain_id != genesis.chain_id:
        raise bad(f"is for chain {header.chain_id!r}, this network is {genesis.chain_id!r}")
    if header.height != expected_height:
        raise bad(f"height is {header.height}, expected {expected_height}")
    if header.height != tip.height + 1:
        raise bad(f"does not extend the tip at height {tip.height}")
    expected_prev = tip.block_hash if tip.height > 0 else ZERO_HASH
    if header.prev_hash != expected_prev:
        raise bad(f"prev_hash {header.prev_hash.hex()[:16]} is not the tip's hash {expected_prev.hex()[:16]}")
    if header.time_ms < tip.time_ms:
        raise bad(f"time {header.time_ms} is before its parent's {tip.time_ms}")
    if header.time_ms < min_time_ms:
        raise bad(f"time {header.time_ms} is before the allowed minimum {min_time_ms}")
    if header.validators_hash != validators_hash:
        raise bad("validators_hash is not the hash of the validator set deciding this height")
    if header.tx_count != len(block.txs):
        raise bad(f"header counts {header.tx_count} transactions, the block carries {len(block.txs)}")
    evidence = list(block.evidence)
    if header.evidence_root != evidence_root(evidence):
        raise bad("evidence_root does not match the block's evidence")

    txs = decode_block_txs(list(block.txs), genesis, known)
    if header.tx_root != tx_root([tx.txid for tx in txs]):
        raise bad("tx_root does not match the block's transactions")
    ctx = BlockContext(height=header.height, time_ms=header.time_ms)
    overlay = apply_block_txs(store, txs, genesis, ctx, sigcache, executor=executor)
    state = store.state_root_after(overlay, executor)
    if header.state_root != state:
        raise bad(
            f"state_root {header.state_root.hex()[:16]} differs from the state its transactions "
            f"produce ({state.hex()[:16]})"
        )
    return header, block_hash(block.header), overlay
