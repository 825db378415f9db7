"""The genesis document: the network's identity, its roles (keys) and the ledger's parameters.

JSON format (genesis.json). Public keys are written as bech32m addresses ("cbdc1..."), which
carry a checksum so a mistyped key is caught when the file is loaded; 64-character hex is
accepted on input too (what other tools often print). Amounts are integers in fen
(0.01 yuan); null means unlimited.

    {
      "chain_id": "cbdc-devnet",
      "genesis_time_ms": 1767225600000,
      "issuers": ["cbdc1...", "cbdc1...", "cbdc1..."],   # the central bank's issuance keys
      "issue_threshold": 2,                               # m of the n issuers sign an Issue
      "institutions": [{"id": "bank-a", "name": "Bank A", "public_key": "cbdc1..."}],
      "validators": [{"name": "pbc-1", "public_key": "cbdc1...", "power": 10}],
      "tiers": [{"id": 4, "name": "anonymous", "balance_cap": 1000000, "per_payment": 200000,
                 "daily": 500000, "yearly": 5000000}, ...],
      "params": {"max_body_bytes": 16384, ...},           # optional; defaults below
      "auditors": ["cbdc1..."]                            # optional: keys that may read everything
    }

Every problem is reported as a GenesisError naming the exact field, e.g.
`validators[2].power: must be a positive integer`.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from node.ledger.address import AddressError, decode_address, encode_address
from node.ledger.crypto import KEY_SIZE, SIGNATURE_SIZE, sha256
from node.ledger.types import U64_MAX

U32_MAX = (1 << 32) - 1
# As in Tendermint: the total voting power must leave room for priority arithmetic.
MAX_TOTAL_VOTING_POWER = (1 << 63) // 8
# The most keys the central bank's authority (issuers) may have, at genesis or after a
# governance change (node.ledger.governance): bounds the signatures of one transaction.
MAX_AUTHORITY_KEYS = 16
YUAN = 100  # fen per yuan

_CHAIN_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,49}")
_INSTITUTION_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


class GenesisError(ValueError):
    """An invalid genesis document. `field` is the path of the wrong field (e.g.
    'validators[2].power', empty for the document as a whole); `problem` says what is wrong."""

    def __init__(self, field: str, problem: str, source: str | None = None) -> None:
        where = f"{field}: " if field else ""
        prefix = f"genesis {source}: " if source else ""
        super().__init__(f"{prefix}{where}{problem}")
        self.field = field
        self.problem = problem
        self.source = source


# --- domain -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Tier:
    """A wallet class and its limits, in fen; None means unlimited.

    per_payment: value leaving the payer in one transfer (change excluded);
    daily / yearly: total outflow per calendar day / year in the chain's UTC offset;
    balance_cap: the most the wallet may hold after receiving a payment.
    """

    id: int
    name: str
    balance_cap: int | None
    per_payment: int | None
    daily: int | None
    yearly: int | None


@dataclass(frozen=True, slots=True)
class Institution:
    """A licensed operator: receives issuance, registers wallets, redeems cash."""

    id: str
    name: str
    public_key: bytes


@dataclass(frozen=True, slots=True)
class Validator:
    name: str
    public_key: bytes
    power: int


@dataclass(frozen=True, slots=True)
class LedgerParams:
    """Caps that keep every transaction and block cheap to check. Oversize input is rejected
    as `malformed`. The defaults leave a block well under gRPC's 4 MiB message limit."""

    max_body_bytes: int = 16_384
    max_inputs: int = 128
    max_outputs: int = 128
    max_block_txs: int = 2_000
    max_block_bytes: int = 3_000_000
    utc_offset_minutes: int = 480  # days and years for outflow limits: UTC+08:00 by default
    # Programmable money (node.ledger.conditions): caps on one Lock. A lock over any cap is
    # `malformed`; together they bound the work of evaluating any spend of a locked output.
    max_lock_bytes: int = 2_048
    max_lock_clauses: int = 8
    max_condition_depth: int = 6      # nesting of all/any/thresh
    max_condition_keys: int = 16      # distinct keys in one clause (and so signers of a spend)
    max_condition_cost: int = 128     # evaluation units of the whole lock (conditions.cost)


def default_tiers() -> dict[int, Tier]:
    """The default tier table, after the e-CNY wallet classes published by the PBOC.

    Ids follow e-CNY's numbering, where class 4 is the weakest identity and class 1 the
    strongest. Amounts in yuan (stored in fen):

    ====  ==========  ===========  ===========  =======  =========  =======================
    id    name        balance cap  per payment  daily    yearly     identity
    ====  ==========  ===========  ===========  =======  =========  =======================
    1     full        500,000      50,000       100,000  unlimited  real name + bank account
    2     verified    100,000      20,000       50,000   unlimited  real name, remote check
    3     basic       20,000       5,000        10,000   unlimited  ID document + phone
    4     anonymous   10,000       2,000        5,000    50,000     phone number only
    ====  ==========  ===========  ===========  =======  =========  =======================

    Tiers 1 and 4 are the published figures for the fully verified and the anonymous
    (phone-number-only) wallets; tier 3 uses the published figures of e-CNY's third class;
    tier 2 is our interpolation between them (e-CNY publishes no class in that gap). Yearly
    limits are published only for the anonymous class, so the others are unlimited.
    """
    rows = [
        (1, "full", 500_000, 50_000, 100_000, None),
        (2, "verified", 100_000, 20_000, 50_000, None),
        (3, "basic", 20_000, 5_000, 10_000, None),
        (4, "anonymous", 10_000, 2_000, 5_000, 50_000),
    ]

    def fen(yuan: int | None) -> int | None:
        return None if yuan is None else yuan * YUAN

    return {
        tid: Tier(tid, name, fen(cap), fen(per), fen(day), fen(year))
        for tid, name, cap, per, day, year in rows
    }


ANONYMOUS_TIER = 4
FULL_TIER = 1


@dataclass(frozen=True)
class Genesis:
    chain_id: str
    genesis_time_ms: int
    issuers: tuple[bytes, ...]
    issue_threshold: int
    institutions: tuple[Institution, ...]
    validators: tuple[Validator, ...]
    tiers: dict[int, Tier]
    params: LedgerParams = field(default_factory=LedgerParams)
    # Auditors and regulators: keys that may read every wallet, transaction and block through
    # the public API (node.net.auth). Not a ledger role: they sign no transaction.
    auditors: tuple[bytes, ...] = ()
    # Derived once; the decoder and the rules consult them for every transaction.
    max_tx_bytes: int = field(init=False, repr=False, compare=False)
    _issuer_set: frozenset[bytes] = field(init=False, repr=False, compare=False)
    _by_key: dict[bytes, Institution] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _validate(self)
        object.__setattr__(self, "_issuer_set", frozenset(self.issuers))
        object.__setattr__(self, "_by_key", {i.public_key: i for i in self.institutions})
        # The largest serialized Transaction that can be valid: a full body plus one signature
        # per possible signer (every key of an authority as large as governance allows, plus
        # the new key of a key rotation; or the max_condition_keys signers of a spend of a
        # locked output), with protobuf tags and lengths. Anything longer is rejected before
        # parsing.
        most_signers = max(MAX_AUTHORITY_KEYS + 1, self.params.max_condition_keys)
        signatures = most_signers * (SIGNATURE_SIZE + 2)
        object.__setattr__(self, "max_tx_bytes", self.params.max_body_bytes + 6 + signatures)

    # --- queries --------------------------------------------------------------------
    def is_issuer(self, pubkey: bytes) -> bool:
        return pubkey in self._issuer_set

    def is_institution(self, pubkey: bytes) -> bool:
        return pubkey in self._by_key

    def institution(self, pubkey: bytes) -> Institution | None:
        return self._by_key.get(pubkey)

    def tier(self, tier_id: int) -> Tier | None:
        return self.tiers.get(tier_id)

    @property
    def total_voting_power(self) -> int:
        return sum(v.power for v in self.validators)

    # --- JSON -----------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Genesis:
        source = os.fspath(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError:
            raise GenesisError("", "file does not exist", source) from None
        except (OSError, UnicodeDecodeError) as e:
            raise GenesisError("", f"cannot read the file ({e})", source) from None
        try:
            doc = json.loads(text)
        except json.JSONDecodeError as e:
            raise GenesisError("", f"not valid JSON ({e.msg} at line {e.lineno})", source) from None
        try:
            return cls.from_dict(doc)
        except GenesisError as e:
            raise GenesisError(e.field, e.problem, source) from None

    def save(self, path: str | os.PathLike[str]) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2, ensure_ascii=False) + "\n", "utf-8")

    @classmethod
    def from_dict(cls, doc: Any) -> Genesis:
        obj = _object(doc, "", required=_TOP_REQUIRED, optional=("params", "auditors"))
        params = _params(obj.get("params", {}))
        tiers_list = _list(obj["tiers"], "tiers")
        tiers: dict[int, Tier] = {}
        for i, t in enumerate(tiers_list):
            tier = _tier(t, f"tiers[{i}]")
            if tier.id in tiers:
                raise GenesisError(f"tiers[{i}].id", f"tier {tier.id} is listed twice")
            tiers[tier.id] = tier
        return cls(
            chain_id=obj["chain_id"],
            genesis_time_ms=obj["genesis_time_ms"],
            issuers=tuple(_key(k, f"issuers[{i}]") for i, k in enumerate(_list(obj["issuers"], "issuers"))),
            issue_threshold=obj["issue_threshold"],
            institutions=tuple(
                _institution(x, f"institutions[{i}]")
                for i, x in enumerate(_list(obj["institutions"], "institutions"))
            ),
            validators=tuple(
                _validator(x, f"validators[{i}]")
                for i, x in enumerate(_list(obj["validators"], "validators"))
            ),
            tiers=tiers,
            params=params,
            auditors=tuple(
                _key(k, f"auditors[{i}]") for i, k in enumerate(_list(obj.get("auditors", []), "auditors"))
            ),
        )

    def to_dict(self) -> dict[str, Any]:
        doc = {
            "chain_id": self.chain_id,
            "genesis_time_ms": self.genesis_time_ms,
            "issuers": [encode_address(k) for k in self.issuers],
            "issue_threshold": self.issue_threshold,
            "institutions": [
                {"id": i.id, "name": i.name, "public_key": encode_address(i.public_key)}
                for i in self.institutions
            ],
            "validators": [
                {"name": v.name, "public_key": encode_address(v.public_key), "power": v.power}
                for v in self.validators
            ],
            # Sorted so that the same table always hashes the same.
            "tiers": [
                {
                    "id": t.id, "name": t.name, "balance_cap": t.balance_cap,
                    "per_payment": t.per_payment, "daily": t.daily, "yearly": t.yearly,
                }
                for t in sorted(self.tiers.values(), key=lambda t: t.id)
            ],
            "params": _params_doc(self.params),
        }
        if self.auditors:  # absent when empty: a genesis without auditors hashes as before
            doc["auditors"] = [encode_address(k) for k in self.auditors]
        return doc

    def canonical_json(self) -> bytes:
        """One byte string per genesis, whatever the key spelling or spacing of the file."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    def hash(self) -> bytes:
        """Identifies the network: nodes with different genesis hashes must not peer."""
        return sha256(b"cbdc/genesis/v1\x00" + self.canonical_json())


# Parameters added after networks already ran: written only when they differ from their
# default, so an existing genesis file keeps its hash (and its nodes keep their stores).
_LATER_PARAMS = frozenset({
    "max_lock_bytes", "max_lock_clauses", "max_condition_depth", "max_condition_keys", "max_condition_cost",
})


def _params_doc(params: LedgerParams) -> dict[str, Any]:
    default = LedgerParams()
    return {
        f.name: getattr(params, f.name)
        for f in fields(LedgerParams)
        if f.name not in _LATER_PARAMS or getattr(params, f.name) != getattr(default, f.name)
    }


_TOP_REQUIRED = (
    "chain_id", "genesis_time_ms", "issuers", "issue_threshold", "institutions", "validators", "tiers",
)


# --- building (devnet and tests) --------------------------------------------------------


def _public(x: Any) -> bytes:
    """A public key given as bytes or as anything with a `.public` (a KeyPair)."""
    return x if isinstance(x, bytes | bytearray) else x.public


def make_genesis(
    *,
    issuers: Sequence[Any],
    institutions: Sequence[Any] = (),
    validators: Sequence[Any] = (),
    issue_threshold: int | None = None,
    chain_id: str = "cbdc-devnet",
    genesis_time_ms: int = 0,
    tiers: Mapping[int, Tier] | None = None,
    params: LedgerParams | None = None,
    auditors: Sequence[Any] = (),
) -> Genesis:
    """A genesis for a devnet or a test, from public keys (bytes or KeyPairs).

    institutions / validators may be Institution / Validator records or bare keys (then
    named inst-<n> / validator-<n>, power 10). Without validators, each institution key also
    validates (the pilot institutions run the nodes). The threshold defaults to a majority
    of the issuers.
    """
    insts = tuple(
        x if isinstance(x, Institution) else Institution(f"inst-{n}", f"Institution {n}", bytes(_public(x)))
        for n, x in enumerate(institutions)
    )
    if validators:
        vals = tuple(
            x if isinstance(x, Validator) else Validator(f"validator-{n}", bytes(_public(x)), 10)
            for n, x in enumerate(validators)
        )
    else:
        vals = tuple(Validator(f"validator-{n}", i.public_key, 10) for n, i in enumerate(insts))
    keys = tuple(bytes(_public(k)) for k in issuers)
    return Genesis(
        chain_id=chain_id,
        genesis_time_ms=genesis_time_ms,
        issuers=keys,
        issue_threshold=issue_threshold if issue_threshold is not None else len(keys) // 2 + 1,
        institutions=insts,
        validators=vals,
        tiers=dict(tiers) if tiers is not None else default_tiers(),
        params=params or LedgerParams(),
        auditors=tuple(bytes(_public(k)) for k in auditors),
    )


# --- JSON structure ---------------------------------------------------------------------


def _object(v: Any, path: str, required: Iterable[str], optional: Iterable[str] = ()) -> dict:
    if not isinstance(v, dict):
        raise GenesisError(path, "must be a JSON object")
    required = tuple(required)
    allowed = set(required) | set(optional)
    for name in v:
        if name not in allowed:
            expected = ", ".join(sorted(allowed))
            raise GenesisError(_join(path, name), f"unknown field (expected one of: {expected})")
    for name in required:
        if name not in v:
            raise GenesisError(_join(path, name), "is missing")
    return v


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _list(v: Any, path: str) -> list:
    if not isinstance(v, list):
        raise GenesisError(path, "must be a JSON list")
    return v


def _key(v: Any, path: str) -> bytes:
    if not isinstance(v, str):
        raise GenesisError(path, "must be a public key (a cbdc1... address or 64 hex characters)")
    if len(v) == 2 * KEY_SIZE and all(c in "0123456789abcdefABCDEF" for c in v):
        return bytes.fromhex(v)
    try:
        return decode_address(v)
    except AddressError as e:
        raise GenesisError(path, str(e)) from None


def _institution(v: Any, path: str) -> Institution:
    o = _object(v, path, ("id", "name", "public_key"))
    return Institution(o["id"], o["name"], _key(o["public_key"], f"{path}.public_key"))


def _validator(v: Any, path: str) -> Validator:
    o = _object(v, path, ("name", "public_key", "power"))
    return Validator(o["name"], _key(o["public_key"], f"{path}.public_key"), o["power"])


_TIER_FIELDS = ("id", "name", "balance_cap", "per_payment", "daily", "yearly")


def _tier(v: Any, path: str) -> Tier:
    o = _object(v, path, ("id", "name"), optional=_TIER_FIELDS[2:])
    _int(o["id"], f"{path}.id", 0, U32_MAX, f"an integer from 0 to {U32_MAX}")  # a dict key below
    # Absent limit fields mean unlimited, like null.
    return Tier(*(o.get(name) for name in _TIER_FIELDS))


def _params(v: Any) -> LedgerParams:
    names = [f.name for f in fields(LedgerParams)]
    o = _object(v, "params", (), optional=names)
    return LedgerParams(**o)


# --- semantic validation ----------------------------------------------------------------


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)  # JSON true is not a number


def _int(v: Any, path: str, lo: int, hi: int, what: str) -> None:
    if not _is_int(v) or not lo <= v <= hi:
        raise GenesisError(path, f"must be {what}")


def _text(v: Any, path: str, max_len: int = 200) -> None:
    if not isinstance(v, str) or not v.strip() or len(v) > max_len:
        raise GenesisError(path, f"must be a non-empty string of at most {max_len} characters")


def _pubkey(v: Any, path: str) -> None:
    if not isinstance(v, bytes) or len(v) != KEY_SIZE:
        raise GenesisError(path, f"must be a {KEY_SIZE}-byte ed25519 public key")


def _validate(g: Genesis) -> None:
    if not isinstance(g.chain_id, str) or not _CHAIN_ID.fullmatch(g.chain_id):
        raise GenesisError(
            "chain_id", "must be 1-50 characters of letters, digits, '.', '_' or '-' (e.g. 'cbdc-devnet')"
        )
    _int(g.genesis_time_ms, "genesis_time_ms", 0, U64_MAX, "unix time in milliseconds (an integer >= 0)")
    _validate_issuers(g)
    _validate_institutions(g)
    _validate_validators(g)
    _validate_tiers(g)
    _validate_params(g.params)
    _validate_auditors(g)


def _validate_auditors(g: Genesis) -> None:
    if not isinstance(g.auditors, tuple):
        raise GenesisError("auditors", "must be a list of public keys")
    _distinct_keys(g.auditors, "auditors")


def _distinct_keys(keys: tuple[bytes, ...], name: str) -> None:
    """Each entry of the key list `name` a public key, none listed twice."""
    seen: set[bytes] = set()
    for i, k in enumerate(keys):
        _pubkey(k, f"{name}[{i}]")
        if k in seen:
            raise GenesisError(f"{name}[{i}]", "is listed twice")
        seen.add(k)


def _validate_issuers(g: Genesis) -> None:
    if not g.issuers:
        raise GenesisError("issuers", "the central bank needs at least one issuer key")
    if len(g.issuers) > MAX_AUTHORITY_KEYS:
        raise GenesisError("issuers", f"at most {MAX_AUTHORITY_KEYS} issuer keys are allowed")
    _distinct_keys(g.issuers, "issuers")
    _int(
        g.issue_threshold, "issue_threshold", 1, len(g.issuers),
        f"an integer from 1 to the number of issuers ({len(g.issuers)})",
    )


def _validate_institutions(g: Genesis) -> None:
    ids: set[str] = set()
    keys: set[bytes] = set()
    issuers = set(g.issuers)
    for i, inst in enumerate(g.institutions):
        p = f"institutions[{i}]"
        if not isinstance(inst.id, str) or not _INSTITUTION_ID.fullmatch(inst.id):
            raise GenesisError(f"{p}.id", "must be 1-64 characters of letters, digits, '.', '_' or '-'")
        if inst.id in ids:
            raise GenesisError(f"{p}.id", f"institution id {inst.id!r} is used twice")
        _text(inst.name, f"{p}.name")
        _pubkey(inst.public_key, f"{p}.public_key")
        if inst.public_key in keys:
            raise GenesisError(f"{p}.public_key", "belongs to another institution already")
        if inst.public_key in issuers:
            # Roles stay separate: an issuance key that could also spend as an institution
            # would let one key both mint and move the money.
            raise GenesisError(f"{p}.public_key", "is an issuer key; institutions need keys of their own")
        ids.add(inst.id)
        keys.add(inst.public_key)


def _validate_validators(g: Genesis) -> None:
    if not g.validators:
        raise GenesisError("validators", "at least one validator is needed")
    keys: set[bytes] = set()
    for i, v in enumerate(g.validators):
        p = f"validators[{i}]"
        _text(v.name, f"{p}.name")
        _pubkey(v.public_key, f"{p}.public_key")
        if v.public_key in keys:
            raise GenesisError(f"{p}.public_key", "belongs to another validator already")
        keys.add(v.public_key)
        _int(v.power, f"{p}.power", 1, MAX_TOTAL_VOTING_POWER, "a positive integer")
    if g.total_voting_power > MAX_TOTAL_VOTING_POWER:
        raise GenesisError("validators", f"total voting power exceeds {MAX_TOTAL_VOTING_POWER}")


def _validate_tiers(g: Genesis) -> None:
    if not isinstance(g.tiers, dict) or not g.tiers:
        raise GenesisError("tiers", "at least one wallet tier is needed")
    for i, (key, t) in enumerate(g.tiers.items()):
        p = f"tiers[{i}]"
        if not isinstance(t, Tier):
            raise GenesisError(p, "must be a Tier")
        _int(t.id, f"{p}.id", 0, U32_MAX, f"an integer from 0 to {U32_MAX}")
        if key != t.id:
            raise GenesisError(f"{p}.id", f"is {t.id} but the table lists it under {key}")
        _text(t.name, f"{p}.name", 64)
        for name in _TIER_FIELDS[2:]:
            limit = getattr(t, name)
            if limit is not None:
                what = "an amount in fen (an integer >= 0) or null for unlimited"
                _int(limit, f"{p}.{name}", 0, U64_MAX, what)


def _validate_params(params: LedgerParams) -> None:
    if not isinstance(params, LedgerParams):
        raise GenesisError("params", "must be LedgerParams")
    bounds = {
        "max_body_bytes": (128, 1 << 24),
        "max_inputs": (1, 1 << 16),
        "max_outputs": (1, 1 << 16),
        "max_block_txs": (1, 1 << 20),
        "max_block_bytes": (1024, 1 << 30),
        "utc_offset_minutes": (-12 * 60, 14 * 60),
        "max_lock_bytes": (64, 1 << 16),
        "max_lock_clauses": (1, 64),
        "max_condition_depth": (1, 32),
        "max_condition_keys": (1, 256),
        "max_condition_cost": (1, 1 << 12),
    }
    for name, (lo, hi) in bounds.items():
        _int(getattr(params, name), f"params.{name}", lo, hi, f"an integer from {lo} to {hi}")
    if params.max_body_bytes > params.max_block_bytes:
        raise GenesisError("params.max_body_bytes", "must not exceed params.max_block_bytes")
