"""One test per rejection code: each starts from a valid transaction (accepted by the same
pipeline) and changes one thing. The whole pipeline runs: decode, signatures, rules; a
rejection must leave the state byte-identical (World.rejects checks it)."""

from __future__ import annotations

import hashlib

import pytest

from node.client.txbuild import (
    build_issue,
    build_redeem,
    build_register,
    build_transfer,
    encode_tx,
    issue_body,
    sign_body,
    transfer_body,
)
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import LedgerParams
from node.ledger.rules import BlockContext, apply_tx, check_tx
from node.ledger.state import Overlay
from node.ledger.types import U64_MAX, OutPoint
from proto import ledger_pb2
from tests.support.cast import DAY_MS, T0

from .world import World

YUAN = 100


@pytest.fixture
def w() -> World:
    return World()


@pytest.fixture
def funded(w: World) -> tuple[World, OutPoint]:
    """wallet 0 registered in the anonymous tier (4) holding 1,000 yuan; wallet 1 registered."""
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 4)
    return w, w.fund(w.wallets[0], 1_000 * YUAN)


# --- a valid life cycle ------------------------------------------------------------------


def test_issue_register_pay_redeem(w: World) -> None:
    src = w.issue(50_000 * YUAN)
    assert w.state.supply().issued == 50_000 * YUAN
    w.register(w.wallets[0], 4)
    bank = w.banks[0]
    tx = w.apply(w.pay(bank, [src], [(w.wallets[0].public, 300 * YUAN), (bank.public, 49_700 * YUAN)]))
    assert w.state.balance(w.wallets[0].public) == 300 * YUAN
    pay = w.apply(w.pay(w.wallets[0], [OutPoint(tx.txid, 0)], [(bank.public, 300 * YUAN)]))
    wallet = w.state.wallet(w.wallets[0].public)
    assert wallet is not None and wallet.day_outflow == wallet.year_outflow == 300 * YUAN
    redeem = build_redeem(w.chain, bank, [OutPoint(tx.txid, 1), OutPoint(pay.txid, 0)], 40_000 * YUAN,
                          [(bank.public, 10_000 * YUAN)])
    w.apply(redeem)
    supply = w.state.supply()
    assert (supply.issued, supply.redeemed, supply.outstanding) == (5_000_000, 4_000_000, 1_000_000)
    assert sum(o.amount for o in w.state.utxos.values()) == supply.outstanding


# --- malformed -----------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"\xff\xff\xff", b"\x0a\x05abc", b"\x12\x40" + b"\x00" * 10])
def test_malformed_bytes(w: World, raw: bytes) -> None:
    w.rejects(raw, Code.MALFORMED)


def test_malformed_body_without_kind(w: World) -> None:
    body = ledger_pb2.TxBody(chain_id=w.chain, nonce=1).SerializeToString()
    w.rejects(sign_body(w.chain, body, [w.banks[0]]), Code.MALFORMED)


def test_malformed_unknown_kind(w: World) -> None:
    # A future kind (field 14) this node does not know: unknown to the parser, so no kind.
    body = ledger_pb2.TxBody(chain_id=w.chain, nonce=1).SerializeToString() + b"\x72\x02\x08\x01"
    w.rejects(sign_body(w.chain, body, [w.banks[0]]), Code.MALFORMED)


def test_malformed_short_key(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    w.check(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100), (w.wallets[0].public, 99900)]))
    w.rejects(w.pay(w.wallets[0], [coin], [(w.wallets[1].public[:31], 100_000)]), Code.MALFORMED)


def test_malformed_short_txid(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    bad = OutPoint(coin.txid[:31], coin.index)
    w.rejects(w.pay(w.wallets[0], [bad], [(w.wallets[1].public, 100_000)]), Code.MALFORMED)


def test_malformed_kyc_commitment_size(w: World) -> None:
    w.check(build_register(w.chain, w.banks[0], w.wallets[0].public, 4, b"\x01" * 32))
    w.rejects(build_register(w.chain, w.banks[0], w.wallets[0].public, 4, b"Zhang San, ID 1101..."),
              Code.MALFORMED)


def test_malformed_transfer_without_outputs_or_inputs(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    w.rejects(w.pay(w.wallets[0], [coin], []), Code.MALFORMED)
    w.rejects(w.pay(w.wallets[0], [], [(w.wallets[1].public, 1)]), Code.MALFORMED)


def test_malformed_over_caps() -> None:
    w = World(params=LedgerParams(max_inputs=2, max_outputs=2, max_body_bytes=512))
    w.register(w.wallets[0], 1)
    coins = [w.fund(w.wallets[0], 100) for _ in range(3)]
    me = w.wallets[0].public
    w.check(w.pay(w.wallets[0], coins[:2], [(me, 150), (me, 50)]))
    w.rejects(w.pay(w.wallets[0], coins, [(me, 300)]), Code.MALFORMED)                 # 3 inputs
    w.rejects(w.pay(w.wallets[0], coins[:2], [(me, 100), (me, 50), (me, 50)]), Code.MALFORMED)
    body = transfer_body(w.chain, me, coins[:1], [(me, 100)]) + b"\x00" * 600           # body > 512
    w.rejects(sign_body(w.chain, body, [w.wallets[0]]), Code.MALFORMED)


# --- wrong chain, signatures ---------------------------------------------------------------


def test_wrong_chain(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    outs = [(w.wallets[1].public, 100_000)]
    w.check(build_transfer(w.chain, w.wallets[0], [coin], outs))
    w.rejects(build_transfer("cbdc-testnet", w.wallets[0], [coin], outs), Code.WRONG_CHAIN)


def test_bad_signature_wrong_key(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    body = transfer_body(w.chain, w.wallets[0].public, [coin], [(w.wallets[1].public, 100_000)])
    w.check(sign_body(w.chain, body, [w.wallets[0]]))
    e = w.rejects(sign_body(w.chain, body, [w.wallets[1]]), Code.BAD_SIGNATURE)
    assert "signature 0" in e.message


def test_bad_signature_other_chain_or_flipped_bit(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    body = transfer_body(w.chain, w.wallets[0].public, [coin], [(w.wallets[1].public, 100_000)])
    # Signed for another chain: the body is the same, the digest is not.
    w.rejects(sign_body("cbdc-testnet", body, [w.wallets[0]]), Code.BAD_SIGNATURE)
    sig = bytearray(w.wallets[0].sign(b"x"))
    sig[5] ^= 1
    w.rejects(encode_tx(body, [bytes(sig)]), Code.BAD_SIGNATURE)


def test_bad_signature_count(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    body = transfer_body(w.chain, w.wallets[0].public, [coin], [(w.wallets[1].public, 100_000)])
    good = ledger_pb2.Transaction.FromString(sign_body(w.chain, body, [w.wallets[0]])).signatures[0]
    w.rejects(encode_tx(body, []), Code.BAD_SIGNATURE)
    w.rejects(encode_tx(body, [good, good]), Code.BAD_SIGNATURE)
    w.rejects(encode_tx(body, [good[:63]]), Code.BAD_SIGNATURE)


# --- inputs ------------------------------------------------------------------------------------


def test_unknown_input(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    outs = [(w.wallets[1].public, 100_000)]
    w.check(w.pay(w.wallets[0], [coin], outs))
    w.rejects(w.pay(w.wallets[0], [OutPoint(coin.txid, 1)], outs), Code.UNKNOWN_INPUT)
    w.rejects(w.pay(w.wallets[0], [OutPoint(b"\x42" * 32, 0)], outs), Code.UNKNOWN_INPUT)


def test_double_spend_within_a_transaction(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    w.check(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100_000)]))
    w.rejects(w.pay(w.wallets[0], [coin, coin], [(w.wallets[1].public, 200_000)]), Code.DOUBLE_SPEND)


def test_double_spend_within_a_block(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    first = w.decode(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100_000)]))
    second = w.decode(w.pay(w.wallets[0], [coin], [(w.banks[0].public, 100_000)]))
    block = Overlay(w.state)
    apply_tx(block, first, w.genesis, w.ctx)
    created = dict(block.created)
    with pytest.raises(LedgerError) as applied:
        apply_tx(block, second, w.genesis, w.ctx)
    assert applied.value.code == Code.DOUBLE_SPEND
    assert block.created == created and block.txids == [first.txid]
    # check_tx on the block's overlay gives apply_tx's reason, not a vaguer unknown_input.
    with pytest.raises(LedgerError) as checked:
        check_tx(block, second, w.genesis, w.ctx)
    assert checked.value.code == Code.DOUBLE_SPEND
    assert block.created == created and block.txids == [first.txid]


def test_spent_input_is_unknown_next_block(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    w.apply(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100_000)]))
    w.rejects(w.pay(w.wallets[0], [coin], [(w.banks[0].public, 100_000)]), Code.UNKNOWN_INPUT)


# --- duplicate ------------------------------------------------------------------------------------


def test_duplicate_issue_and_register(w: World) -> None:
    issue = build_issue(w.chain, [(w.banks[0].public, 100)], w.issuers[:2], nonce=7)
    w.apply(issue)
    w.rejects(issue, Code.DUPLICATE)
    w.apply(build_issue(w.chain, [(w.banks[0].public, 100)], w.issuers[:2], nonce=8))  # new nonce: fine
    reg = build_register(w.chain, w.banks[0], w.wallets[0].public, 4, nonce=1)
    w.apply(reg)
    w.rejects(reg, Code.DUPLICATE)


def test_duplicate_transfer_replay(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    raw = w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100_000)])
    w.apply(raw)
    w.rejects(raw, Code.DUPLICATE)


# --- amounts -------------------------------------------------------------------------------------


def test_insufficient_funds_and_unbalanced(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    to, me = w.wallets[1].public, w.wallets[0].public
    w.check(w.pay(w.wallets[0], [coin], [(to, 60_000), (me, 40_000)]))
    w.rejects(w.pay(w.wallets[0], [coin], [(to, 60_000), (me, 40_001)]), Code.INSUFFICIENT_FUNDS)
    w.rejects(w.pay(w.wallets[0], [coin], [(to, 60_000), (me, 39_999)]), Code.UNBALANCED)


def test_redeem_must_balance(w: World) -> None:
    bank = w.banks[0]
    coin = w.issue(1_000)
    w.check(build_redeem(w.chain, bank, [coin], 600, [(bank.public, 400)]))
    w.rejects(build_redeem(w.chain, bank, [coin], 700, [(bank.public, 400)]), Code.INSUFFICIENT_FUNDS)
    w.rejects(build_redeem(w.chain, bank, [coin], 500, [(bank.public, 400)]), Code.UNBALANCED)


def test_zero_amount(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    to, me = w.wallets[1].public, w.wallets[0].public
    w.rejects(w.pay(w.wallets[0], [coin], [(to, 0), (me, 100_000)]), Code.ZERO_AMOUNT)
    bank = w.banks[0]
    src = w.issue(1_000)
    w.rejects(build_redeem(w.chain, bank, [src], 0, [(bank.public, 1_000)]), Code.ZERO_AMOUNT)
    w.rejects(build_issue(w.chain, [(bank.public, 0)], w.issuers[:2]), Code.ZERO_AMOUNT)


def test_amount_overflow_in_outputs(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    to = w.wallets[1].public
    w.rejects(w.pay(w.wallets[0], [coin], [(to, 2**63), (to, 2**63)]), Code.AMOUNT_OVERFLOW)
    bank = w.banks[0].public
    w.rejects(build_issue(w.chain, [(bank, U64_MAX), (bank, 1)], w.issuers[:2]), Code.AMOUNT_OVERFLOW)


def test_amount_overflow_of_supply(w: World) -> None:
    w.issue(U64_MAX - 5)
    w.check(build_issue(w.chain, [(w.banks[1].public, 5)], w.issuers[:2], nonce=99))
    w.rejects(build_issue(w.chain, [(w.banks[1].public, 6)], w.issuers[:2], nonce=99), Code.AMOUNT_OVERFLOW)


# --- tier limits (anonymous tier: cap 10,000 / per payment 2,000 / day 5,000 / year 50,000 yuan) ---


def test_tier_per_payment_excludes_change() -> None:
    w = World()
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 1)
    coin = w.fund(w.wallets[0], 9_000 * YUAN)
    me, to = w.wallets[0].public, w.wallets[1].public
    # 2,000 yuan leaves the payer; the 7,000 yuan of change do not count.
    w.check(w.pay(w.wallets[0], [coin], [(to, 2_000 * YUAN), (me, 7_000 * YUAN)]))
    e = w.rejects(w.pay(w.wallets[0], [coin], [(to, 2_000 * YUAN + 1), (me, 7_000 * YUAN - 1)]),
                  Code.TIER_LIMIT_EXCEEDED)
    assert "per-payment" in e.message


def test_tier_daily_limit_resets_at_local_midnight() -> None:
    w = World()
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 1)
    coins = [w.fund(w.wallets[0], 2_000 * YUAN) for _ in range(4)]
    to = w.wallets[1].public
    for c in coins[:2]:
        w.apply(w.pay(w.wallets[0], [c], [(to, 2_000 * YUAN)]))
    half = w.pay(w.wallets[0], [coins[2]], [(to, 1_000 * YUAN), (w.wallets[0].public, 1_000 * YUAN)])
    w.apply(half)                                                     # 5,000 today: at the limit
    e = w.rejects(w.pay(w.wallets[0], [coins[3]], [(to, 1), (w.wallets[0].public, 2000 * YUAN - 1)]),
                  Code.TIER_LIMIT_EXCEEDED)
    assert "daily" in e.message
    # T0 is 12:00 at UTC+8; local midnight is 12 h later. One ms before it is still today.
    before_midnight = BlockContext(2, T0 + DAY_MS // 2 - 1)
    after_midnight = BlockContext(2, T0 + DAY_MS // 2)
    raw = w.pay(w.wallets[0], [coins[3]], [(to, 2_000 * YUAN)])
    w.rejects(raw, Code.TIER_LIMIT_EXCEEDED, before_midnight)
    w.apply(raw, after_midnight)
    wallet = w.state.wallet(w.wallets[0].public)
    assert wallet is not None and wallet.day_outflow == 2_000 * YUAN and wallet.year_outflow == 7_000 * YUAN


def test_tier_yearly_limit() -> None:
    w = World()
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 1)
    to = w.wallets[1].public
    day = 0
    for _ in range(25):   # 25 days x 2,000 yuan = 50,000 yuan: the yearly limit exactly
        coin = w.fund(w.wallets[0], 2_000 * YUAN)
        w.apply(w.pay(w.wallets[0], [coin], [(to, 2_000 * YUAN)]), BlockContext(2, T0 + day * DAY_MS))
        day += 1
    coin = w.fund(w.wallets[0], 1)
    e = w.rejects(w.pay(w.wallets[0], [coin], [(to, 1)]), Code.TIER_LIMIT_EXCEEDED,
                  BlockContext(3, T0 + day * DAY_MS))
    assert "yearly" in e.message
    # A new year (2027 in UTC+8) opens a new allowance.
    w.apply(w.pay(w.wallets[0], [coin], [(to, 1)]), BlockContext(3, T0 + 365 * DAY_MS))


def test_tier_balance_cap_of_payee(funded: tuple[World, OutPoint]) -> None:
    w, _ = funded
    bank, to = w.banks[0], w.wallets[1].public
    src = w.issue(10_001 * YUAN)
    # wallet 1 (tier 4) may hold up to 10,000 yuan; the paying institution has no limits.
    w.check(w.pay(bank, [src], [(to, 10_000 * YUAN), (bank.public, 1 * YUAN)]))
    e = w.rejects(w.pay(bank, [src], [(to, 10_000 * YUAN + 1), (bank.public, 1 * YUAN - 1)]),
                  Code.TIER_LIMIT_EXCEEDED)
    assert "balance cap" in e.message


def test_tier_upgrade_lifts_limit_and_keeps_totals(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    to, me = w.wallets[1].public, w.wallets[0].public
    w.apply(w.pay(w.wallets[0], [coin], [(to, 500 * YUAN), (me, 500 * YUAN)]))
    big = w.fund(w.wallets[0], 3_000 * YUAN)
    raw = w.pay(w.wallets[0], [big], [(to, 3_000 * YUAN)])
    w.rejects(raw, Code.TIER_LIMIT_EXCEEDED)   # over 2,000 yuan per payment
    w.register(w.wallets[0], 3)                # basic: 5,000 yuan per payment
    w.apply(raw)
    wallet = w.state.wallet(me)
    assert wallet is not None and wallet.tier == 3 and wallet.day_outflow == 3_500 * YUAN


# --- recipients and roles ----------------------------------------------------------------------------


def test_unregistered_recipient(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    w.check(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100_000)]))
    w.rejects(w.pay(w.wallets[0], [coin], [(w.wallets[2].public, 100_000)]), Code.UNREGISTERED_RECIPIENT)
    w.check(w.pay(w.wallets[0], [coin], [(w.banks[1].public, 100_000)]))  # institutions are registered


def test_issue_only_to_institutions(w: World) -> None:
    w.register(w.wallets[0], 1)
    w.check(build_issue(w.chain, [(w.banks[0].public, 100)], w.issuers[:2]))
    w.rejects(build_issue(w.chain, [(w.wallets[0].public, 100)], w.issuers[:2]), Code.UNREGISTERED_RECIPIENT)


def test_not_authorized_issuance(w: World) -> None:
    outs = [(w.banks[0].public, 100)]
    w.check(build_issue(w.chain, outs, [w.issuers[0], w.issuers[2]]))
    w.rejects(build_issue(w.chain, outs, [w.issuers[0]]), Code.NOT_AUTHORIZED)                 # 1 of 3
    w.rejects(build_issue(w.chain, outs, [w.issuers[0], w.outsider]), Code.NOT_AUTHORIZED)     # not issuer
    w.rejects(build_issue(w.chain, outs, [w.issuers[0], w.issuers[0]]), Code.NOT_AUTHORIZED)   # twice
    w.rejects(build_issue(w.chain, outs, [w.issuers[0], w.banks[0]]), Code.NOT_AUTHORIZED)


def test_not_authorized_registration(w: World) -> None:
    me = w.wallets[0].public
    w.check(build_register(w.chain, w.banks[0], me, 4))
    w.rejects(build_register(w.chain, w.outsider, me, 4), Code.NOT_AUTHORIZED)
    w.rejects(build_register(w.chain, w.banks[0], w.banks[1].public, 4), Code.NOT_AUTHORIZED)
    w.rejects(build_register(w.chain, w.banks[0], w.issuers[0].public, 4), Code.NOT_AUTHORIZED)
    w.register(w.wallets[0], 4, bank=0)
    w.register(w.wallets[0], 2, bank=0)                                  # own wallet: tier change ok
    e = w.rejects(build_register(w.chain, w.banks[1], me, 1, nonce=5), Code.NOT_AUTHORIZED)
    assert "only that institution" in e.message


def test_not_authorized_spender(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    to = w.wallets[1].public
    w.check(w.pay(w.wallets[0], [coin], [(to, 100_000)]))
    w.rejects(w.pay(w.wallets[1], [coin], [(to, 100_000)]), Code.NOT_AUTHORIZED)       # not the owner
    w.rejects(w.pay(w.wallets[2], [coin], [(to, 100_000)]), Code.NOT_AUTHORIZED)       # unregistered


def test_not_authorized_redeem(funded: tuple[World, OutPoint]) -> None:
    w, coin = funded
    bank = w.banks[0]
    src = w.issue(1_000)
    w.check(build_redeem(w.chain, bank, [src], 600, [(bank.public, 400)]))
    w.rejects(build_redeem(w.chain, bank, [src], 600, [(w.banks[1].public, 400)]), Code.NOT_AUTHORIZED)
    w.rejects(build_redeem(w.chain, w.banks[1], [src], 1_000), Code.NOT_AUTHORIZED)     # not its output
    w.rejects(build_redeem(w.chain, w.wallets[0], [coin], 100_000), Code.NOT_AUTHORIZED)  # wallets can't


def test_unknown_tier(w: World) -> None:
    w.check(build_register(w.chain, w.banks[0], w.wallets[0].public, 4))
    e = w.rejects(build_register(w.chain, w.banks[0], w.wallets[0].public, 9), Code.UNKNOWN_TIER)
    assert "1, 2, 3, 4" in e.message


def test_signatures_never_re_encoded(w: World) -> None:
    """A body whose fields are in an unusual (but valid) order: the txid and signature are over
    the bytes as received, so it verifies and its id is SHA-256 of exactly those bytes."""
    canonical = issue_body(w.chain, [(w.banks[0].public, 5)], [k.public for k in w.issuers[:2]], nonce=3)
    msg = ledger_pb2.TxBody.FromString(canonical)
    reordered = (
        ledger_pb2.TxBody(issue=msg.issue).SerializeToString()
        + ledger_pb2.TxBody(nonce=3).SerializeToString()
        + ledger_pb2.TxBody(chain_id=w.chain).SerializeToString()
    )
    assert reordered != canonical and ledger_pb2.TxBody.FromString(reordered) == msg
    tx = w.apply(sign_body(w.chain, reordered, w.issuers[:2]))
    assert tx.txid == hashlib.sha256(reordered).digest() != hashlib.sha256(canonical).digest()
