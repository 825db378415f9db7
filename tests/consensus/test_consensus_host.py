"""ConsensusHost, one step at a time: it holds the block bytes only of proposals the machine
kept, never executes a block twice, commits only what it executed, and survives a decision
that comes before its block or a push that races its own commit."""

from __future__ import annotations

import hashlib

from consensus import (
    BroadcastVote,
    ConsensusConfig,
    ConsensusMachine,
    PersistSignState,
    Signer,
    StartHeight,
    ValidatorSet,
    VoteType,
    encode_commit,
    sign_proposal,
    sign_vote,
)
from consensus.events import CommitReceived, ProposalReceived, TimeoutFired, VoteReceived
from consensus.host import (
    CommitArrived,
    CommitBlock,
    ConsensusHost,
    Heard,
    ProposalArrived,
    RelayVotes,
    SendProposal,
    ValidateBlock,
    Validated,
    WriteWal,
)
from consensus.messages import Step
from consensus.wal import OwnMessage
from tests.consensus.consensus_helpers import CHAIN, key

BLOCK = b"block bytes of height 1"
DIGEST = hashlib.sha256(BLOCK).digest()


class Net:
    """Four validators; the host under test is one that does not propose at (1, 0)."""

    def __init__(self) -> None:
        self.keys = sorted((key(i) for i in range(4)), key=lambda k: bytes(k.verify_key))
        self.validators = ValidatorSet((bytes(k.verify_key), 1) for k in self.keys)
        proposer = self.validators.proposer(1, 0)
        self.proposer = next(k for k in self.keys if bytes(k.verify_key) == proposer)
        self.me = next(k for k in self.keys if k is not self.proposer)
        self.host = ConsensusHost(ConsensusMachine(CHAIN, Signer(self.me), ConsensusConfig()))

    def start(self) -> list:
        return self.host.step(StartHeight(1, self.validators))

    def proposal(self, by=None, block_hash: bytes = DIGEST) -> bytes:
        return sign_proposal(by or self.proposer, CHAIN, 1, 0, -1, block_hash)

    def certificate(self) -> bytes:
        votes = [
            sign_vote(k, CHAIN, 1, 0, VoteType.PRECOMMIT, DIGEST) for k in self.keys if k is not self.me
        ]
        return encode_commit(1, 0, DIGEST, votes)


def kinds(effects: list, kind: type) -> list:
    return [e for e in effects if isinstance(e, kind)]


def test_the_block_of_a_proposal_the_machine_accepts_is_held_and_executed_once():
    net = Net()
    net.start()
    out = net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    assert out[0] == WriteWal(kinds(out, WriteWal)[0].entry)  # the WAL sees it first
    assert kinds(out, ValidateBlock) == [ValidateBlock(1, DIGEST, BLOCK)]
    assert net.host.held_block(DIGEST) == BLOCK
    again = net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    assert kinds(again, ValidateBlock) == []
    assert net.host.machine.ignored["duplicate"] == 1


def test_a_proposal_the_machine_refuses_leaves_no_bytes_behind():
    net = Net()
    net.start()
    junk = b"junk block"
    junk_hash = hashlib.sha256(junk).digest()
    out = net.host.step(ProposalArrived(net.proposal(by=net.me, block_hash=junk_hash), junk, junk_hash))
    assert kinds(out, ValidateBlock) == []
    assert net.host.held_block(junk_hash) is None
    assert net.host.machine.ignored["wrong_proposer"] == 1
    forged = bytearray(net.proposal(block_hash=junk_hash))
    forged[-1] ^= 1
    net.host.step(ProposalArrived(bytes(forged), junk, junk_hash))
    assert net.host.held_block(junk_hash) is None
    assert net.host.machine.ignored["bad_signature"] + net.host.machine.ignored["malformed"] == 1
    net.host.step(ProposalArrived(net.proposal(), b"not a block", None))
    assert net.host.machine.ignored["malformed_block"] == 1


def test_a_decision_that_outruns_validation_waits_for_it_and_commits_its_result():
    net = Net()
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    out = net.host.step(CommitArrived(net.certificate(), BLOCK, DIGEST, 1))
    assert net.host.decided
    assert kinds(out, ValidateBlock) == [] and kinds(out, CommitBlock) == []
    executed = object()
    out = net.host.step(Validated(1, DIGEST, executed))
    [commit] = kinds(out, CommitBlock)
    assert commit.result is executed and commit.block_hash == DIGEST


def test_a_height_decided_before_its_block_arrived_commits_once_the_block_executes():
    net = Net()
    effects, _ = net.host.start([CommitReceived(net.certificate(), DIGEST)], StartHeight(1, net.validators))
    assert net.host.decided and kinds(effects, CommitBlock) == []
    out = net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    assert kinds(out, ValidateBlock) == [ValidateBlock(1, DIGEST, BLOCK)]
    out = net.host.step(Validated(1, DIGEST, "executed"))
    assert [c.result for c in kinds(out, CommitBlock)] == ["executed"]


def test_a_decided_block_that_does_not_execute_is_never_committed():
    net = Net()
    net.host.start([CommitReceived(net.certificate(), DIGEST)], StartHeight(1, net.validators))
    net.host.step(CommitArrived(b"", BLOCK, DIGEST, 1))
    out = net.host.step(Validated(1, DIGEST, None, "state root mismatch"))
    assert kinds(out, CommitBlock) == []
    assert any(getattr(e, "level", "") == "error" for e in out)


def test_a_push_that_races_our_own_commit_changes_nothing():
    net = Net()
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    net.host.step(Validated(1, DIGEST, "executed"))
    out = net.host.step(CommitArrived(net.certificate(), BLOCK, DIGEST, 1))
    assert len(kinds(out, CommitBlock)) == 1
    assert net.host.step(CommitArrived(net.certificate(), BLOCK, DIGEST, 1)) == []
    net.host.step(StartHeight(2, net.validators))
    assert net.host.held_block(DIGEST) is None  # forgotten below the new height
    assert net.host.step(CommitArrived(net.certificate(), BLOCK, DIGEST, 1)) == []
    assert net.host.machine.ignored["old_height"] == 1


def test_own_votes_are_persisted_then_logged_then_sent():
    net = Net()
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    out = net.host.step(Validated(1, DIGEST, "executed"))
    i = next(i for i, e in enumerate(out) if isinstance(e, BroadcastVote))
    assert isinstance(out[i - 2], PersistSignState)
    assert out[i - 1] == WriteWal(OwnMessage.of(out[i]))
    assert net.host.own_messages() == [out[i]]
    assert not kinds(out, SendProposal)


def test_a_block_asked_for_before_a_restart_brought_its_bytes_is_executed_when_they_come():
    """Found by the simulator: after a WAL replay the machine has asked to validate a block
    whose bytes died with the process; it never asks twice, so the host must answer when
    the proposal (a duplicate to the machine) brings the bytes again."""
    net = Net()
    wal = [ProposalReceived(net.proposal(), DIGEST)]
    effects, _ = net.host.start(wal, StartHeight(1, net.validators))
    assert kinds(effects, ValidateBlock) == []  # nothing to execute yet
    out = net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    assert net.host.machine.ignored["duplicate"] == 1
    assert kinds(out, ValidateBlock) == [ValidateBlock(1, DIGEST, BLOCK)]


def _prevoted(net: Net) -> list:
    """Our prevote for the proposal, then a quorum of prevotes for it: we hold a valid
    value (and a lock) with its proof, the prevotes of three validators."""
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    net.host.step(Validated(1, DIGEST, "executed"))
    others = [k for k in net.keys if k is not net.me][:2]
    for k in others:
        net.host.step(VoteReceived(sign_vote(k, CHAIN, 1, 0, VoteType.PREVOTE, DIGEST)))
    return others


def test_when_the_round_moves_on_the_host_relays_the_prevotes_behind_its_valid_value():
    """A validator that missed some of them (a link down) can then accept the re-proposal
    of the value we are locked on. It never fired on a node before: the host compared the
    round with the one the machine had already moved to."""
    net = Net()
    _prevoted(net)
    proof = net.host.proof_of_lock()
    assert len(proof) == 3
    for k in [k for k in net.keys if k is not net.me][:2]:
        net.host.step(VoteReceived(sign_vote(k, CHAIN, 1, 0, VoteType.PRECOMMIT, b"")))
    out = net.host.step(TimeoutFired(1, 0, Step.PRECOMMIT))
    assert net.host.machine.round == 1
    assert kinds(out, RelayVotes) == [RelayVotes(proof)]


def test_a_stuck_machine_says_its_messages_again_and_a_moving_one_does_not():
    net = Net()
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    net.host.step(Validated(1, DIGEST, "executed"))
    own = net.host.own_messages()
    heard = Heard(net.proposal(), bytes(net.proposer.verify_key), BLOCK)
    assert net.host.repeat_if_stuck() == []  # the first look: nothing to compare with
    assert net.host.repeat_if_stuck() == [*own, heard]  # nothing moved since
    others = [k for k in net.keys if k is not net.me][:2]
    prevotes = [sign_vote(k, CHAIN, 1, 0, VoteType.PREVOTE, DIGEST) for k in others]
    for vote in prevotes:  # a quorum of prevotes: we precommit, the step moves
        net.host.step(VoteReceived(vote))
    assert net.host.repeat_if_stuck() == []
    again = net.host.repeat_if_stuck()
    own = net.host.own_messages()
    assert len(own) == 2  # prevote, precommit
    assert again[:3] == [*own, RelayVotes(net.host.proof_of_lock())]
    passed_on = {(h.message, h.signer) for h in again[3:]}
    signed = {(vote, bytes(k.verify_key)) for vote, k in zip(prevotes, others, strict=True)}
    assert passed_on == {(heard.message, heard.signer), *signed}


def test_votes_and_proposals_of_others_are_heard_once():
    """What the node passes on to validators that cannot hear the signer: each vote and
    proposal of another validator once, when the machine keeps it, not its duplicates."""
    net = Net()
    net.start()
    out = net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    assert kinds(out, Heard) == [Heard(net.proposal(), bytes(net.proposer.verify_key), BLOCK)]
    assert kinds(net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST)), Heard) == []
    other = next(k for k in net.keys if k is not net.me)
    vote = sign_vote(other, CHAIN, 1, 0, VoteType.PREVOTE, DIGEST)
    assert kinds(net.host.step(VoteReceived(vote)), Heard) == [Heard(vote, bytes(other.verify_key))]
    assert kinds(net.host.step(VoteReceived(vote)), Heard) == []
    out = net.host.step(Validated(1, DIGEST, "executed"))  # our own prevote is not "heard"
    assert kinds(out, BroadcastVote) and kinds(out, Heard) == []


def test_a_proposal_for_the_next_height_keeps_its_block_until_that_height_starts():
    """Its proposer committed the height before us: the machine keeps the proposal for
    StartHeight, and the host keeps the bytes, or it could not validate the block there and
    would prevote nil."""
    net = Net()
    net.start()
    block2 = b"block bytes of height 2"
    digest2 = hashlib.sha256(block2).digest()
    proposer2 = next(k for k in net.keys if bytes(k.verify_key) == net.validators.proposer(2, 0))
    proposal2 = sign_proposal(proposer2, CHAIN, 2, 0, -1, digest2)
    net.host.step(ProposalArrived(proposal2, block2, digest2))
    assert net.host.machine.next_height_buffered == 1
    assert net.host.held_block(digest2) == block2
    out = net.host.step(StartHeight(2, net.validators))
    assert kinds(out, ValidateBlock) == [ValidateBlock(2, digest2, block2)]


def test_repeats_back_off_while_the_machine_stays_stuck():
    net = Net()
    net.start()
    net.host.step(ProposalArrived(net.proposal(), BLOCK, DIGEST))
    net.host.step(Validated(1, DIGEST, "executed"))
    net.host.repeat_if_stuck()
    repeated = [n for n in range(1, 41) if net.host.repeat_if_stuck()]
    assert repeated == [1, 2, 4, 8, 16, 32]
