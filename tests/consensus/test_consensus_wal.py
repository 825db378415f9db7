"""WAL framing (torn tail vs corruption) and replay after a crash."""

from __future__ import annotations

import zlib

import pytest

from consensus import (
    NIL,
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    ConsensusMachine,
    EndHeight,
    OwnMessage,
    PersistSignState,
    ProposalReceived,
    ReplayError,
    ScheduleTimeout,
    Signer,
    SignState,
    StartHeight,
    Step,
    TimeoutFired,
    VoteReceived,
    VoteType,
    WalCorruption,
    decode_records,
    decode_vote,
    encode_record,
    replay,
    sign_vote,
)
from consensus.events import BlockBuilt, CommitReceived
from tests.consensus.consensus_helpers import CHAIN, Story, block

A, B = block("A"), block("B")


def test_records_round_trip():
    entries = [
        ProposalReceived(b"p", A),
        VoteReceived(b"v"),
        TimeoutFired(3, 1, Step.PREVOTE),
        BlockValidated(A, False),
        BlockBuilt(3, 2, B),
        CommitReceived(b"c", A),
        OwnMessage(b"m", True, A),
        OwnMessage(b"n", False),
        EndHeight(3),
    ]
    data = b"".join(encode_record(e) for e in entries)
    contents = decode_records(data)
    assert contents.entries == entries and contents.warning is None and contents.valid_length == len(data)


@pytest.mark.parametrize("cut", [1, 4, 8, 9])
def test_a_torn_last_record_is_dropped_with_a_warning(cut):
    data = encode_record(VoteReceived(b"v" * 20)) + encode_record(EndHeight(7))
    torn = data[:-cut]
    contents = decode_records(torn)
    assert contents.entries == [VoteReceived(b"v" * 20)]
    assert contents.valid_length == len(encode_record(VoteReceived(b"v" * 20)))
    assert "torn last WAL record" in contents.warning


def test_garbage_or_zeros_in_the_last_record_are_a_torn_tail():
    good = encode_record(VoteReceived(b"v"))
    last = bytearray(encode_record(VoteReceived(b"w" * 10)))
    last[-1] ^= 0xFF
    assert decode_records(good + bytes(last)).entries == [VoteReceived(b"v")]
    assert "zero-filled" in decode_records(good + bytes(16)).warning


def test_corruption_before_the_tail_stops_replay_with_a_clear_message():
    first = bytearray(encode_record(VoteReceived(b"v" * 10)))
    first[-2] ^= 0x01
    data = bytes(first) + encode_record(EndHeight(1))
    with pytest.raises(
        WalCorruption, match="corrupt at byte 0: checksum mismatch with more records after it"
    ) as err:
        decode_records(data)
    assert err.value.offset == 0
    payload = b"\xff\xff\xff"
    bogus = len(payload).to_bytes(4, "big") + zlib.crc32(payload).to_bytes(4, "big") + payload
    with pytest.raises(WalCorruption, match="does not decode"):
        decode_records(bogus + encode_record(EndHeight(1)))


class Validator:
    """A Story whose events and own messages go through a WAL, and which can crash."""

    def __init__(self, me: int = 1) -> None:
        self.s = Story(me=me)
        self.wal = bytearray()
        self.sign_state = b""
        self.sent: list[bytes] = []

    def feed(self, event) -> list:
        if not isinstance(event, StartHeight):
            self.wal += encode_record(event)
        out = self.s.feed(event)
        self.execute(out)
        return out

    def execute(self, actions) -> None:
        for a in actions:
            if isinstance(a, PersistSignState):
                self.sign_state = a.data
            elif isinstance(a, BroadcastVote | BroadcastProposal):
                assert SignState.decode(self.sign_state).signed_message == a.message or a.message in self.sent
                self.wal += encode_record(OwnMessage.of(a))
                self.sent.append(a.message)

    def vote(self, i: int, vote_type: VoteType, round_: int, block_hash: bytes) -> list:
        return self.feed(VoteReceived(sign_vote(self.s.keys[i], CHAIN, 1, round_, vote_type, block_hash)))

    def restart(self):
        contents = decode_records(bytes(self.wal))
        state = SignState.decode(self.sign_state)
        machine = ConsensusMachine(CHAIN, Signer(self.s.keys[self.s.me], state))
        result = replay(machine, contents.entries, StartHeight(1, self.s.validators))
        self.s.machine = machine
        self.execute(result.actions)
        return result


def test_replay_resumes_at_the_round_and_lock_without_signing_anything_new():
    v = Validator(me=1)
    v.feed(StartHeight(1, v.s.validators))
    from tests.consensus.consensus_helpers import sign_proposal

    v.feed(ProposalReceived(sign_proposal(v.s.keys[0], CHAIN, 1, 0, -1, A), A))
    v.feed(BlockValidated(A, True))
    v.vote(0, VoteType.PREVOTE, 0, A)
    v.vote(2, VoteType.PREVOTE, 0, A)  # -> we lock on A and precommit it
    v.vote(0, VoteType.PRECOMMIT, 0, NIL)
    v.vote(2, VoteType.PRECOMMIT, 0, NIL)
    v.feed(TimeoutFired(1, 0, Step.PRECOMMIT))  # -> round 1
    v.feed(BlockBuilt(1, 1, B))  # round 1 is ours, but we hold A as valid value: A is re-proposed
    before = v.s.machine.state()
    sent_before = list(v.sent)
    result = v.restart()
    after = v.s.machine.state()
    assert after == before
    assert (after.round, after.locked_round, after.locked_hash) == (1, 0, A)
    resent = [a.message for a in result.actions if isinstance(a, BroadcastVote | BroadcastProposal)]
    assert set(resent) <= set(sent_before)  # nothing new was signed: only re-sends
    assert [a for a in result.actions if isinstance(a, ScheduleTimeout)]  # timers re-armed
    # After the restart a conflicting vote for round 1 is impossible: we prevoted A already.
    votes = [decode_vote(m) for m in v.sent if m not in sent_before]
    assert all(vote.round == 1 and vote.block_hash == A for vote in votes)


def test_replay_with_a_lost_log_still_never_equivocates():
    v = Validator(me=1)
    v.feed(StartHeight(1, v.s.validators))
    v.feed(TimeoutFired(1, 0, Step.PROPOSE))  # prevote nil at round 0
    v.wal = bytearray()  # the whole WAL is lost; only the sign-state survived
    v.restart()
    from tests.consensus.consensus_helpers import sign_proposal

    out = v.feed(ProposalReceived(sign_proposal(v.s.keys[0], CHAIN, 1, 0, -1, A), A))
    out += v.feed(BlockValidated(A, True))
    prevotes = [decode_vote(a.message) for a in out if isinstance(a, BroadcastVote)]
    assert [(p.round, p.block_hash) for p in prevotes] == [(0, NIL)]  # the vote it already cast


def test_replay_starts_after_the_stored_height():
    entries = [VoteReceived(b"x"), EndHeight(1), TimeoutFired(2, 0, Step.PROPOSE)]
    story = Story(me=1)
    machine = ConsensusMachine(CHAIN, Signer(story.keys[1]))
    result = replay(machine, entries, StartHeight(2, story.validators))
    assert result.replayed == 1 and machine.state().height == 2
    with pytest.raises(ReplayError, match="height 1 was stored but the block store ends at 0"):
        replay(ConsensusMachine(CHAIN, Signer(story.keys[1])), entries, StartHeight(1, story.validators))
