"""Inclusion proofs commit the signatures: the witness root (over each transaction's bytes,
signatures included) is in the header, so a proof whose signature bytes were altered is
INVALID even though the body, and so the txid and its Merkle path, are unchanged."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.audit import ProofError, build_proof, verify_proof_doc
from node.ledger.blocks import decode_committed_block
from node.ledger.crypto import sha256
from proto import ledger_pb2

from .test_block_paths import GENESIS
from .test_genesis_binding import _chain


def test_a_proof_with_altered_signature_bytes_is_invalid(tmp_path: Path) -> None:
    height, committed = _chain(tmp_path)[-1]
    raw = decode_committed_block(committed).block.txs[0]
    tx = ledger_pb2.Transaction.FromString(raw)
    proof = build_proof(committed, sha256(tx.body))
    assert verify_proof_doc(proof, GENESIS).height == height

    sig = bytearray(tx.signatures[0])
    sig[7] ^= 1
    altered = ledger_pb2.Transaction(body=tx.body, signatures=[bytes(sig)]).SerializeToString()
    with pytest.raises(ProofError, match="witness path does not lead"):
        verify_proof_doc({**proof, "tx": altered.hex()}, GENESIS)
    with pytest.raises(ProofError, match="'witness_path' is missing"):
        verify_proof_doc({k: v for k, v in proof.items() if k != "witness_path"}, GENESIS)
