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

from node.ledger.conditions import lock_address
from node.ledger.crypto import tx_sign_digest
from node.ledger.types import OutPoint, Output


class Signer(Protocol):
    """Anything that holds a key pair, e.g. node.ledger.keys.KeyPair."""

    @property
    def public(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes: ...


# (owner, amount), or (lock bytes, amount, lock) for an output locked by a Lock
# (node.ledger.conditions): use locked_output to build one.
OutputLike = Output | tuple[bytes, int] | tuple[bytes, int, bytes]
OutPointLike = OutPoint | tuple[bytes, int]


# --- bodies -----------------------------------------------------------------------------


def _outputs(outputs: Iterable[OutputLike]) -> list[ledger_pb2.TxOutput]:
    result = []
    for o in outputs:
        if isinstance(o, Output):
            result.append(ledger_pb2.TxOutput(owner=o.owner, amount=o.amount))
        elif len(o) == 3:
            result.append(ledger_pb2.TxOutput(owner=o[0], amount=o[1], lock=o[2]))  # type: ignore[misc]
        else:
            result.append(ledger_pb2.TxOutput(owner=o[0], amount=o[1]))
    return result


def locked_output(lock: bytes, amount: int) -> tuple[bytes, int, bytes]:
    """An output of `amount` locked by the serialized Lock `lock` (owned by its address)."""
    return (lock_address(lock), amount, lock)


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


def spend_locked_body(
    chain_id: str,
    lock: bytes,
    clause: int,
    inputs: Iterable[OutPointLike],
    outputs: Iterable[OutputLike],
    signers: Sequence[bytes] = (),
    nonce: int = 0,
) -> bytes:
    spend = ledger_pb2.SpendLocked(
        lock=lock, clause=clause, inputs=_inputs(inputs), outputs=_outputs(outputs), signers=list(signers)
    )
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, spend_locked=spend).SerializeToString()


def define_purpose_body(
    chain_id: str,
    institution: bytes,
    purpose: str,
    description: str = "",
    nonce: int = 0,
    issuer_signers: Sequence[bytes] = (),
) -> bytes:
    """With `issuer_signers`, the central bank defines the purpose and appoints `institution`."""
    msg = ledger_pb2.DefinePurpose(
        institution=institution, purpose=purpose, description=description, issuer_signers=list(issuer_signers)
    )
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, define_purpose=msg).SerializeToString()


def register_for_purpose_body(
    chain_id: str, institution: bytes, purpose: str, address: bytes, role: int, nonce: int = 0
) -> bytes:
    msg = ledger_pb2.RegisterForPurpose(institution=institution, purpose=purpose, address=address, role=role)
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, register_for_purpose=msg).SerializeToString()


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


def build_spend_locked(
    chain_id: str,
    lock: bytes,
    clause: int,
    inputs: Iterable[OutPointLike],
    outputs: Iterable[OutputLike],
    signer_keys: Sequence[Signer] = (),
    nonce: int = 0,
) -> bytes:
    """A spend of outputs locked by `lock` through its clause `clause`, signed by
    `signer_keys` (none for a time-only clause or the reclaim of an expired voucher)."""
    body = spend_locked_body(chain_id, lock, clause, inputs, outputs, [k.public for k in signer_keys], nonce)
    return sign_body(chain_id, body, signer_keys)


def build_define_purpose(
    chain_id: str, institution_key: Signer, purpose: str, description: str = "", nonce: int = 0
) -> bytes:
    body = define_purpose_body(chain_id, institution_key.public, purpose, description, nonce)
    return sign_body(chain_id, body, [institution_key])


def build_central_bank_purpose(
    chain_id: str,
    institution: bytes,
    purpose: str,
    issuer_keys: Sequence[Signer],
    description: str = "",
    nonce: int = 0,
) -> bytes:
    """The central bank (all of `issuer_keys`, at least its threshold) defines `purpose` and
    appoints `institution` to earmark money for it and register its recipients."""
    signers = [k.public for k in issuer_keys]
    body = define_purpose_body(chain_id, institution, purpose, description, nonce, signers)
    return sign_body(chain_id, body, issuer_keys)


def build_register_for_purpose(
    chain_id: str, institution_key: Signer, purpose: str, address: bytes, role: int, nonce: int = 0
) -> bytes:
    """Register `address` for `purpose` as role 1 (beneficiary) or 2 (merchant); 0 removes it."""
    body = register_for_purpose_body(chain_id, institution_key.public, purpose, address, role, nonce)
    return sign_body(chain_id, body, [institution_key])


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
    if kind == "spend_locked":
        return list(msg.spend_locked.signers)
    if kind == "define_purpose" and msg.define_purpose.issuer_signers:
        return list(msg.define_purpose.issuer_signers)
    if kind in ("define_purpose", "register_for_purpose"):
        return [getattr(msg, kind).institution]
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
