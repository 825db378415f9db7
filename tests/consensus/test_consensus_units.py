"""Messages, validator set, signer, commit certificates and evidence."""

from __future__ import annotations

import hashlib
from itertools import pairwise

import pytest

from consensus import (
    NIL,
    CommitError,
    EvidenceError,
    InvalidMessage,
    Signer,
    SignState,
    SignStateError,
    Step,
    ValidatorSet,
    VoteType,
    decode_proposal,
    decode_vote,
    encode_commit,
    encode_duplicate_vote,
    sign_proposal,
    sign_vote,
    verify_commit,
    verify_evidence,
)
from consensus.messages import PROPOSAL_DOMAIN, VOTE_DOMAIN, proposal_digest, vote_digest
from proto import consensus_pb2 as pb
from tests.consensus.consensus_helpers import CHAIN, block, key

A = block("A")


def vset(n: int = 4, powers: list[int] | None = None) -> tuple[list, ValidatorSet]:
    keys = [key(i) for i in range(n)]
    return keys, ValidatorSet((bytes(k.verify_key), p) for k, p in zip(keys, powers or [1] * n, strict=True))


# ---- messages


def test_votes_are_signed_over_the_received_body_bytes_under_their_own_domain():
    raw = sign_vote(key(1), CHAIN, 7, 2, VoteType.PRECOMMIT, A)
    vote = decode_vote(raw)
    assert (vote.chain_id, vote.height, vote.round, vote.type, vote.block_hash) == (
        CHAIN,
        7,
        2,
        VoteType.PRECOMMIT,
        A,
    )
    signed = pb.SignedVote.FromString(raw)
    key(1).verify_key.verify(hashlib.sha256(VOTE_DOMAIN + signed.body).digest(), signed.signature)
    assert len({VOTE_DOMAIN, PROPOSAL_DOMAIN, b"cbdc/tx/v1\x00"}) == 3
    assert vote_digest(signed.body) != proposal_digest(signed.body)


def test_a_vote_signature_does_not_verify_as_a_proposal():
    raw = sign_vote(key(1), CHAIN, 1, 0, VoteType.PREVOTE, A)
    signed = pb.SignedVote.FromString(raw)
    # Same signature, body reinterpreted as a proposal: the domain separation rejects it.
    body = pb.ProposalBody(
        chain_id=CHAIN, height=1, round=0, pol_round=-1, block_hash=A, proposer=bytes(key(1).verify_key)
    ).SerializeToString()
    forged = pb.SignedProposal(body=body, signature=signed.signature).SerializeToString()
    with pytest.raises(InvalidMessage) as err:
        decode_proposal(forged)
    assert err.value.reason == "bad_signature"


def test_malformed_messages_say_what_is_wrong():
    with pytest.raises(InvalidMessage, match="does not decode"):
        decode_vote(b"\xff\xff\xff")
    bad_hash = pb.SignedVote(
        body=pb.VoteBody(type=1, block_hash=b"x", validator=bytes(32)).SerializeToString()
    )
    with pytest.raises(InvalidMessage, match="block hash"):
        decode_vote(bad_hash.SerializeToString())
    with pytest.raises(InvalidMessage, match="pol_round"):
        decode_proposal(sign_proposal(key(1), CHAIN, 1, 0, 0, A))  # POL must be an earlier round


# ---- validator set


def test_quorums_are_by_power():
    _, vs = vset(4, [1, 1, 1, 3])  # total 6
    assert vs.quorum_power() == 5
    assert vs.has_quorum(5) and not vs.has_quorum(4)
    assert vs.has_one_third(3) and not vs.has_one_third(2)


def test_proposer_selection_is_weighted_deterministic_and_evenly_spread():
    keys, vs = vset(4, [1, 2, 3, 4])
    schedule = [vs.proposer(1, r) for r in range(10)]
    counts = {bytes(k.verify_key): schedule.count(bytes(k.verify_key)) for k in keys}
    assert sorted(counts.values()) == [1, 2, 3, 4]  # one period = total power
    assert counts[bytes(keys[3].verify_key)] == 4
    _, again = vset(4, [1, 2, 3, 4])
    assert [again.proposer(1, r) for r in range(10)] == schedule
    assert vs.proposer(2, 0) == vs.proposer(1, 1)  # consecutive steps across heights
    # No validator proposes twice in a row when powers are equal.
    _, eq = vset(7)
    seq = [eq.proposer(1, r) for r in range(14)]
    assert all(a != b for a, b in pairwise(seq))


def test_large_powers_use_a_bounded_selection_period():
    _, vs = vset(3, [10**12, 10**12, 2 * 10**12])
    seq = [vs.proposer(1, r) for r in range(8)]
    assert seq.count(vs.validators[2].public_key) in (3, 4, 5)


def test_validator_set_hash_is_order_independent_and_power_sensitive():
    keys, vs = vset(4)
    shuffled = ValidatorSet((bytes(k.verify_key), 1) for k in reversed(keys))
    assert vs.hash() == shuffled.hash() and len(vs.hash()) == 32
    assert vset(4, [1, 1, 1, 2])[1].hash() != vs.hash()


def test_validator_set_rejects_nonsense():
    with pytest.raises(ValueError, match="positive"):
        ValidatorSet([(bytes(32), 0)])
    with pytest.raises(ValueError, match="twice"):
        ValidatorSet([(bytes(32), 1), (bytes(32), 1)])
    with pytest.raises(ValueError, match="at least one"):
        ValidatorSet([])


# ---- signer


def test_signer_refuses_regressions_and_repeats_exactly():
    s = Signer(key(1))
    first = s.sign_vote(CHAIN, 5, 1, VoteType.PREVOTE, A)
    assert first.message and not first.repeat
    again = s.sign_vote(CHAIN, 5, 1, VoteType.PREVOTE, A)
    assert again.message == first.message and again.repeat
    # A different prevote at the same step: the signer hands back what it already signed.
    other = s.sign_vote(CHAIN, 5, 1, VoteType.PREVOTE, NIL)
    assert other.message == first.message and other.conflict
    assert s.sign_vote(CHAIN, 5, 1, VoteType.PRECOMMIT, A).message is not None
    assert s.sign_vote(CHAIN, 5, 1, VoteType.PREVOTE, A).message is None  # regression
    assert s.sign_proposal(CHAIN, 5, 1, -1, A).message is None
    assert s.sign_vote(CHAIN, 4, 9, VoteType.PRECOMMIT, A).message is None
    assert s.sign_proposal(CHAIN, 5, 2, 1, A).message is not None


def test_sign_state_survives_a_restart_with_its_lock():
    s = Signer(key(1))
    s.update_locks(3, A, 3, A)
    out = s.sign_vote(CHAIN, 5, 3, VoteType.PRECOMMIT, A)
    restored = Signer(key(1), SignState.decode(out.state.encode()))
    assert restored.state == out.state
    assert (restored.state.locked_round, restored.state.locked_hash) == (3, A)
    assert restored.sign_vote(CHAIN, 5, 3, VoteType.PRECOMMIT, A).repeat
    assert restored.sign_vote(CHAIN, 5, 3, VoteType.PRECOMMIT, NIL).conflict
    assert restored.sign_vote(CHAIN, 5, 3, VoteType.PREVOTE, NIL).message is None


def test_corrupt_sign_state_is_refused():
    with pytest.raises(SignStateError, match="does not decode"):
        SignState.decode(b"\xff\xff")
    with pytest.raises(SignStateError, match="version"):
        SignState.decode(pb.SignState(version=9).SerializeToString())


# ---- commit certificates


def _cert(keys, signers, height=3, round_=1, block_hash=A, chain=CHAIN, vote_type=VoteType.PRECOMMIT):
    return encode_commit(
        height,
        round_,
        block_hash,
        [sign_vote(keys[i], chain, height, round_, vote_type, block_hash) for i in signers],
    )


def test_verify_commit_accepts_a_quorum_and_names_the_signers():
    keys, vs = vset(4)
    v = verify_commit(_cert(keys, [0, 1, 2]), vs, CHAIN, 3, A)
    assert v.power == 3 and len(v.signers) == 3 and v.round == 1


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda k: _cert(k, [0, 1]), "power 2 of 4"),
        (lambda k: _cert(k, [0, 1, 2], height=4), "height 4, expected 3"),
        (lambda k: _cert(k, [0, 1, 2], block_hash=block("B")), "for block"),
        (lambda k: _cert(k, [0, 1, 2], chain="other"), "chain 'other'"),
        (lambda k: _cert(k, [0, 1, 2], vote_type=VoteType.PREVOTE), "is a prevote"),
        (
            lambda k: encode_commit(
                3, 1, A, [sign_vote(k[i], CHAIN, 3, 1, VoteType.PRECOMMIT, A) for i in (0, 1, 1)]
            ),
            "appears twice",
        ),
        (
            lambda k: encode_commit(
                3, 1, A, [sign_vote(key(50 + i), CHAIN, 3, 1, VoteType.PRECOMMIT, A) for i in range(3)]
            ),
            "not a validator",
        ),
        (lambda k: encode_commit(3, 1, A, [sign_vote(k[0], CHAIN, 3, 2, VoteType.PRECOMMIT, A)]), "round 2"),
        (lambda k: encode_commit(3, 1, A, [b"\x00junk"]), "precommit 0"),
        (lambda k: b"\xff\xff", "does not decode"),
    ],
)
def test_verify_commit_says_what_is_wrong(make, message):
    keys, vs = vset(4)
    with pytest.raises(CommitError, match=message):
        verify_commit(make(keys), vs, CHAIN, 3, A)


def test_evidence_is_canonical_and_verifiable():
    keys, vs = vset(4)
    a = sign_vote(keys[2], CHAIN, 3, 1, VoteType.PREVOTE, A)
    b = sign_vote(keys[2], CHAIN, 3, 1, VoteType.PREVOTE, NIL)
    assert encode_duplicate_vote(a, b) == encode_duplicate_vote(b, a)
    dv = verify_evidence(encode_duplicate_vote(a, b), vs, CHAIN)
    assert dv.validator == bytes(keys[2].verify_key) and dv.vote_a.type is VoteType.PREVOTE
    with pytest.raises(EvidenceError, match="same block"):
        verify_evidence(encode_duplicate_vote(a, a), vs, CHAIN)
    c = sign_vote(keys[2], CHAIN, 3, 2, VoteType.PREVOTE, NIL)
    with pytest.raises(EvidenceError, match="different height, round or type"):
        verify_evidence(encode_duplicate_vote(a, c), vs, CHAIN)
    assert Step.PREVOTE < Step.PRECOMMIT
