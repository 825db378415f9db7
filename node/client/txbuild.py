"""Building and signing transactions (tests, benchmarks, the CLI, the devnet).

Every builder returns the serialized Transaction. Bodies are serialized once and then only
ever handled as bytes: signatures cover those exact bytes (never a re-encoding).

Issuance needs m of n central-bank signatures, usually gathered one signer at a time on
different machines: `issue_unsigned` fixes the body (and so the signer list), then each
signer calls `add_signature`; `missing_signers` says who has not signed yet.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Protocol

from google.protobuf.message import DecodeError
from proto import ledger_pb2

from node.ledger.crypto import tx_sign_digest
from node.ledger.types import OutPoint, Output


class Signer(Protocol):
    """Anything that holds a key pair, e.g. node.ledger.keys.KeyPair."""

    @property
    def public(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


OutputLike = Output | tuple[bytes, int]
OutPointLike = OutPoint | tuple[bytes, int]


# --- bodies -----------------------------------------------------------------------------


def _outputs(outputs: Iterable[OutputLike]) -> list[ledger_pb2.TxOutput]:
    result = []
    for o in outputs:
        owner, amount = (o.owner, o.amount) if isinstance(o, Output) else o
        result.append(ledger_pb2.TxOutput(owner=owner, amount=amount))
    return result


def _inputs(inputs: Iterable[OutPointLike]) -> list[ledger_pb2.OutPoint]:
    result = []
    for i in inputs:
        txid, index = (i.txid, i.index) if isinstance(i, OutPoint) else i
        result.append(ledger_pb2.OutPoint(txid=txid, index=index))
    return result


def issue_body(
    chain_id: str, outputs: Iterable[OutputLike], signers: Sequence[bytes], nonce: int = 0
) -> bytes:
    issue = ledger_pb2.Issue(outputs=_outputs(outputs), signers=list(signers))
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, issue=issue).SerializeToString()


def redeem_body(
    chain_id: str,
    institution: bytes,
    inputs: Iterable[OutPointLike],
    amount: int,
    change: Iterable[OutputLike] = (),
    nonce: int = 0,
) -> bytes:
    redeem = ledger_pb2.Redeem(
        institution=institution, inputs=_inputs(inputs), amount=amount, change=_outputs(change)
    )
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, redeem=redeem).SerializeToString()


def register_body(
    chain_id: str, institution: bytes, address: bytes, tier: int, kyc_commitment: bytes = b"", nonce: int = 0
) -> bytes:
    reg = ledger_pb2.RegisterWallet(
        institution=institution, address=address, tier=tier, kyc_commitment=kyc_commitment
    )
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, register_wallet=reg).SerializeToString()


def transfer_body(
    chain_id: str,
    sender: bytes,
    inputs: Iterable[OutPointLike],
    outputs: Iterable[OutputLike],
    nonce: int = 0,
) -> bytes:
    transfer = ledger_pb2.Transfer(sender=sender, inputs=_inputs(inputs), outputs=_outputs(outputs))
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, transfer=transfer).SerializeToString()


# --- signing ----------------------------------------------------------------------------


def encode_tx(body: bytes, signatures: Sequence[bytes]) -> bytes:
    return ledger_pb2.Transaction(body=body, signatures=list(signatures)).SerializeToString()


def sign_body(chain_id: str, body: bytes, keys: Sequence[Signer]) -> bytes:
    """A Transaction of `body` signed by `keys`, given in the order of the body's signers."""
    digest = tx_sign_digest(chain_id, body)
    return encode_tx(body, [k.sign(digest) for k in keys])


def build_issue(
    chain_id: str, outputs: Iterable[OutputLike], issuer_keys: Sequence[Signer], nonce: int = 0
) -> bytes:
    """An issuance signed by all of `issuer_keys` (who are also its signer list)."""
    body = issue_body(chain_id, outputs, [k.public for k in issuer_keys], nonce)
    return sign_body(chain_id, body, issuer_keys)


def build_redeem(
    chain_id: str,
    institution_key: Signer,
    inputs: Iterable[OutPointLike],
    amount: int,
    change: Iterable[OutputLike] = (),
    nonce: int = 0,
) -> bytes:
    body = redeem_body(chain_id, institution_key.public, inputs, amount, change, nonce)
    return sign_body(chain_id, body, [institution_key])


def build_register(
    chain_id: str,
    institution_key: Signer,
    address: bytes,
    tier: int,
    kyc_commitment: bytes = b"",
    nonce: int = 0,
) -> bytes:
    body = register_body(chain_id, institution_key.public, address, tier, kyc_commitment, nonce)
    return sign_body(chain_id, body, [institution_key])


def build_transfer(
    chain_id: str,
    sender_key: Signer,
    inputs: Iterable[OutPointLike],
    outputs: Iterable[OutputLike],
    nonce: int = 0,
) -> bytes:
    body = transfer_body(chain_id, sender_key.public, inputs, outputs, nonce)
    return sign_body(chain_id, body, [sender_key])


# --- m-of-n issuance, one signer at a time ------------------------------------------------


def issue_unsigned(
    chain_id: str, outputs: Iterable[OutputLike], signers: Sequence[bytes], nonce: int = 0
) -> bytes:
    """An issuance naming `signers` (>= the genesis threshold) with an empty signature slot
    for each; pass it from signer to signer through add_signature."""
    body = issue_body(chain_id, outputs, signers, nonce)
    return encode_tx(body, [b""] * len(signers))


def _parse(raw_tx: bytes) -> tuple[ledger_pb2.Transaction, list[bytes]]:
    """The transaction and the signers its body names; ValueError for bytes that are not one."""
    try:
        tx = ledger_pb2.Transaction.FromString(raw_tx)
        return tx, _signers_of(tx.body)
    except DecodeError:
        raise ValueError("not a serialized transaction") from None


def _signers_of(body: bytes) -> list[bytes]:
    msg = ledger_pb2.TxBody.FromString(body)
    kind = msg.WhichOneof("kind")
    if kind == "issue":
        return list(msg.issue.signers)
    if kind == "redeem":
        return [msg.redeem.institution]
    if kind == "register_wallet":
        return [msg.register_wallet.institution]
    if kind == "transfer":
        return [msg.transfer.sender]
    if kind is not None and hasattr(getattr(msg, kind), "signers"):  # governance kinds
        from node.client.govbuild import signers_of

        return signers_of(body)
    raise ValueError("the body has no transaction kind")


def add_signature(raw_tx: bytes, chain_id: str, key: Signer) -> bytes:
    """`raw_tx` with `key`'s signature in its slot. The body bytes are kept as they are."""
    tx, signers = _parse(raw_tx)
    if key.public not in signers:
        raise ValueError("this key is not among the transaction's signers")
    signatures = list(tx.signatures) + [b""] * (len(signers) - len(tx.signatures))
    signatures[signers.index(key.public)] = key.sign(tx_sign_digest(chain_id, tx.body))
    return encode_tx(tx.body, signatures)


def sign_tx_partially(raw_tx: bytes, chain_id: str, keys: Iterable[Signer]) -> bytes:
    """add_signature for each of `keys` (a subset of the signers)."""
    for key in keys:
        raw_tx = add_signature(raw_tx, chain_id, key)
    return raw_tx


def missing_signers(raw_tx: bytes) -> list[bytes]:
    """Public keys whose signature slot is still empty."""
    tx, signers = _parse(raw_tx)
    signatures = list(tx.signatures) + [b""] * (len(signers) - len(tx.signatures))
    return [s for s, sig in zip(signers, signatures, strict=False) if not sig]
