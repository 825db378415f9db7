"""Decoding a transaction and every check that needs no ledger state.

decode_tx turns the bytes a client sent into a DecodedTx or raises LedgerError: sizes, caps,
amounts, duplicate inputs, chain id, and who must sign (signers are derived from the body
alone, so signatures can be verified before any state lookup). Nothing is ever re-encoded:
the txid is SHA-256 of the body bytes as received and signatures cover those bytes.
"""

from __future__ import annotations

import hashlib
from typing import NamedTuple

from proto import ledger_pb2

from node.ledger.address import encode_address
from node.ledger.conditions import decode_lock_cached
from node.ledger.crypto import HASH_SIZE, KEY_SIZE, SIGNATURE_SIZE, tx_sign_digest, verify
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, LedgerParams
from node.ledger.governance_codec import DECODERS as GOVERNANCE_DECODERS
from node.ledger.purposes import MAX_DESCRIPTION, MERCHANT, valid_name
from node.ledger.types import U64_MAX, OutPoint, Output

KINDS = (
    "issue", "redeem", "register_wallet", "transfer",
    "spend_locked", "define_purpose", "register_for_purpose",  # programmable money
    *GOVERNANCE_DECODERS,  # governance (node.ledger.governance_codec)
)
KYC_COMMITMENT_SIZE = 32


class DecodedTx(NamedTuple):
    """A decoded transaction. A NamedTuple because one is built for every transaction a node
    sees and a frozen dataclass's generated __init__ cost ~1.5 us of that."""

    raw: bytes                       # the serialized Transaction exactly as received
    txid: bytes                      # SHA-256(body)
    body: bytes                      # the serialized TxBody exactly as received
    signatures: tuple[bytes, ...]    # signatures[i] is by signers[i]
    kind: str                        # one of KINDS
    msg: ledger_pb2.TxBody           # the parsed body (read only: never re-encode it)
    signers: tuple[bytes, ...]       # derived from the body alone
    inputs: tuple[OutPoint, ...]     # spent outpoints (transfer, redeem)
    outputs: tuple[Output, ...]      # created outputs; for a redeem, its change
    sig_key: bytes                   # SHA-256(raw): the signature cache key

    @property
    def payload(self):
        """The kind-specific message (Issue, Redeem, RegisterWallet or Transfer)."""
        return getattr(self.msg, self.kind)


def _malformed(message: str) -> LedgerError:
    return LedgerError(Code.MALFORMED, message)


# decode_tx runs for every transaction a node sees (mempool admission and every block), so
# its common path is kept lean: checks are written inline and errors are built only on
# the (rare) failure paths.


def decode_tx(raw: bytes, genesis: Genesis) -> DecodedTx:
    """Parse and statelessly check a serialized Transaction. Raises LedgerError only."""
    if type(raw) is not bytes:
        raw = _as_bytes(raw)
    if len(raw) > genesis.max_tx_bytes:
        raise _malformed(f"transaction is {len(raw)} bytes; at most {genesis.max_tx_bytes} are allowed")
    try:
        tx = _parse_tx(raw)
    except Exception:  # any parser failure of untrusted bytes is the sender's problem
        raise _malformed("not a serialized Transaction (protobuf decoding failed)") from None
    body = tx.body
    msg = _parse_body(body, genesis)
    kind = msg.WhichOneof("kind")
    decoder = _DECODERS.get(kind)  # type: ignore[arg-type]
    if decoder is None:
        raise _malformed(
            "the body has no kind (expected one of: " + ", ".join(KINDS) + ")"
        )
    signers, inputs, outputs = decoder(getattr(msg, kind), genesis)
    sigs = tx.signatures
    # Indexing a upb repeated field is far cheaper than iterating it, and all kinds but
    # issue have exactly one signer.
    signatures = (sigs[0],) if len(sigs) == 1 else tuple(sigs)
    if len(signatures) != len(signers):
        _signature_shape_error(signers, signatures)
    for sig in signatures:
        if len(sig) != SIGNATURE_SIZE:
            _signature_shape_error(signers, signatures)
    txid, sig_key = _sha256(body).digest(), _sha256(raw).digest()
    return _tuple_new(DecodedTx, (raw, txid, body, signatures, kind, msg, signers, inputs, outputs, sig_key))


_parse_tx = ledger_pb2.Transaction.FromString
_parse_tx_body = ledger_pb2.TxBody.FromString
_sha256 = hashlib.sha256
# NamedTuple construction without the generated Python-level __new__ (a frame per object).
_tuple_new = tuple.__new__


def _as_bytes(raw: object) -> bytes:
    if isinstance(raw, bytearray | memoryview):
        return bytes(raw)
    raise _malformed(f"a transaction is bytes, got {type(raw).__name__}")


def _parse_body(body: bytes, genesis: Genesis) -> ledger_pb2.TxBody:
    if not body:
        raise _malformed("the transaction has an empty body")
    if len(body) > genesis.params.max_body_bytes:
        raise _malformed(f"body is {len(body)} bytes; at most {genesis.params.max_body_bytes} are allowed")
    try:
        msg = _parse_tx_body(body)
    except Exception:
        raise _malformed("the body is not a serialized TxBody (protobuf decoding failed)") from None
    if msg.chain_id != genesis.chain_id:
        raise LedgerError(
            Code.WRONG_CHAIN,
            f"transaction is for chain {msg.chain_id!r}, this network is {genesis.chain_id!r}",
        )
    return msg


def _signature_shape_error(signers: tuple[bytes, ...], signatures: tuple[bytes, ...]) -> None:
    if len(signatures) != len(signers):
        raise LedgerError(
            Code.BAD_SIGNATURE,
            f"transaction carries {len(signatures)} signature(s) but needs exactly {len(signers)}, "
            "one per signer in body order",
        )
    for i, sig in enumerate(signatures):
        if len(sig) != SIGNATURE_SIZE:
            problem = "is missing" if not sig else f"is {len(sig)} bytes, expected {SIGNATURE_SIZE}"
            raise LedgerError(Code.BAD_SIGNATURE, f"signature {i} (by {_addr(signers[i])}) {problem}")


def verify_signatures(tx: DecodedTx, chain_id: str) -> None:
    """Check every signature over tx_sign_digest(chain_id, body); bad_signature names the first
    one that fails."""
    digest = tx_sign_digest(chain_id, tx.body)
    for i, (signer, sig) in enumerate(zip(tx.signers, tx.signatures, strict=True)):
        if not verify(signer, digest, sig):
            raise LedgerError(
                Code.BAD_SIGNATURE,
                f"signature {i} (by {_addr(signer)}) does not verify: made by another key, "
                "for another chain, or over different body bytes",
            )


# --- per kind ---------------------------------------------------------------------------

Decoded = tuple[tuple[bytes, ...], tuple[OutPoint, ...], tuple[Output, ...]]


def _decode_issue(m: ledger_pb2.Issue, genesis: Genesis) -> Decoded:
    outputs = _outputs(m.outputs, genesis.params, "outputs")
    if not outputs:
        raise _malformed("an issue needs at least one output")
    signers = tuple(m.signers)
    for i, s in enumerate(signers):
        _key(s, f"signers[{i}]")
    if len(set(signers)) != len(signers):
        raise LedgerError(Code.NOT_AUTHORIZED, "an issuer key is listed twice among the signers")
    if not signers:
        raise LedgerError(Code.NOT_AUTHORIZED, "an issuance names no issuer key")
    # Whether they are issuers, and enough of them, is a question of state: governance
    # changes the issuer keys (node.ledger.rules._issue).
    return signers, (), outputs


def _decode_redeem(m: ledger_pb2.Redeem, genesis: Genesis) -> Decoded:
    institution = _key(m.institution, "institution")
    inputs = _inputs(m.inputs, genesis.params)
    if m.amount == 0:
        raise LedgerError(Code.ZERO_AMOUNT, "a redemption must redeem a positive amount")
    change = _outputs(m.change, genesis.params, "change")
    if m.amount + sum(o.amount for o in change) > U64_MAX:
        raise LedgerError(Code.AMOUNT_OVERFLOW, "amount plus change exceeds 2^64-1 fen")
    return (institution,), inputs, change


def _decode_register(m: ledger_pb2.RegisterWallet, genesis: Genesis) -> Decoded:
    institution = _key(m.institution, "institution")
    _key(m.address, "address")
    if len(m.kyc_commitment) not in (0, KYC_COMMITMENT_SIZE):
        raise _malformed(
            f"kyc_commitment is {len(m.kyc_commitment)} bytes; it must be empty or a "
            f"{KYC_COMMITMENT_SIZE}-byte hash (no personal data on chain)"
        )
    return (institution,), (), ()


def _decode_transfer(m: ledger_pb2.Transfer, genesis: Genesis) -> Decoded:
    sender = _key(m.sender, "sender")
    inputs = _inputs(m.inputs, genesis.params)
    outputs = _outputs(m.outputs, genesis.params, "outputs")
    if not outputs:
        raise _malformed("a transfer needs at least one output")
    return (sender,), inputs, outputs


def _decode_spend_locked(m: ledger_pb2.SpendLocked, genesis: Genesis) -> Decoded:
    lock = decode_lock_cached(m.lock, genesis.params)
    if m.clause >= len(lock.clauses):
        raise _malformed(f"clause {m.clause} does not exist; the lock has {len(lock.clauses)}")
    clause = lock.clauses[m.clause]
    inputs = _inputs(m.inputs, genesis.params)
    outputs = _outputs(m.outputs, genesis.params, "outputs")
    if not outputs:
        raise _malformed("a spend needs at least one output")
    signers = tuple(m.signers)
    for i, s in enumerate(signers):
        _key(s, f"signers[{i}]")
    if len(set(signers)) != len(signers):
        raise LedgerError(Code.BAD_SIGNATURE, "a key is listed twice among the signers")
    keys = clause.keys
    for i, s in enumerate(signers):
        # Only keys of the clause may sign: the signature count of a spend is bounded by the
        # lock's caps, and a signature that cannot count is refused rather than carried.
        if s not in keys:
            raise LedgerError(
                Code.NOT_AUTHORIZED,
                f"signers[{i}] ({_addr(s)}) is not a key of clause {m.clause} ({clause.name or 'unnamed'})",
            )
    return signers, inputs, outputs


def _decode_define_purpose(m: ledger_pb2.DefinePurpose, genesis: Genesis) -> Decoded:
    institution = _key(m.institution, "institution")
    _purpose_name(m.purpose)
    if len(m.description) > MAX_DESCRIPTION:
        raise _malformed(f"the description is longer than {MAX_DESCRIPTION} characters")
    if m.issuer_signers:  # the central bank defines it and appoints the institution
        return _central_bank(tuple(m.issuer_signers), genesis, "defining a purpose"), (), ()
    return (institution,), (), ()


def _central_bank(signers: tuple[bytes, ...], genesis: Genesis, act: str) -> tuple[bytes, ...]:
    """`signers` when they are well-formed distinct keys. Whether they are the central bank's
    authority keys, and enough of them, is a question of state: governance changes the
    authority (node.ledger.rules, as for issuance)."""
    for i, s in enumerate(signers):
        _key(s, f"issuer_signers[{i}]")
    if len(set(signers)) != len(signers):
        raise LedgerError(Code.NOT_AUTHORIZED, "an issuer key is listed twice among the signers")
    return signers


def _decode_register_for_purpose(m: ledger_pb2.RegisterForPurpose, genesis: Genesis) -> Decoded:
    institution = _key(m.institution, "institution")
    _purpose_name(m.purpose)
    _key(m.address, "address")
    if m.role > MERCHANT:
        raise _malformed(f"role {m.role} is not 0 (remove), 1 (beneficiary) or 2 (merchant)")
    return (institution,), (), ()


def _purpose_name(name: str) -> None:
    if not valid_name(name):
        raise _malformed(f"purpose {name!r} is not a purpose name (1-64 of a-z, 0-9, '.', '_', '-')")


_DECODERS = {
    "issue": _decode_issue,
    "redeem": _decode_redeem,
    "register_wallet": _decode_register,
    "transfer": _decode_transfer,
    "spend_locked": _decode_spend_locked,
    "define_purpose": _decode_define_purpose,
    "register_for_purpose": _decode_register_for_purpose,
    **GOVERNANCE_DECODERS,
}


# --- parts ------------------------------------------------------------------------------


def _key(value: bytes, what: str) -> bytes:
    if len(value) != KEY_SIZE:
        raise _malformed(f"{what} is {len(value)} bytes; expected a {KEY_SIZE}-byte public key")
    return value


def _inputs(msgs, params: LedgerParams) -> tuple[OutPoint, ...]:
    n = len(msgs)
    if n == 0:
        raise _malformed("at least one input is needed")
    if n > params.max_inputs:
        raise _malformed(f"{n} inputs; at most {params.max_inputs} are allowed per transaction")
    new = _tuple_new
    inputs = tuple([new(OutPoint, (m.txid, m.index)) for m in msgs])
    for txid, _ in inputs:
        if len(txid) != HASH_SIZE:
            _bad_input_error(inputs)
    if n > 1 and len(set(inputs)) != n:
        _duplicate_input_error(inputs)
    return inputs


def _bad_input_error(inputs: tuple[OutPoint, ...]) -> None:
    for i, op in enumerate(inputs):
        if len(op.txid) != HASH_SIZE:
            raise _malformed(f"inputs[{i}].txid is {len(op.txid)} bytes; expected {HASH_SIZE}")


def _duplicate_input_error(inputs: tuple[OutPoint, ...]) -> None:
    first: dict[OutPoint, int] = {}
    for i, op in enumerate(inputs):
        if op in first:
            raise LedgerError(
                Code.DOUBLE_SPEND,
                f"inputs[{i}] spends {op.txid.hex()}:{op.index}, "
                f"which inputs[{first[op]}] already spends",
            )
        first[op] = i


def _outputs(msgs, params: LedgerParams, what: str) -> tuple[Output, ...]:
    if len(msgs) > params.max_outputs:
        raise _malformed(f"{len(msgs)} {what}; at most {params.max_outputs} are allowed per transaction")
    new = _tuple_new
    outputs = tuple([new(Output, (m.owner, m.amount)) for m in msgs])
    total = 0
    for owner, amount in outputs:
        if len(owner) != KEY_SIZE or not amount:
            _bad_output_error(outputs, what)
        total += amount
    if total > U64_MAX:
        raise LedgerError(Code.AMOUNT_OVERFLOW, f"the {what} add up to more than 2^64-1 fen")
    for i, m in enumerate(msgs):
        if m.lock:  # a locked output: its owner must be the lock's address
            lock = decode_lock_cached(m.lock, params)
            if lock.address != outputs[i][0]:
                raise _malformed(
                    f"{what}[{i}].owner is not the address of its lock ({_addr(lock.address)}); "
                    "a locked output is owned by its lock"
                )
    return outputs


def _bad_output_error(outputs: tuple[Output, ...], what: str) -> None:
    for i, out in enumerate(outputs):
        _key(out.owner, f"{what}[{i}].owner")
        if not out.amount:
            raise LedgerError(
                Code.ZERO_AMOUNT, f"{what}[{i}] is 0 fen; every output must be a positive amount"
            )


def _addr(key: bytes) -> str:
    return encode_address(key) if len(key) == KEY_SIZE else key.hex()
