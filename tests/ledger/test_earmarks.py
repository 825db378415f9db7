"""Earmarked money (node.ledger.purposes) through the whole pipeline: the carbon airdrop and
the relocation fund as rule-level stories, one test per refusal, and the property that an
earmarked coin never reaches a recipient outside its purpose."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.client.locks import SPEND, earmark_lock
from node.client.txbuild import (
    build_central_bank_purpose,
    build_define_purpose,
    build_register_for_purpose,
    build_spend_locked,
    build_transfer,
    locked_output,
)
from node.ledger.conditions import decode_lock, lock_address
from node.ledger.errors import Code, LedgerError
from node.ledger.keys import KeyPair
from node.ledger.purposes import BENEFICIARY, MERCHANT, REMOVED, read_earmarked
from node.ledger.types import OutPoint
from tests.support.cast import key

from .world import World

YUAN = 100
CARBON = "carbon-airdrop"


class Airdrop:
    """Bank 0 defines the carbon airdrop; wallets[0], [1] are citizens (beneficiaries),
    wallets[2] a bus company (merchant), wallets[3] a shop that is not registered."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.bank = w.banks[0]
        self.citizens = w.wallets[:2]
        self.bus, self.shop = w.wallets[2], w.wallets[3]
        for wallet in w.wallets:
            w.register(wallet, 1)
        w.apply(build_define_purpose(w.chain, self.bank, CARBON, "spend on public transport", w.nonce()))
        for citizen in self.citizens:
            self.enrol(citizen, BENEFICIARY)
        self.enrol(self.bus, MERCHANT)

    def enrol(self, wallet: KeyPair, role: int) -> None:
        w = self.w
        w.apply(build_register_for_purpose(w.chain, self.bank, CARBON, wallet.public, role, w.nonce()))

    def drop(self, citizen: KeyPair, amount: int) -> tuple[bytes, OutPoint]:
        """The bank earmarks `amount` of its own money for `citizen`."""
        w = self.w
        src = w.issue(amount)
        lock = earmark_lock(citizen.public, CARBON)
        tx = w.apply(build_transfer(w.chain, self.bank, [src], [locked_output(lock, amount)], w.nonce()))
        return lock, OutPoint(tx.txid, 0)

    def spend(self, holder: KeyPair, lock: bytes, coins: list[OutPoint], outputs: list) -> bytes:
        w = self.w
        return build_spend_locked(w.chain, lock, SPEND, coins, outputs, [holder], w.nonce())


@pytest.fixture
def air() -> Airdrop:
    return Airdrop(World())


def test_airdrop_spent_only_at_allowed_merchants(air: Airdrop) -> None:
    w, citizen = air.w, air.citizens[0]
    lock, coin = air.drop(citizen, 50 * YUAN)
    bus_lock = earmark_lock(air.bus.public, CARBON)
    change = (lock_address(lock), 30 * YUAN)
    # At the unregistered shop: refused, whether paid plainly or into an earmark for it.
    at_shop = [(air.shop.public, 20 * YUAN), change]
    e = w.rejects(air.spend(citizen, lock, [coin], at_shop), Code.PURPOSE_NOT_ALLOWED)
    assert "outside the purpose" in e.message
    shop_lock = earmark_lock(air.shop.public, CARBON)
    e = w.rejects(air.spend(citizen, lock, [coin], [locked_output(shop_lock, 20 * YUAN), change]),
                  Code.PURPOSE_NOT_ALLOWED)
    assert "cannot be paid to" in e.message and "not registered" in e.message
    # At the bus company: accepted; the change keeps the earmark.
    tx = w.apply(air.spend(citizen, lock, [coin], [locked_output(bus_lock, 20 * YUAN), change]))
    assert w.state.balance(lock_address(bus_lock)) == 20 * YUAN
    assert w.state.balance(lock_address(lock)) == 30 * YUAN
    assert w.state.wallet(citizen.public).day_outflow == 20 * YUAN  # the holder's outflow
    # The bus company settles to its bank: the allowed exit, the money is plain again.
    w.apply(air.spend(air.bus, bus_lock, [OutPoint(tx.txid, 0)], [(w.banks[1].public, 20 * YUAN)]))
    assert w.state.balance(w.banks[1].public) == 20 * YUAN


def test_relocation_fund_across_three_hops() -> None:
    w = World()
    bank = w.banks[0]
    resident, builder, supplier = w.wallets[0], w.wallets[1], w.wallets[2]
    for wallet in (resident, builder, supplier):
        w.register(wallet, 1)
    fund = "relocation-fund"
    w.apply(build_define_purpose(w.chain, bank, fund, "Xiongan resettlement", w.nonce()))
    for wallet, role in ((resident, BENEFICIARY), (builder, BENEFICIARY), (supplier, MERCHANT)):
        w.apply(build_register_for_purpose(w.chain, bank, fund, wallet.public, role, w.nonce()))
    locks = {k.public: earmark_lock(k.public, fund) for k in (resident, builder, supplier)}
    src = w.issue(1_000 * YUAN)
    def hop(holder: KeyPair, coin: OutPoint, outputs: list) -> bytes:
        return build_spend_locked(w.chain, locks[holder.public], SPEND, [coin], outputs, [holder], w.nonce())

    to_resident = [locked_output(locks[resident.public], 1_000 * YUAN)]
    hop1 = w.apply(build_transfer(w.chain, bank, [src], to_resident, w.nonce()))
    to_builder = [locked_output(locks[builder.public], 1_000 * YUAN)]
    hop2 = w.apply(hop(resident, OutPoint(hop1.txid, 0), to_builder))
    to_supplier = [
        locked_output(locks[supplier.public], 600 * YUAN), (lock_address(locks[builder.public]), 400 * YUAN),
    ]
    hop3 = w.apply(hop(builder, OutPoint(hop2.txid, 0), to_supplier))
    assert w.state.balance(lock_address(locks[supplier.public])) == 600 * YUAN
    # The builder (a beneficiary, not a merchant) cannot take its part out to a bank ...
    rest = OutPoint(hop3.txid, 1)
    w.rejects(hop(builder, rest, [(w.banks[1].public, 400 * YUAN)]), Code.PURPOSE_NOT_ALLOWED)
    # ... but may return it to the fund's institution.
    w.apply(hop(builder, rest, [(bank.public, 400 * YUAN)]))


# --- one test per refusal ---------------------------------------------------------------------


def test_unknown_purpose(air: Airdrop) -> None:
    w = air.w
    w.check(build_register_for_purpose(w.chain, air.bank, CARBON, air.shop.public, MERCHANT, w.nonce()))
    w.rejects(build_register_for_purpose(w.chain, air.bank, "carbon", air.shop.public, MERCHANT, w.nonce()),
              Code.UNKNOWN_PURPOSE)
    src = w.issue(10 * YUAN)
    undefined = earmark_lock(air.citizens[0].public, "no-such-purpose")
    w.rejects(build_transfer(w.chain, air.bank, [src], [locked_output(undefined, 10 * YUAN)], w.nonce()),
              Code.UNKNOWN_PURPOSE)


def test_duplicate_purpose_name(air: Airdrop) -> None:
    w = air.w
    w.check(build_define_purpose(w.chain, w.banks[1], "green-purchases", "", w.nonce()))
    e = w.rejects(build_define_purpose(w.chain, w.banks[1], CARBON, "", w.nonce()), Code.DUPLICATE)
    assert "already defined" in e.message


def test_not_authorized_only_the_purposes_institution(air: Airdrop) -> None:
    w, other = air.w, air.w.banks[1]
    # Registering recipients: only the defining institution.
    w.check(build_register_for_purpose(w.chain, air.bank, CARBON, air.shop.public, MERCHANT, w.nonce()))
    w.rejects(build_register_for_purpose(w.chain, other, CARBON, air.shop.public, MERCHANT, w.nonce()),
              Code.NOT_AUTHORIZED)
    # Earmarking money: only the defining institution, from its own money.
    lock = earmark_lock(air.citizens[0].public, CARBON)
    src = w.issue(10 * YUAN, bank=1)
    w.rejects(build_transfer(w.chain, other, [src], [locked_output(lock, 10 * YUAN)], w.nonce()),
              Code.NOT_AUTHORIZED)
    # Defining a purpose: institutions only.
    w.rejects(build_define_purpose(w.chain, air.citizens[0], "mine", "", w.nonce()), Code.NOT_AUTHORIZED)


def test_central_bank_defines_a_purpose_and_appoints_its_institution(air: Airdrop) -> None:
    w, operator = air.w, air.w.banks[1]
    # Two of the three issuer keys, as for issuance; the appointed bank does not sign.
    w.apply(build_central_bank_purpose(w.chain, operator.public, "relocation-fund", w.issuers[:2],
                                       "Xiongan resettlement", w.nonce()))
    # The appointed bank operates it like a purpose of its own: registers, then earmarks.
    citizen = air.citizens[0]
    w.apply(build_register_for_purpose(w.chain, operator, "relocation-fund", citizen.public, BENEFICIARY,
                                       w.nonce()))
    src = w.issue(50 * YUAN, bank=1)
    lock = earmark_lock(citizen.public, "relocation-fund")
    w.apply(build_transfer(w.chain, operator, [src], [locked_output(lock, 50 * YUAN)], w.nonce()))
    assert w.state.balance(lock_address(lock)) == 50 * YUAN
    # Another institution does not operate it.
    w.rejects(build_register_for_purpose(w.chain, air.bank, "relocation-fund", citizen.public, BENEFICIARY,
                                         w.nonce()), Code.NOT_AUTHORIZED)


def test_not_authorized_a_central_bank_purpose_below_the_issuer_threshold(air: Airdrop) -> None:
    w, operator = air.w, air.w.banks[1]
    def define(signers: list, institution: bytes = operator.public) -> bytes:
        return build_central_bank_purpose(w.chain, institution, "green", signers, "", w.nonce())

    w.check(define(w.issuers[1:]))
    e = w.rejects(define(w.issuers[:1]), Code.NOT_AUTHORIZED)
    assert "needs 2 of the 3 authority keys; this names 1" in e.message
    e = w.rejects(define([w.issuers[0], w.outsider]), Code.NOT_AUTHORIZED)
    assert "is not an authority key" in e.message
    e = w.rejects(define(w.issuers[:2], institution=air.citizens[0].public), Code.NOT_AUTHORIZED)
    assert "the central bank appoints institutions to operate purposes" in e.message


def test_unregistered_recipient_for_a_purpose(air: Airdrop) -> None:
    w = air.w
    w.check(build_register_for_purpose(w.chain, air.bank, CARBON, air.shop.public, MERCHANT, w.nonce()))
    w.rejects(build_register_for_purpose(w.chain, air.bank, CARBON, key(77).public, MERCHANT, w.nonce()),
              Code.UNREGISTERED_RECIPIENT)


def test_malformed_purpose_lock_and_names(air: Airdrop) -> None:
    w = air.w
    with pytest.raises(LedgerError) as e:
        decode_lock(earmark_lock(air.citizens[0].public, "Carbon Airdrop"), w.genesis.params)
    assert e.value.code == Code.MALFORMED
    w.rejects(build_define_purpose(w.chain, air.bank, "Not A Name", "", w.nonce()), Code.MALFORMED)
    role_three = build_register_for_purpose(w.chain, air.bank, CARBON, air.shop.public, 3, w.nonce())
    w.rejects(role_three, Code.MALFORMED)


def test_removed_recipient_no_longer_receives(air: Airdrop) -> None:
    w = air.w
    lock, coin = air.drop(air.citizens[0], 10 * YUAN)
    bus_lock = earmark_lock(air.bus.public, CARBON)
    pay = air.spend(air.citizens[0], lock, [coin], [locked_output(bus_lock, 10 * YUAN)])
    w.check(pay)
    air.enrol(air.bus, REMOVED)
    w.rejects(pay, Code.PURPOSE_NOT_ALLOWED)


def test_earmarked_receipts_count_towards_the_balance_cap(air: Airdrop) -> None:
    w = air.w
    citizen = air.citizens[1]
    w.register(citizen, 4)  # anonymous: 10,000 yuan cap
    w.fund(citizen, 9_000 * YUAN)
    src = w.issue(2_000 * YUAN)
    lock = earmark_lock(citizen.public, CARBON)
    e = w.rejects(build_transfer(w.chain, air.bank, [src], [locked_output(lock, 2_000 * YUAN)], w.nonce()),
                  Code.TIER_LIMIT_EXCEEDED)
    assert "earmarked" in e.message


def test_a_plain_payment_counts_earmarked_money_against_the_balance_cap(air: Airdrop) -> None:
    w = air.w
    citizen = air.citizens[1]
    w.register(citizen, 4)  # anonymous: 10,000 yuan cap
    lock, coin = air.drop(citizen, 9_000 * YUAN)
    assert read_earmarked(w.state, citizen.public) == 9_000 * YUAN
    payer = air.citizens[0]
    src = w.fund(payer, 2_000 * YUAN)
    ok = [(citizen.public, 1_000 * YUAN), (payer.public, 1_000 * YUAN)]
    w.check(build_transfer(w.chain, payer, [src], ok, w.nonce()))
    e = w.rejects(build_transfer(w.chain, payer, [src], [(citizen.public, 2_000 * YUAN)], w.nonce()),
                  Code.TIER_LIMIT_EXCEEDED)
    assert "would hold 11,000.00 yuan (earmarked money included)" in e.message
    # Once the citizen spends earmarked money at the bus company, the room is back.
    at_the_bus = locked_output(earmark_lock(air.bus.public, CARBON), 1_000 * YUAN)
    w.apply(air.spend(citizen, lock, [coin], [at_the_bus, (lock_address(lock), 8_000 * YUAN)]))
    assert read_earmarked(w.state, citizen.public) == 8_000 * YUAN
    assert read_earmarked(w.state, air.bus.public) == 1_000 * YUAN
    w.apply(build_transfer(w.chain, payer, [src], [(citizen.public, 2_000 * YUAN)], w.nonce()))


# --- property -------------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.integers(0, 3), st.integers(0, 5), st.integers(1, 60), st.booleans()),
                max_size=10))
def test_earmarked_money_never_leaves_its_purpose(steps: list[tuple[int, int, int, bool]]) -> None:
    """Random payments of earmarked money, to anyone, plainly or in earmarks: whatever is
    accepted, every earmarked fen is held by a registered recipient or has left through an
    allowed exit, each holder's earmarked total is what its earmark lock holds, and money is
    conserved."""
    air = Airdrop(World())
    w = air.w
    people = [*air.citizens, air.bus, air.shop]
    exits = {w.banks[0].public, w.banks[1].public}
    coins: dict[bytes, list[OutPoint]] = {p.public: [] for p in people}
    _, first = air.drop(air.citizens[0], 100 * YUAN)
    coins[air.citizens[0].public].append(first)
    for payer_i, payee_i, amount, earmarked in steps:
        payer = people[payer_i % len(people)]
        if not coins[payer.public]:
            continue
        coin = coins[payer.public][0]
        value = w.state.utxos[coin].amount
        amount = min(amount * YUAN, value)
        payee = ([*people, *w.banks])[payee_i % (len(people) + 2)]
        lock = earmark_lock(payer.public, CARBON)
        payee_lock = earmark_lock(payee.public, CARBON)
        out = locked_output(payee_lock, amount) if earmarked else (payee.public, amount)
        outs = [out] + ([(lock_address(lock), value - amount)] if value > amount else [])
        try:
            tx = w.apply(air.spend(payer, lock, [coin], outs))
        except LedgerError:
            continue
        coins[payer.public].pop(0)
        if earmarked and payee.public in coins:
            coins[payee.public].append(OutPoint(tx.txid, 0))
        if value > amount:
            coins[payer.public].append(OutPoint(tx.txid, 1))
    # Registered recipients, and the purpose's own institution (it may hold earmarked money).
    registered = {p.public for p in (*air.citizens, air.bus, air.bank)}
    everyone = [*people, *w.banks]
    earmark_holders = {lock_address(earmark_lock(p.public, CARBON)): p.public for p in everyone}
    for out in w.state.utxos.values():
        if out.owner in earmark_holders:
            assert earmark_holders[out.owner] in registered
        else:
            assert out.owner in exits  # plain money only after an allowed exit
    for address, holder in earmark_holders.items():
        assert read_earmarked(w.state, holder) == w.state.balance(address)
    assert sum(o.amount for o in w.state.utxos.values()) == w.state.supply().outstanding
