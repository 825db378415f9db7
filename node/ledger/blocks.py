"""Blocks on the wire: encoding and decoding, and the domain types of what was decided.

A Block is its header bytes, its transactions and its evidence; a CommittedBlock adds the
commit certificate (consensus-defined: > 2/3 of the power precommitted the block hash). Both
are decoded once into the dataclasses here (`CommittedBlock`, `Certificate`), so no caller
reaches into protobufs or consensus messages itself. Judging a block (building, validating,
verifying a committed one) is node.ledger.transition.

Header fields: chain_id, height, prev_hash (the genesis hash at height 1), time_ms, tx_root
(RFC 6962 over txids in block order), tx_count, evidence_root (RFC 6962 over SHA-256 of each
evidence item), validators_hash, state_root (of the state after the block), proposer (32
bytes), next_validators_hash (the set deciding the next height), witness_root (RFC 6962 over
SHA-256 of each transaction's bytes, signatures included). The block hash is SHA-256 of the
header bytes exactly as received.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from consensus.messages import decode_vote
from proto import consensus_pb2, ledger_pb2

from node.ledger.crypto import HASH_SIZE, KEY_SIZE, sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.merkle import merkle_root
from node.ledger.state import Overlay
from node.ledger.txcodec import DecodedTx


@dataclass
class BlockOverlay(Overlay):
    """An Overlay plus the decoded transactions it applied, in block order."""

    txs: list[DecodedTx] = field(default_factory=list)


# --- encoding helpers --------------------------------------------------------------------


def field_size(n: int) -> int:
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


def witness_root(tx_hashes: Sequence[bytes]) -> bytes:
    """Merkle root over SHA-256 of each Transaction's bytes (DecodedTx.sig_key), block order."""
    return merkle_root(tx_hashes)


def evidence_root(evidence: Sequence[bytes]) -> bytes:
    return merkle_root([sha256(item) for item in evidence])


def decode_header(data: bytes) -> ledger_pb2.BlockHeader:
    """Parse header bytes and check field sizes; LedgerError(INVALID_BLOCK) otherwise."""
    try:
        header = ledger_pb2.BlockHeader.FromString(data)
    except Exception:  # untrusted bytes: any parser failure is the sender's
        raise LedgerError(Code.INVALID_BLOCK, "block header is not a serialized BlockHeader") from None
    # (next_validators_hash and witness_root are compared whole by the block transition.)
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


@dataclass(frozen=True, slots=True)
class Certificate:
    """A commit certificate, decoded (signatures NOT verified: that is consensus.commit.
    verify_commit, which transition.check_certificate runs). For display and indexing."""

    raw: bytes                  # the certificate bytes as committed
    height: int
    round: int
    block_hash: bytes
    signers: tuple[bytes, ...]  # validator keys of the precommits it carries, in order
    precommits: tuple[bytes, ...]  # the signed precommits themselves, as committed

    @classmethod
    def decode(cls, raw: bytes) -> Certificate:
        """LedgerError(INVALID_BLOCK) when the bytes are not a CommitCertificate of votes."""
        try:
            cert = consensus_pb2.CommitCertificate.FromString(raw)
            precommits = tuple(cert.precommits)
            signers = tuple(decode_vote(v, verify=False).validator for v in precommits)
        except Exception:  # untrusted bytes: any parser failure is the sender's
            raise LedgerError(Code.INVALID_BLOCK, "commit certificate does not decode") from None
        return cls(raw, cert.height, cert.round, cert.block_hash, signers, precommits)


@dataclass(frozen=True, slots=True)
class CommittedBlock:
    """A CommittedBlock as stored and served, decoded once."""

    raw: bytes                     # the CommittedBlock bytes
    block_bytes: bytes             # the Block inside, exactly as proposed
    block: ledger_pb2.Block
    header: ledger_pb2.BlockHeader
    block_hash: bytes              # SHA-256 of the header bytes
    certificate: bytes             # the commit certificate (Certificate.decode to read it)

    @property
    def height(self) -> int:
        return self.header.height


def decode_committed_block(data: bytes) -> CommittedBlock:
    """Decode CommittedBlock bytes (as stored or served); LedgerError(INVALID_BLOCK) on garbage.
    The certificate is kept as bytes: checking it is transition.check_certificate."""
    try:
        committed = ledger_pb2.CommittedBlock.FromString(data)
    except Exception:
        raise LedgerError(Code.INVALID_BLOCK, "not a serialized CommittedBlock") from None
    block, header = decode_block(committed.block)
    return CommittedBlock(data, committed.block, block, header, block_hash(block.header), committed.commit)


def encode_committed(block_bytes: bytes, commit: bytes) -> bytes:
    """CommittedBlock bytes for a decided block and its (consensus-defined) certificate."""
    return ledger_pb2.CommittedBlock(block=block_bytes, commit=commit).SerializeToString()
