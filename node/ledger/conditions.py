"""Spending conditions of programmable money: the lock language, its decoder and evaluator.

Why this shape. The e-CNY keeps its "smart contracts" deliberately small, and so does this:
a Lock is data, not code. Its policies are Bitcoin Miniscript's composable fragments (pk,
multi, after, and/or, thresh) and nothing else: no loops, no state, no arithmetic, so every
policy is statically analysable from its bytes alone: which keys can sign it (`keys_of`) and
the most work evaluating it can take (`cost`). Miniscript leaves destinations to Bitcoin
Script; here a policy cannot constrain where money goes, so a lock is a list of *clauses*,
each a policy plus the keys the coin may then be paid to. That one addition is what an
escrow needs (the payer's signature releases only to the payee; the deadline refunds only
to the payer) without a covenant language. A voucher expiry is the one fixed rule on top:
after it, only a reclaim to the issuing institution, which needs no signature.

Disputes without contract state. An escrow that releases "automatically to the payee after
a date if not disputed" needs a dispute to be an on-chain act, yet a lock holds no mutable
state. So a dispute is a *spend*: the escrow's dispute clause, and(or(pk(payer),
pk(confirmer)), before_time(date)), may pay only to the address of a second, fixed lock (the
arbiter's settlement: pk(arbiter) paying payer or payee), while its auto-release clause,
and(after_time(date), before_time(deadline)), pays only the payee and needs no signature.
Disputed money has left the escrow, so the auto-release can no longer reach it; undisputed
money is released by anyone from the date. The machine is two locks and a pay_to between
them: every step is still one bounded policy evaluation over the block's time and signers,
nothing loops or remembers, and a validator needs no state beyond the UTXO set.
`before_time` (the block time is still earlier than T) is the one fragment Bitcoin lacks: its
timelocks must stay valid forever once valid, whereas here every spend is evaluated against
its own block, and a block's time is part of what validators agree on.

A locked output is owned by `lock_address(lock bytes)`: the UTXO set, and so the state root,
commits to the lock by hash (as Bitcoin's P2WSH does); the locking output carries the lock
bytes on chain, and a spend presents them again exactly as received. Locks must be
canonically encoded (what this library serializes from the parsed message): one lock, one
address, and a field this node does not know (a future rule) is refused, never ignored.

Caps (genesis params: bytes, clauses, depth, keys per clause, total cost) bound decoding and
evaluation; anything over a cap is `malformed`, never a crash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from proto import ledger_pb2

from node.ledger.address import encode_address
from node.ledger.crypto import KEY_SIZE, sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import LedgerParams
from node.ledger.purposes import valid_name

LOCK_DOMAIN = b"cbdc/lock/v1\x00"


# --- domain ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Pk:
    key: bytes


@dataclass(frozen=True, slots=True)
class Multi:
    k: int
    keys: tuple[bytes, ...]


@dataclass(frozen=True, slots=True)
class AfterHeight:
    height: int


@dataclass(frozen=True, slots=True)
class AfterTime:
    time_ms: int


@dataclass(frozen=True, slots=True)
class BeforeTime:
    time_ms: int


@dataclass(frozen=True, slots=True)
class All:
    items: tuple[Policy, ...]


@dataclass(frozen=True, slots=True)
class AnyOf:
    items: tuple[Policy, ...]


@dataclass(frozen=True, slots=True)
class Thresh:
    k: int
    items: tuple[Policy, ...]


Policy = Pk | Multi | AfterHeight | AfterTime | BeforeTime | All | AnyOf | Thresh


@dataclass(frozen=True, slots=True)
class Clause:
    name: str
    policy: Policy
    pay_to: tuple[bytes, ...]  # empty: anywhere

    @property
    def keys(self) -> frozenset[bytes]:
        return keys_of(self.policy)


@dataclass(frozen=True, slots=True)
class Lock:
    raw: bytes                 # the serialized Lock exactly as received
    address: bytes             # lock_address(raw): the owner of outputs it locks
    clauses: tuple[Clause, ...]
    voucher_issuer: bytes      # empty unless a voucher
    expires_at_ms: int         # 0 unless a voucher
    memo: str
    cost: int                  # sum of the clauses' costs
    purpose: str = ""          # an earmark (node.ledger.purposes); then one clause pk(holder)

    @property
    def is_voucher(self) -> bool:
        return bool(self.voucher_issuer)

    def expired(self, time_ms: int) -> bool:
        return self.is_voucher and time_ms >= self.expires_at_ms

    @property
    def holder(self) -> bytes:
        """The key holding earmarked money (purpose locks only; empty otherwise)."""
        policy = self.clauses[0].policy
        return policy.key if self.purpose and isinstance(policy, Pk) else b""


def lock_address(raw: bytes) -> bytes:
    """The 32-byte owner of outputs locked by these lock bytes."""
    return sha256(LOCK_DOMAIN + raw)


# --- static analysis ----------------------------------------------------------------------


def keys_of(policy: Policy) -> frozenset[bytes]:
    """Every key whose signature can count towards `policy`."""
    if isinstance(policy, Pk):
        return frozenset((policy.key,))
    if isinstance(policy, Multi):
        return frozenset(policy.keys)
    if isinstance(policy, All | AnyOf | Thresh):
        return frozenset().union(*(keys_of(p) for p in policy.items))
    return frozenset()


def cost(policy: Policy) -> int:
    """Worst-case evaluation units of `policy`: one per node, one per key of a multi. The
    evaluator below spends at most this many (tests/ledger/test_conditions.py measures it)."""
    if isinstance(policy, Multi):
        return 1 + len(policy.keys)
    if isinstance(policy, All | AnyOf | Thresh):
        return 1 + sum(cost(p) for p in policy.items)
    return 1


def depth(policy: Policy) -> int:
    if isinstance(policy, All | AnyOf | Thresh):
        return 1 + max(depth(p) for p in policy.items)
    return 0


# --- decoding -----------------------------------------------------------------------------


def _malformed(message: str) -> LedgerError:
    return LedgerError(Code.MALFORMED, message)


def decode_lock(raw: bytes, params: LedgerParams) -> Lock:
    """Parse and check lock bytes against the caps. Raises LedgerError(malformed) only."""
    if not raw:
        raise _malformed("the lock is empty")
    if len(raw) > params.max_lock_bytes:
        raise _malformed(f"the lock is {len(raw)} bytes; at most {params.max_lock_bytes} are allowed")
    try:
        msg = ledger_pb2.Lock.FromString(raw)
        msg.DiscardUnknownFields()  # so that a field this node does not know fails the check below
        canonical = msg.SerializeToString(deterministic=True) == raw
    except Exception:  # any parser failure of untrusted bytes (including nesting too deep)
        raise _malformed("the lock is not a serialized Lock (protobuf decoding failed)") from None
    if not canonical:
        raise _malformed(
            "the lock is not canonically encoded or has fields this node does not know; "
            "build it with this network's client"
        )
    if not msg.clauses:
        raise _malformed("a lock needs at least one clause")
    if len(msg.clauses) > params.max_lock_clauses:
        raise _malformed(
            f"the lock has {len(msg.clauses)} clauses; at most {params.max_lock_clauses} are allowed"
        )
    clauses = tuple(_clause(c, i, params) for i, c in enumerate(msg.clauses))
    total = sum(cost(c.policy) for c in clauses)
    if total > params.max_condition_cost:
        raise _malformed(
            f"the lock costs {total} evaluation units; at most {params.max_condition_cost} are allowed"
        )
    issuer, expiry = msg.voucher_issuer, msg.expires_at_ms
    if issuer and len(issuer) != KEY_SIZE:
        raise _malformed(f"voucher_issuer is {len(issuer)} bytes; expected a {KEY_SIZE}-byte key")
    if bool(issuer) != bool(expiry):
        raise _malformed("a voucher needs both an issuer and an expiry (or neither)")
    if len(msg.memo) > 200:
        raise _malformed(f"the memo is {len(msg.memo)} characters; at most 200 are allowed")
    if msg.purpose:
        _check_earmark(msg.purpose, clauses, issuer)
    return Lock(raw, lock_address(raw), clauses, issuer, expiry, msg.memo, total, msg.purpose)


def _check_earmark(purpose: str, clauses: tuple[Clause, ...], voucher_issuer: bytes) -> None:
    # An earmark has one plain holder, so the holder's tier limits and the purpose registry
    # apply to one key; richer conditions on earmarked money are not part of this design.
    if not valid_name(purpose):
        raise _malformed(f"purpose {purpose!r} is not a purpose name (1-64 of a-z, 0-9, '.', '_', '-')")
    if len(clauses) != 1 or not isinstance(clauses[0].policy, Pk) or clauses[0].pay_to or voucher_issuer:
        raise _malformed(
            "an earmarked lock has exactly one clause, pk(holder) paying anywhere, and is not a voucher"
        )


@lru_cache(maxsize=4_096)
def decode_lock_cached(raw: bytes, params: LedgerParams) -> Lock:
    """decode_lock, memoised: a lock is decoded when a tx is admitted and again in every
    block that carries it (refusals are not cached: they raise)."""
    return decode_lock(raw, params)


def _clause(msg: ledger_pb2.Clause, i: int, params: LedgerParams) -> Clause:
    where = f"clause {i}"
    if len(msg.name) > 64:
        raise _malformed(f"{where}: the name is longer than 64 characters")
    if not msg.HasField("policy"):
        raise _malformed(f"{where} has no policy")
    policy = _policy(msg.policy, params, 0, where)
    if len(keys_of(policy)) > params.max_condition_keys:
        raise _malformed(
            f"{where} names {len(keys_of(policy))} keys; at most {params.max_condition_keys} are allowed"
        )
    pay_to = tuple(msg.pay_to)
    if len(pay_to) > params.max_condition_keys:
        raise _malformed(
            f"{where} pays to {len(pay_to)} keys; at most {params.max_condition_keys} are allowed"
        )
    for j, key in enumerate(pay_to):
        _key(key, f"{where}.pay_to[{j}]")
    return Clause(msg.name, policy, pay_to)


def _policy(msg: ledger_pb2.Condition, params: LedgerParams, level: int, where: str) -> Policy:
    node = msg.WhichOneof("node")
    if node == "pk":
        return Pk(_key(msg.pk, f"{where}: pk"))
    if node == "multi":
        keys = tuple(_key(k, f"{where}: multi key") for k in msg.multi.keys)
        _k_of_n(msg.multi.k, len(keys), f"{where}: multi")
        if len(set(keys)) != len(keys):
            raise _malformed(f"{where}: multi lists a key twice")
        return Multi(msg.multi.k, keys)
    if node == "after_height":
        if msg.after_height == 0:
            raise _malformed(f"{where}: after_height must be at least 1")
        return AfterHeight(msg.after_height)
    if node == "after_time_ms":
        if msg.after_time_ms == 0:
            raise _malformed(f"{where}: after_time_ms must be a positive unix time in milliseconds")
        return AfterTime(msg.after_time_ms)
    if node == "before_time_ms":
        if msg.before_time_ms == 0:
            raise _malformed(f"{where}: before_time_ms must be a positive unix time in milliseconds")
        return BeforeTime(msg.before_time_ms)
    if node is None:
        raise _malformed(
            f"{where}: a condition is empty (expected pk, multi, after, before, all, any or thresh)"
        )
    if level + 1 > params.max_condition_depth:
        raise _malformed(f"{where}: conditions nest deeper than {params.max_condition_depth} levels")
    if node == "thresh":
        items = _items(msg.thresh.items, params, level, where)
        _k_of_n(msg.thresh.k, len(items), f"{where}: thresh")
        return Thresh(msg.thresh.k, items)
    items = _items(getattr(msg, node).items, params, level, where)
    return All(items) if node == "all" else AnyOf(items)


def _items(msgs, params: LedgerParams, level: int, where: str) -> tuple[Policy, ...]:
    if len(msgs) < 1:
        raise _malformed(f"{where}: all/any/thresh needs at least one sub-condition")
    # Each item costs at least one unit: refuse a list longer than the cap before decoding it.
    if len(msgs) > params.max_condition_cost:
        raise _malformed(
            f"{where}: {len(msgs)} sub-conditions exceed the cost cap {params.max_condition_cost}"
        )
    return tuple(_policy(m, params, level + 1, where) for m in msgs)


def _k_of_n(k: int, n: int, where: str) -> None:
    if n == 0 or not 1 <= k <= n:
        raise _malformed(f"{where}: k is {k} of {n}; it must be from 1 to the number of items")


def _key(value: bytes, where: str) -> bytes:
    if len(value) != KEY_SIZE:
        raise _malformed(f"{where} is {len(value)} bytes; expected a {KEY_SIZE}-byte public key")
    return value


# --- evaluation ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Moment:
    """What a policy is evaluated against: the keys that signed and the block's position."""

    signed: frozenset[bytes]
    height: int
    time_ms: int
    utc_offset_minutes: int = 480


class _Meter:
    """Counts evaluation units, so tests can hold the evaluator to `cost`."""

    __slots__ = ("units",)

    def __init__(self) -> None:
        self.units = 0


def holds(policy: Policy, at: Moment, meter: _Meter | None = None) -> bool:
    """True when `policy` is satisfied. Spends at most cost(policy) units of `meter`.
    Every sub-policy is visited (no short cut), so the work does not depend on who signed."""
    m = meter if meter is not None else _Meter()
    return _holds(policy, at, m)


def _holds(policy: Policy, at: Moment, m: _Meter) -> bool:
    m.units += 1
    if isinstance(policy, Pk):
        return policy.key in at.signed
    if isinstance(policy, Multi):
        m.units += len(policy.keys)
        return sum(1 for k in policy.keys if k in at.signed) >= policy.k
    if isinstance(policy, AfterHeight):
        return at.height >= policy.height
    if isinstance(policy, AfterTime):
        return at.time_ms >= policy.time_ms
    if isinstance(policy, BeforeTime):
        return at.time_ms < policy.time_ms
    results = [_holds(p, at, m) for p in policy.items]
    if isinstance(policy, All):
        return all(results)
    if isinstance(policy, AnyOf):
        return any(results)
    return sum(results) >= policy.k


def shortfall(policy: Policy, at: Moment) -> str | None:
    """None when `policy` holds at `at`; otherwise a sentence saying what is missing, for
    the refusal a person reads ("needs 2 of 3 signatures and has 1", "not yet releasable
    until 2026-12-01 08:00 UTC+08:00")."""
    if holds(policy, at):
        return None
    if isinstance(policy, Pk):
        return f"needs the signature of {_addr(policy.key)}"
    if isinstance(policy, Multi):
        have = sum(1 for k in policy.keys if k in at.signed)
        return f"needs {policy.k} of {len(policy.keys)} signatures and has {have}"
    if isinstance(policy, AfterHeight):
        return f"not yet releasable until height {policy.height} (this block is {at.height})"
    if isinstance(policy, AfterTime):
        return f"not yet releasable until {format_time(policy.time_ms, at.utc_offset_minutes)}"
    if isinstance(policy, BeforeTime):
        return f"no longer possible from {format_time(policy.time_ms, at.utc_offset_minutes)}"
    if isinstance(policy, All):
        return next(r for p in policy.items if (r := shortfall(p, at)) is not None)
    reasons = [r for p in policy.items if (r := shortfall(p, at)) is not None]
    if isinstance(policy, AnyOf):
        return "none of the alternatives holds: " + "; or ".join(reasons)
    have = len(policy.items) - len(reasons)
    return f"needs {policy.k} of {len(policy.items)} conditions and has {have} ({'; '.join(reasons)})"


def format_time(time_ms: int, utc_offset_minutes: int = 480) -> str:
    """A unix-ms time as people read it, in the chain's UTC offset."""
    offset = timedelta(minutes=utc_offset_minutes)
    try:
        when = datetime.fromtimestamp(time_ms / 1000, UTC) + offset
    except (OverflowError, ValueError, OSError):  # past year 9999: no calendar date to print
        return f"unix time {time_ms} ms"
    sign = "+" if utc_offset_minutes >= 0 else "-"
    hours, minutes = divmod(abs(utc_offset_minutes), 60)
    return f"{when:%Y-%m-%d %H:%M} UTC{sign}{hours:02d}:{minutes:02d}"


def describe(policy: Policy) -> str:
    """Miniscript-like text of a policy, e.g. `or(pk(cbdc1..),and(pk(..),after_time(..)))`."""
    if isinstance(policy, Pk):
        return f"pk({_addr(policy.key)})"
    if isinstance(policy, Multi):
        return f"multi({policy.k},{','.join(_addr(k) for k in policy.keys)})"
    if isinstance(policy, AfterHeight):
        return f"after_height({policy.height})"
    if isinstance(policy, AfterTime):
        return f"after_time({format_time(policy.time_ms)})"
    if isinstance(policy, BeforeTime):
        return f"before_time({format_time(policy.time_ms)})"
    inner = ",".join(describe(p) for p in policy.items)
    if isinstance(policy, All):
        return f"and({inner})"
    if isinstance(policy, AnyOf):
        return f"or({inner})"
    return f"thresh({policy.k},{inner})"


def _addr(key: bytes) -> str:
    return encode_address(key) if len(key) == KEY_SIZE else key.hex()


# --- building (client side, tests) ----------------------------------------------------------


def policy_message(policy: Policy) -> ledger_pb2.Condition:
    """The wire message of a policy (for building locks; validators never re-encode)."""
    if isinstance(policy, Pk):
        return ledger_pb2.Condition(pk=policy.key)
    if isinstance(policy, Multi):
        return ledger_pb2.Condition(multi=ledger_pb2.Multi(k=policy.k, keys=list(policy.keys)))
    if isinstance(policy, AfterHeight):
        return ledger_pb2.Condition(after_height=policy.height)
    if isinstance(policy, AfterTime):
        return ledger_pb2.Condition(after_time_ms=policy.time_ms)
    if isinstance(policy, BeforeTime):
        return ledger_pb2.Condition(before_time_ms=policy.time_ms)
    items = [policy_message(p) for p in policy.items]
    if isinstance(policy, All):
        return ledger_pb2.Condition(all=ledger_pb2.Conditions(items=items))
    if isinstance(policy, AnyOf):
        return ledger_pb2.Condition(any=ledger_pb2.Conditions(items=items))
    return ledger_pb2.Condition(thresh=ledger_pb2.Thresh(k=policy.k, items=items))


def encode_lock(
    clauses: list[Clause] | tuple[Clause, ...],
    voucher_issuer: bytes = b"",
    expires_at_ms: int = 0,
    memo: str = "",
    purpose: str = "",
) -> bytes:
    """Canonical lock bytes (the only encoding decode_lock accepts)."""
    msg = ledger_pb2.Lock(
        clauses=[
            ledger_pb2.Clause(name=c.name, policy=policy_message(c.policy), pay_to=list(c.pay_to))
            for c in clauses
        ],
        voucher_issuer=voucher_issuer,
        expires_at_ms=expires_at_ms,
        memo=memo,
        purpose=purpose,
    )
    return msg.SerializeToString(deterministic=True)
