"""The stateful ledger rules: one small function per transaction kind.

Each rule reads through the overlay, checks everything, and only then mutates it, so a
rejected transaction leaves the overlay exactly as it was. Signatures and every stateless
property (sizes, amounts > 0, no duplicate input, issuer threshold) were checked by
node.ledger.txcodec.decode_tx and the caller's signature verification before these run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import NoReturn

from node.ledger.address import encode_address
from node.ledger.conditions import Lock, Moment, decode_lock_cached, format_time, shortfall
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, Tier
from node.ledger.governance import REASONS, SUSPENDED, Governance
from node.ledger.governance_rules import RULES as GOVERNANCE_RULES
from node.ledger.governance_rules import governance, require_authority
from node.ledger.purposes import (
    MERCHANT,
    REMOVED,
    Purpose,
    earmarked_key,
    encode_earmarked,
    purpose_key,
    read_earmarked,
    read_purpose,
    recipient_key,
    role_of,
)
from node.ledger.state import DryRun, Overlay, StateView
from node.ledger.txcodec import DecodedTx
from node.ledger.types import (
    U64_MAX,
    WALLET_DEREGISTERED,
    WALLET_STATUS_NAMES,
    OutPoint,
    Output,
    Supply,
    Wallet,
)

MS_PER_DAY = 86_400_000
_tuple_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class BlockContext:
    height: int
    time_ms: int  # the block's time (unix ms); decides the day and year of outflow limits


@lru_cache(maxsize=64)
def _year_of_day(day: int) -> int:
    return date.fromordinal(_EPOCH_ORDINAL + day).year


def apply_tx(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    """Apply one decoded, signature-checked transaction to `state`, or raise LedgerError and
    leave `state` untouched."""
    _RULES[tx.kind](state, tx, genesis, ctx)


def check_tx(view: StateView, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    """Raise LedgerError if `tx` would be rejected on top of `view`; never mutates `view`.
    The same code path as apply_tx, on a view that drops writes, so the two cannot disagree."""
    _RULES[tx.kind](DryRun(view), tx, genesis, ctx)  # type: ignore[arg-type]


# --- the four kinds -----------------------------------------------------------------------


def _issue(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    _reject_replay(state, tx)
    gov = governance(state, genesis)
    require_authority(gov, tx.signers, "issuance")
    for i, out in enumerate(tx.outputs):
        inst = gov.institution_by_key(out.owner)
        if inst is None:
            raise LedgerError(
                Code.UNREGISTERED_RECIPIENT,
                f"outputs[{i}] pays {_addr(out.owner)}, which is not a registered institution; "
                "the central bank issues only to institutions",
            )
        if inst.status == SUSPENDED:
            raise LedgerError(
                Code.INSTITUTION_SUSPENDED,
                f"outputs[{i}] pays institution {inst.id!r}, which is suspended; no issuance to it "
                "until the authority reinstates it",
            )
    total = _sum_outputs(tx)
    supply = state.supply()
    if supply.outstanding + total > U64_MAX:
        raise LedgerError(
            Code.AMOUNT_OVERFLOW,
            f"issuing {_yuan(total)} would take the money supply past 2^64-1 fen",
        )

    state.add_outputs(tx.txid, tx.outputs)
    state.set_supply(Supply(supply.issued + total, supply.redeemed))
    state.add_tx(tx.txid)


def _redeem(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    institution = tx.signers[0]
    gov = governance(state, genesis)
    if not gov.is_institution(institution):
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"{_addr(institution)} is not a registered institution; only institutions redeem",
        )
    for i, out in enumerate(tx.outputs):
        if out.owner != institution:
            raise LedgerError(
                Code.NOT_AUTHORIZED,
                f"change[{i}] pays {_addr(out.owner)}; change of a redemption goes back to the institution",
            )
    total_in, spent = _resolve_inputs(state, tx, institution, gov.former_keys_of(institution))
    amount = tx.msg.redeem.amount
    _check_balanced(total_in, amount + _sum_outputs(tx), "the redeemed amount plus change")
    supply = state.supply()

    for op, out in zip(tx.inputs, spent, strict=True):
        state.spend_resolved(op, out)
    state.add_outputs(tx.txid, tx.outputs)
    state.set_supply(Supply(supply.issued, supply.redeemed + amount))
    state.add_tx(tx.txid)


def _register(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    _reject_replay(state, tx)
    m = tx.msg.register_wallet
    institution, address = m.institution, m.address
    gov = governance(state, genesis)
    inst = gov.institution_by_key(institution)
    if inst is None:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"{_addr(institution)} is not a registered institution; only institutions register wallets",
        )
    tiers = gov.tiers_at(ctx.height)
    if m.tier not in tiers:
        known = ", ".join(str(t) for t in sorted(tiers))
        raise LedgerError(Code.UNKNOWN_TIER, f"tier {m.tier} is not in this network's tier table ({known})")
    if gov.key_in_use(address) is not None:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"{_addr(address)} is an institution or issuer key and cannot be registered as a wallet",
        )
    existing = state.wallet(address)
    # A deregistered wallet may be taken over by any institution (a customer changing
    # banks); otherwise only the institution that registered it, under any of its keys.
    owned = existing is not None and existing.status != WALLET_DEREGISTERED
    if (
        owned
        and existing.institution != institution
        and gov.institution_of_any_key(existing.institution) is not inst
    ):
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"wallet {_addr(address)} was registered by {_addr(existing.institution)}; "
            "only that institution can change it",
        )
    if not owned and inst.status == SUSPENDED:
        raise LedgerError(
            Code.INSTITUTION_SUSPENDED,
            f"institution {inst.id!r} is suspended and cannot register new wallets",
        )

    if existing is None:
        wallet = Wallet(address, m.tier, institution, m.kyc_commitment)
    elif not owned:
        # Taken over after deregistration: active again, outflow totals kept (a new
        # registration must not reset today's limit).
        wallet = existing._replace(tier=m.tier, institution=institution, kyc_commitment=m.kyc_commitment,
                                   status=0, reason=0)
    else:
        # A tier change keeps the running outflow totals: re-registering must not reset
        # today's limit. The commitment is replaced as given (empty clears it). A lower
        # balance cap applies to later incoming payments; money already held stays. A
        # frozen wallet stays frozen; the record names the institution's current key.
        wallet = existing._replace(tier=m.tier, institution=institution, kyc_commitment=m.kyc_commitment)
    state.put_wallet(wallet)
    state.add_tx(tx.txid)


def _transfer(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    sender = tx.signers[0]
    payer = state.wallet(sender)
    gov = governance(state, genesis)
    former: tuple[bytes, ...] = ()
    if payer is None:
        if not gov.is_institution(sender):
            raise LedgerError(
                Code.NOT_AUTHORIZED,
                f"sender {_addr(sender)} is not a registered wallet or institution; "
                "ask an institution to register it",
            )
        former = gov.former_keys_of(sender)
    elif payer[8]:  # status: frozen or deregistered
        raise _frozen_error(payer, "send")
    total_in, spent = _resolve_inputs(state, tx, sender, former)
    total_out = _sum_outputs(tx)
    if total_in != total_out:
        _check_balanced(total_in, total_out, "the outputs")
    tiers = gov.tiers_at(ctx.height)
    received, payee_wallets = _payees(state, tx, genesis, gov, tiers, sender)
    updated_payer = None
    if payer is not None and received:
        updated_payer = _charge_outflow(payer, sum(received.values()), genesis, ctx, tiers)
    if payee_wallets:
        _check_balance_caps(state, received, payee_wallets, tiers)
    # Only a recipient that is no wallet can be a new lock (an earmark): plain payments
    # between wallets skip the scan.
    earmarked = _earmark_deltas(tx, genesis, None, 0) if len(received) != len(payee_wallets) else None

    spend = state.spend_resolved
    for op, out in zip(tx.inputs, spent, strict=True):
        spend(op, out)
    state.add_outputs(tx.txid, tx.outputs)
    if updated_payer is not None:
        state.put_wallet(updated_payer)
    if earmarked:
        _put_earmarked(state, earmarked)
    state.add_tx(tx.txid)


def _define_purpose(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    _reject_replay(state, tx)
    m = tx.msg.define_purpose
    # Signed by the institution itself, or by the central bank (m-of-n of its authority keys)
    # appointing it: either way one institution operates the purpose.
    gov = governance(state, genesis)
    if m.issuer_signers:
        require_authority(gov, tx.signers, "defining a purpose as the central bank")
    if not gov.is_institution(m.institution):
        who = "the central bank appoints" if m.issuer_signers else "only"
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"{_addr(m.institution)} is not a registered institution; {who} institutions "
            f"{'to operate' if m.issuer_signers else 'define'} purposes",
        )
    existing = read_purpose(state, m.purpose)
    if existing is not None:
        raise LedgerError(
            Code.DUPLICATE,
            f"purpose {m.purpose!r} is already defined by {_addr(existing.institution)}; choose another name",
        )
    state.put_record(purpose_key(m.purpose), Purpose(m.purpose, m.institution, m.description).encode())
    state.add_tx(tx.txid)


def _register_for_purpose(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    _reject_replay(state, tx)
    m = tx.msg.register_for_purpose
    purpose = _known_purpose(state, m.purpose)
    if purpose.institution != m.institution:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"purpose {m.purpose!r} is defined by {_addr(purpose.institution)}; only that institution "
            "registers its recipients",
        )
    if (
        m.role != REMOVED
        and state.wallet(m.address) is None
        and not governance(state, genesis).is_institution(m.address)
    ):
        raise LedgerError(
            Code.UNREGISTERED_RECIPIENT,
            f"{_addr(m.address)} is not a registered wallet or institution; register the wallet first",
        )
    state.put_record(recipient_key(m.purpose, m.address), bytes([m.role]) if m.role else None)
    state.add_tx(tx.txid)


def _spend_locked(state: Overlay, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    """Spend outputs of one lock (node.ledger.conditions). The lock's address is the sender:
    outputs back to it are change. Locking money is the payer's outflow (a Transfer to the
    lock's address, charged to the payer's tier limits then); releasing it is an incoming
    payment of each payee (balance caps apply). A lock whose address an institution has
    registered as a wallet (a multi-signature treasury) has a tier of its own, charged here."""
    m = tx.msg.spend_locked
    lock = decode_lock_cached(m.lock, genesis.params)
    holder = lock.address
    total_in, spent = _resolve_inputs(state, tx, holder)
    total_out = _sum_outputs(tx)
    if total_in != total_out:
        _check_balanced(total_in, total_out, "the outputs")
    if lock.expired(ctx.time_ms):
        _check_reclaim(lock, tx, genesis)
    else:
        _check_clause(lock, m.clause, tx, genesis, ctx)
    gov = governance(state, genesis)
    tiers = gov.tiers_at(ctx.height)
    if lock.purpose:
        _check_earmark_spend(state, lock, tx, genesis, gov)
    # Earmarked money is its holder's: spending it is the holder's outflow. Freezes apply to
    # locked money as to plain money: a frozen holder (or registered lock) cannot pay.
    holder_wallet = state.wallet(lock.holder if lock.purpose else holder)
    if holder_wallet is not None and holder_wallet[8]:  # status: frozen or deregistered
        raise _frozen_error(holder_wallet, "send")
    received, payee_wallets = _payees(state, tx, genesis, gov, tiers, holder, lock)
    updated_holder = None
    if holder_wallet is not None and received:
        updated_holder = _charge_outflow(holder_wallet, sum(received.values()), genesis, ctx, tiers)
    if payee_wallets:
        _check_balance_caps(state, received, payee_wallets, tiers)
    earmarked = _earmark_deltas(tx, genesis, lock, total_in)

    for op, out in zip(tx.inputs, spent, strict=True):
        state.spend_resolved(op, out)
    state.add_outputs(tx.txid, tx.outputs)
    if updated_holder is not None:
        state.put_wallet(updated_holder)
    if earmarked:
        _put_earmarked(state, earmarked)
    state.add_tx(tx.txid)


_RULES: dict[str, Callable[[Overlay, DecodedTx, Genesis, BlockContext], None]] = {
    "issue": _issue,
    "redeem": _redeem,
    "register_wallet": _register,
    "transfer": _transfer,
    "spend_locked": _spend_locked,
    "define_purpose": _define_purpose,
    "register_for_purpose": _register_for_purpose,
    **GOVERNANCE_RULES,  # type: ignore[dict-item]
}


# --- locks ----------------------------------------------------------------------------------


def _check_clause(lock: Lock, index: int, tx: DecodedTx, genesis: Genesis, ctx: BlockContext) -> None:
    clause = lock.clauses[index]  # decode_tx checked the index
    label = f"clause {index} ({clause.name})" if clause.name else f"clause {index}"
    at = Moment(frozenset(tx.signers), ctx.height, ctx.time_ms, genesis.params.utc_offset_minutes)
    reason = shortfall(clause.policy, at)
    if reason is not None:
        raise LedgerError(Code.CONDITION_NOT_MET, f"{label} of lock {_addr(lock.address)} {reason}")
    if clause.pay_to:
        allowed = set(clause.pay_to)
        for i, (owner, _) in enumerate(tx.outputs):
            if owner != lock.address and owner not in allowed:
                names = ", ".join(_addr(k) for k in clause.pay_to)
                raise LedgerError(
                    Code.DESTINATION_NOT_ALLOWED,
                    f"outputs[{i}] pays {_addr(owner)}, but {label} may pay only {names}",
                )


def _check_reclaim(lock: Lock, tx: DecodedTx, genesis: Genesis) -> None:
    # After expiry the voucher's clauses no longer count: only the way back to its issuer.
    for i, (owner, _) in enumerate(tx.outputs):
        if owner != lock.voucher_issuer:
            when = format_time(lock.expires_at_ms, genesis.params.utc_offset_minutes)
            raise LedgerError(
                Code.VOUCHER_EXPIRED,
                f"voucher expired at {when}; outputs[{i}] pays {_addr(owner)}, but the only spend "
                f"left is a reclaim of the whole amount to its issuer {_addr(lock.voucher_issuer)}, "
                "which anyone may submit",
            )


# --- checks -------------------------------------------------------------------------------


def _reject_replay(state: StateView, tx: DecodedTx) -> None:
    # Input-less kinds have nothing that can be spent only once, so their id must be unique.
    if state.has_tx(tx.txid):
        raise LedgerError(
            Code.DUPLICATE,
            f"transaction {tx.txid.hex()} is already committed; use a new nonce to make a new one",
        )


def _resolve_inputs(
    state: Overlay, tx: DecodedTx, owner: bytes, former: tuple[bytes, ...] = ()
) -> tuple[int, list[Output]]:
    """Sum of the inputs and the output each spends; every one must exist unspent and
    belong to `owner` or to one of its `former` keys (an institution's rotated keys:
    node.ledger.governance)."""
    total = 0
    spent: list[Output] = []
    utxo = state.utxo
    for op in tx.inputs:
        out = utxo(op)
        if out is None or (out[0] != owner and out[0] not in former):
            _input_error(state, tx, owner, former)
        total += out[1]
        spent.append(out)
    if total > U64_MAX:  # impossible while supply <= 2^64-1, checked anyway
        raise LedgerError(Code.AMOUNT_OVERFLOW, "the inputs add up to more than 2^64-1 fen")
    return total, spent


def _input_error(state: Overlay, tx: DecodedTx, owner: bytes, former: tuple[bytes, ...] = ()) -> NoReturn:
    """Raise the error of the first input that is missing or not `owner`'s (the caller saw
    one; naming it is worth a second pass only on this rare path)."""
    for i, op in enumerate(tx.inputs):
        out = state.utxo(op)
        if out is None:
            raise _missing_input(state, tx, i, op)
        if out.owner != owner and out.owner not in former:
            raise LedgerError(
                Code.NOT_AUTHORIZED,
                f"inputs[{i}] belongs to {_addr(out.owner)}, not to the signer {_addr(owner)}",
            )
    raise AssertionError("_input_error called for inputs that are all present and owned")


def _missing_input(state: StateView, tx: DecodedTx, i: int, op: OutPoint) -> LedgerError:
    # Only on this (rare) error path is it worth extra lookups to name the precise reason.
    if state.has_tx(tx.txid):
        return LedgerError(Code.DUPLICATE, f"transaction {tx.txid.hex()} is already committed")
    view: StateView = state
    while isinstance(view, (Overlay, DryRun)):
        if isinstance(view, Overlay) and op in view.spent:
            return LedgerError(
                Code.DOUBLE_SPEND,
                f"inputs[{i}] ({op.txid.hex()}:{op.index}) is spent by an earlier transaction in this block",
            )
        view = view.base
    return LedgerError(
        Code.UNKNOWN_INPUT,
        f"inputs[{i}] ({op.txid.hex()}:{op.index}) does not exist or is already spent",
    )


def _check_balanced(total_in: int, total_out: int, what: str) -> None:
    if total_in < total_out:
        raise LedgerError(
            Code.INSUFFICIENT_FUNDS,
            f"the inputs hold {_yuan(total_in)} but {what} need {_yuan(total_out)}",
        )
    if total_in > total_out:
        raise LedgerError(
            Code.UNBALANCED,
            f"the inputs hold {_yuan(total_in)} but {what} come to {_yuan(total_out)}; there are no "
            "fees, so pay the difference back to yourself as change",
        )


def _payees(
    state: StateView, tx: DecodedTx, genesis: Genesis, gov: Governance, tiers: dict[int, Tier],
    sender: bytes, source: Lock | None = None,
) -> tuple[dict[bytes, int], dict[bytes, Wallet]]:
    """What each recipient other than the sender receives, and the wallet records of the
    recipients that are wallets (institutions have none and no limits)."""
    received: dict[bytes, int] = {}
    wallets: dict[bytes, Wallet] = {}
    wallet_of = state.wallet
    for i, (owner, amount) in enumerate(tx.outputs):
        if owner == sender:
            continue  # change
        if owner in received:
            received[owner] += amount
            continue
        wallet = wallet_of(owner)
        if wallet is not None:
            if wallet[8]:  # status: frozen or deregistered
                raise _frozen_error(wallet, "receive", f"outputs[{i}]: ")
            wallets[owner] = wallet
        elif not gov.is_institution(owner) and not _is_new_lock(
            state, tx, i, sender, genesis, gov, tiers, source
        ):
            raise LedgerError(
                Code.UNREGISTERED_RECIPIENT,
                f"outputs[{i}] pays {_addr(owner)}, which is not a registered wallet or institution",
            )
        received[owner] = amount
    return received, wallets


def _is_new_lock(
    state: StateView, tx: DecodedTx, i: int, sender: bytes, genesis: Genesis, gov: Governance,
    tiers: dict[int, Tier], source: Lock | None,
) -> bool:
    """True when outputs[i] carries its lock (decode_tx checked that the owner is the lock's
    address): money paid into an escrow, a voucher, an unregistered multi-signature lock or
    an earmark. Its spends are checked when they happen. Only an institution issues vouchers
    in its own name (the voucher's issuer must be the payer); earmarks: _check_earmark_output."""
    raw = tx.payload.outputs[i].lock
    if not raw:
        return False
    lock = decode_lock_cached(raw, genesis.params)
    if lock.is_voucher and lock.voucher_issuer != sender:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"outputs[{i}] is a voucher of {_addr(lock.voucher_issuer)}; only that institution "
            "can issue it (pay it from the issuer's own money)",
        )
    if lock.purpose:
        _check_earmark_output(state, lock, i, tx, sender, genesis, gov, tiers, source)
    # Registration applies as to plain money: whoever can spend locked money is known.
    for clause in lock.clauses:
        for key in sorted(clause.keys):
            if state.wallet(key) is None and not gov.is_institution(key):
                raise LedgerError(
                    Code.UNREGISTERED_RECIPIENT,
                    f"outputs[{i}] locks money that {_addr(key)} could spend, which is not a registered "
                    "wallet or institution; register every key of a lock (or the lock's address as a wallet)",
                )
    return True


# --- earmarks (node.ledger.purposes) ---------------------------------------------------------


def _known_purpose(state: StateView, name: str) -> Purpose:
    purpose = read_purpose(state, name)
    if purpose is None:
        raise LedgerError(
            Code.UNKNOWN_PURPOSE,
            f"purpose {name!r} is not defined on this network; an institution defines it first",
        )
    return purpose


def _check_earmark_output(
    state: StateView, lock: Lock, i: int, tx: DecodedTx, sender: bytes, genesis: Genesis, gov: Governance,
    tiers: dict[int, Tier], source: Lock | None,
) -> None:
    """outputs[i] earmarks money for lock.purpose: only the purpose's institution creates
    such money (from its own), and only recipients registered for the purpose hold it."""
    purpose = _known_purpose(state, lock.purpose)
    if (source is None or source.purpose != lock.purpose) and sender != purpose.institution:
        raise LedgerError(
            Code.NOT_AUTHORIZED,
            f"outputs[{i}] earmarks money for purpose {purpose.name!r}; only its institution "
            f"{_addr(purpose.institution)} earmarks money for it",
        )
    holder = lock.holder
    if holder != purpose.institution and role_of(state, purpose.name, holder) == REMOVED:
        raise LedgerError(
            Code.PURPOSE_NOT_ALLOWED,
            f"purpose {purpose.name!r} cannot be paid to {_addr(holder)}, which is not registered "
            f"for it; ask {_addr(purpose.institution)} to register the recipient",
        )
    wallet = state.wallet(holder)
    if wallet is None:
        if not gov.is_institution(holder):
            raise LedgerError(
                Code.UNREGISTERED_RECIPIENT,
                f"outputs[{i}] earmarks money for {_addr(holder)}, which is not a registered wallet",
            )
        return
    # The holder's balance cap counts what it holds in plain money and earmarked (any purpose).
    cap = _tier_of(wallet, tiers).balance_cap
    amount = sum(o.amount for o in tx.outputs if o.owner == lock.address)
    after = state.balance(holder) + read_earmarked(state, holder) + amount
    if cap is not None and after > cap:
        raise LedgerError(
            Code.TIER_LIMIT_EXCEEDED,
            f"recipient {_addr(holder)} would hold {_yuan(after)} (earmarked {purpose.name!r} included), "
            f"over the balance cap of {_yuan(cap)} of its tier {wallet.tier}",
        )


def _check_earmark_spend(
    state: StateView, lock: Lock, tx: DecodedTx, genesis: Genesis, gov: Governance
) -> None:
    """Spending earmarked money: each output stays in the purpose (a lock of the same purpose,
    checked by _check_earmark_output) or leaves it by an allowed exit: back to the purpose's
    institution, or a registered merchant's settlement to any institution."""
    purpose = _known_purpose(state, lock.purpose)
    payloads = tx.payload.outputs
    merchant = role_of(state, purpose.name, lock.holder) == MERCHANT
    for i, (owner, _) in enumerate(tx.outputs):
        if owner == lock.address:
            continue  # change keeps the earmark
        raw = payloads[i].lock
        if raw and decode_lock_cached(raw, genesis.params).purpose == lock.purpose:
            continue
        if owner == purpose.institution or (merchant and gov.is_institution(owner)):
            continue
        raise LedgerError(
            Code.PURPOSE_NOT_ALLOWED,
            f"outputs[{i}] takes earmarked {purpose.name!r} money to {_addr(owner)} outside the "
            "purpose; pay a recipient registered for it (in an earmarked output), return it to "
            f"{_addr(purpose.institution)}, or (merchants) settle to an institution",
        )


def _earmark_deltas(tx: DecodedTx, genesis: Genesis, source: Lock | None, total_in: int) -> dict[bytes, int]:
    """How `tx` changes each holder's earmarked total (node.ledger.purposes): what an earmarked
    source held leaves its holder, and every earmarked output (change back to the source
    included, which carries no lock bytes) adds to its holder."""
    deltas: dict[bytes, int] = {}
    earmarked_source = source is not None and bool(source.purpose)
    if earmarked_source:
        deltas[source.holder] = -total_in
    payloads = tx.payload.outputs
    for i, (owner, amount) in enumerate(tx.outputs):
        if earmarked_source and owner == source.address:
            holder = source.holder
        elif payloads[i].lock:
            lock = decode_lock_cached(payloads[i].lock, genesis.params)
            if not lock.purpose:
                continue
            holder = lock.holder
        else:
            continue
        deltas[holder] = deltas.get(holder, 0) + amount
    return {holder: d for holder, d in deltas.items() if d}


def _put_earmarked(state: Overlay, deltas: dict[bytes, int]) -> None:
    for holder, delta in deltas.items():
        state.put_record(earmarked_key(holder), encode_earmarked(read_earmarked(state, holder) + delta))


def _frozen_error(wallet: Wallet, what: str, where: str = "") -> LedgerError:
    status = WALLET_STATUS_NAMES.get(wallet.status, str(wallet.status))
    reason = REASONS.get(wallet.reason, str(wallet.reason))
    return LedgerError(
        Code.WALLET_FROZEN,
        f"{where}wallet {_addr(wallet.address)} is {status} ({reason}) and can neither send nor "
        f"receive, so it cannot {what}; its institution or the authority can lift a freeze",
    )


def _tier_of(wallet: Wallet, tiers: dict[int, Tier]) -> Tier:
    tier = tiers.get(wallet.tier)
    if tier is None:  # only if a wallet outlived its tier; tier ids are never removed, so never
        raise LedgerError(Code.UNKNOWN_TIER, f"wallet {_addr(wallet.address)} has unknown tier {wallet.tier}")
    return tier


def _charge_outflow(
    payer: Wallet, outflow: int, genesis: Genesis, ctx: BlockContext, tiers: dict[int, Tier]
) -> Wallet:
    """The payer's record after paying `outflow` to others, or tier_limit_exceeded."""
    (address, tier_id, institution, kyc, payer_day, day_outflow, payer_year, year_outflow,
     status, reason) = payer
    tier = tiers.get(tier_id)
    if tier is None:
        tier = _tier_of(payer, tiers)  # raises unknown_tier
    # The day number since 1970-01-01 in the chain's UTC offset; its calendar year below.
    day = (ctx.time_ms + genesis.params.utc_offset_minutes * 60_000) // MS_PER_DAY
    # Periods never move backwards: a block stamped earlier than the wallet's last payment
    # counts towards that later period instead of opening a fresh allowance.
    if day < payer_day:
        day = payer_day
    year = _year_of_day(day)
    if year < payer_year:
        year = payer_year
    day_total = (day_outflow if payer_day == day else 0) + outflow
    year_total = (year_outflow if payer_year == year else 0) + outflow
    if tier.per_payment is not None and outflow > tier.per_payment:
        raise _limit_error(
            f"this payment of {_yuan(outflow)} exceeds the per-payment limit of {_yuan(tier.per_payment)}",
            tier, "split it or ask your institution to upgrade the wallet",
        )
    if tier.daily is not None and day_total > tier.daily:
        raise _limit_error(
            f"this payment would bring today's outflow to {_yuan(day_total)}, over the daily limit of "
            f"{_yuan(tier.daily)}", tier, "pay less or wait until tomorrow",
        )
    if tier.yearly is not None and year_total > tier.yearly:
        raise _limit_error(
            f"this payment would bring this year's outflow to {_yuan(year_total)}, over the yearly "
            f"limit of {_yuan(tier.yearly)}", tier, "ask your institution to upgrade the wallet",
        )
    # Totals are stored as uint64; an unlimited total saturates rather than wraps.
    if day_total > U64_MAX:
        day_total = U64_MAX
    if year_total > U64_MAX:
        year_total = U64_MAX
    return _tuple_new(
        Wallet, (address, tier_id, institution, kyc, day, day_total, year, year_total, status, reason)
    )


def _limit_error(what: str, tier: Tier, advice: str) -> LedgerError:
    return LedgerError(Code.TIER_LIMIT_EXCEEDED, f"{what} of tier {tier.id} ({tier.name}); {advice}")


def _check_balance_caps(
    state: StateView, received: dict[bytes, int], wallets: dict[bytes, Wallet], tiers: dict[int, Tier]
) -> None:
    for owner, wallet in wallets.items():
        tier = tiers.get(wallet.tier)
        if tier is None:
            tier = _tier_of(wallet, tiers)  # raises unknown_tier
        cap = tier.balance_cap
        if cap is None:
            continue
        # What the wallet holds earmarked counts too: one more read, of its earmarked total.
        after = state.balance(owner) + read_earmarked(state, owner) + received[owner]
        if after > cap:
            raise LedgerError(
                Code.TIER_LIMIT_EXCEEDED,
                f"recipient {_addr(owner)} would hold {_yuan(after)} (earmarked money included), over the "
                f"balance cap of {_yuan(tier.balance_cap)} of its tier {tier.id} ({tier.name})",
            )


# --- helpers ----------------------------------------------------------------------------------


def _sum_outputs(tx: DecodedTx) -> int:
    return sum([o.amount for o in tx.outputs])  # <= 2^64-1: decode_tx checked it


def _yuan(fen: int) -> str:
    return f"{fen // 100:,}.{fen % 100:02d} yuan"


def _addr(key: bytes) -> str:
    return encode_address(key) if len(key) == 32 else key.hex()
