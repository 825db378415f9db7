"""Properties over random sequences of valid and invalid transactions, grouped into blocks.

A small interpreter turns random "ops" into real signed transactions against the current
state (valid ones, and ones with exactly one thing changed) and feeds them through the
whole pipeline. After every transaction and every block:
- money is conserved: sum of unspent outputs == issued - redeemed;
- no output is ever spent twice;
- a rejected transaction leaves the block's overlay exactly as it was, and check_tx agrees
  with apply_tx;
- a transaction with one thing broken is rejected with that thing's code;
- every output is owned by a registered wallet or institution; outflow totals stay within
  the tier limits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from node.client.txbuild import (
    build_issue,
    build_redeem,
    build_register,
    build_transfer,
    sign_body,
    transfer_body,
)
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Tier
from node.ledger.keys import KeyPair
from node.ledger.rules import BlockContext, apply_tx, check_tx
from node.ledger.state import Overlay
from node.ledger.types import U64_MAX, OutPoint, Output
from tests.support.cast import DAY_MS, T0

from .world import World

# Small limits so that random payments run into them.
TIERS = {
    1: Tier(1, "open", None, None, None, None),
    2: Tier(2, "small", 6_000, 2_000, 3_000, 9_000),
}
UNKNOWN_TIER_ID = 3


def overlay_image(o: Overlay) -> tuple:
    return (
        dict(o.created), dict(o.spent), dict(o.wallets), dict(o.wallets_before),
        dict(o.balance_delta), list(o.txids), set(o._txid_set), o._supply,
    )


@dataclass
class Sim:
    w: World = field(default_factory=lambda: World(tiers=TIERS))
    time: int = T0
    height: int = 1
    ever_spent: set[OutPoint] = field(default_factory=set)
    applied: list[bytes] = field(default_factory=list)
    outcomes: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.block = Overlay(self.w.state)
        self.committed = self.w.state.snapshot()
        self.committed_applied = 0
        self.committed_spent: set[OutPoint] = set()

    @property
    def parties(self) -> list[KeyPair]:
        return [*self.w.banks, *self.w.wallets, self.w.outsider]

    def view(self) -> dict[OutPoint, Output]:
        utxos = {op: o for op, o in self.w.state.utxos.items() if op not in self.block.spent}
        utxos.update(self.block.created)
        return utxos

    def foreign_coins(self, owner: bytes) -> list[OutPoint]:
        return sorted((op for op, o in self.view().items() if o.owner != owner), key=OutPoint.key)

    def coins(self, owner: bytes) -> list[tuple[OutPoint, Output]]:
        return sorted(((op, o) for op, o in self.view().items() if o.owner == owner),
                      key=lambda x: x[0].key())

    # --- the pipeline ---------------------------------------------------------------------
    def submit(self, raw: bytes, expect: set[Code] | None = None, allowed: set[Code] | None = None) -> bool:
        """Run `raw` through decode, signatures and rules into the current block.
        `expect`: it must be rejected with one of these codes; otherwise it may be accepted,
        or rejected with one of `allowed` (any code when None)."""
        ctx = BlockContext(self.height, self.time)
        try:
            tx = self.w.decode(raw)
        except LedgerError as e:
            return self._rejected(e, expect, allowed)
        before = overlay_image(self.block)
        try:
            check_tx(self.block, tx, self.w.genesis, ctx)
            checked: Code | None = None
        except LedgerError as e:
            checked = e.code
        assert overlay_image(self.block) == before, "check_tx mutated the overlay"
        try:
            apply_tx(self.block, tx, self.w.genesis, ctx)
        except LedgerError as e:
            assert overlay_image(self.block) == before, f"rejected ({e.code}) but the overlay changed"
            assert checked == e.code
            return self._rejected(e, expect, allowed)
        assert checked is None, "check_tx rejected what apply_tx accepted"
        assert expect is None, f"expected {expect}, but accepted"
        for op in tx.inputs:
            assert op not in self.ever_spent, "an output was spent twice"
            self.ever_spent.add(op)
        self.applied.append(raw)
        self.outcomes["accepted"] = self.outcomes.get("accepted", 0) + 1
        self.check_conservation()
        if tx.kind == "transfer":
            self.check_limits(tx.signers[0], {o.owner for o in tx.outputs} - {tx.signers[0]})
        return True

    def _rejected(self, e: LedgerError, expect: set[Code] | None, allowed: set[Code] | None) -> bool:
        if expect is not None:
            assert e.code in expect, f"expected {expect}, got {e.code}: {e.message}"
        if allowed is not None:
            assert e.code in allowed, f"rejected with {e.code}: {e.message}"
        self.outcomes[e.code.value] = self.outcomes.get(e.code.value, 0) + 1
        return False

    def accepts(self, raw: bytes) -> bool:
        """Would `raw` be accepted now? (no state change)"""
        try:
            check_tx(self.block, self.w.decode(raw), self.w.genesis, BlockContext(self.height, self.time))
        except LedgerError:
            return False
        return True

    # --- invariants --------------------------------------------------------------------------
    def check_limits(self, payer: bytes, payees: set[bytes]) -> None:
        """Right after a payment: the payer's totals and the payees' balances are in bounds."""
        wallet = self.block.wallet(payer)
        if wallet is not None and payees:
            tier = TIERS[wallet.tier]
            assert tier.daily is None or wallet.day_outflow <= tier.daily
            assert tier.yearly is None or wallet.year_outflow <= tier.yearly
        for payee in payees:
            wallet = self.block.wallet(payee)
            cap = TIERS[wallet.tier].balance_cap if wallet is not None else None
            assert cap is None or self.block.balance(payee) <= cap

    def check_conservation(self) -> None:
        assert sum(o.amount for o in self.view().values()) == self.block.supply().outstanding

    def end_block(self, advance_ms: int, abort: bool) -> None:
        if abort:   # a block that fails validation is dropped: committed state must not move
            self.block = Overlay(self.w.state)
            assert self.w.state.snapshot() == self.committed
            del self.applied[self.committed_applied :]
            self.ever_spent = set(self.committed_spent)
            return
        self.w.state.commit(self.block)
        self.block = Overlay(self.w.state)
        self.committed = self.w.state.snapshot()
        self.committed_applied = len(self.applied)
        self.committed_spent = set(self.ever_spent)
        self.height += 1
        self.time += advance_ms
        self.check_state()

    def check_state(self) -> None:
        s = self.w.state
        assert sum(o.amount for o in s.utxos.values()) == s.supply_.outstanding
        balances: dict[bytes, int] = {}
        for o in s.utxos.values():
            balances[o.owner] = balances.get(o.owner, 0) + o.amount
            assert s.wallet(o.owner) is not None or self.w.genesis.is_institution(o.owner)
        assert balances == s.balances


# --- ops (the outsider, party 6, is never registered) ----------------------------------------

amounts = st.integers(1, 8_000)
party = st.integers(0, 6)  # 0-1 banks, 2-5 wallets, 6 outsider
ops = st.one_of(
    st.tuples(st.just("issue"), st.integers(0, 1), st.one_of(amounts, st.just(U64_MAX)),
              st.sampled_from(["ok", "ok", "one", "outsider", "dup"])),
    st.tuples(st.just("register"), st.integers(2, 5), st.sampled_from([1, 2, 2, UNKNOWN_TIER_ID]),
              st.integers(0, 1)),
    st.tuples(st.just("pay"), party, party, amounts,
              st.sampled_from(["none", "none", "none", "overpay", "underpay", "dup_input", "foreign_input",
                               "spent_input", "fake_input", "zero", "to_outsider", "bad_sig",
                               "wrong_chain"])),
    st.tuples(st.just("redeem"), st.integers(0, 1), amounts,
              st.sampled_from(["none", "over", "change_to_other"])),
    st.tuples(st.just("replay"), st.integers(0, 1000)),
    st.tuples(st.just("block"), st.sampled_from([0, 3_600_000, DAY_MS, 400 * DAY_MS]), st.booleans()),
)


def do_issue(sim: Sim, bank: int, amount: int, mode: str) -> None:
    w = sim.w
    signers = {"ok": w.issuers[:2], "one": w.issuers[:1], "outsider": [w.issuers[0], w.outsider],
               "dup": [w.issuers[1], w.issuers[1]]}[mode]
    raw = build_issue(w.chain, [(w.banks[bank].public, amount)], signers, w.nonce())
    if mode != "ok":
        sim.submit(raw, {Code.NOT_AUTHORIZED})
    elif sim.block.supply().outstanding + amount > U64_MAX:
        sim.submit(raw, {Code.AMOUNT_OVERFLOW})
    else:
        assert sim.submit(raw)


def do_register(sim: Sim, who: int, tier: int, bank: int) -> None:
    w = sim.w
    target = sim.parties[who]
    raw = build_register(w.chain, w.banks[bank], target.public, tier, nonce=w.nonce())
    existing = sim.block.wallet(target.public)
    if tier == UNKNOWN_TIER_ID:
        sim.submit(raw, {Code.UNKNOWN_TIER})
    elif existing is not None and existing.institution != w.banks[bank].public:
        sim.submit(raw, {Code.NOT_AUTHORIZED})
    else:
        assert sim.submit(raw)


def do_pay(sim: Sim, payer_i: int, payee_i: int, amount: int, mutation: str) -> None:
    w = sim.w
    payer, payee = sim.parties[payer_i], sim.parties[payee_i]
    coins = sim.coins(payer.public)
    if not coins:
        raw = build_transfer(w.chain, payer, [OutPoint(b"\x09" * 32, w.nonce())], [(payee.public, amount)])
        sim.submit(raw, {Code.UNKNOWN_INPUT, Code.NOT_AUTHORIZED})
        return
    inputs: list[OutPoint] = []
    total = 0
    for op, o in coins:
        if total >= amount:
            break
        inputs.append(op)
        total += o.amount
    amount = min(amount, total)
    outputs = [(payee.public, amount)] + ([(payer.public, total - amount)] if total > amount else [])
    nonce = w.nonce()
    base = build_transfer(w.chain, payer, inputs, outputs, nonce)
    if mutation == "none" or not sim.accepts(base):
        # Built from the payer's own coins and balanced: only roles and limits can stop it.
        sim.submit(base, allowed={Code.NOT_AUTHORIZED, Code.UNREGISTERED_RECIPIENT, Code.TIER_LIMIT_EXCEEDED})
        return
    expect, raw = mutate(sim, payer, inputs, outputs, nonce, mutation)
    sim.submit(raw, expect)


def mutate(sim: Sim, payer: KeyPair, inputs: list[OutPoint], outputs: list[tuple[bytes, int]], nonce: int,
           mutation: str) -> tuple[set[Code], bytes]:
    """One thing changed in an otherwise valid transfer, and the code that must reject it."""
    w = sim.w
    ins, outs = list(inputs), list(outputs)
    chain, signer = w.chain, payer
    (payee, amount), rest = outs[0], outs[1:]
    expect: set[Code]
    if mutation == "overpay":
        outs = [(payee, amount + 1), *rest]
        expect = {Code.INSUFFICIENT_FUNDS, Code.AMOUNT_OVERFLOW}  # overflow only next to 2^64-1
    elif mutation == "underpay" and amount > 1:
        outs = [(payee, amount - 1), *rest]
        expect = {Code.UNBALANCED}
    elif mutation == "dup_input":
        ins = [*ins, ins[0]]
        expect = {Code.DOUBLE_SPEND}
    elif mutation == "foreign_input" and (others := sim.foreign_coins(payer.public)):
        ins = [*ins, others[0]]
        expect = {Code.NOT_AUTHORIZED}
    elif mutation == "spent_input" and sim.ever_spent:
        ins = [*ins, min(sim.ever_spent, key=OutPoint.key)]
        expect = {Code.UNKNOWN_INPUT, Code.DOUBLE_SPEND}
    elif mutation == "zero":
        outs = [*outs, (payee, 0)]
        expect = {Code.ZERO_AMOUNT}
    elif mutation == "to_outsider":
        outs = [(w.outsider.public, amount), *rest]
        expect = {Code.UNREGISTERED_RECIPIENT}
    elif mutation == "bad_sig":
        signer = w.outsider
        expect = {Code.BAD_SIGNATURE}
    elif mutation == "wrong_chain":
        chain = "cbdc-elsewhere"
        expect = {Code.WRONG_CHAIN}
    else:  # fake_input, or a mutation that does not apply here
        ins = [*ins, OutPoint(b"\x0f" * 32, nonce)]
        expect = {Code.UNKNOWN_INPUT}
    body = transfer_body(chain, payer.public, ins, [Output(o, a) for o, a in outs], nonce)
    return expect, sign_body(chain, body, [signer])


def do_redeem(sim: Sim, bank_i: int, amount: int, mutation: str) -> None:
    w = sim.w
    bank = w.banks[bank_i]
    coins = sim.coins(bank.public)
    if not coins:
        return
    op, coin = coins[0]
    amount = min(amount, coin.amount)
    change = [(bank.public, coin.amount - amount)] if coin.amount > amount else []
    if mutation == "over":
        raw = build_redeem(w.chain, bank, [op], amount + 1, change, w.nonce())
        sim.submit(raw, {Code.INSUFFICIENT_FUNDS, Code.AMOUNT_OVERFLOW})
    elif mutation == "change_to_other" and change:
        other = [(w.banks[1 - bank_i].public, change[0][1])]
        sim.submit(build_redeem(w.chain, bank, [op], amount, other, w.nonce()), {Code.NOT_AUTHORIZED})
    else:
        assert sim.submit(build_redeem(w.chain, bank, [op], amount, change, w.nonce()))


def run(sim: Sim, op: tuple) -> None:
    kind, *args = op
    if kind == "issue":
        do_issue(sim, *args)
    elif kind == "register":
        do_register(sim, *args)
    elif kind == "pay":
        do_pay(sim, *args)
    elif kind == "redeem":
        do_redeem(sim, *args)
    elif kind == "replay" and sim.applied:
        sim.submit(sim.applied[args[0] % len(sim.applied)], {Code.DUPLICATE})
    elif kind == "block":
        sim.end_block(*args)


# A fixed prologue gives the random ops something to work with: money at both banks and a
# few registered wallets.
PROLOGUE = [
    ("issue", 0, 20_000, "ok"), ("issue", 1, 20_000, "ok"),
    ("register", 2, 2, 0), ("register", 3, 2, 0), ("register", 4, 1, 1),
    ("pay", 0, 2, 5_000, "none"), ("pay", 1, 4, 5_000, "none"), ("block", 0, False),
]


@settings(max_examples=120)
@given(st.lists(ops, min_size=15, max_size=60))
def test_random_transaction_sequences(program: list[tuple]) -> None:
    sim = Sim()
    for op in [*PROLOGUE, *program, ("block", 0, False)]:
        run(sim, op)
    sim.check_state()
    assert sim.outcomes.get("accepted", 0) >= 7
