"""The ledger rules of the governance kinds: one small function per kind.

Like node.ledger.rules, each reads through the overlay, checks everything, and only then
writes (a new Governance record, or a wallet record), so a refused change leaves the state
exactly as it was. Who may authorize what:

- the authority (m of its n keys, node.ledger.governance): everything; institutions,
  tier tables, block caps, validator sets and the authority itself only the authority;
- an institution (its current key alone): rotating its own key (the new key signs too),
  and freezing, unfreezing or deregistering its own wallets, except that a freeze by the
  authority (a court order, AML) is lifted only by the authority;
- a validator or an authority key holder (that key alone): rotating that key (the new key
  signs too); the authority rotates one for a compromised key.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from node.ledger.address import encode_address
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import MAX_TOTAL_VOTING_POWER, Genesis, Validator
from node.ledger.governance import (
    ACTIVE,
    REASONS,
    RETIRED,
    SUSPENDED,
    VALIDATOR_DELAY,
    BlockLimits,
    Governance,
    InstitutionRecord,
    TierTable,
    governance_of,
    min_validators,
)
from node.ledger.governance_codec import tier_rows
from node.ledger.state import Overlay, StateView
from node.ledger.txcodec import DecodedTx
from node.ledger.types import (
    WALLET_ACTIVE,
    WALLET_DEREGISTERED,
    WALLET_FROZEN_BY_AUTHORITY,
    WALLET_FROZEN_BY_INSTITUTION,
    WALLET_STATUS_NAMES,
    Wallet,
)

Rule = Callable[[Overlay, DecodedTx, Genesis, object], None]


def governance(state: StateView, genesis: Genesis) -> Governance:
    """The governance in force on top of `state`."""
    return governance_of(state.governance(), genesis)


def require_authority(gov: Governance, signers: tuple[bytes, ...], what: str) -> None:
    """not_authorized unless `signers` are at least `threshold` distinct authority keys
    (distinct: the decoder refused a key listed twice)."""
    for i, s in enumerate(signers):
        if not gov.is_authority(s):
            raise LedgerError(
                Code.NOT_AUTHORIZED,
                f"signers[{i}] ({_addr(s)}) is not an authority key; {what} is decided by the "
                "central bank's authority",
            )
    if len(signers) < gov.threshold:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"{what} needs {gov.threshold} of the {len(gov.authority)} authority keys; "
            f"this names {len(signers)}",
        )


# --- institutions ------------------------------------------------------------------------


def _admit(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.admit_institution
    require_authority(gov, tx.signers, "admitting an institution")
    if gov.institution_by_id(m.id) is not None:
        raise LedgerError(Code.IN_USE, f"institution id {m.id!r} is taken (ids are never reused)")
    _check_key_free(state, gov, m.public_key)

    state.set_governance(gov.replace_institution(InstitutionRecord(m.id, m.name, m.public_key)))
    state.add_tx(tx.txid)


def _suspend(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _set_status(state, tx, genesis, tx.msg.suspend_institution.id, ACTIVE, SUSPENDED, "suspending")


def _reinstate(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _set_status(state, tx, genesis, tx.msg.reinstate_institution.id, SUSPENDED, ACTIVE, "reinstating")


def _set_status(
    state: Overlay, tx: DecodedTx, genesis: Genesis, institution_id: str, before: str, after: str, what: str
) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    require_authority(gov, tx.signers, f"{what} an institution")
    inst = _institution(gov, institution_id)
    if inst.status != before:
        raise LedgerError(
            Code.WRONG_STATUS, f"institution {inst.id!r} is {inst.status}; only a {before} one can be {after}"
        )

    state.set_governance(gov.replace_institution(replace(inst, status=after)))
    state.add_tx(tx.txid)


def _retire(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    require_authority(gov, tx.signers, "retiring an institution")
    inst = _institution(gov, tx.msg.retire_institution.id)
    if inst.status == RETIRED:
        raise LedgerError(Code.WRONG_STATUS, f"institution {inst.id!r} is already retired")
    held = sum(state.balance(k) for k in (inst.public_key, *inst.former_keys))
    if held:
        raise LedgerError(
            Code.NOT_EMPTY,
            f"institution {inst.id!r} still holds {_yuan(held)}; it retires only when it holds "
            "nothing (redeem or pay it out first)",
        )

    state.set_governance(gov.replace_institution(replace(inst, status=RETIRED)))
    state.add_tx(tx.txid)


def _rotate(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.rotate_institution_key
    authorizers = tx.signers[:-1]  # the decoder appended the new key, which signs too
    inst = _institution(gov, m.id)
    if inst.status == RETIRED:
        raise LedgerError(Code.WRONG_STATUS, f"institution {inst.id!r} is retired; its key cannot change")
    if authorizers != (inst.public_key,):
        what = f"rotating the key of institution {inst.id!r} without its own key"
        require_authority(gov, authorizers, what)
    _check_key_free(state, gov, m.new_key)

    rotated = replace(inst, public_key=m.new_key, former_keys=(*inst.former_keys, inst.public_key))
    state.set_governance(gov.replace_institution(rotated))
    state.add_tx(tx.txid)


def _rotate_validator(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx) -> None:
    """Replace a validator's consensus key, keeping its power, name and place: a change of
    the validator set like any other, committed at H and deciding from H+2 (the set of H+1
    is fixed already), so the proposer and quorum of every height stay known in advance.
    From H+2 the old key is no member of the set: its votes and proposals count for nothing.

    It counts against the 1/3-of-power bound (_check_validator_bounds), as a removal of the
    old key and an addition of the new one: the chain cannot tell that the new key's holder
    is the old key's operator (a thief of the old key signs just as well, which is the
    compromised case), so to every certificate checker the power moves to a key the set
    never trusted. Counting it keeps the guarantee the bound gives with no exception: any
    quorum of the new set holds more than a third of the old set's power, also when a
    rotation and other changes (or two rotations) share a block; they are measured
    together against the set of H+1. The price: a validator holding more than a third of
    the power (which alone could halt the chain) lowers its power before rotating."""
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.rotate_validator_key
    authorizers = tx.signers[:-1]  # the decoder appended the new key, which signs too
    effective = ctx.height + VALIDATOR_DELAY
    scheduled = gov.validators_at(effective).validators  # composes with changes of this block
    old = next((v for v in scheduled if v.public_key == m.old_key), None)
    if old is None:
        raise LedgerError(
            Code.UNKNOWN_VALIDATOR,
            f"old_key {_addr(m.old_key)} is not a validator (of the set deciding from block "
            f"{effective}); `cbdc chain validators` lists them",
        )
    if authorizers != (m.old_key,):
        require_authority(gov, authorizers, f"rotating the key of validator {old.name!r} without that key")
    _check_new_role_key(state, gov, m.new_key)
    after = tuple(replace(v, public_key=m.new_key) if v is old else v for v in scheduled)
    _check_validator_bounds(gov.validators_at(effective - 1).validators, after, genesis)

    state.set_governance(gov.with_validators(effective, after))
    state.add_tx(tx.txid)


def _rotate_authority(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    """Replace one authority (issuer) key, in its place, the threshold unchanged. Like
    SetAuthority it takes effect with the block that commits it: the next transaction
    signed by the old key (an issuance, a governance change) is refused."""
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.rotate_authority_key
    authorizers = tx.signers[:-1]  # the decoder appended the new key, which signs too
    if not gov.is_authority(m.old_key):
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"old_key {_addr(m.old_key)} is not an authority key; only a key of the authority "
            "can be rotated out of it (`cbdc chain institutions` lists them)",
        )
    if authorizers != (m.old_key,):
        require_authority(gov, authorizers, f"rotating authority key {_addr(m.old_key)} without that key")
    _check_new_role_key(state, gov, m.new_key)
    keys = tuple(m.new_key if k == m.old_key else k for k in gov.authority)

    state.set_governance(gov.with_authority(keys, gov.threshold))
    state.add_tx(tx.txid)


# --- wallets -----------------------------------------------------------------------------


def _freeze(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    m = tx.msg.freeze_wallet
    wallet, by_authority = _wallet_action(state, tx, genesis, m.address, "freezing")
    if wallet.status != WALLET_ACTIVE:
        status = WALLET_STATUS_NAMES[wallet.status]
        raise LedgerError(Code.WRONG_STATUS, f"wallet {_addr(wallet.address)} is {status} already")
    status = WALLET_FROZEN_BY_AUTHORITY if by_authority else WALLET_FROZEN_BY_INSTITUTION

    state.put_wallet(wallet._replace(status=status, reason=m.reason))
    state.add_tx(tx.txid)


def _unfreeze(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    m = tx.msg.unfreeze_wallet
    wallet, by_authority = _wallet_action(state, tx, genesis, m.address, "unfreezing")
    if wallet.status not in (WALLET_FROZEN_BY_INSTITUTION, WALLET_FROZEN_BY_AUTHORITY):
        status = WALLET_STATUS_NAMES[wallet.status]
        raise LedgerError(Code.WRONG_STATUS, f"wallet {_addr(wallet.address)} is {status}, not frozen")
    _check_not_authority_freeze(wallet, by_authority, "unfreeze")

    state.put_wallet(wallet._replace(status=WALLET_ACTIVE, reason=0))
    state.add_tx(tx.txid)


def _deregister(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    m = tx.msg.deregister_wallet
    wallet, by_authority = _wallet_action(state, tx, genesis, m.address, "deregistering")
    if wallet.status == WALLET_DEREGISTERED:
        raise LedgerError(Code.WRONG_STATUS, f"wallet {_addr(wallet.address)} is deregistered already")
    _check_not_authority_freeze(wallet, by_authority, "deregister")
    held = state.balance(wallet.address)
    if held:
        raise LedgerError(
            Code.NOT_EMPTY,
            f"wallet {_addr(wallet.address)} still holds {_yuan(held)}; it is deregistered only "
            "when empty (pay it out first, or freeze it)",
        )

    state.put_wallet(wallet._replace(status=WALLET_DEREGISTERED, reason=m.reason))
    state.add_tx(tx.txid)


def _wallet_action(
    state: StateView, tx: DecodedTx, genesis: Genesis, address: bytes, what: str
) -> tuple[Wallet, bool]:
    """The wallet and whether the authority (rather than its institution) acts on it."""
    gov = governance(state, genesis)
    wallet = state.wallet(address)
    if wallet is None:
        raise LedgerError(Code.UNKNOWN_WALLET, f"{_addr(address)} is not a registered wallet")
    inst = gov.institution_of_any_key(wallet.institution)
    if inst is not None and inst.status != RETIRED and tx.signers == (inst.public_key,):
        return wallet, False
    require_authority(gov, tx.signers, f"{what} a wallet of another institution")
    return wallet, True


def _check_not_authority_freeze(wallet: Wallet, by_authority: bool, what: str) -> None:
    if wallet.status == WALLET_FROZEN_BY_AUTHORITY and not by_authority:
        reason = REASONS.get(wallet.reason, str(wallet.reason))
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"wallet {_addr(wallet.address)} was frozen by the authority ({reason}); only the "
            f"authority can {what} it",
        )


# --- policy ------------------------------------------------------------------------------


def _set_tier_table(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.set_tier_table
    require_authority(gov, tx.signers, "changing the tier table")
    if m.effective_height <= ctx.height:
        raise LedgerError(
            Code.EFFECTIVE_HEIGHT_PASSED,
            f"effective_height {m.effective_height} is not after this block ({ctx.height}); "
            "a new table takes effect at a later block",
        )
    rows = tier_rows(m)
    ids = {t.id for t in rows}
    for table in gov.tier_tables:
        for tier in table.tiers:
            if tier.id not in ids:
                raise LedgerError(
                    Code.BOUND_VIOLATION,
                    f"the new table drops tier {tier.id} ({tier.name}), which wallets may hold; "
                    "keep every tier id and change its limits instead",
                )

    state.set_governance(gov.with_tier_table(TierTable(m.effective_height, rows), ctx.height))
    state.add_tx(tx.txid)


def _set_authority(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: object) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.set_authority
    require_authority(gov, tx.signers, "changing the authority")
    keys = tuple(m.keys)
    for i, key in enumerate(keys):
        inst = gov.institution_of_any_key(key)
        if inst is not None:
            raise LedgerError(Code.IN_USE, f"keys[{i}] ({_addr(key)}) is a key of institution {inst.id!r}")
        if state.wallet(key) is not None:
            raise LedgerError(Code.IN_USE, f"keys[{i}] ({_addr(key)}) is a registered wallet")

    state.set_governance(gov.with_authority(keys, m.threshold))
    state.add_tx(tx.txid)


def _set_validators(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx) -> None:
    """The new set decides from ctx.height + 2; it follows the set of ctx.height + 1 (which
    this block can no longer change), and the bounds are checked against that one."""
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    require_authority(gov, tx.signers, "changing the validator set")
    effective = ctx.height + VALIDATOR_DELAY
    previous = gov.validators_at(effective - 1).validators
    current = {v.public_key: v for v in gov.validators_at(effective).validators}  # composes in a block
    for i, u in enumerate(tx.msg.set_validators.updates):
        if u.power == 0:
            if u.public_key not in current:
                raise LedgerError(
                    Code.UNKNOWN_VALIDATOR,
                    f"updates[{i}] removes {_addr(u.public_key)}, which is not a validator",
                )
            del current[u.public_key]
        else:
            current[u.public_key] = Validator(u.name, u.public_key, u.power)
    after = tuple(current.values())
    _check_validator_bounds(previous, after, genesis)

    state.set_governance(gov.with_validators(effective, after))
    state.add_tx(tx.txid)


def _check_validator_bounds(
    before: tuple[Validator, ...], after: tuple[Validator, ...], genesis: Genesis
) -> None:
    """At least min_validators remain, the total fits, and at most a third of the previous
    total power moves: power removed (removals, decreases) and power added (additions,
    increases) each stay <= total/3. Then any quorum (> 2/3) of the new set holds more than
    a third of the old set's power, that is, at least one validator the old set trusted
    when fewer than a third are faulty: the same trust level CometBFT's light client
    needs to follow a set change, and no single step can hand the chain to newcomers."""
    fewest = min_validators(genesis)
    if len(after) < fewest:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"the change leaves {len(after)} validator(s); this chain needs at least {fewest}",
        )
    if len(after) > MAX_VALIDATORS:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"the change leaves {len(after)} validators; consensus supports at most {MAX_VALIDATORS}",
        )
    total_after = sum(v.power for v in after)
    if total_after > MAX_TOTAL_VOTING_POWER:
        raise LedgerError(Code.BOUND_VIOLATION, f"total voting power would exceed {MAX_TOTAL_VOTING_POWER}")
    old = {v.public_key: v.power for v in before}
    new = {v.public_key: v.power for v in after}
    removed = sum(max(0, p - new.get(k, 0)) for k, p in old.items())
    added = sum(max(0, p - old.get(k, 0)) for k, p in new.items())
    total = sum(old.values())
    moved = max(removed, added)
    if 3 * moved > total:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"the change moves {moved} of {total} voting power in one step; at most a third "
            f"({total // 3}) may move at once: split it over several blocks",
        )


def _set_block_limits(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    m = tx.msg.set_block_limits
    require_authority(gov, tx.signers, "changing the block limits")
    if m.effective_height <= ctx.height:
        raise LedgerError(
            Code.EFFECTIVE_HEIGHT_PASSED,
            f"effective_height {m.effective_height} is not after this block ({ctx.height}); "
            "new limits take effect at a later block",
        )
    params = genesis.params
    if m.max_block_txs > params.max_block_txs or m.max_block_bytes > params.max_block_bytes:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"the limits ({m.max_block_txs} txs, {m.max_block_bytes} bytes) exceed genesis's "
            f"({params.max_block_txs} txs, {params.max_block_bytes} bytes), the ceiling every node "
            "sizes its checks and messages by",
        )
    least = genesis.max_tx_bytes + MIN_BLOCK_HEADROOM
    if m.max_block_bytes < least:
        raise LedgerError(
            Code.BOUND_VIOLATION,
            f"max_block_bytes {m.max_block_bytes} leaves no room for the largest valid transaction "
            f"and the header; at least {least}",
        )
    limits = BlockLimits(m.effective_height, m.max_block_txs, m.max_block_bytes)

    state.set_governance(gov.with_block_limits(limits, ctx.height))
    state.add_tx(tx.txid)


# consensus.validators.ValidatorSet's limit (a validator's index fits in one byte).
MAX_VALIDATORS = 255
# Room for a block's header and framing beside its largest transaction.
MIN_BLOCK_HEADROOM = 1024


RULES: dict[str, Rule] = {
    "admit_institution": _admit,
    "suspend_institution": _suspend,
    "reinstate_institution": _reinstate,
    "retire_institution": _retire,
    "rotate_institution_key": _rotate,
    "freeze_wallet": _freeze,
    "unfreeze_wallet": _unfreeze,
    "deregister_wallet": _deregister,
    "set_tier_table": _set_tier_table,
    "set_authority": _set_authority,
    "set_validators": _set_validators,
    "set_block_limits": _set_block_limits,
    "rotate_validator_key": _rotate_validator,
    "rotate_authority_key": _rotate_authority,
}


# --- helpers -----------------------------------------------------------------------------


def _reject_replay(state: StateView, tx: DecodedTx) -> None:
    if state.has_tx(tx.txid):
        raise LedgerError(
            Code.DUPLICATE,
            f"transaction {tx.txid.hex()} is already committed; use a new nonce to make a new one",
        )


def _institution(gov: Governance, institution_id: str) -> InstitutionRecord:
    inst = gov.institution_by_id(institution_id)
    if inst is None:
        known = ", ".join(i.id for i in gov.institutions) or "none"
        raise LedgerError(
            Code.UNKNOWN_INSTITUTION, f"there is no institution {institution_id!r} (known: {known})"
        )
    return inst


def _check_key_free(state: StateView, gov: Governance, key: bytes) -> None:
    role = gov.key_in_use(key)
    if role is not None:
        raise LedgerError(Code.IN_USE, f"{_addr(key)} is {role}; every role needs a key of its own")
    if state.wallet(key) is not None:
        raise LedgerError(
            Code.IN_USE, f"{_addr(key)} is a registered wallet; every role needs a key of its own"
        )


def _check_new_role_key(state: StateView, gov: Governance, key: bytes) -> None:
    """A rotation's new key holds no role yet, validator keys (of any set the chain ever
    had, so a retired consensus key never returns) included."""
    _check_key_free(state, gov, key)
    for entry in gov.validator_sets:
        for v in entry.validators:
            if v.public_key == key:
                raise LedgerError(
                    Code.IN_USE,
                    f"{_addr(key)} is (or was) the key of validator {v.name!r}; every role needs a key "
                    "of its own",
                )


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


def _addr(key: bytes) -> str:
    return encode_address(key) if len(key) == 32 else key.hex()
