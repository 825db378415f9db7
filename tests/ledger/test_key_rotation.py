"""Rotating a validator's consensus key and an authority (issuer) key, through the whole
pipeline (decode, signatures, rules).

As tests/ledger/test_rejections.py: each refusal starts from a rotation the pipeline
accepts (World.check), changes one thing, and leaves the state byte-identical
(World.rejects). The life-cycle tests show that after the rotation takes effect the old key
signs nothing for its role: a precommit by an old validator key does not count in a commit
certificate, an issuance or a governance change signed by an old authority key is refused.
"""

from __future__ import annotations

import nacl.signing
import pytest

from consensus import ConsensusConfig, ConsensusMachine, ProposalReceived, Signer, StartHeight, VoteReceived
from consensus.commit import CommitError, encode_commit, verify_commit
from consensus.messages import VoteType, sign_proposal, sign_vote
from node.client import govbuild as gb
from node.client.txbuild import build_issue, sign_body
from node.ledger.errors import Code
from node.ledger.genesis import Validator, make_genesis
from node.ledger.governance import governance_of
from node.ledger.keys import KeyPair
from node.ledger.rules import BlockContext
from tests.support import cast

from .world import T0, World, key

AT = BlockContext(5, T0)  # rotations committed in block 5 decide from block 7


@pytest.fixture
def w() -> World:
    """World with four validators of power 10 (keys of their own): one rotation moves 10 of
    40, within the third of the power that may move in one step."""
    w = World()
    w.validators = cast.validators(4)
    w.genesis = make_genesis(
        issuers=w.issuers, institutions=w.banks, issue_threshold=2, genesis_time_ms=T0,
        validators=[Validator(f"val-{i}", k.public, 10) for i, k in enumerate(w.validators)],
    )
    return w


def gov_state(w: World):
    return governance_of(w.state.governance(), w.genesis)


def rotate_validator(w: World, old: bytes, new: KeyPair, keys) -> bytes:
    body = gb.rotate_validator_key_body(w.chain, [k.public for k in keys], old, new.public, w.nonce())
    return gb.build(w.chain, body, [*keys, new])


def rotate_authority(w: World, old: bytes, new: KeyPair, keys) -> bytes:
    body = gb.rotate_authority_key_body(w.chain, [k.public for k in keys], old, new.public, w.nonce())
    return gb.build(w.chain, body, [*keys, new])


def _signing(k: KeyPair) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(k.seed)


def _certificate(w: World, height: int, signers: list[KeyPair]) -> bytes:
    digest = bytes([height]) * 32
    votes = [
        sign_vote(_signing(k), w.chain, height, 0, VoteType.PRECOMMIT, digest)
        for k in signers
    ]
    return encode_commit(height, 0, digest, votes)


def _verify(w: World, height: int, signers: list[KeyPair]) -> None:
    validators = gov_state(w).validator_set_at(height)
    verify_commit(_certificate(w, height, signers), validators, w.chain, height, bytes([height]) * 32)


# --- validator keys ------------------------------------------------------------------------------


def test_validator_key_rotation_by_the_holder_decides_from_h_plus_2(w: World) -> None:
    old, new = w.validators[0], key(70)
    w.apply(rotate_validator(w, old.public, new, [old]), AT)   # the old and the new key sign
    gov = gov_state(w)
    assert gov.validator_set_at(6) == gov.validator_set_at(1)  # block 6's set was fixed already
    at7 = gov.validators_at(7).validators
    assert at7[0] == Validator("val-0", new.public, 10)        # same name, power and place
    assert old.public not in gov.validator_set_at(7)
    assert gov.validator_set_at(7).total_power == 40


def test_old_validator_key_precommits_count_for_nothing_after_the_rotation(w: World) -> None:
    old, new = w.validators[0], key(70)
    others = w.validators[1:3]
    w.apply(rotate_validator(w, old.public, new, [old]), AT)
    _verify(w, 6, [old, *others])                              # before: the old key still votes
    with pytest.raises(CommitError, match=r"precommit 0 is signed by .*not a validator of this set"):
        _verify(w, 7, [old, *others])
    _verify(w, 7, [new, *others])                              # the new key votes from block 7


def test_consensus_ignores_the_old_validator_keys_votes_and_proposals_after_the_rotation(w: World) -> None:
    """The consensus machine of another validator, started at a height with the set the
    governance record gives it (as the driver does): the old key's vote and proposal are
    not a validator's; the new key's vote is taken."""
    old, new = w.validators[0], key(70)
    w.apply(rotate_validator(w, old.public, new, [old]), AT)
    validators = gov_state(w).validator_set_at(7)
    machine = ConsensusMachine(w.chain, Signer(_signing(w.validators[1])), ConsensusConfig())
    machine.handle(StartHeight(7, validators))
    block = bytes(32)

    def vote(k: KeyPair) -> VoteReceived:
        return VoteReceived(sign_vote(_signing(k), w.chain, 7, 0, VoteType.PREVOTE, block))

    machine.handle(vote(old))
    machine.handle(ProposalReceived(sign_proposal(_signing(old), w.chain, 7, 0, -1, block), block))
    assert dict(machine.ignored) == {"not_validator": 2}
    machine.handle(vote(new))
    assert dict(machine.ignored) == {"not_validator": 2}


def test_validator_key_rotation_by_the_authority_for_a_compromised_key(w: World) -> None:
    new = key(70)
    w.apply(rotate_validator(w, w.validators[1].public, new, w.issuers[:2]), AT)
    assert gov_state(w).validator_set_at(7).power_of(new.public) == 10


def test_validator_key_rotation_counts_against_the_power_bound(w: World) -> None:
    w.apply(rotate_validator(w, w.validators[0].public, key(70), [w.validators[0]]), AT)
    # A second rotation in the same block moves 20 of 40: more than a third.
    raw = rotate_validator(w, w.validators[1].public, key(71), [w.validators[1]])
    e = w.rejects(raw, Code.BOUND_VIOLATION, AT)
    assert "moves 20 of 40" in e.message
    w.apply(raw, BlockContext(6, T0))                            # the next block may


def test_not_authorized_validator_rotation(w: World) -> None:
    new = key(70)
    w.check(rotate_validator(w, w.validators[0].public, new, [w.validators[0]]), AT)
    by_another = rotate_validator(w, w.validators[0].public, new, [w.validators[1]])
    e = w.rejects(by_another, Code.NOT_AUTHORIZED, AT)
    assert "without that key" in e.message
    w.rejects(rotate_validator(w, w.validators[0].public, new, w.issuers[:1]), Code.NOT_AUTHORIZED, AT)


def test_unknown_validator_rotation(w: World) -> None:
    new = key(70)
    w.check(rotate_validator(w, w.validators[0].public, new, w.issuers[:2]), AT)
    e = w.rejects(rotate_validator(w, w.outsider.public, new, w.issuers[:2]), Code.UNKNOWN_VALIDATOR, AT)
    assert "is not a validator" in e.message
    # An old key is no validator once rotated out, even before the rotation takes effect.
    w.apply(rotate_validator(w, w.validators[0].public, new, [w.validators[0]]), AT)
    w.rejects(rotate_validator(w, w.validators[0].public, key(71), [w.validators[0]]),
              Code.UNKNOWN_VALIDATOR, BlockContext(6, T0))


def test_in_use_validator_rotation(w: World) -> None:
    w.register(w.wallets[0], 4)
    w.check(rotate_validator(w, w.validators[0].public, key(70), [w.validators[0]]), AT)
    for taken in (w.validators[1], w.banks[0], w.issuers[2], w.wallets[0]):
        w.rejects(rotate_validator(w, w.validators[0].public, taken, [w.validators[0]]), Code.IN_USE, AT)
    # A rotated-out key never returns.
    w.apply(rotate_validator(w, w.validators[0].public, key(70), [w.validators[0]]), AT)
    e = w.rejects(rotate_validator(w, w.validators[1].public, w.validators[0], [w.validators[1]]),
                  Code.IN_USE, BlockContext(9, T0))
    assert "key of validator 'val-0'" in e.message


def test_malformed_rotation(w: World) -> None:
    v0 = w.validators[0]
    w.check(rotate_validator(w, v0.public, key(70), [v0]), AT)
    w.rejects(rotate_validator(w, v0.public, v0, [w.issuers[0]]), Code.MALFORMED, AT)      # new = old
    w.rejects(rotate_validator(w, v0.public[:31], key(70), [v0]), Code.MALFORMED, AT)      # short key
    twice = rotate_authority(w, w.issuers[0].public, key(70), [w.issuers[0], key(70)])
    e = w.rejects(twice, Code.MALFORMED)
    assert "also listed among the signers" in e.message


def test_bad_signature_rotation_needs_the_new_keys_signature(w: World) -> None:
    old, new = w.validators[0], key(70)
    body = gb.rotate_validator_key_body(w.chain, [old.public], old.public, new.public, w.nonce())
    w.check(sign_body(w.chain, body, [old, new]), AT)
    e = w.rejects(sign_body(w.chain, body, [old, key(71)]), Code.BAD_SIGNATURE, AT)  # not the new key's
    assert "signature 1" in e.message


def test_duplicate_rotation(w: World) -> None:
    raw = rotate_authority(w, w.issuers[2].public, key(70), [w.issuers[2]])
    w.apply(raw)
    w.rejects(raw, Code.DUPLICATE)


# --- authority keys ---------------------------------------------------------------------------------


def test_authority_key_rotation_by_the_holder_and_the_old_key_signs_nothing(w: World) -> None:
    old, new = w.issuers[0], key(70)
    outs = [(w.banks[0].public, 100)]
    w.check(build_issue(w.chain, outs, [old, w.issuers[1]]))
    w.apply(rotate_authority(w, old.public, new, [old]))
    gov = gov_state(w)
    assert gov.authority == (new.public, w.issuers[1].public, w.issuers[2].public)
    assert gov.threshold == 2
    # The old key issues nothing and governs nothing; the new one does both.
    e = w.rejects(build_issue(w.chain, outs, [old, w.issuers[1]], nonce=90), Code.NOT_AUTHORIZED)
    assert "is not an authority key" in e.message
    w.rejects(rotate_authority(w, w.issuers[2].public, key(71), [old, w.issuers[1]]), Code.NOT_AUTHORIZED)
    w.rejects(rotate_authority(w, old.public, key(71), [old]), Code.NOT_AUTHORIZED)
    w.apply(build_issue(w.chain, outs, [new, w.issuers[1]], nonce=91))
    w.apply(rotate_authority(w, w.issuers[2].public, key(71), [new, w.issuers[1]]))


def test_authority_key_rotation_by_the_authority_for_a_compromised_key(w: World) -> None:
    new = key(70)
    w.apply(rotate_authority(w, w.issuers[2].public, new, w.issuers[:2]))
    assert gov_state(w).authority[2] == new.public


def test_not_authorized_authority_rotation(w: World) -> None:
    new = key(70)
    w.check(rotate_authority(w, w.issuers[0].public, new, [w.issuers[0]]))
    e = w.rejects(rotate_authority(w, w.issuers[0].public, new, [w.issuers[1]]), Code.NOT_AUTHORIZED)
    assert "needs 2 of the 3 authority keys" in e.message
    w.rejects(rotate_authority(w, w.issuers[0].public, new, [w.banks[0]]), Code.NOT_AUTHORIZED)
    e = w.rejects(rotate_authority(w, w.outsider.public, new, [w.outsider]), Code.NOT_AUTHORIZED)
    assert "is not an authority key" in e.message


def test_in_use_authority_rotation(w: World) -> None:
    w.register(w.wallets[0], 4)
    w.check(rotate_authority(w, w.issuers[0].public, key(70), [w.issuers[0]]))
    for taken in (w.issuers[1], w.banks[0], w.validators[0], w.wallets[0]):
        w.rejects(rotate_authority(w, w.issuers[0].public, taken, [w.issuers[0]]), Code.IN_USE)
