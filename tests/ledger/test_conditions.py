"""The lock language alone (node.ledger.conditions): decoding under the caps, static analysis,
evaluation. The decoder is fuzzed (only clean `malformed` refusals) and the worst-case lock
at the caps is evaluated within its cost bound."""

from __future__ import annotations

import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.ledger.conditions import (
    AfterHeight,
    AfterTime,
    All,
    AnyOf,
    BeforeTime,
    Clause,
    Moment,
    Multi,
    Pk,
    Thresh,
    _Meter,
    cost,
    decode_lock,
    describe,
    encode_lock,
    holds,
    keys_of,
    lock_address,
    shortfall,
)
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, LedgerParams, make_genesis
from proto import ledger_pb2

PARAMS = LedgerParams()
KEYS = [bytes([n]) * 32 for n in range(1, 40)]
A, B, C = KEYS[:3]
T = 1_767_240_000_000


def at(*signed: bytes, height: int = 10, time_ms: int = T) -> Moment:
    return Moment(frozenset(signed), height, time_ms)


def rejects(raw: bytes, params: LedgerParams = PARAMS) -> LedgerError:
    with pytest.raises(LedgerError) as e:
        decode_lock(raw, params)
    assert e.value.code == Code.MALFORMED
    return e.value


# --- valid locks round-trip ----------------------------------------------------------------


def test_a_lock_decodes_to_what_was_built() -> None:
    policy = AnyOf((Multi(2, (A, B, C)), All((Pk(A), AfterTime(T)))))
    raw = encode_lock([Clause("spend", policy, ()), Clause("refund", AfterHeight(5), (A,))], memo="m")
    lock = decode_lock(raw, PARAMS)
    assert lock.raw == raw and lock.address == lock_address(raw)
    assert lock.clauses[0].policy == policy and lock.clauses[1].pay_to == (A,)
    assert lock.memo == "m" and not lock.is_voucher
    assert keys_of(policy) == {A, B, C}
    assert lock.cost == cost(policy) + 1 == (1 + 4 + 1 + 1 + 1) + 1
    assert describe(policy).startswith("or(multi(2,cbdc1")


def test_evaluation_and_the_sentences_people_read() -> None:
    two_of_three = Multi(2, (A, B, C))
    assert holds(two_of_three, at(A, C)) and not holds(two_of_three, at(B))
    assert shortfall(two_of_three, at(B)) == "needs 2 of 3 signatures and has 1"
    later = AfterTime(T + 86_400_000)
    assert shortfall(later, at(A)) == "not yet releasable until 2026-01-02 12:00 UTC+08:00"
    assert shortfall(later, at(time_ms=T + 86_400_000)) is None
    assert shortfall(AfterHeight(11), at()) == "not yet releasable until height 11 (this block is 10)"
    assert holds(Thresh(2, (Pk(A), Pk(B), AfterHeight(1))), at(B))
    assert "needs 2 of 3 conditions and has 1" in shortfall(Thresh(2, (Pk(A), Pk(B), AfterHeight(99))), at(B))
    assert shortfall(All((Pk(A), Pk(B))), at(A)).startswith("needs the signature of cbdc1")
    assert shortfall(AnyOf((Pk(A), later)), at()).startswith("none of the alternatives holds")
    # before_time: true strictly before the instant, never from it on (the dispute window).
    window = BeforeTime(T + 86_400_000)
    assert holds(window, at(time_ms=T + 86_399_999)) and not holds(window, at(time_ms=T + 86_400_000))
    closed = at(time_ms=T + 86_400_000)
    assert shortfall(window, closed) == "no longer possible from 2026-01-02 12:00 UTC+08:00"
    assert describe(All((Pk(A), window))).endswith(",before_time(2026-01-02 12:00 UTC+08:00))")


# --- one refusal per cap and shape -----------------------------------------------------------


def _nest(levels: int) -> ledger_pb2.Condition:
    cond = ledger_pb2.Condition(pk=A)
    for _ in range(levels):
        cond = ledger_pb2.Condition(all=ledger_pb2.Conditions(items=[cond]))
    return cond


def _raw(*conds: ledger_pb2.Condition, **lock_fields: object) -> bytes:
    clauses = [ledger_pb2.Clause(name="c", policy=c) for c in conds]
    return ledger_pb2.Lock(clauses=clauses, **lock_fields).SerializeToString(deterministic=True)


def test_caps_and_shapes_are_malformed() -> None:
    decode_lock(_raw(_nest(PARAMS.max_condition_depth)), PARAMS)
    assert "nest deeper" in rejects(_raw(_nest(PARAMS.max_condition_depth + 1))).message
    assert "at most" in rejects(b"\x0a" * (PARAMS.max_lock_bytes + 1)).message
    assert "clauses" in rejects(_raw(*[ledger_pb2.Condition(pk=A)] * (PARAMS.max_lock_clauses + 1))).message
    many = ledger_pb2.Condition(multi=ledger_pb2.Multi(k=1, keys=KEYS[: PARAMS.max_condition_keys + 1]))
    assert "keys" in rejects(_raw(many)).message
    small = LedgerParams(max_condition_cost=5)
    five = ledger_pb2.Condition(multi=ledger_pb2.Multi(k=1, keys=KEYS[:5]))
    assert "evaluation units" in rejects(_raw(five), small).message
    rejects(b"")                                                             # empty
    rejects(b"\xff\xff")                                                     # not protobuf
    rejects(ledger_pb2.Lock().SerializeToString())                          # no clause
    rejects(_raw(ledger_pb2.Condition()))                                   # empty condition
    rejects(_raw(ledger_pb2.Condition(pk=A[:31])))                          # short key
    rejects(_raw(ledger_pb2.Condition(multi=ledger_pb2.Multi(k=3, keys=[A, B]))))   # k > n
    rejects(_raw(ledger_pb2.Condition(multi=ledger_pb2.Multi(k=0, keys=[A, B]))))   # k = 0
    rejects(_raw(ledger_pb2.Condition(multi=ledger_pb2.Multi(k=1, keys=[A, A]))))   # key twice
    rejects(_raw(ledger_pb2.Condition(thresh=ledger_pb2.Thresh(k=1))))              # no items
    rejects(_raw(ledger_pb2.Condition(after_height=0)))
    assert "before_time_ms" in rejects(_raw(ledger_pb2.Condition(before_time_ms=0))).message
    rejects(_raw(ledger_pb2.Condition(pk=A), voucher_issuer=B))                     # issuer, no expiry
    rejects(_raw(ledger_pb2.Condition(pk=A), expires_at_ms=T))                      # expiry, no issuer
    rejects(_raw(ledger_pb2.Condition(pk=A)) + b"\x78\x01")                         # unknown field 15
    # The same lock with its fields out of order: not canonical, so not a second address.
    clause = ledger_pb2.Clause(name="c", policy=ledger_pb2.Condition(pk=A)).SerializeToString()
    memo = ledger_pb2.Lock(memo="x").SerializeToString()
    rejects(memo + b"\x0a" + bytes([len(clause)]) + clause)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(tag: int, data: bytes) -> bytes:
    return bytes([tag]) + _varint(len(data)) + data


def test_nesting_far_past_the_parser_limit_is_a_clean_refusal() -> None:
    # Written byte by byte: this library will not even build a message this deep.
    cond = ledger_pb2.Condition(pk=A).SerializeToString()
    for _ in range(300):
        cond = _field(0x2A, _field(0x0A, cond))  # Condition.all = Conditions{items: [cond]}
    raw = _field(0x0A, _field(0x12, cond))         # Lock.clauses = [Clause{policy: cond}]
    rejects(raw, LedgerParams(max_lock_bytes=1 << 16))


# --- the worst case at the caps --------------------------------------------------------------


def _worst_case_lock(params: LedgerParams, keys_per_clause: int = 5) -> bytes:
    """Every cap at once: as many clauses as allowed, each nested as deep as allowed, the
    whole lock costing exactly the cost cap (a multi of several keys at the bottom of each
    clause, cheap after() leaves filling the rest), within the byte cap."""
    per_clause = params.max_condition_cost // params.max_lock_clauses
    keys = tuple(KEYS[:keys_per_clause])
    clauses = []
    for n in range(params.max_lock_clauses):
        policy: object = Multi(len(keys), keys)
        for _ in range(params.max_condition_depth - 1):
            policy = All((policy,))
        leaves = tuple(AfterHeight(h + 1) for h in range(per_clause - cost(policy) - 1))
        clauses.append(Clause(f"c{n}", Thresh(1 + len(leaves), (policy, *leaves)), ()))
    return encode_lock(clauses)


def test_the_worst_case_lock_evaluates_within_its_cost_bound() -> None:
    params = PARAMS
    raw = _worst_case_lock(params)
    lock = decode_lock(raw, params)
    assert lock.cost == params.max_condition_cost and len(lock.clauses) == params.max_lock_clauses
    assert len(raw) <= params.max_lock_bytes
    moment = at(*KEYS[:5])
    started = time.perf_counter()
    for clause in lock.clauses:
        meter = _Meter()
        assert holds(clause.policy, moment, meter)
        assert meter.units <= cost(clause.policy)
        assert shortfall(clause.policy, at(height=0)) is not None  # the failing path, sentence included
    elapsed = time.perf_counter() - started
    # 128 units of a few hundred ns each; a generous bound for a loaded machine.
    assert elapsed < 0.05, f"evaluating the worst-case lock took {elapsed * 1000:.1f} ms"


# --- fuzzing: only clean refusals ---------------------------------------------------------------

_VALID = [
    encode_lock([Clause("s", Multi(2, (A, B, C)), ())]),
    encode_lock([Clause("r", AnyOf((Pk(A), Pk(B))), (C,)), Clause("f", AfterTime(T), (A,))], memo="lesson"),
    encode_lock([Clause("s", Thresh(2, (Pk(A), AfterHeight(3), All((Pk(B), Pk(C))))), ())],
                voucher_issuer=C, expires_at_ms=T),
]


def _decode_cleanly(raw: bytes) -> None:
    try:
        lock = decode_lock(raw, PARAMS)
    except LedgerError as e:
        assert e.code == Code.MALFORMED
        return
    # Whatever decodes respects every cap and evaluates within its cost.
    assert len(raw) <= PARAMS.max_lock_bytes and lock.cost <= PARAMS.max_condition_cost
    for clause in lock.clauses:
        assert len(keys_of(clause.policy)) <= PARAMS.max_condition_keys
        meter = _Meter()
        holds(clause.policy, at(A, B), meter)
        assert meter.units <= cost(clause.policy)


@settings(max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_fuzz_random_bytes(raw: bytes) -> None:
    _decode_cleanly(raw)


@settings(max_examples=5_000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(_VALID), st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=6),
       st.integers(0, 400))
def test_fuzz_mutated_valid_locks(base: bytes, flips: list[tuple[int, int]], cut: int) -> None:
    raw = bytearray(base)
    for pos, value in flips:
        if raw:
            raw[pos % len(raw)] = value
    _decode_cleanly(bytes(raw[: max(cut, 1)]))


_policies = st.recursive(
    st.one_of(
        st.sampled_from(KEYS[:20]).map(Pk),
        st.integers(1, 2**64 - 1).map(AfterHeight),
        st.integers(1, 2**64 - 1).map(AfterTime),
        st.integers(1, 2**64 - 1).map(BeforeTime),
        st.lists(st.sampled_from(KEYS[:20]), min_size=1, max_size=20, unique=True).flatmap(
            lambda ks: st.integers(1, len(ks)).map(lambda k: Multi(k, tuple(ks)))
        ),
    ),
    lambda sub: st.one_of(
        st.lists(sub, min_size=1, max_size=6).map(lambda xs: All(tuple(xs))),
        st.lists(sub, min_size=1, max_size=6).map(lambda xs: AnyOf(tuple(xs))),
        st.lists(sub, min_size=1, max_size=6).flatmap(
            lambda xs: st.integers(1, len(xs)).map(lambda k: Thresh(k, tuple(xs)))
        ),
    ),
    max_leaves=12,
)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_policies, min_size=1, max_size=4), st.sets(st.sampled_from(KEYS[:20])))
def test_fuzz_structured_policies(policies: list, signed: set[bytes]) -> None:
    """Random trees: accepted exactly when within the caps; evaluation agrees with the
    decoded tree and stays within the cost bound."""
    raw = encode_lock([Clause("c", p, ()) for p in policies])
    try:
        lock = decode_lock(raw, PARAMS)
    except LedgerError as e:
        assert e.code == Code.MALFORMED
        return
    for clause, policy in zip(lock.clauses, policies, strict=True):
        assert clause.policy == policy
        meter = _Meter()
        result = holds(policy, at(*signed), meter)
        assert meter.units <= cost(policy)
        assert (shortfall(policy, at(*signed)) is None) == result


def test_lock_caps_in_genesis_keep_existing_genesis_hashes() -> None:
    """The caps are genesis parameters; at their defaults they are left out of the genesis
    document, so a network's existing genesis file keeps its hash (and its nodes their
    stores). Set to anything else, they are written, hashed and read back."""
    issuers, institutions = [bytes([1]) * 32], [bytes([2]) * 32]
    plain = make_genesis(issuers=issuers, institutions=institutions)
    assert set(plain.to_dict()["params"]) == {
        "max_body_bytes", "max_inputs", "max_outputs", "max_block_txs", "max_block_bytes",
        "utc_offset_minutes",
    }
    tighter = make_genesis(issuers=issuers, institutions=institutions,
                           params=LedgerParams(max_lock_bytes=512, max_condition_cost=32))
    assert tighter.to_dict()["params"]["max_lock_bytes"] == 512 and tighter.hash() != plain.hash()
    assert Genesis.from_dict(tighter.to_dict()) == tighter
