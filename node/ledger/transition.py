"""The block transition: the one place that says whether a block is valid, and executes it.

Every path that takes a block uses these functions, so a block is judged by the same rules
however it arrived (in the style of the Ethereum execution specs' `state_transition`):

- a proposer builds one (`build_block`);
- a validator checks a proposal, or a block a certificate decided before it was checked
  (`validate_block`, via node.ledger_service.LedgerService.validate);
- block sync, pushed commits, `cbdc audit verify` and the sync benchmark take committed
  blocks (`verify_committed` = decode once, `check_certificate`, then `validate_block`; block
  sync runs the two steps apart, the certificate while fetching, execution when applying).

A block is all-or-nothing: every transaction is applied to ONE overlay on top of the
committed state; the first invalid one rejects the whole block and the committed state is
untouched (the overlay is dropped). What comes out is an `ExecutedBlock`: the block's bytes,
decoded header, hash, the overlay with its decoded transactions, and the (validator,
height) keys of the evidence it carries; `Store.commit` writes exactly that, so nothing is
decoded or verified twice between validation and commit.

Signatures go through the shared SignatureCache: what mempool admission verified is not
verified again. With an `executor` (best: node.ledger.sigverify.verification_pool, a process
pool), the misses are verified on other cores while this thread applies the ledger rules.

Refusals are LedgerError(INVALID_BLOCK, "block <height>: <what>"); a commit certificate that
does not prove the block is the subclass BadCertificate (same code).
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass

from consensus.commit import CommitError, verify_commit
from consensus.validators import ValidatorSet
from proto import ledger_pb2

from node.ledger.blocks import (
    BlockOverlay,
    Certificate,
    CommittedBlock,
    block_hash,
    decode_block,
    decode_committed_block,
    evidence_root,
    field_size,
    tx_root,
    witness_root,
)
from node.ledger.crypto import HASH_SIZE, KEY_SIZE, sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.evidence import check_block_evidence, evidence_key_of
from node.ledger.genesis import Genesis
from node.ledger.governance import block_caps_at, validator_set_at
from node.ledger.rules import BlockContext, apply_tx
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import PendingVerification
from node.ledger.state import StateView
from node.ledger.store import Store
from node.ledger.txcodec import DecodedTx, decode_tx

# Upper bound of a serialized header inside a Block (chain_id <= 50 chars, five 32-byte
# hashes, a 32-byte key, four varints, tags and lengths: < 330 bytes) plus Block framing.
_HEADER_RESERVE = 400

# A candidate the proposer left out: (sha256 of its bytes, or its txid; why).
Skipped = tuple[bytes, LedgerError]


@dataclass(frozen=True, slots=True)
class ExecutedBlock:
    """A block that passed every check, executed on top of the store's tip: what
    Store.commit writes (with the certificate that decided it)."""

    block_bytes: bytes                   # serialized Block, exactly as proposed
    header: ledger_pb2.BlockHeader
    block_hash: bytes                    # SHA-256 of the header bytes
    overlay: BlockOverlay                # state changes and the decoded txs, in block order
    evidence_keys: tuple[bytes, ...]     # node.ledger.evidence.evidence_key of each item

    @property
    def height(self) -> int:
        return self.header.height

    @property
    def txids(self) -> list[bytes]:
        return [tx.txid for tx in self.overlay.txs]


class BadCertificate(LedgerError):
    """A commit certificate that does not prove its block; `reason` says why."""

    def __init__(self, height: int, reason: str) -> None:
        super().__init__(Code.INVALID_BLOCK, f"block {height}: commit certificate does not verify: {reason}")
        self.height = height
        self.reason = reason

    def __reduce__(self):  # keep the fields across process boundaries (pickling)
        return (BadCertificate, (self.height, self.reason))


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
) -> tuple[ExecutedBlock, list[Skipped]]:
    """Propose the block at `height` on top of the store's tip; returns it with the
    candidates left out.

    Candidates are raw Transaction bytes or DecodedTx (what the mempool holds). Takes them
    in order; one that fails (undecodable, bad signature, rule violation against the state
    so far) is left out and reported beside the block, never fatal. Stops at max_block_txs,
    and skips a candidate that would push the block over max_block_bytes. Stops taking
    candidates once time.monotonic() passes `deadline` (those left wait for the next
    block): a block that takes longer to build than its validators wait for a proposal
    would lose the round and make the backlog, and the next block, bigger. `evidence` is
    taken as given (the proposer's pool holds only verified, uncommitted items).
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
    chain_id = genesis.chain_id
    ctx = BlockContext(height=height, time_ms=time_ms)
    # The caps of this height: genesis's, or lower ones governance set (node.ledger.governance).
    max_txs, max_bytes = block_caps_at(store, genesis, height)
    budget = max_bytes - _HEADER_RESERVE - sum(field_size(len(e)) for e in evidence)

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
        if len(raws) >= max_txs:
            break
        if deadline is not None and not n & 63 and n and time.monotonic() > deadline:
            break
        size = field_size(len(tx.raw))
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
        # Changes committed up to the tip decide from tip + 2 at the latest: known here.
        next_validators_hash=validator_set_at(store, genesis, height + 1).hash(),
        witness_root=witness_root([tx.sig_key for tx in overlay.txs]),
    )
    header_bytes = header.SerializeToString(deterministic=True)
    block_bytes = ledger_pb2.Block(header=header_bytes, txs=raws, evidence=list(evidence)).SerializeToString(
        deterministic=True
    )
    keys = tuple(key for key in map(evidence_key_of, evidence) if key is not None)
    return ExecutedBlock(block_bytes, header, block_hash(header_bytes), overlay, keys), skipped


# --- validating --------------------------------------------------------------------------


def validate_block(
    store: Store,
    block_bytes: bytes,
    genesis: Genesis,
    *,
    expected_height: int,
    validators: ValidatorSet,
    min_time_ms: int,
    sigcache: SignatureCache,
    executor: Executor | None = None,
    known: Mapping[bytes, DecodedTx] | None = None,
) -> ExecutedBlock:
    """Check a block against its contents, the chain and the validator set deciding its
    height, and execute it on top of the store's tip. Raises LedgerError(INVALID_BLOCK)
    naming the first problem; nothing is written either way.

    Cheap header checks come first, then the roots, the evidence (a few signatures per
    item, against `validators` and the store's index of committed evidence), execution, and
    the state root last: a forged block costs as little as possible. `known` maps exact
    transaction bytes to their decoding (the mempool's), so those are not decoded again.
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
    # Block 1 builds on the genesis hash (the store's tip at height 0), so a chain replayed
    # against a genesis it was not built from fails here, at its first block.
    expected_prev = tip.block_hash
    if header.height == 1 and header.prev_hash != expected_prev:
        raise bad(
            f"builds on genesis {header.prev_hash.hex()}, but this node's genesis hash is "
            f"{expected_prev.hex()}: the chain was not built from this genesis"
        )
    if header.prev_hash != expected_prev:
        raise bad(f"prev_hash {header.prev_hash.hex()[:16]} is not the tip's hash {expected_prev.hex()[:16]}")
    if header.time_ms < tip.time_ms:
        raise bad(f"time {header.time_ms} is before its parent's {tip.time_ms}")
    if header.time_ms < min_time_ms:
        raise bad(f"time {header.time_ms} is before the allowed minimum {min_time_ms}")
    if header.validators_hash != validators.hash():
        raise bad("validators_hash is not the hash of the validator set deciding this height")
    if header.next_validators_hash != validator_set_at(store, genesis, header.height + 1).hash():
        raise bad("next_validators_hash is not the hash of the validator set deciding the next height")
    if header.tx_count != len(block.txs):
        raise bad(f"header counts {header.tx_count} transactions, the block carries {len(block.txs)}")
    evidence = list(block.evidence)
    if header.evidence_root != evidence_root(evidence):
        raise bad("evidence_root does not match the block's evidence")
    evidence_keys = check_block_evidence(
        evidence, validators=validators, chain_id=genesis.chain_id, height=header.height,
        committed=store.committed_evidence,
    )

    txs = decode_block_txs(list(block.txs), genesis, known)
    max_txs, max_bytes = block_caps_at(store, genesis, header.height)
    if len(txs) > max_txs:
        raise bad(f"carries {len(txs)} transactions; the limit at this height is {max_txs}")
    if sum(len(tx.raw) for tx in txs) > max_bytes:
        raise bad(f"its transactions take more than the limit at this height ({max_bytes} bytes)")
    if header.tx_root != tx_root([tx.txid for tx in txs]):
        raise bad("tx_root does not match the block's transactions")
    ctx = BlockContext(height=header.height, time_ms=header.time_ms)
    overlay = apply_block_txs(store, txs, genesis, ctx, sigcache, executor=executor)
    # After execution, so that a bad signature is reported as the transaction's own
    # refusal; this catches other signature bytes that verify too (what was not signed).
    if header.witness_root != witness_root([tx.sig_key for tx in txs]):
        raise bad("witness_root does not match the block's transaction bytes (their signatures)")
    state = store.state_root_after(overlay, executor)
    if header.state_root != state:
        raise bad(
            f"state_root {header.state_root.hex()[:16]} differs from the state its transactions "
            f"produce ({state.hex()[:16]})"
        )
    return ExecutedBlock(block_bytes, header, block_hash(block.header), overlay, tuple(evidence_keys))


# --- committed blocks --------------------------------------------------------------------


def check_certificate(committed: CommittedBlock, validators: ValidatorSet, chain_id: str) -> Certificate:
    """The committed block's certificate proves it: > 2/3 of `validators`' power precommitted
    exactly this block hash at this height on `chain_id`, every vote signature valid.
    Raises BadCertificate."""
    try:
        verify_commit(committed.certificate, validators, chain_id, committed.height, committed.block_hash)
    except CommitError as err:
        raise BadCertificate(committed.height, str(err)) from None
    return Certificate.decode(committed.certificate)  # it verified, so it decodes


def verify_committed(
    committed: bytes | CommittedBlock,
    store: Store,
    genesis: Genesis,
    *,
    validators: ValidatorSet,
    sigcache: SignatureCache,
    expected_height: int | None = None,
    executor: Executor | None = None,
    known: Mapping[bytes, DecodedTx] | None = None,
) -> tuple[ExecutedBlock, Certificate]:
    """A committed block from anywhere (a peer, a store, a file): decode it once, check its
    certificate against `validators`, then validate_block it on top of the store's tip
    (height: `expected_height`, default the tip's next). Returns what Store.commit takes.
    Raises LedgerError(INVALID_BLOCK) (BadCertificate for the certificate)."""
    if isinstance(committed, bytes):
        committed = decode_committed_block(committed)
    height = store.height + 1 if expected_height is None else expected_height
    if committed.height != height:
        raise LedgerError(
            Code.INVALID_BLOCK, f"block {committed.height}: height is {committed.height}, expected {height}"
        )
    certificate = check_certificate(committed, validators, genesis.chain_id)
    executed = validate_block(
        store, committed.block_bytes, genesis, expected_height=height, validators=validators,
        min_time_ms=0, sigcache=sigcache, executor=executor, known=known,
    )
    return executed, certificate
