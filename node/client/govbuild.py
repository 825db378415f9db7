"""Building governance transactions (tests, the CLI, the devnet).

Each `*_body` function returns the serialized TxBody of one governance kind, naming its
authorizers in `signers`; `unsigned` turns a body into a Transaction with an empty
signature slot per signer, to be passed from signer to signer through
node.client.txbuild.add_signature (m of n authority keys, collected offline), and `build`
signs at once when all keys are at hand. A key rotation's new key is a signer too, last.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from proto import ledger_pb2

from node.client.txbuild import Signer, encode_tx, sign_body
from node.ledger.genesis import Tier
from node.ledger.governance_codec import KEY_ROTATIONS, encode_tier_rows


def _body(chain_id: str, nonce: int, **kind: object) -> bytes:
    return ledger_pb2.TxBody(chain_id=chain_id, nonce=nonce, **kind).SerializeToString()  # type: ignore[arg-type]


def admit_institution_body(
    chain_id: str, signers: Sequence[bytes], institution_id: str, name: str, public_key: bytes, nonce: int = 0
) -> bytes:
    m = ledger_pb2.AdmitInstitution(
        signers=list(signers), id=institution_id, name=name, public_key=public_key
    )
    return _body(chain_id, nonce, admit_institution=m)


def institution_body(
    chain_id: str, action: str, signers: Sequence[bytes], institution_id: str, nonce: int = 0
) -> bytes:
    """action: suspend, reinstate or retire."""
    m = ledger_pb2.InstitutionRef(signers=list(signers), id=institution_id)
    return _body(chain_id, nonce, **{f"{action}_institution": m})


def rotate_institution_key_body(
    chain_id: str, signers: Sequence[bytes], institution_id: str, new_key: bytes, nonce: int = 0
) -> bytes:
    m = ledger_pb2.RotateInstitutionKey(signers=list(signers), id=institution_id, new_key=new_key)
    return _body(chain_id, nonce, rotate_institution_key=m)


def rotate_validator_key_body(
    chain_id: str, signers: Sequence[bytes], old_key: bytes, new_key: bytes, nonce: int = 0
) -> bytes:
    m = ledger_pb2.RotateValidatorKey(signers=list(signers), old_key=old_key, new_key=new_key)
    return _body(chain_id, nonce, rotate_validator_key=m)


def rotate_authority_key_body(
    chain_id: str, signers: Sequence[bytes], old_key: bytes, new_key: bytes, nonce: int = 0
) -> bytes:
    m = ledger_pb2.RotateAuthorityKey(signers=list(signers), old_key=old_key, new_key=new_key)
    return _body(chain_id, nonce, rotate_authority_key=m)


def wallet_body(
    chain_id: str, action: str, signers: Sequence[bytes], address: bytes, reason: int, nonce: int = 0
) -> bytes:
    """action: freeze, unfreeze or deregister."""
    m = ledger_pb2.WalletAction(signers=list(signers), address=address, reason=reason)
    return _body(chain_id, nonce, **{f"{action}_wallet": m})


def tier_table_body(
    chain_id: str, signers: Sequence[bytes], effective_height: int, tiers: Iterable[Tier], nonce: int = 0
) -> bytes:
    rows = encode_tier_rows(tiers)
    m = ledger_pb2.SetTierTable(signers=list(signers), effective_height=effective_height, tiers=rows)
    return _body(chain_id, nonce, set_tier_table=m)


def authority_body(
    chain_id: str, signers: Sequence[bytes], keys: Sequence[bytes], threshold: int, nonce: int = 0
) -> bytes:
    m = ledger_pb2.SetAuthority(signers=list(signers), keys=list(keys), threshold=threshold)
    return _body(chain_id, nonce, set_authority=m)


def signers_of(body: bytes) -> list[bytes]:
    """Who signs a governance body, in signature order (the decoder's rule)."""
    msg = ledger_pb2.TxBody.FromString(body)
    kind = msg.WhichOneof("kind")
    if kind is None:
        raise ValueError("the body has no transaction kind")
    payload = getattr(msg, kind)
    signers = list(payload.signers)
    if kind in KEY_ROTATIONS:
        signers.append(payload.new_key)
    return signers


def unsigned(body: bytes) -> bytes:
    """A Transaction of `body` with an empty signature slot per signer."""
    return encode_tx(body, [b""] * len(signers_of(body)))


def build(chain_id: str, body: bytes, keys: Sequence[Signer]) -> bytes:
    """`body` signed by `keys`, given in any order; each must be one of its signers."""
    by_public = {k.public: k for k in keys}
    order = signers_of(body)
    missing = [s for s in order if s not in by_public]
    if missing:
        raise ValueError(f"{len(missing)} signer key(s) of the body are not given")
    return sign_body(chain_id, body, [by_public[s] for s in order])


def validators_body(
    chain_id: str, signers: Sequence[bytes], updates: Iterable[tuple[bytes, int, str]], nonce: int = 0
) -> bytes:
    """updates: (public key, new power (0 removes), name)."""
    rows = [ledger_pb2.ValidatorUpdate(public_key=k, power=p, name=n) for k, p, n in updates]
    change = ledger_pb2.SetValidators(signers=list(signers), updates=rows)
    return _body(chain_id, nonce, set_validators=change)


def block_limits_body(
    chain_id: str, signers: Sequence[bytes], effective_height: int, max_block_txs: int, max_block_bytes: int,
    nonce: int = 0,
) -> bytes:
    m = ledger_pb2.SetBlockLimits(
        signers=list(signers), effective_height=effective_height, max_block_txs=max_block_txs,
        max_block_bytes=max_block_bytes,
    )
    return _body(chain_id, nonce, set_block_limits=m)
