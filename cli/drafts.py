"""What every offline-signed draft file shares (issuance, governance, multi-signature
payments): who has signed so far, and writing the file so a crash never leaves half of it.

Each kind of draft (cli/bank.py Draft, cli/gov.py GovDraft, cli/multisig_draft.py
SpendDraft) is a SignedDraft that names its signers and keeps its own summary and its own
check of what it may hold; only `tx` is authoritative in any of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cli.common import write_json_atomically


@dataclass(frozen=True)
class SignedDraft:
    """A transaction being signed offline. Only `tx` is authoritative; the rest of a draft
    file is a summary for the people signing, recomputed from `tx` whenever it is written."""

    tx: bytes

    @property
    def body(self) -> Any:
        from proto import ledger_pb2

        return ledger_pb2.TxBody.FromString(ledger_pb2.Transaction.FromString(self.tx).body)

    @property
    def chain_id(self) -> str:
        return self.body.chain_id

    @property
    def txid(self) -> bytes:
        from node.ledger.crypto import sha256
        from proto import ledger_pb2

        return sha256(ledger_pb2.Transaction.FromString(self.tx).body)

    def signers(self) -> list[bytes]:
        """The keys the body names as its signers, in signature order."""
        raise NotImplementedError

    def signer_status(self) -> list[tuple[bytes, str]]:
        """(key, 'signed' | 'missing' | 'INVALID') for every signer, in signature order."""
        return signature_status(self.tx, self.signers())


def signature_status(tx_bytes: bytes, signers: Sequence[bytes]) -> list[tuple[bytes, str]]:
    """(key, 'signed' | 'missing' | 'INVALID') for every signer the body names, in signature
    order: signatures[i] is by signers[i]."""
    from node.ledger.crypto import tx_sign_digest, verify
    from proto import ledger_pb2

    tx = ledger_pb2.Transaction.FromString(tx_bytes)
    chain_id = ledger_pb2.TxBody.FromString(tx.body).chain_id
    sigs = list(tx.signatures) + [b""] * (len(signers) - len(tx.signatures))
    digest = tx_sign_digest(chain_id, tx.body)
    return [
        (key, "missing" if not sig else "signed" if verify(key, digest, sig) else "INVALID")
        for key, sig in zip(signers, sigs, strict=False)
    ]


def write_draft(path: Path, doc: Any) -> None:
    """Write the draft document by atomic replace: a crash while signing never leaves half a
    draft."""
    write_json_atomically(path, doc)
