"""Fuzzing the consensus decoders: votes, proposals, commit certificates, evidence, the WAL,
and the state machine fed hostile messages.

Only the named exceptions (InvalidMessage, CommitError, EvidenceError, WalCorruption)
may come out of untrusted bytes; whatever is accepted satisfies what callers rely on;
signed structures round-trip exactly; and the machine drops and counts (once) every
message it cannot use, without emitting anything because of it.
"""

from __future__ import annotations

import struct
import zlib

import nacl.signing
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from consensus import crypto
from consensus.commit import CommitError, encode_commit, verify_commit
from consensus.events import (
    BlockBuilt,
    BlockValidated,
    CommitReceived,
    ProposalReceived,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from consensus.evidence import EvidenceError, encode_duplicate_vote, verify_evidence
from consensus.machine import FUTURE_HEIGHTS, ConsensusMachine
from consensus.messages import (
    InvalidMessage,
    Step,
    VoteType,
    decode_proposal,
    decode_vote,
    encode_proposal_body,
    encode_signed,
    encode_vote_body,
    proposal_digest,
    sign_proposal,
    sign_vote,
    vote_digest,
)
from consensus.wal import EndHeight, OwnMessage, WalCorruption, decode_records, encode_record
from proto import consensus_pb2 as pb
from tests.support.cast import key

from .world import CHAIN_ID, VALIDATOR_SET, VALIDATORS, mostly, mutate

SIGNERS = [nacl.signing.SigningKey(v.seed) for v in VALIDATORS]
OUTSIDERS = [nacl.signing.SigningKey(key(90 + i).seed) for i in range(2)]
ALL_KEYS = SIGNERS + OUTSIDERS

u64 = st.one_of(st.integers(0, 5), st.integers(0, 2**64 - 1))
u32 = st.one_of(st.integers(0, 5), st.integers(0, 2**32 - 1))
hash32 = st.binary(min_size=32, max_size=32)
odd_bytes = st.one_of(st.binary(max_size=70), st.sampled_from([b"", b"\x00" * 31, b"\x00" * 33]))
block_hashes = mostly(st.one_of(hash32, st.just(b"")), odd_bytes)
chain_ids = mostly(st.just(CHAIN_ID), st.text(max_size=10))
public_keys = mostly(st.sampled_from([bytes(k.verify_key) for k in ALL_KEYS]), odd_bytes)
BY_PUBLIC = {bytes(k.verify_key): k for k in ALL_KEYS}


def signature_over(draw, digest: bytes, signer: bytes) -> bytes:
    """Mostly the named signer's real signature; else another key's, or junk."""
    how = draw(mostly(st.just("signer"), st.sampled_from(["other", "junk"])))
    if how == "signer" and signer in BY_PUBLIC:
        return BY_PUBLIC[signer].sign(digest).signature
    if how == "other":
        return draw(signing_keys).sign(digest).signature
    return draw(st.one_of(st.binary(min_size=64, max_size=64), odd_bytes))
vote_types = st.sampled_from([VoteType.PREVOTE, VoteType.PRECOMMIT])
signing_keys = st.sampled_from(ALL_KEYS)


def vote_reason(raw: bytes) -> str | None:
    try:
        decode_vote(raw)
    except InvalidMessage as exc:
        assert exc.reason in ("malformed", "bad_signature") and str(exc)
        return exc.reason
    return None


def proposal_reason(raw: bytes) -> str | None:
    try:
        decode_proposal(raw)
    except InvalidMessage as exc:
        assert exc.reason in ("malformed", "bad_signature") and str(exc)
        return exc.reason
    return None


# --- votes and proposals -------------------------------------------------------------------


@settings(max_examples=1200)
@given(st.binary(max_size=300))
def test_random_bytes_are_never_a_vote_or_a_proposal(raw: bytes) -> None:
    assert vote_reason(raw) is not None
    assert proposal_reason(raw) is not None


@st.composite
def structured_votes(draw) -> bytes:
    validator = draw(public_keys)
    body = pb.VoteBody(
        chain_id=draw(chain_ids), height=draw(u64), round=draw(u32),
        type=draw(mostly(st.sampled_from([1, 2]), st.integers(0, 2**31 - 1))),
        block_hash=draw(block_hashes), validator=validator,
    ).SerializeToString()
    return encode_signed(body, signature_over(draw, vote_digest(body), validator))


@settings(max_examples=600)
@given(structured_votes())
def test_accepted_votes_are_well_formed_and_signed_by_their_voter(raw: bytes) -> None:
    if vote_reason(raw) is not None:
        return
    vote = decode_vote(raw)
    assert vote.raw == raw and vote.type in (VoteType.PREVOTE, VoteType.PRECOMMIT)
    assert len(vote.block_hash) in (0, 32) and len(vote.validator) == 32
    assert crypto.verify(vote.validator, vote_digest(vote.body), vote.signature)
    assert pb.SignedVote.FromString(raw).body == vote.body


@st.composite
def structured_proposals(draw) -> bytes:
    proposer = draw(public_keys)
    body = pb.ProposalBody(
        chain_id=draw(chain_ids), height=draw(u64), round=draw(u32),
        pol_round=draw(mostly(st.integers(-1, 2), st.integers(-(2**31), 2**31 - 1))),
        block_hash=draw(mostly(hash32, odd_bytes)), proposer=proposer,
    ).SerializeToString()
    return encode_signed(body, signature_over(draw, proposal_digest(body), proposer))


@settings(max_examples=600)
@given(structured_proposals())
def test_accepted_proposals_are_well_formed_and_signed_by_their_proposer(raw: bytes) -> None:
    if proposal_reason(raw) is not None:
        return
    p = decode_proposal(raw)
    assert p.raw == raw and len(p.block_hash) == 32 and len(p.proposer) == 32
    assert -1 <= p.pol_round < p.round
    assert crypto.verify(p.proposer, proposal_digest(p.body), p.signature)


@settings(max_examples=300)
@given(signing_keys, chain_ids, u64, u32, vote_types, st.one_of(hash32, st.just(b"")), st.data())
def test_signed_votes_round_trip_and_any_change_breaks_them(k, chain_id, height, round_, vtype, bh, data):
    raw = sign_vote(k, chain_id, height, round_, vtype, bh)
    vote = decode_vote(raw)
    assert (vote.chain_id, vote.height, vote.round, vote.type, vote.block_hash, vote.validator) == (
        chain_id, height, round_, vtype, bh, bytes(k.verify_key)
    )
    assert vote.body == encode_vote_body(chain_id, height, round_, vtype, bh, bytes(k.verify_key))
    assert encode_signed(vote.body, vote.signature) == raw
    assert pb.SignedVote.FromString(raw).SerializeToString() == raw
    # Re-signing the body by any other key, or flipping any bit of the signature, fails.
    bit = data.draw(st.integers(0, 64 * 8 - 1))
    forged_sig = bytearray(vote.signature)
    forged_sig[bit // 8] ^= 1 << (bit % 8)
    assert vote_reason(encode_signed(vote.body, bytes(forged_sig))) == "bad_signature"
    other = data.draw(signing_keys.filter(lambda o: o is not k))
    resigned = encode_signed(vote.body, other.sign(vote_digest(vote.body)).signature)
    assert vote_reason(resigned) == "bad_signature"
    # A vote signature is never a proposal signature (domain separation).
    assert proposal_reason(raw) is not None


@settings(max_examples=300)
@given(signing_keys, chain_ids, u64, st.integers(0, 2**31 - 2), hash32, st.data())
def test_signed_proposals_round_trip_and_any_change_breaks_them(k, chain_id, height, round_, bh, data):
    pol = data.draw(st.integers(-1, round_ - 1))
    raw = sign_proposal(k, chain_id, height, round_, pol, bh)
    p = decode_proposal(raw)
    assert (p.chain_id, p.height, p.round, p.pol_round, p.block_hash, p.proposer) == (
        chain_id, height, round_, pol, bh, bytes(k.verify_key)
    )
    assert p.body == encode_proposal_body(chain_id, height, round_, pol, bh, bytes(k.verify_key))
    assert encode_signed(p.body, p.signature) == raw
    # Another height, round or block under the same signature does not verify.
    field = data.draw(st.sampled_from(["height", "round", "block_hash"]))
    body = pb.ProposalBody.FromString(p.body)
    if field == "height":
        body.height = (height + 1) % 2**64
    elif field == "round":
        body.round = round_ + 1
    else:
        body.block_hash = bytes(31) + bytes([bh[-1] ^ 1])
    assert proposal_reason(encode_signed(body.SerializeToString(), p.signature)) == "bad_signature"


# --- commit certificates -------------------------------------------------------------------------


@settings(max_examples=400)
@given(st.binary(max_size=400), u64, hash32)
def test_random_certificates_are_commit_errors(raw: bytes, height: int, bh: bytes) -> None:
    with pytest.raises(CommitError):
        verify_commit(raw, VALIDATOR_SET, CHAIN_ID, height, bh)


HEIGHT, ROUND, BLOCK = 12, 1, bytes(range(32))
# What can be wrong with one precommit in a certificate for (HEIGHT, ROUND, BLOCK).
FLAWS = ["none", "chain", "type", "height", "round", "block", "nil", "outsider", "signature", "garbage"]


def precommit(k: nacl.signing.SigningKey, flaw: str) -> bytes:
    chain, height, round_, vtype, bh = CHAIN_ID, HEIGHT, ROUND, VoteType.PRECOMMIT, BLOCK
    if flaw == "chain":
        chain = "other-chain"
    elif flaw == "type":
        vtype = VoteType.PREVOTE
    elif flaw == "height":
        height += 1
    elif flaw == "round":
        round_ += 1
    elif flaw == "block":
        bh = bytes(32)
    elif flaw == "nil":
        bh = b""
    elif flaw == "outsider":
        k = OUTSIDERS[0]
    elif flaw == "garbage":
        return b"\x0a\x02\x08"
    raw = sign_vote(k, chain, height, round_, vtype, bh)
    if flaw == "signature":
        signed = pb.SignedVote.FromString(raw)
        raw = encode_signed(signed.body, bytes(64))
    return raw


@settings(max_examples=300)
@given(st.lists(st.tuples(st.integers(0, 3), st.sampled_from(FLAWS)), max_size=6), st.booleans())
def test_certificates_verify_exactly_when_a_quorum_of_sound_precommits_is_present(picks, wrong_header):
    precommits = [precommit(SIGNERS[i], flaw) for i, flaw in picks]
    cert = encode_commit(HEIGHT + wrong_header, ROUND, BLOCK, precommits)
    signers = [i for i, _ in picks]
    sound = (
        not wrong_header
        and all(flaw == "none" for _, flaw in picks)
        and len(set(signers)) == len(signers)
        and VALIDATOR_SET.has_quorum(10 * len(signers))
    )
    try:
        verified = verify_commit(cert, VALIDATOR_SET, CHAIN_ID, HEIGHT, BLOCK)
    except CommitError as err:
        assert not sound and str(err)
        return
    assert sound
    assert verified.signers == tuple(bytes(SIGNERS[i].verify_key) for i in signers)
    assert (verified.height, verified.round, verified.block_hash) == (HEIGHT, ROUND, BLOCK)
    assert pb.CommitCertificate.FromString(cert).SerializeToString() == cert


GOOD_CERT = encode_commit(HEIGHT, ROUND, BLOCK, [precommit(k, "none") for k in SIGNERS])


@settings(max_examples=400)
@given(st.data())
def test_mutated_certificates_prove_nothing_they_should_not(data) -> None:
    raw = mutate(data, GOOD_CERT, max_ops=3)
    try:
        verified = verify_commit(raw, VALIDATOR_SET, CHAIN_ID, HEIGHT, BLOCK)
    except CommitError:
        return
    # Whatever still verifies is a genuine quorum of distinct validators' precommits for
    # exactly this block at this height, on this chain.
    assert VALIDATOR_SET.has_quorum(verified.power) and len(set(verified.signers)) == len(verified.signers)
    for vote_raw in pb.CommitCertificate.FromString(raw).precommits:
        vote = decode_vote(vote_raw)
        assert (vote.chain_id, vote.height, vote.type, vote.block_hash) == (
            CHAIN_ID, HEIGHT, VoteType.PRECOMMIT, BLOCK
        )
        assert vote.validator in VALIDATOR_SET


# --- evidence ----------------------------------------------------------------------------------------


@settings(max_examples=400)
@given(st.one_of(st.binary(max_size=300), st.builds(
    lambda a, b: pb.Evidence(duplicate_vote=pb.DuplicateVoteEvidence(vote_a=a, vote_b=b)).SerializeToString(),
    st.one_of(structured_votes(), st.binary(max_size=60)),
    st.one_of(structured_votes(), st.binary(max_size=60)),
)))
def test_evidence_is_accepted_exactly_when_it_proves_a_double_vote(raw: bytes) -> None:
    try:
        proven = verify_evidence(raw, VALIDATOR_SET, CHAIN_ID)
    except EvidenceError as err:
        assert str(err)
        return
    # Accepted: it must be two validly signed votes of one validator of this chain, for one
    # height, round and type, and for different blocks (checked here independently).
    ev = pb.Evidence.FromString(raw).duplicate_vote
    a, b = decode_vote(ev.vote_a), decode_vote(ev.vote_b)
    assert a.validator == b.validator == proven.validator and a.validator in VALIDATOR_SET
    assert a.chain_id == b.chain_id == CHAIN_ID
    assert (a.height, a.round, a.type) == (b.height, b.round, b.type) == (proven.height, proven.round, a.type)
    assert a.block_hash != b.block_hash


@settings(max_examples=200)
@given(signing_keys, u64, u32, vote_types, hash32, st.one_of(hash32, st.just(b"")), chain_ids)
def test_double_votes_are_evidence_only_against_a_validator_of_this_chain(k, h, r, t, a, b, chain_id):
    vote_a, vote_b = sign_vote(k, chain_id, h, r, t, a), sign_vote(k, chain_id, h, r, t, b)
    evidence = encode_duplicate_vote(vote_a, vote_b)
    assert evidence == encode_duplicate_vote(vote_b, vote_a)  # every reporter makes equal bytes
    guilty = k in SIGNERS and chain_id == CHAIN_ID and a != b
    try:
        proven = verify_evidence(evidence, VALIDATOR_SET, CHAIN_ID)
    except EvidenceError as err:
        assert not guilty and str(err)
        return
    assert guilty and proven.validator == bytes(k.verify_key) and (proven.height, proven.round) == (h, r)
    # Votes at different steps by the same validator are no double vote.
    other = sign_vote(k, chain_id, h, r + 1 if r < 2**32 - 1 else r - 1, t, b)
    with pytest.raises(EvidenceError):
        verify_evidence(encode_duplicate_vote(vote_a, other), VALIDATOR_SET, CHAIN_ID)


# --- the WAL -------------------------------------------------------------------------------------------

wal_entries = st.one_of(
    st.builds(VoteReceived, st.binary(max_size=120)),
    st.builds(ProposalReceived, st.binary(max_size=120), block_hashes),
    st.builds(TimeoutFired, u64, u32, st.sampled_from(list(Step))),
    st.builds(BlockValidated, block_hashes, st.booleans()),
    st.builds(BlockBuilt, u64, u32, block_hashes),
    st.builds(CommitReceived, st.binary(max_size=120), block_hashes),
    st.builds(OwnMessage, st.binary(max_size=120), st.booleans(), block_hashes),
    st.builds(EndHeight, u64),
)


def check_wal(data: bytes) -> None:
    try:
        contents = decode_records(data)
    except WalCorruption as exc:
        assert 0 <= exc.offset < len(data) and "corrupt" in str(exc)
        return
    assert 0 <= contents.valid_length <= len(data)
    assert (contents.warning is None) == (contents.valid_length == len(data))
    # What was kept is exactly the intact prefix: it decodes to the same entries again.
    again = decode_records(data[: contents.valid_length])
    assert again.entries == contents.entries and again.warning is None


@settings(max_examples=300)
@given(st.binary(max_size=300))
def test_random_wal_bytes_are_a_torn_tail_or_corruption_never_a_crash(data: bytes) -> None:
    check_wal(data)


@settings(max_examples=300)
@given(st.lists(wal_entries, min_size=1, max_size=4), st.data())
def test_damaged_wal_is_a_torn_tail_or_corruption_never_a_crash(entries, data) -> None:
    check_wal(mutate(data, b"".join(map(encode_record, entries)), max_ops=2))


@settings(max_examples=300)
@given(st.lists(wal_entries, min_size=1, max_size=6), st.data())
def test_wal_round_trips_and_a_torn_last_record_is_dropped_with_a_warning(entries, data) -> None:
    records = [encode_record(e) for e in entries]
    log = b"".join(records)
    contents = decode_records(log)
    assert contents.entries == entries and contents.valid_length == len(log) and contents.warning is None
    for record in records:  # the frame: length, CRC32 of the payload, payload
        length, crc = struct.unpack(">II", record[:8])
        assert length == len(record) - 8 and crc == zlib.crc32(record[8:])
    # Tear the last record anywhere (a crash mid-append): the rest survives, with a warning.
    start = len(log) - len(records[-1])
    cut = data.draw(st.integers(start + 1, len(log) - 1))  # a record is at least its 8-byte frame
    if cut:
        torn = decode_records(log[:cut])
        assert torn.entries == entries[:-1] and torn.valid_length == len(log) - len(records[-1])
        assert torn.warning is not None and "torn" in torn.warning


# --- the machine fed hostile messages -----------------------------------------------------------------

H = 7  # the height the observer machine is deciding


@st.composite
def hostile_messages(draw) -> tuple[object, str]:
    """(event, the reason the machine must count it under)."""
    kind = draw(st.sampled_from(
        ["garbage_vote", "garbage_proposal", "outsider_vote", "other_chain_vote", "old_vote",
         "outsider_proposal", "other_chain_proposal", "old_proposal", "forged_vote", "far_future_vote"]
    ))
    r, t, bh = draw(st.integers(0, 2)), draw(vote_types), draw(hash32)
    validator = draw(st.sampled_from(SIGNERS))
    if kind == "garbage_vote":
        return VoteReceived(draw(st.binary(max_size=80))), "malformed"
    if kind == "garbage_proposal":
        return ProposalReceived(draw(st.binary(max_size=80)), bh), "malformed"
    if kind == "outsider_vote":
        outsider = draw(st.sampled_from(OUTSIDERS))
        return VoteReceived(sign_vote(outsider, CHAIN_ID, H, r, t, bh)), "not_validator"
    if kind == "other_chain_vote":
        return VoteReceived(sign_vote(validator, CHAIN_ID + "-2", H, r, t, bh)), "wrong_chain"
    if kind == "old_vote":
        old = draw(st.integers(0, H - 1))
        return VoteReceived(sign_vote(validator, CHAIN_ID, old, r, t, bh)), "old_height"
    if kind == "far_future_vote":
        far = draw(st.integers(H + 1 + FUTURE_HEIGHTS, 2**64 - 1))  # beyond the buffered window
        return VoteReceived(sign_vote(validator, CHAIN_ID, far, r, t, bh)), "future_height"
    if kind == "forged_vote":  # a validator's vote with someone else's signature
        body = encode_vote_body(CHAIN_ID, H, r, t, bh, bytes(validator.verify_key))
        forged = encode_signed(body, OUTSIDERS[0].sign(vote_digest(body)).signature)
        return VoteReceived(forged), "bad_signature"
    if kind == "outsider_proposal":
        return ProposalReceived(sign_proposal(OUTSIDERS[1], CHAIN_ID, H, r, -1, bh), bh), "not_validator"
    if kind == "other_chain_proposal":
        proposer = next(k for k in SIGNERS if bytes(k.verify_key) == VALIDATOR_SET.proposer(H, r))
        return ProposalReceived(sign_proposal(proposer, "x" + CHAIN_ID, H, r, -1, bh), bh), "wrong_chain"
    old = draw(st.integers(1, H - 1))
    proposer = next(k for k in SIGNERS if bytes(k.verify_key) == VALIDATOR_SET.proposer(old, r))
    return ProposalReceived(sign_proposal(proposer, CHAIN_ID, old, r, -1, bh), bh), "old_height"


@settings(max_examples=300)
@given(st.lists(hostile_messages(), min_size=1, max_size=8))
def test_machine_drops_and_counts_each_hostile_message_once_and_does_nothing(messages) -> None:
    machine = ConsensusMachine(CHAIN_ID, None)
    machine.handle(StartHeight(H, VALIDATOR_SET))
    state = machine.state()
    for event, reason in messages:
        before = machine.ignored.copy()
        actions = machine.handle(event)
        assert actions == [], (reason, actions)
        delta = machine.ignored - before
        assert dict(delta) == {reason: 1}, (reason, dict(delta))
    assert machine.state() == state and machine.decision is None


# --- budgets that unauthenticated messages must not be able to spend -------------------------------


def test_forged_votes_cannot_use_up_an_honest_validators_future_round_budget() -> None:
    machine = ConsensusMachine(CHAIN_ID, None)
    machine.handle(StartHeight(H, VALIDATOR_SET))
    victim = SIGNERS[1]
    for r in range(1, machine.config.max_future_rounds_per_validator + 1):
        body = encode_vote_body(CHAIN_ID, H, r, VoteType.PREVOTE, bytes([r]) * 32, bytes(victim.verify_key))
        machine.handle(VoteReceived(encode_signed(body, OUTSIDERS[0].sign(vote_digest(body)).signature)))
    assert machine.ignored["bad_signature"] == machine.config.max_future_rounds_per_validator
    # The victim's genuine vote for the next future round must still be counted.
    genuine = sign_vote(victim, CHAIN_ID, H, 4, VoteType.PREVOTE, b"\x04" * 32)
    machine.handle(VoteReceived(genuine))
    assert machine.ignored["too_many_future_rounds"] == 0
    machine.handle(VoteReceived(genuine))  # counted the first time: now a duplicate
    assert machine.ignored["duplicate"] == 1


def test_non_validators_cannot_fill_the_next_height_buffer() -> None:
    config_limit = ConsensusMachine(CHAIN_ID, None).config.next_height_buffer
    machine = ConsensusMachine(CHAIN_ID, None)
    machine.handle(StartHeight(H, VALIDATOR_SET))
    junk = sign_vote(OUTSIDERS[0], CHAIN_ID, H + 1, 0, VoteType.PREVOTE, b"\x09" * 32)
    for _ in range(config_limit):
        machine.handle(VoteReceived(junk))
    block = b"\x0b" * 32
    proposer = next(k for k in SIGNERS if bytes(k.verify_key) == VALIDATOR_SET.proposer(H + 1, 0))
    genuine = sign_vote(proposer, CHAIN_ID, H + 1, 0, VoteType.PREVOTE, block)
    machine.handle(VoteReceived(genuine))
    machine.handle(StartHeight(H + 1, VALIDATOR_SET))
    assert machine.ignored["future_height"] == 0
    machine.handle(VoteReceived(genuine))  # kept and counted at StartHeight: now a duplicate
    assert machine.ignored["duplicate"] == 1
