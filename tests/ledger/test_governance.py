"""Governance transactions through the whole pipeline (decode, signatures, rules).

The refusal tests follow tests/ledger/test_rejections.py: start from a change the pipeline
accepts (World.check), change one thing, and the refusal has its code and leaves the state
byte-identical (World.rejects). The life-cycle tests show what each change does to later
payments."""

from __future__ import annotations

from dataclasses import replace

import pytest

from node.client import govbuild as gb
from node.client.txbuild import add_signature, build_issue, build_redeem, build_register
from node.ledger.errors import Code
from node.ledger.genesis import Validator, default_tiers, make_genesis
from node.ledger.governance import ACTIVE, RETIRED, SUSPENDED, governance_of
from node.ledger.keys import KeyPair
from node.ledger.rules import BlockContext
from node.ledger.types import WALLET_ACTIVE, WALLET_FROZEN_BY_AUTHORITY, OutPoint, Output

from .world import T0, World, key

YUAN = 100
COURT_ORDER, AML, HOLDER_REQUEST = 1, 2, 4


class Gov:
    """Builders of signed governance transactions for a World (authority = issuers 0 and 1)."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.authority = w.issuers[:2]

    def _sign(self, body: bytes, keys) -> bytes:
        return gb.build(self.w.chain, body, keys)

    def _by(self, keys):
        return self.authority if keys is None else keys

    def admit(self, inst_id: str, public: bytes, keys=None, name: str = "New Bank") -> bytes:
        keys = self._by(keys)
        signers = [k.public for k in keys]
        body = gb.admit_institution_body(self.w.chain, signers, inst_id, name, public, self.w.nonce())
        return self._sign(body, keys)

    def institution(self, action: str, inst_id: str, keys=None) -> bytes:
        keys = self._by(keys)
        body = gb.institution_body(self.w.chain, action, [k.public for k in keys], inst_id, self.w.nonce())
        return self._sign(body, keys)

    def rotate(self, inst_id: str, new, keys) -> bytes:
        signers = [k.public for k in keys]
        body = gb.rotate_institution_key_body(self.w.chain, signers, inst_id, new.public, self.w.nonce())
        return self._sign(body, [*keys, new])

    def wallet(self, action: str, address: bytes, keys=None, reason: int = AML) -> bytes:
        keys = self._by(keys)
        body = gb.wallet_body(self.w.chain, action, [k.public for k in keys], address, reason, self.w.nonce())
        return self._sign(body, keys)

    def tiers(self, height: int, tiers, keys=None) -> bytes:
        keys = self._by(keys)
        body = gb.tier_table_body(self.w.chain, [k.public for k in keys], height, tiers, self.w.nonce())
        return self._sign(body, keys)

    def authority_change(self, new_keys, threshold: int, keys=None) -> bytes:
        keys = self._by(keys)
        body = gb.authority_body(
            self.w.chain, [k.public for k in keys], [k.public for k in new_keys], threshold, self.w.nonce()
        )
        return self._sign(body, keys)


@pytest.fixture
def w() -> World:
    return World()


@pytest.fixture
def g(w: World) -> Gov:
    return Gov(w)


def gov_state(w: World):
    return governance_of(w.state.governance(), w.genesis)


# --- life cycle ------------------------------------------------------------------------------


def test_no_governance_change_stores_no_record(w: World) -> None:
    w.issue(100)
    assert w.state.governance() is None


def test_admit_new_institution_receives_issuance_and_registers_wallets(w: World, g: Gov) -> None:
    new = key(40)
    w.rejects(build_issue(w.chain, [(new.public, 100)], w.issuers[:2]), Code.UNREGISTERED_RECIPIENT)
    w.apply(g.admit("bank-c", new.public))
    assert gov_state(w).institution_by_id("bank-c").status == ACTIVE
    w.apply(build_issue(w.chain, [(new.public, 100)], w.issuers[:2], nonce=1))
    w.apply(build_register(w.chain, new, w.wallets[0].public, 4))


def test_suspended_institution_gets_no_issuance_and_no_new_wallets_but_its_wallets_pay(
    w: World, g: Gov
) -> None:
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 4)
    coin = w.fund(w.wallets[0], 1_000 * YUAN)
    w.apply(g.institution("suspend", "inst-0"))
    w.rejects(build_issue(w.chain, [(w.banks[0].public, 100)], w.issuers[:2]), Code.INSTITUTION_SUSPENDED)
    w.rejects(build_register(w.chain, w.banks[0], w.wallets[2].public, 4), Code.INSTITUTION_SUSPENDED)
    w.apply(build_register(w.chain, w.banks[0], w.wallets[0].public, 3))  # a tier change is not new
    w.apply(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 1_000 * YUAN)]))
    w.apply(g.institution("reinstate", "inst-0"))
    w.apply(build_issue(w.chain, [(w.banks[0].public, 100)], w.issuers[:2], nonce=5))


def test_key_rotation_keeps_money_spendable_by_the_new_key_only(w: World, g: Gov) -> None:
    old, new = w.banks[0], key(41)
    coin = w.issue(1_000)
    w.register(w.wallets[0], 4)
    w.apply(g.rotate("inst-0", new, [old]))  # by the holder: old and new key sign
    gov = gov_state(w)
    assert gov.institution_by_id("inst-0").public_key == new.public
    assert gov.institution_by_id("inst-0").former_keys == (old.public,)
    # The old key signs nothing any more, and receives nothing.
    w.rejects(w.pay(old, [coin], [(old.public, 1_000)]), Code.NOT_AUTHORIZED)
    w.rejects(build_issue(w.chain, [(old.public, 100)], w.issuers[:2]), Code.UNREGISTERED_RECIPIENT)
    w.rejects(build_register(w.chain, old, w.wallets[1].public, 4), Code.NOT_AUTHORIZED)
    # The new key spends what the old key owned, redeems it, and still runs the old wallets.
    paid = w.apply(w.pay(new, [coin], [(w.wallets[0].public, 600), (new.public, 400)]))
    w.apply(build_redeem(w.chain, new, [OutPoint(paid.txid, 1)], 400))
    w.apply(build_register(w.chain, new, w.wallets[0].public, 3))
    assert w.state.wallet(w.wallets[0].public).institution == new.public


def test_key_rotation_by_the_authority_for_a_compromised_key(w: World, g: Gov) -> None:
    new = key(42)
    w.apply(g.rotate("inst-1", new, g.authority))
    assert gov_state(w).institution_by_id("inst-1").public_key == new.public


def test_frozen_wallet_can_neither_send_nor_receive_until_unfrozen(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 4)
    coin = w.fund(w.wallets[0], 1_000 * YUAN)
    into = w.fund(w.wallets[1], 10 * YUAN)
    w.apply(g.wallet("freeze", w.wallets[0].public, [w.banks[0]], HOLDER_REQUEST))  # by its institution
    e = w.rejects(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 1_000 * YUAN)]), Code.WALLET_FROZEN)
    assert "holder_request" in e.message
    w.rejects(w.pay(w.wallets[1], [into], [(w.wallets[0].public, 10 * YUAN)]), Code.WALLET_FROZEN)
    w.apply(g.wallet("unfreeze", w.wallets[0].public, [w.banks[0]]))
    assert w.state.wallet(w.wallets[0].public).status == WALLET_ACTIVE
    w.apply(w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 1_000 * YUAN)]))


def test_deregistered_wallet_can_be_taken_over_by_another_institution(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.apply(g.wallet("deregister", w.wallets[0].public, [w.banks[0]], HOLDER_REQUEST))
    coin = w.issue(100)
    w.rejects(w.pay(w.banks[0], [coin], [(w.wallets[0].public, 100)]), Code.WALLET_FROZEN)
    w.apply(build_register(w.chain, w.banks[1], w.wallets[0].public, 4))
    wallet = w.state.wallet(w.wallets[0].public)
    assert wallet.status == WALLET_ACTIVE and wallet.institution == w.banks[1].public
    w.apply(w.pay(w.banks[0], [coin], [(w.wallets[0].public, 100)]))


def test_tier_table_change_takes_effect_at_its_height(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 1)
    coin = w.fund(w.wallets[0], 3_000 * YUAN)
    raw = w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 3_000 * YUAN)])
    tiers = default_tiers()
    tiers[4] = replace(tiers[4], per_payment=5_000 * YUAN, daily=10_000 * YUAN)
    w.apply(g.tiers(5, tiers.values()), BlockContext(2, T0))
    e = w.rejects(raw, Code.TIER_LIMIT_EXCEEDED, BlockContext(4, T0))  # the old table until 5
    assert "per-payment" in e.message
    w.apply(raw, BlockContext(5, T0))
    assert gov_state(w).tiers_at(5)[4].per_payment == 5_000 * YUAN


def test_new_authority_issues_and_governs_and_the_old_one_cannot(w: World, g: Gov) -> None:
    new = [key(50), key(51), key(52), key(53)]
    w.apply(g.authority_change(new, 3))
    outs = [(w.banks[0].public, 100)]
    w.rejects(build_issue(w.chain, outs, w.issuers[:2]), Code.NOT_AUTHORIZED)
    w.rejects(build_issue(w.chain, outs, new[:2]), Code.NOT_AUTHORIZED)          # below the new threshold
    w.apply(build_issue(w.chain, outs, new[:3]))
    w.apply(g.institution("suspend", "inst-1", new[1:]))


def test_authority_signatures_collected_one_at_a_time(w: World, g: Gov) -> None:
    body = gb.institution_body(w.chain, "suspend", [k.public for k in w.issuers[:2]], "inst-1", 9)
    raw = gb.unsigned(body)
    for k in w.issuers[:2]:
        raw = add_signature(raw, w.chain, k)
    w.apply(raw)
    assert gov_state(w).institution_by_id("inst-1").status == SUSPENDED


def test_retire_an_empty_institution(w: World, g: Gov) -> None:
    w.apply(g.institution("retire", "inst-1"))
    assert gov_state(w).institution_by_id("inst-1").status == RETIRED
    assert not gov_state(w).is_institution(w.banks[1].public)
    w.rejects(build_issue(w.chain, [(w.banks[1].public, 5)], w.issuers[:2]), Code.UNREGISTERED_RECIPIENT)


# --- one refusal per governance code -----------------------------------------------------------


def test_not_authorized_governance(w: World, g: Gov) -> None:
    new = key(40).public
    w.check(g.admit("bank-c", new))
    w.rejects(g.admit("bank-c", new, [w.issuers[0]]), Code.NOT_AUTHORIZED)              # 1 of 2 needed
    w.rejects(g.admit("bank-c", new, [w.issuers[0], w.outsider]), Code.NOT_AUTHORIZED)  # not authority
    w.rejects(g.admit("bank-c", new, [w.banks[0]]), Code.NOT_AUTHORIZED)                # an institution
    # An institution acts on its own wallets only, and never lifts the authority's freeze.
    w.register(w.wallets[0], 4, bank=0)
    w.check(g.wallet("freeze", w.wallets[0].public, [w.banks[0]]))
    w.rejects(g.wallet("freeze", w.wallets[0].public, [w.banks[1]]), Code.NOT_AUTHORIZED)
    w.apply(g.wallet("freeze", w.wallets[0].public, None, COURT_ORDER))
    assert w.state.wallet(w.wallets[0].public).status == WALLET_FROZEN_BY_AUTHORITY
    w.check(g.wallet("unfreeze", w.wallets[0].public))
    e = w.rejects(g.wallet("unfreeze", w.wallets[0].public, [w.banks[0]]), Code.NOT_AUTHORIZED)
    assert "court_order" in e.message
    # Another institution's key does not rotate this one's.
    w.check(g.rotate("inst-0", key(41), [w.banks[0]]))
    w.rejects(g.rotate("inst-0", key(41), [w.banks[1]]), Code.NOT_AUTHORIZED)


def test_unknown_institution(w: World, g: Gov) -> None:
    w.check(g.institution("suspend", "inst-1"))
    e = w.rejects(g.institution("suspend", "inst-9"), Code.UNKNOWN_INSTITUTION)
    assert "inst-0, inst-1" in e.message
    w.rejects(g.rotate("inst-9", key(41), g.authority), Code.UNKNOWN_INSTITUTION)


def test_unknown_wallet(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.check(g.wallet("freeze", w.wallets[0].public))
    w.rejects(g.wallet("freeze", w.wallets[1].public), Code.UNKNOWN_WALLET)


def test_effective_height_passed(w: World, g: Gov) -> None:
    tiers = default_tiers().values()
    at = BlockContext(7, T0)
    w.check(g.tiers(8, tiers), at)
    e = w.rejects(g.tiers(7, tiers), Code.EFFECTIVE_HEIGHT_PASSED, at)
    assert "not after this block (7)" in e.message
    w.rejects(g.tiers(3, tiers), Code.EFFECTIVE_HEIGHT_PASSED, at)


def test_bound_violation(w: World, g: Gov) -> None:
    tiers = default_tiers()
    w.check(g.tiers(5, tiers.values()))
    del tiers[3]
    e = w.rejects(g.tiers(5, tiers.values()), Code.BOUND_VIOLATION)              # drops a tier in use
    assert "drops tier 3" in e.message
    new = [key(50), key(51)]
    w.check(g.authority_change(new, 2))
    w.rejects(g.authority_change(new, 3), Code.BOUND_VIOLATION)                   # 3 of 2
    w.rejects(g.authority_change(new, 0), Code.BOUND_VIOLATION)
    w.rejects(g.authority_change([key(60 + i) for i in range(17)], 9), Code.BOUND_VIOLATION)


def test_in_use(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.check(g.admit("bank-c", key(40).public))
    w.rejects(g.admit("inst-1", key(40).public), Code.IN_USE)                      # id taken
    w.rejects(g.admit("bank-c", w.banks[1].public), Code.IN_USE)                    # institution key
    w.rejects(g.admit("bank-c", w.issuers[2].public), Code.IN_USE)                  # authority key
    w.rejects(g.admit("bank-c", w.wallets[0].public), Code.IN_USE)                  # a wallet
    w.check(g.rotate("inst-0", key(41), [w.banks[0]]))
    w.rejects(g.rotate("inst-0", w.banks[1], [w.banks[0]]), Code.IN_USE)
    w.rejects(g.authority_change([key(50), w.banks[0]], 1), Code.IN_USE)


def test_in_use_ids_and_keys_are_never_reused_after_retirement(w: World, g: Gov) -> None:
    w.apply(g.institution("retire", "inst-1"))
    w.rejects(g.admit("inst-1", key(40).public), Code.IN_USE)
    w.rejects(g.admit("bank-c", w.banks[1].public), Code.IN_USE)


def test_wrong_status(w: World, g: Gov) -> None:
    w.check(g.institution("suspend", "inst-1"))
    w.rejects(g.institution("reinstate", "inst-1"), Code.WRONG_STATUS)              # not suspended
    w.apply(g.institution("suspend", "inst-1"))
    w.rejects(g.institution("suspend", "inst-1"), Code.WRONG_STATUS)
    w.register(w.wallets[0], 4)
    w.rejects(g.wallet("unfreeze", w.wallets[0].public), Code.WRONG_STATUS)         # not frozen
    w.apply(g.institution("retire", "inst-1"))
    w.rejects(g.rotate("inst-1", key(41), g.authority), Code.WRONG_STATUS)


def test_not_empty(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.check(g.institution("retire", "inst-0"))
    w.check(g.wallet("deregister", w.wallets[0].public))
    w.fund(w.wallets[0], 100)  # inst-0 pays it all out: inst-0 holds nothing, wallet 0 does
    assert w.state.balance(w.banks[0].public) == 0
    w.check(g.institution("retire", "inst-0"))
    e = w.rejects(g.wallet("deregister", w.wallets[0].public), Code.NOT_EMPTY)
    assert "1.00 yuan" in e.message
    w.issue(5)
    w.rejects(g.institution("retire", "inst-0"), Code.NOT_EMPTY)


def test_not_empty_counts_money_under_former_keys(w: World, g: Gov) -> None:
    w.issue(5)
    w.apply(g.rotate("inst-0", key(41), [w.banks[0]]))
    w.rejects(g.institution("retire", "inst-0"), Code.NOT_EMPTY)


def test_wallet_frozen(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.register(w.wallets[1], 4)
    coin = w.fund(w.wallets[0], 100)
    raw = w.pay(w.wallets[0], [coin], [(w.wallets[1].public, 100)])
    w.check(raw)
    w.apply(g.wallet("freeze", w.wallets[1].public))
    e = w.rejects(raw, Code.WALLET_FROZEN)
    assert "outputs[0]" in e.message


def test_institution_suspended(w: World, g: Gov) -> None:
    raw = build_issue(w.chain, [(w.banks[1].public, 5)], w.issuers[:2])
    w.check(raw)
    w.apply(g.institution("suspend", "inst-1"))
    w.rejects(raw, Code.INSTITUTION_SUSPENDED)


def test_malformed_governance(w: World, g: Gov) -> None:
    w.register(w.wallets[0], 4)
    w.check(g.wallet("freeze", w.wallets[0].public, reason=AML))
    w.rejects(g.wallet("freeze", w.wallets[0].public, reason=99), Code.MALFORMED)   # no such reason
    w.check(g.admit("bank-c", key(40).public))
    w.rejects(g.admit("bank c!", key(40).public), Code.MALFORMED)                    # bad id
    w.rejects(g.admit("bank-c", key(40).public[:31]), Code.MALFORMED)                # short key


def test_duplicate_governance_transaction(w: World, g: Gov) -> None:
    raw = g.institution("suspend", "inst-1")
    w.apply(raw)
    w.apply(g.institution("reinstate", "inst-1"))
    w.rejects(raw, Code.DUPLICATE)


def test_issue_signers_checked_against_the_authority_in_force(w: World, g: Gov) -> None:
    outs = [Output(w.banks[0].public, 100)]
    w.check(build_issue(w.chain, outs, w.issuers[:2]))
    w.apply(g.authority_change([w.issuers[0], key(50)], 2))
    w.rejects(build_issue(w.chain, outs, w.issuers[:2]), Code.NOT_AUTHORIZED)
    w.apply(build_issue(w.chain, outs, [w.issuers[0], key(50)]))


# --- validator sets (World: the two institutions validate, power 10 each) ----------------------


def set_validators(w: World, updates, keys=None) -> bytes:
    keys = w.issuers[:2] if keys is None else keys
    body = gb.validators_body(w.chain, [k.public for k in keys], updates, w.nonce())
    return gb.build(w.chain, body, keys)


def test_validator_change_committed_at_h_decides_from_h_plus_2(w: World) -> None:
    newcomer = key(60).public
    w.apply(set_validators(w, [(newcomer, 5, "newcomer")]), BlockContext(5, T0))
    gov = gov_state(w)
    assert newcomer not in gov.validator_set_at(6)
    assert gov.validator_set_at(7).power_of(newcomer) == 5
    assert gov.validator_set_at(5) == gov.validator_set_at(1) == gov.validator_set_at(6)
    assert gov.validator_set_at(7).total_power == 25


def test_validator_changes_of_one_block_compose_and_share_one_bound(w: World) -> None:
    ctx = BlockContext(5, T0)
    w.apply(set_validators(w, [(key(60).public, 3, "a")]), ctx)
    w.apply(set_validators(w, [(key(61).public, 3, "b")]), ctx)         # 6 of 20 moved: fine
    assert len(gov_state(w).validator_set_at(7)) == 4
    e = w.rejects(set_validators(w, [(key(62).public, 1, "c")]), Code.BOUND_VIOLATION, ctx)
    assert "moves 7 of 20" in e.message
    w.apply(set_validators(w, [(key(62).public, 1, "c")]), BlockContext(6, T0))  # the next step


def test_bound_violation_validators(w: World) -> None:
    ctx = BlockContext(5, T0)
    w.check(set_validators(w, [(key(60).public, 6, "newcomer")]), ctx)
    e = w.rejects(set_validators(w, [(key(60).public, 7, "newcomer")]), Code.BOUND_VIOLATION, ctx)
    assert "at most a third" in e.message
    e = w.rejects(set_validators(w, [(w.banks[0].public, 0, "")]), Code.BOUND_VIOLATION, ctx)
    assert "leaves 1 validator(s); this chain needs at least 2" in e.message


def test_unknown_validator(w: World) -> None:
    ctx = BlockContext(5, T0)
    w.apply(set_validators(w, [(key(60).public, 5, "newcomer")]), ctx)
    w.check(set_validators(w, [(key(60).public, 0, "")]), BlockContext(6, T0))
    w.rejects(set_validators(w, [(key(61).public, 0, "")]), Code.UNKNOWN_VALIDATOR, BlockContext(6, T0))


def test_not_authorized_validator_change(w: World) -> None:
    w.check(set_validators(w, [(key(60).public, 5, "newcomer")]))
    w.rejects(set_validators(w, [(key(60).public, 5, "newcomer")], [w.banks[0]]), Code.NOT_AUTHORIZED)


def test_malformed_validator_change(w: World) -> None:
    w.rejects(set_validators(w, []), Code.MALFORMED)
    w.rejects(set_validators(w, [(key(60).public, 5, "")]), Code.MALFORMED)              # unnamed
    w.rejects(set_validators(w, [(key(60).public, 5, "a"), (key(60).public, 4, "a")]), Code.MALFORMED)


# --- block limits -------------------------------------------------------------------------------


def set_limits(w: World, height: int, txs: int, size: int, keys=None) -> bytes:
    keys = w.issuers[:2] if keys is None else keys
    body = gb.block_limits_body(w.chain, [k.public for k in keys], height, txs, size, w.nonce())
    return gb.build(w.chain, body, keys)


def test_block_limits_from_a_height(w: World) -> None:
    w.apply(set_limits(w, 9, 50, 100_000), BlockContext(5, T0))
    gov = gov_state(w)
    assert gov.block_limits_at(8) is None and gov.block_limits_at(9).max_block_txs == 50


def test_block_limits_refusals(w: World) -> None:
    at = BlockContext(5, T0)
    params = w.genesis.params
    w.check(set_limits(w, 6, 50, 100_000), at)
    w.rejects(set_limits(w, 5, 50, 100_000), Code.EFFECTIVE_HEIGHT_PASSED, at)
    e = w.rejects(set_limits(w, 6, params.max_block_txs + 1, 100_000), Code.BOUND_VIOLATION, at)
    assert "exceed genesis's" in e.message
    e = w.rejects(set_limits(w, 6, 50, w.genesis.max_tx_bytes), Code.BOUND_VIOLATION, at)
    assert "no room for the largest valid transaction" in e.message
    w.rejects(set_limits(w, 6, 50, 100_000, [w.banks[0]]), Code.NOT_AUTHORIZED, at)
    w.rejects(set_limits(w, 6, 0, 100_000), Code.MALFORMED, at)


def test_bound_violation_more_validators_than_consensus_supports() -> None:
    w = World()
    # 254 validators of power 100 (total 25,400): adding two of power 1 moves little power,
    # but 256 validators are more than consensus supports.
    many = [Validator(f"v{i}", KeyPair.from_seed(i.to_bytes(2, "big") * 16).public, 100) for i in range(254)]
    w.genesis = make_genesis(issuers=w.issuers, institutions=w.banks, issue_threshold=2, genesis_time_ms=T0,
                             validators=many)
    w.check(set_validators(w, [(key(60).public, 1, "a")]), BlockContext(5, T0))
    e = w.rejects(set_validators(w, [(key(60).public, 1, "a"), (key(61).public, 1, "b")]),
                  Code.BOUND_VIOLATION, BlockContext(5, T0))
    assert "at most 255" in e.message
