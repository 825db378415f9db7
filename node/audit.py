"""Independent verification of a chain, for auditors: full replay and inclusion proofs.

Replay (`verify_store`, `verify_node`) trusts only the genesis file. It takes the committed
blocks of a node (its LevelDB store, or its Sync API) in height order and, for every height:

1. checks the commit certificate against the genesis validator set (> 2/3 of the power
   precommitted exactly this header's hash at this height, every vote signature valid);
2. re-executes the block into a FRESH store with the node's own block transition
   (node.ledger.transition.verify_committed, steps 1 and 2): header chaining (prev_hash,
   height, time), tx_root, evidence_root, validators_hash, every evidence item (verified,
   once per validator and height), every transaction signature (an empty signature cache,
   so nothing is taken on trust) and every ledger rule, and the header's state root against
   the state the block produces;
3. checks the supply identity: the sum of all unspent outputs, tracked here from the
   outputs each block creates and spends, equals issued - redeemed.

At the end the replayed tip must equal the node's tip, the replayed state root is recomputed
from scratch over every UTXO and wallet record (not the incremental accumulator), and for a
store, the node's own state is recomputed and self-checked too (store_audit.audit_store).

Inclusion proofs (`build_proof`, `verify_proof_doc`) show one transaction is in a committed
block: its bytes (txid = SHA-256 of the body), the RFC 6962 Merkle path to the header's
tx_root, the header bytes (block hash = SHA-256 of them) and the commit certificate. A
verifier needs nothing but the genesis validator set.

Validator sets change (node.ledger.governance): replay checks each certificate against the
set of its height, from the state rebuilt so far; a proof carries the hand-offs from the
genesis set to the set deciding its block (node.ledger.handoffs, shared with snapshots).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from consensus.commit import CommitError, verify_commit
from consensus.validators import ValidatorSet
from proto import ledger_pb2

from node.ledger.blocks import block_hash, decode_committed_block, decode_header
from node.ledger.crypto import HASH_SIZE, sha256
from node.ledger.errors import LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import validator_set_at
from node.ledger.handoffs import (
    Handoff,
    HandoffError,
    follow_handoffs,
    handoff_doc,
    handoff_heights,
    hex_field,
)
from node.ledger.merkle import merkle_proof, verify_proof
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store, StoreVersionError, Tip
from node.ledger.store_audit import audit_store
from node.ledger.transition import BadCertificate, verify_committed
from node.ledger.txcodec import decode_tx, verify_signatures

PROOF_TYPE = "cbdc-inclusion-proof"
PROOF_VERSION = 1

Progress = Callable[[int, int], None]  # (height done, total heights)


class AuditError(Exception):
    """The audit could not run (store missing or in use, bad genesis): not a verdict."""


# --- replay ------------------------------------------------------------------------------


@dataclass
class AuditReport:
    """The verdict of a replay. `failure` is None when every check held."""

    chain_id: str
    heights: int = 0                 # blocks verified, from height 1
    txs: int = 0
    tip: Tip | None = None           # the replayed tip
    issued: int = 0
    redeemed: int = 0
    utxo_total: int = 0              # sum of unspent outputs, tracked independently
    failure: str | None = None       # first failed check, e.g. "block 7: commit certificate: ..."
    failed_height: int | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.failure is None

    def fail(self, height: int | None, message: str) -> AuditReport:
        self.failure = message
        self.failed_height = height
        return self


@dataclass
class _Replay:
    """The fresh store being rebuilt and the running checks."""

    genesis: Genesis
    store: Store
    report: AuditReport
    sigcache: SignatureCache = field(default_factory=SignatureCache)

    def apply(self, height: int, raw: bytes) -> bool:
        """Verify and commit the CommittedBlock at `height`; False (with the report's
        failure set) at the first check that does not hold."""
        report, genesis = self.report, self.genesis
        try:
            committed = decode_committed_block(raw)
        except LedgerError as err:
            report.fail(height, f"block {height}: stored bytes do not decode: {err.message}")
            return False
        if committed.height != height:
            report.fail(height, f"block {height}: its header says height {committed.height}")
            return False
        try:
            # The set deciding this height, from the state rebuilt so far: governance changes
            # it (committed at H, deciding from H+2), and every certificate is checked
            # against the set of its own height.
            validators = validator_set_at(self.store, genesis, height)
            executed, certificate = verify_committed(
                committed, self.store, genesis, validators=validators, sigcache=self.sigcache,
                expected_height=height,
            )
        except BadCertificate as err:
            report.fail(height, err.message)  # "block N: commit certificate does not verify: ..."
            return False
        except LedgerError as err:
            report.fail(height, f"block {height} does not re-execute: {err.message}")
            return False
        self.store.commit(executed, certificate.raw)
        overlay = executed.overlay
        # Supply identity, from the outputs themselves rather than the supply counters.
        report.utxo_total += sum(o.amount for o in overlay.created.values())
        report.utxo_total -= sum(o.amount for o in overlay.spent.values())
        supply = self.store.supply()
        report.issued, report.redeemed = supply.issued, supply.redeemed
        if report.utxo_total != supply.outstanding:
            report.fail(
                height,
                f"block {height}: supply identity broken: unspent outputs sum to {report.utxo_total} fen, "
                f"issued - redeemed is {supply.outstanding} fen",
            )
            return False
        report.heights = height
        report.txs += len(overlay.txids)
        report.tip = self.store.tip()
        return True

    def recompute(self, height: int) -> bool:
        """The state root recomputed from scratch over the rebuilt state == the header's."""
        tip = self.store.tip()
        recomputed = self.store.recompute_state_root()
        if recomputed != tip.state_root:
            self.report.fail(
                height,
                f"block {height}: state root recomputed from scratch {recomputed.hex()[:16]} differs "
                f"from the header's {tip.state_root.hex()[:16]}",
            )
            return False
        return True


def replay(
    blocks: Iterable[tuple[int, bytes]],
    genesis: Genesis,
    total: int,
    *,
    progress: Progress | None = None,
    recompute_every: int = 0,
) -> AuditReport:
    """Verify CommittedBlock bytes given as (height, bytes) from height 1 upward, rebuilding
    the state in a temporary store. `recompute_every` > 0 also recomputes the state root
    from scratch every that many heights (it is always done at the last one)."""
    report = AuditReport(chain_id=genesis.chain_id)
    with tempfile.TemporaryDirectory(prefix="cbdc-audit-") as workdir:
        store = Store.open(str(Path(workdir) / "ledger"), genesis)
        try:
            run = _Replay(genesis, store, report)
            expected = 1
            for height, raw in blocks:
                if height != expected:
                    return report.fail(height, f"block {expected} is missing (next found: {height})")
                if not run.apply(height, raw):
                    return report
                if recompute_every and height % recompute_every == 0 and not run.recompute(height):
                    return report
                if progress is not None:
                    progress(height, total)
                expected += 1
            if report.heights < total:
                return report.fail(report.heights + 1, f"block {report.heights + 1} is missing")
            if report.heights and not run.recompute(report.heights):
                return report
            problems = audit_store(store)
            if problems:
                return report.fail(report.heights, f"rebuilt state: {problems[0]}")
        finally:
            store.close()
    return report


def _compare_tip(report: AuditReport, source_tip: Tip, who: str) -> AuditReport:
    """The replay must end exactly where the node says its chain ends."""
    tip = report.tip
    if report.ok and tip is not None and (tip.block_hash, tip.state_root) != (
        source_tip.block_hash, source_tip.state_root
    ):
        report.fail(
            tip.height,
            f"{who} tip at height {source_tip.height} ({source_tip.block_hash.hex()[:16]}, state root "
            f"{source_tip.state_root.hex()[:16]}) differs from the replayed chain "
            f"({tip.block_hash.hex()[:16]}, state root {tip.state_root.hex()[:16]})",
        )
    return report


def open_store(ledger: Path, genesis: Genesis) -> Store:
    """Open a node's ledger for reading. LevelDB lets one process open a database at a time,
    so the store of a running node is refused with what to do instead."""
    import plyvel

    if not (ledger / "CURRENT").is_file():
        raise AuditError(f"{ledger} is not a ledger store (no LevelDB CURRENT file)")
    try:
        return Store.open(str(ledger), genesis)
    except plyvel.IOError as err:
        if "lock" in str(err).lower():
            raise AuditError(
                f"{ledger} is in use (a running node holds its lock; LevelDB allows one process): "
                f"stop the node, or audit the running node over its API with --node"
            ) from None
        raise AuditError(f"cannot open {ledger}: {err}") from None
    except LedgerError as err:
        raise AuditError(err.message) from None
    except StoreVersionError as err:
        raise AuditError(err.message) from None
    except plyvel.Error as err:
        raise AuditError(f"cannot open {ledger}: {err}") from None


def home_paths(home: Path) -> tuple[Path, Path]:
    """(genesis file, ledger directory) of a node home, from its config.toml."""
    from node.config import ConfigError, load_config

    try:
        config = load_config(home)
    except ConfigError as err:
        raise AuditError(str(err)) from None
    return config.genesis_path, config.data_path / "ledger"


def load_genesis(path: Path) -> Genesis:
    from node.ledger.genesis import GenesisError

    try:
        return Genesis.load(path)
    except GenesisError as err:
        raise AuditError(str(err)) from None


def verify_store(
    ledger: Path, genesis: Genesis, *, progress: Progress | None = None, recompute_every: int = 0
) -> AuditReport:
    """Replay a node's store (stopped node, or a copy of its ledger directory)."""
    source = open_store(ledger, genesis)
    try:
        source_tip = source.tip()
        if source.base_height > 1:
            raise AuditError(
                f"store {ledger} holds blocks from height {source.base_height} only (pruned, or "
                "started from a snapshot); a replay from genesis needs an archive node's store"
            )

        def stored() -> Iterator[tuple[int, bytes]]:
            for height in range(1, source_tip.height + 1):
                raw = source.get_block(height=height)
                if raw is None:
                    return
                yield height, raw

        report = replay(stored(), genesis, source_tip.height, progress=progress,
                        recompute_every=recompute_every)
        _compare_tip(report, source_tip, "the store's")
        if report.ok:
            # The node's own state (UTXO set, indexes, balances, supply) against itself.
            problems = audit_store(source)
            if problems:
                report.fail(source_tip.height, f"the store's state: {problems[0]}")
        return report
    finally:
        source.close()


def verify_node(
    node_client: Any, genesis: Genesis, *, progress: Progress | None = None, recompute_every: int = 0
) -> AuditReport:
    """Replay the blocks a running node serves over its Sync API (node.client.connection.NodeClient).
    Nothing the node says is trusted: each block is verified as it arrives."""
    status = node_client.status()
    if status.chain_id != genesis.chain_id:
        raise AuditError(f"the node serves chain {status.chain_id!r}, the genesis is {genesis.chain_id!r}")
    total = status.height
    blocks: Iterable[tuple[int, bytes]] = (
        ((msg.height, msg.committed_block) for msg in node_client.blocks(1, total)) if total else ()
    )
    report = replay(blocks, genesis, total, progress=progress, recompute_every=recompute_every)
    tip = Tip(status.height, status.block_hash, status.state_root, status.time_ms)
    return _compare_tip(report, tip, "the node's")


# --- inclusion proofs ---------------------------------------------------------------------


class ProofError(Exception):
    """The proof does not prove what it claims; the message names the failing check."""


@dataclass(frozen=True, slots=True)
class ProvenInclusion:
    txid: bytes
    height: int
    index: int
    block_hash: bytes
    tx: bytes                   # the Transaction bytes
    signers: tuple[bytes, ...]  # validators whose precommits the certificate carries
    power: int
    total_power: int


def collect_handoffs(node_client: Any, height: int) -> list[Handoff]:
    """The hand-offs from genesis to the set deciding `height`, as a node serves them (its
    GetGovernance validator sets and GetBlock). Nothing here is trusted: verify_proof_doc
    checks every one."""
    sets = node_client.governance().validator_sets
    wanted = {s.effective_height: s for s in sets}
    return [
        (
            node_client.block(height=h).committed_block,
            [(v.public_key, v.power) for v in wanted[h + 1].validators],
        )
        for h in handoff_heights(wanted, height)
    ]


def build_proof(committed_block: bytes, txid: bytes, handoffs: Sequence[Handoff] = ()) -> dict[str, Any]:
    """The JSON-ready inclusion proof of `txid` in a CommittedBlock (bytes as stored).

    `handoffs`, oldest first, carry the proof from the genesis validator set to the set
    deciding this block, as CometBFT's light client walks set changes: each is a block
    certified by the set before it whose header commits (next_validators_hash) to the set
    after it, given in full."""
    committed = decode_committed_block(committed_block)
    block, header = committed.block, committed.header
    txids = [sha256(ledger_pb2.Transaction.FromString(raw).body) for raw in block.txs]
    witnesses = [sha256(raw) for raw in block.txs]
    if txid not in txids:
        raise ProofError(f"transaction {txid.hex()} is not in block {header.height}")
    index = txids.index(txid)
    return {
        "type": PROOF_TYPE,
        "version": PROOF_VERSION,
        "chain_id": header.chain_id,
        "height": header.height,
        "block_hash": committed.block_hash.hex(),
        "txid": txid.hex(),
        "tx_index": index,
        "tx": block.txs[index].hex(),
        "merkle_path": [h.hex() for h in merkle_proof(txids, index)],
        # The path from SHA-256 of the transaction's bytes (signatures included) to the
        # header's witness_root: the signatures are committed too.
        "witness_path": [h.hex() for h in merkle_proof(witnesses, index)],
        "header": block.header.hex(),
        "commit": committed.certificate.hex(),
        "handoffs": [handoff_doc(raw, validators) for raw, validators in handoffs],
    }


def _hex(doc: dict[str, Any], name: str) -> bytes:
    return hex_field(doc, name, "proof", ProofError)


def verify_proof_doc(doc: Any, genesis: Genesis) -> ProvenInclusion:
    """Check an inclusion proof trusting only `genesis` (its chain id and validator set).
    Every claim of the document is recomputed from the bytes; ProofError names the check
    that fails."""
    if not isinstance(doc, dict) or doc.get("type") != PROOF_TYPE:
        raise ProofError(f"not an inclusion proof (expected \"type\": \"{PROOF_TYPE}\")")
    if doc.get("version") != PROOF_VERSION:
        raise ProofError(f"proof version {doc.get('version')!r} is not supported (expected {PROOF_VERSION})")
    tx_bytes, header_bytes, certificate = _hex(doc, "tx"), _hex(doc, "header"), _hex(doc, "commit")
    path_field = doc.get("merkle_path")
    if not isinstance(path_field, list):
        raise ProofError("proof field 'merkle_path' is missing or not a list")
    path = [_hex({"merkle_path": p}, "merkle_path") for p in path_field]
    index = doc.get("tx_index")
    if not isinstance(index, int) or isinstance(index, bool) or index < 0:
        raise ProofError("proof field 'tx_index' must be a non-negative integer")

    # 1. The transaction: its id is the hash of its body bytes, exactly as carried.
    try:
        body = ledger_pb2.Transaction.FromString(tx_bytes).body
    except Exception:  # untrusted bytes: any parser failure means a broken proof
        raise ProofError("the transaction bytes do not decode") from None
    txid = sha256(body)
    if "txid" in doc and _hex(doc, "txid") != txid:
        raise ProofError(
            f"txid {doc['txid']} is not the hash of the transaction body in the proof ({txid.hex()})"
        )
    # 2. The header, and the Merkle path from the txid to its tx_root.
    try:
        header = decode_header(header_bytes)
    except LedgerError as err:
        raise ProofError(f"the header does not decode: {err.message}") from None
    if header.chain_id != genesis.chain_id:
        raise ProofError(f"the header is for chain {header.chain_id!r}, the genesis is {genesis.chain_id!r}")
    if any(len(p) != HASH_SIZE for p in path):
        raise ProofError("a Merkle path entry is not 32 bytes")
    if not verify_proof(txid, index, header.tx_count, path, header.tx_root):
        raise ProofError(
            f"the Merkle path does not lead from txid {txid.hex()[:16]} (position {index} of "
            f"{header.tx_count}) to the header's tx_root {header.tx_root.hex()[:16]}"
        )
    # 3. Who signed: the transaction's bytes (signatures included) lead to witness_root,
    # and every signature its body requires verifies.
    witness_field = doc.get("witness_path")
    if not isinstance(witness_field, list):
        raise ProofError("proof field 'witness_path' is missing or not a list")
    witness_path = [_hex({"witness_path": p}, "witness_path") for p in witness_field]
    if any(len(p) != HASH_SIZE for p in witness_path) or not verify_proof(
        sha256(tx_bytes), index, header.tx_count, witness_path, header.witness_root
    ):
        raise ProofError(
            "the witness path does not lead from the transaction's bytes to the header's witness_root "
            "(signature bytes altered?)"
        )
    try:
        verify_signatures(decode_tx(tx_bytes, genesis), genesis.chain_id)
    except LedgerError as err:
        raise ProofError(f"the transaction's signatures do not hold: {err.message}") from None
    # 4. The validator set deciding the block: genesis's, handed on by each hand-off.
    validators = _follow_handoffs(doc.get("handoffs", []), genesis, header.height)
    # 5. The block hash is the hash of the header bytes; the certificate must commit it.
    digest = block_hash(header_bytes)
    if header.validators_hash != validators.hash():
        raise ProofError(
            "the header names a validator set other than the genesis one"
            + (" or the one the last hand-off handed to" if doc.get("handoffs") else "")
            + " (a validator-set change without its hand-off?)"
        )
    try:
        verified = verify_commit(certificate, validators, genesis.chain_id, header.height, digest)
    except CommitError as err:
        raise ProofError(f"the commit certificate does not verify: {err}") from None
    return ProvenInclusion(txid, header.height, index, digest, tx_bytes, verified.signers,
                           verified.power, validators.total_power)


def _follow_handoffs(handoffs: Any, genesis: Genesis, height: int) -> ValidatorSet:
    """The validator set the hand-offs lead to from genesis's (node.ledger.handoffs, the
    rule a snapshot restore follows too); ProofError names the first one that does not hold."""
    if not isinstance(handoffs, list):
        raise ProofError("proof field 'handoffs' must be a list")
    try:
        return follow_handoffs(handoffs, genesis, height)
    except HandoffError as err:
        raise ProofError(str(err)) from None
