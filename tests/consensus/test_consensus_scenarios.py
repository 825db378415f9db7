"""The paper's tricky cases as stories: one validator, scripted peers, four validators of
equal power (a quorum is 3, "f + 1" is 2). Proposers rotate with the round."""

from __future__ import annotations

from consensus import (
    NIL,
    BlockValidated,
    CommitReceived,
    Decide,
    ProposalReceived,
    ReportEvidence,
    RequestValidation,
    StartHeight,
    Step,
    VoteReceived,
    VoteType,
    encode_commit,
    sign_proposal,
    sign_vote,
    verify_commit,
    verify_evidence,
)
from consensus.machine import ConsensusMachine
from tests.consensus.consensus_helpers import CHAIN, Story, block, key

A, B = block("A"), block("B")


def test_happy_path_decides_in_round_zero_with_a_verifiable_certificate():
    s = Story(me=1)
    s.start()
    assert s.proposer(0) == 0
    assert s.scheduled() == [(0, "propose", 3000)]
    # The proposal arrives; the node is asked to validate the block before anyone votes.
    out = s.propose(0, A, valid=None)
    assert out == [RequestValidation(A)]
    s.feed(BlockValidated(A, True))
    assert s.my_votes() == [("prevote", 0, A)]
    s.prevotes(0, A, by=[0, 2])
    assert s.my_votes() == [("precommit", 0, A)]
    assert s.machine.state().locked_round == 0
    s.precommits(0, A, by=[0, 2])
    decision = s.decided()
    assert decision is not None and (decision.height, decision.round, decision.block_hash) == (1, 0, A)
    verified = verify_commit(decision.certificate, s.validators, CHAIN, 1, A)
    assert len(verified.signers) == 3
    assert s.persisted_before_each_broadcast()


def test_our_turn_to_propose_asks_the_node_for_a_block():
    s = Story(me=0)
    s.start()
    assert s.requested_block()
    s.built(0, A)
    assert s.my_proposals() == [(0, -1, A)]
    assert s.my_votes() == [("prevote", 0, A)]  # our own proposal, valid by construction
    assert s.persisted_before_each_broadcast()


def test_lock_a_locked_validator_prevotes_nil_for_another_block_and_reproposes_its_value():
    s = Story(me=2)
    s.start()
    # Round 0: A gets a quorum of prevotes, we lock on it and precommit it...
    s.propose(0, A)
    s.prevotes(0, A, by=[0, 1])
    assert s.my_votes() == [("precommit", 0, A)]
    # ...but the others' precommits are for nil, so the round ends without a decision.
    s.precommits(0, NIL, by=[0, 1])
    assert s.scheduled() == [(0, "precommit", 1000)]
    s.timeout(0, Step.PRECOMMIT)
    assert s.machine.state().round == 1
    # Round 1: validator 1 proposes B without a proof of lock. We stay with A: prevote nil.
    s.propose(1, B)
    assert s.my_votes() == [("prevote", 1, NIL)]
    assert s.machine.state().locked_hash == A
    # Round 1 ends; round 2 is ours and we propose the value we hold, with its proof of lock.
    s.prevotes(1, NIL, by=[0, 1])
    s.timeout(1, Step.PREVOTE)
    s.precommits(1, NIL, by=[0, 1])
    s.timeout(1, Step.PRECOMMIT)
    assert s.my_proposals() == [(2, 0, A)]
    assert ("prevote", 2, A) in s.my_votes()


def test_unlock_by_proof_of_lock_from_a_later_round():
    s = Story(me=2)
    s.start()
    s.propose(0, A)
    s.prevotes(0, A, by=[0, 1])  # locked on A in round 0
    s.precommits(0, NIL, by=[0, 1])
    s.timeout(0, Step.PRECOMMIT)
    # Round 1: B is proposed; we prevote nil (locked). Two others prevote B: not a quorum yet.
    s.propose(1, B)
    assert s.my_votes() == [("prevote", 1, NIL)]
    s.prevotes(1, B, by=[0, 1])
    s.timeout(1, Step.PREVOTE)
    assert s.my_votes() == [("precommit", 1, NIL)]
    # The third prevote for B arrives late: B now has a proof of lock at round 1. We do not
    # lock on it (we already precommitted) but remember it as the valid value.
    s.prevotes(1, B, by=[3])
    state = s.machine.state()
    assert (state.locked_round, state.locked_hash) == (0, A)
    assert (state.valid_round, state.valid_hash) == (1, B)
    s.precommits(1, NIL, by=[0, 1])
    s.timeout(1, Step.PRECOMMIT)
    # Round 2 is ours: we propose B with pol_round 1, and that proof is newer than our lock
    # on A (round 0 <= 1), so we prevote B: unlocked by proof-of-lock.
    assert s.my_proposals() == [(2, 1, B)]
    assert ("prevote", 2, B) in s.my_votes()


def test_we_repropose_our_valid_value_rather_than_build_and_follow_a_newer_proof_of_lock():
    s = Story(me=1)
    s.start()
    s.propose(0, B)
    s.prevotes(0, B, by=[0, 2])  # B has a proof of lock at round 0; we lock on B
    s.precommits(0, NIL, by=[0, 2])
    out = s.timeout(0, Step.PRECOMMIT)
    # Round 1 is ours: no new block is requested, B goes out again with pol_round 0.
    assert not s.requested_block()
    assert s.my_proposals(out) == [(1, 0, B)]
    s.prevotes(1, A, by=[0, 2, 3])  # yet the others prevote A in round 1
    s.precommits(1, NIL, by=[0, 2, 3])
    s.timeout(1, Step.PRECOMMIT)
    # Round 2: A re-proposed with its proof of lock from round 1, newer than our lock on
    # B (round 0): we follow it.
    s.propose(2, A, pol_round=1)
    assert s.my_votes() == [("prevote", 2, A)]
    # Without the proof (pol_round -1) we would have stayed with B.
    t = Story(me=1)
    t.start()
    t.propose(0, B)
    t.prevotes(0, B, by=[0, 2])
    t.precommits(0, NIL, by=[0, 2])
    t.timeout(0, Step.PRECOMMIT)
    t.precommits(1, NIL, by=[0, 2, 3])
    t.timeout(1, Step.PRECOMMIT)
    t.propose(2, A)
    assert t.my_votes() == [("prevote", 2, NIL)]


def test_round_skip_needs_more_than_a_third_of_the_power():
    s = Story(me=1)
    s.start()
    s.prevotes(5, NIL, by=[2])  # one validator could be Byzantine: ignore it for now
    assert s.machine.state().round == 0
    out = s.prevotes(5, NIL, by=[3])  # two of four: at least one honest is in round 5
    assert s.machine.state().round == 5
    assert (5, "propose", 3000 + 5 * 500) in s.scheduled(out)


def test_timeout_paths_prevote_nil_precommit_nil_next_round_and_timeouts_grow():
    s = Story(me=1)
    s.start()
    s.timeout(0, Step.PROPOSE)  # no proposal in time
    assert s.my_votes() == [("prevote", 0, NIL)]
    out = s.prevotes(0, A, by=[0]) + s.prevotes(0, NIL, by=[2])  # 2/3 of *some* prevotes
    assert (0, "prevote", 1000) in s.scheduled(out)
    s.timeout(0, Step.PREVOTE)
    assert s.my_votes() == [("precommit", 0, NIL)]
    out = s.precommits(0, A, by=[0]) + s.precommits(0, NIL, by=[2])
    assert (0, "precommit", 1000) in s.scheduled(out)
    out = s.timeout(0, Step.PRECOMMIT)
    assert s.machine.state().round == 1
    assert s.scheduled(out) == [(1, "propose", 3500)]
    # A stale timeout from round 0 changes nothing.
    assert s.timeout(0, Step.PROPOSE) == []


def test_propose_timeout_waits_once_for_our_own_validation_of_a_proposal_that_arrived():
    s = Story(me=1)
    s.start()
    s.propose(0, A, valid=None)  # arrived in time; our node is still executing it
    out = s.timeout(0, Step.PROPOSE)
    assert s.my_votes(out) == []
    assert s.scheduled(out) == [(0, "propose", 3000)]
    s.feed(BlockValidated(A, True))
    assert s.my_votes() == [("prevote", 0, A)]


def test_propose_timeout_extension_is_bounded_when_validation_never_answers():
    s = Story(me=1)
    s.start()
    s.propose(0, A, valid=None)
    s.timeout(0, Step.PROPOSE)
    s.timeout(0, Step.PROPOSE)  # the second expiry acts as the paper says
    assert s.my_votes() == [("prevote", 0, NIL)]


def test_quorum_of_nil_prevotes_precommits_nil_without_waiting():
    s = Story(me=1)
    s.start()
    s.timeout(0, Step.PROPOSE)
    s.prevotes(0, NIL, by=[0, 2])
    assert s.my_votes() == [("precommit", 0, NIL)]


def test_invalid_block_gets_a_nil_prevote_and_is_never_decided():
    s = Story(me=1)
    s.start()
    s.propose(0, A, valid=False)
    assert s.my_votes() == [("prevote", 0, NIL)]
    s.prevotes(0, A, by=[0, 2, 3])
    s.precommits(0, A, by=[0, 2, 3])  # a Byzantine quorum cannot exist, but even so:
    assert s.decided() is None


def test_precommit_quorum_decides_from_a_later_round_proposal_we_missed_voting_on():
    s = Story(me=1)
    s.start()
    s.propose(0, A)
    s.precommits(0, A, by=[0, 2, 3])  # we were slow; the others committed A
    assert s.decided() is not None and s.decided().block_hash == A


def test_double_vote_is_reported_as_evidence_once():
    s = Story(me=1)
    s.start()
    s.prevotes(0, A, by=[3])
    out = s.prevotes(0, B, by=[3])
    evidence = [a for a in out if isinstance(a, ReportEvidence)]
    assert len(evidence) == 1
    dv = verify_evidence(evidence[0].evidence, s.validators, CHAIN)
    assert dv.validator == bytes(s.keys[3].verify_key) and (dv.height, dv.round) == (1, 0)
    assert not [a for a in s.prevotes(0, NIL, by=[3]) if isinstance(a, ReportEvidence)]
    assert s.machine.evidence_reported == 1


def test_bad_messages_are_ignored_and_counted_by_reason():
    s = Story(me=1)
    s.start()
    m = s.machine
    good = sign_vote(s.keys[2], CHAIN, 1, 0, VoteType.PREVOTE, A)
    s.feed(VoteReceived(good))
    s.feed(VoteReceived(good))
    forged = sign_vote(s.keys[3], CHAIN, 1, 0, VoteType.PREVOTE, A)
    s.feed(VoteReceived(forged[:-1] + bytes([forged[-1] ^ 1])))  # signature is the last field
    s.feed(VoteReceived(sign_vote(s.keys[2], "other-chain", 1, 0, VoteType.PREVOTE, A)))
    s.feed(VoteReceived(sign_vote(key(99), CHAIN, 1, 0, VoteType.PREVOTE, A)))
    s.feed(VoteReceived(b"\xff\x00garbage"))
    s.feed(VoteReceived(sign_vote(s.keys[2], CHAIN, 0, 0, VoteType.PREVOTE, A)))
    s.feed(VoteReceived(sign_vote(s.keys[2], CHAIN, 5, 0, VoteType.PREVOTE, A)))
    s.feed(ProposalReceived(sign_proposal(s.keys[3], CHAIN, 1, 0, -1, A), A))
    s.feed(ProposalReceived(sign_proposal(s.keys[0], CHAIN, 1, 0, -1, A), B))
    assert dict(m.ignored) == {
        "duplicate": 1,
        "bad_signature": 1,
        "wrong_chain": 1,
        "not_validator": 1,
        "malformed": 1,
        "old_height": 1,
        "future_height": 1,
        "wrong_proposer": 1,
        "block_mismatch": 1,
    }


def test_a_validator_cannot_make_us_hold_messages_for_many_future_rounds():
    s = Story(me=1)
    s.start()
    for r in range(10, 20):
        s.prevotes(r, NIL, by=[3])
    assert s.machine.ignored["too_many_future_rounds"] == 7
    assert s.machine.state().round == 0


def test_messages_for_the_next_height_wait_for_start_height():
    s = Story(me=1)
    s.start()
    s.propose(0, A)
    s.prevotes(0, A, by=[0, 2])
    s.height = 2
    s.prevotes(0, NIL, by=[0, 2, 3])  # height 2 prevotes arrive before we decide height 1
    s.height = 1
    s.precommits(0, A, by=[0, 2])
    assert s.decided() is not None
    out = s.start(2)
    # Our round 0 at height 2 already holds a nil quorum, so the prevote timeout is armed
    # as soon as we prevote; here we just check the buffered votes were counted.
    assert s.machine.vote_of(bytes(s.keys[3].verify_key), 0, VoteType.PREVOTE) is not None
    assert any(a for a in out)


def test_messages_two_heights_ahead_are_kept_for_a_validator_a_height_behind():
    s = Story(me=1)
    s.start()
    s.height = 3  # the others decided height 2 while we still decide height 1
    s.propose(0, B, valid=None)
    s.prevotes(0, B, by=[0, 2, 3])
    s.precommits(0, B, by=[0, 2, 3])
    s.height = 4  # beyond the window: not kept
    s.prevotes(0, NIL, by=[0])
    s.height = 1
    s.propose(0, A)
    s.prevotes(0, A, by=[0, 2])
    s.precommits(0, A, by=[0, 2])
    s.start(2)  # height 2 decided by certificate, say; now height 3
    s.start(3)
    assert s.machine.vote_of(bytes(s.keys[3].verify_key), 0, VoteType.PRECOMMIT) is not None
    s.feed(BlockValidated(B, True))  # the buffered proposal and precommits decide it
    assert any(isinstance(a, Decide) and a.height == 3 and a.block_hash == B for a in s.log)
    assert s.machine.ignored["future_height"] == 1


def test_commit_received_from_block_sync_decides():
    s = Story(me=1)
    s.start()
    cert = encode_commit(
        1, 3, A, [sign_vote(s.keys[i], CHAIN, 1, 3, VoteType.PRECOMMIT, A) for i in (0, 2, 3)]
    )
    out = s.feed(CommitReceived(cert, A))
    assert [a for a in out if isinstance(a, Decide)] == [Decide(1, 3, A, cert)]
    bad = encode_commit(1, 3, A, [sign_vote(s.keys[i], CHAIN, 1, 3, VoteType.PRECOMMIT, A) for i in (0, 2)])
    s2 = Story(me=1)
    s2.start()
    assert s2.feed(CommitReceived(bad, A)) == []
    assert s2.machine.ignored["bad_commit"] == 1


def test_an_observer_without_a_key_follows_and_decides():
    s = Story(me=1)
    observer = ConsensusMachine(CHAIN, None)
    observer.handle(StartHeight(1, s.validators))
    observer.handle(ProposalReceived(sign_proposal(s.keys[0], CHAIN, 1, 0, -1, A), A))
    observer.handle(BlockValidated(A, True))
    out = []
    for i in (0, 2, 3):
        out += observer.handle(VoteReceived(sign_vote(s.keys[i], CHAIN, 1, 0, VoteType.PRECOMMIT, A)))
    assert [a.block_hash for a in out if isinstance(a, Decide)] == [A]
