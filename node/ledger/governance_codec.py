"""Stateless checks of the governance transaction kinds, and who must sign each.

Called by node.ledger.txcodec.decode_tx like the decoders of the payment kinds: sizes,
names, reason codes and table shapes are checked here, before any signature or state
lookup; who is allowed to authorize is a question of state (node.ledger.governance_rules).
"""

from __future__ import annotations

import re

from proto import ledger_pb2

from node.ledger.crypto import KEY_SIZE
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, Tier
from node.ledger.governance import MAX_AUTHORITY_KEYS, REASONS
from node.ledger.types import OutPoint, Output

Decoded = tuple[tuple[bytes, ...], tuple[OutPoint, ...], tuple[Output, ...]]

INSTITUTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
MAX_TIERS = 64


def _malformed(message: str) -> LedgerError:
    return LedgerError(Code.MALFORMED, message)


def _key(value: bytes, what: str) -> bytes:
    if len(value) != KEY_SIZE:
        raise _malformed(f"{what} is {len(value)} bytes; expected a {KEY_SIZE}-byte public key")
    return value


def _signers(m) -> tuple[bytes, ...]:
    signers = tuple(m.signers)
    if not signers:
        raise _malformed("a governance transaction names at least one signer")
    if len(signers) > MAX_AUTHORITY_KEYS:
        raise _malformed(f"{len(signers)} signers; at most {MAX_AUTHORITY_KEYS} can authorize a change")
    for i, s in enumerate(signers):
        _key(s, f"signers[{i}]")
    if len(set(signers)) != len(signers):
        raise LedgerError(Code.NOT_AUTHORIZED, "a key is listed twice among the signers")
    return signers


def _institution_id(value: str) -> str:
    if not INSTITUTION_ID.fullmatch(value):
        raise _malformed(
            f"institution id {value!r} must be 1-64 characters of letters, digits, '.', '_' or '-'"
        )
    return value


def _text(value: str, what: str, max_len: int = 200) -> None:
    if not value.strip() or len(value) > max_len:
        raise _malformed(f"{what} must be a non-empty text of at most {max_len} characters")


def decode_admit(m: ledger_pb2.AdmitInstitution, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    _institution_id(m.id)
    _text(m.name, "the institution name")
    _key(m.public_key, "public_key")
    return signers, (), ()


def decode_institution_ref(m: ledger_pb2.InstitutionRef, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    _institution_id(m.id)
    return signers, (), ()


def decode_rotate(m: ledger_pb2.RotateInstitutionKey, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    _institution_id(m.id)
    new_key = _key(m.new_key, "new_key")
    if new_key in signers:
        raise _malformed("new_key is also listed among the signers; it signs once, last")
    # The new key signs too: nobody can rotate an institution to a key nobody holds.
    return (*signers, new_key), (), ()


def decode_key_rotation(m: ledger_pb2.RotateValidatorKey | ledger_pb2.RotateAuthorityKey,
                        genesis: Genesis) -> Decoded:
    """A validator's or an authority key's rotation: the new key signs last, as for an
    institution's."""
    signers = _signers(m)
    old_key = _key(m.old_key, "old_key")
    new_key = _key(m.new_key, "new_key")
    if new_key == old_key:
        raise _malformed("new_key is the old key; a rotation names a different key")
    if new_key in signers:
        raise _malformed("new_key is also listed among the signers; it signs once, last")
    return (*signers, new_key), (), ()


def decode_wallet_action(m: ledger_pb2.WalletAction, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    _key(m.address, "address")
    if m.reason not in REASONS:
        known = ", ".join(f"{code} ({name})" for code, name in REASONS.items())
        raise _malformed(f"reason {m.reason} is not a reason code; use one of {known}")
    return signers, (), ()


def decode_tier_table(m: ledger_pb2.SetTierTable, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    if m.effective_height == 0:
        raise _malformed("effective_height must be a block height (>= 1)")
    tier_rows(m)  # raises on a bad table
    return signers, (), ()


def tier_rows(m: ledger_pb2.SetTierTable) -> tuple[Tier, ...]:
    """The table of a SetTierTable, sorted by id; malformed for a bad row."""
    if not m.tiers:
        raise _malformed("the tier table needs at least one tier")
    if len(m.tiers) > MAX_TIERS:
        raise _malformed(f"{len(m.tiers)} tiers; at most {MAX_TIERS} are allowed")
    rows: dict[int, Tier] = {}
    for i, r in enumerate(m.tiers):
        if r.id in rows:
            raise _malformed(f"tiers[{i}]: tier {r.id} is listed twice")
        _text(r.name, f"tiers[{i}].name", 64)
        rows[r.id] = Tier(
            r.id, r.name,
            r.balance_cap if r.has_balance_cap else None,
            r.per_payment if r.has_per_payment else None,
            r.daily if r.has_daily else None,
            r.yearly if r.has_yearly else None,
        )
    return tuple(rows[k] for k in sorted(rows))


def decode_authority(m: ledger_pb2.SetAuthority, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    keys = tuple(m.keys)
    for i, k in enumerate(keys):
        _key(k, f"keys[{i}]")
    if len(set(keys)) != len(keys):
        raise _malformed("a key is listed twice in the new authority")
    if not 1 <= len(keys) <= MAX_AUTHORITY_KEYS:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"the authority must have 1 to {MAX_AUTHORITY_KEYS} keys; this names {len(keys)}",
        )
    if not 1 <= m.threshold <= len(keys):
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"threshold {m.threshold} is not between 1 and the number of keys ({len(keys)})",
        )
    return signers, (), ()


MAX_VALIDATOR_UPDATES = 64


def decode_set_validators(m: ledger_pb2.SetValidators, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    if not m.updates:
        raise _malformed("a validator change needs at least one update")
    if len(m.updates) > MAX_VALIDATOR_UPDATES:
        raise _malformed(f"{len(m.updates)} updates; at most {MAX_VALIDATOR_UPDATES} per change")
    seen: set[bytes] = set()
    for i, u in enumerate(m.updates):
        _key(u.public_key, f"updates[{i}].public_key")
        if u.public_key in seen:
            raise _malformed(f"updates[{i}]: validator {u.public_key.hex()} is updated twice")
        seen.add(u.public_key)
        if u.power:
            _text(u.name, f"updates[{i}].name")
        elif u.name:
            raise _malformed(f"updates[{i}]: a removal (power 0) names no one; leave name empty")
    return signers, (), ()


def decode_block_limits(m: ledger_pb2.SetBlockLimits, genesis: Genesis) -> Decoded:
    signers = _signers(m)
    if m.effective_height == 0:
        raise _malformed("effective_height must be a block height (>= 1)")
    if m.max_block_txs == 0 or m.max_block_bytes == 0:
        raise _malformed("max_block_txs and max_block_bytes must both be set (> 0)")
    return signers, (), ()


def encode_tier_rows(tiers) -> list[ledger_pb2.TierRow]:
    """TierRow messages of a table (the inverse of tier_rows)."""
    rows = []
    for t in tiers:
        row = ledger_pb2.TierRow(id=t.id, name=t.name)
        for name in ("balance_cap", "per_payment", "daily", "yearly"):
            value = getattr(t, name)
            if value is not None:
                setattr(row, f"has_{name}", True)
                setattr(row, name, value)
        rows.append(row)
    return rows


DECODERS = {
    "admit_institution": decode_admit,
    "suspend_institution": decode_institution_ref,
    "reinstate_institution": decode_institution_ref,
    "retire_institution": decode_institution_ref,
    "rotate_institution_key": decode_rotate,
    "freeze_wallet": decode_wallet_action,
    "unfreeze_wallet": decode_wallet_action,
    "deregister_wallet": decode_wallet_action,
    "set_tier_table": decode_tier_table,
    "set_authority": decode_authority,
    "set_validators": decode_set_validators,
    "set_block_limits": decode_block_limits,
    "rotate_validator_key": decode_key_rotation,
    "rotate_authority_key": decode_key_rotation,
}
# The kinds whose new key signs too, last (signers(body) = signers + [new_key]).
KEY_ROTATIONS = ("rotate_institution_key", "rotate_validator_key", "rotate_authority_key")
GOVERNANCE_KINDS = tuple(DECODERS)
