"""The governance state: who holds which role on a running chain, and the tier tables.

Genesis fixes the starting point (issuers and threshold = the authority, institutions, the
tier table). Governance transactions (node.ledger.governance_rules) change it while the
chain runs; the result is one `Governance` record, stored by the store under one key and
committed by the state root (see node.ledger.store). A chain on which no governance
transaction was ever committed stores no record: its governance is `from_genesis`.

Design choices:
- The authority is the central bank's m-of-n key set: the issuance keys and threshold of
  genesis, changeable only by itself (SetAuthority). One key set both issues and governs,
  as the central bank is the one party that does both; at most MAX_AUTHORITY_KEYS keys, so
  that a transaction signed by all of them stays within the decoder's size cap.
- Institutions are identified by id, never reused. A key rotation keeps the old keys in
  `former_keys`: outputs and wallet records that name an old key keep naming it (nothing
  already committed is rewritten, so every proof of a past transaction stays valid and the
  rotation costs the same whatever the institution holds), and the rules let the current
  key spend outputs owned by a former key. A former key itself can sign nothing and can
  receive nothing: it is no longer an institution key.
- Tier tables change from a height: the record keeps the table in force and at most the
  later scheduled ones, so every node computes the table of a height the same way.
- A validator's consensus key and an authority key are rotated in place (same power and
  name, same position; the threshold unchanged), by the key's holder or, for a compromised
  key, by the authority (node.ledger.governance_rules). A validator key rotation is a set
  change like any other (from H+2); the schedule keeps every set, so a rotated-out
  validator key is found there and never returns.
- Validator sets change with a fixed delay, as in CometBFT: a change committed in block H
  decides blocks from H+2 on, so the set of every height up to tip+2 is known from the
  committed state, and each header commits to the set of the next height. The record keeps
  every set the chain ever had (changes are rare), so a certificate or evidence of any
  past height is checked against the set of ITS height (`validator_set_at`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from consensus.validators import ValidatorSet

from node.ledger.crypto import sha256
from node.ledger.genesis import MAX_AUTHORITY_KEYS, Genesis, Tier, Validator

__all__ = [
    "MAX_AUTHORITY_KEYS", "Governance", "InstitutionRecord", "TierTable", "ValidatorSchedule",
    "governance_of", "validator_set_at",
]

# A change committed in block H decides from block H + VALIDATOR_DELAY on.
VALIDATOR_DELAY = 2
# The fewest validators a change may leave, unless genesis had fewer: 4 is the smallest
# set that tolerates one faulty validator (n >= 3f + 1).
MIN_VALIDATORS = 4

ACTIVE = "active"
SUSPENDED = "suspended"
RETIRED = "retired"

# Why a wallet is frozen or deregistered: a code, never personal data. Append only.
REASONS: dict[int, str] = {
    1: "court_order",
    2: "anti_money_laundering",
    3: "suspected_fraud",
    4: "holder_request",
    5: "lost_device",
    6: "institution_exit",
    7: "other",
}


@dataclass(frozen=True, slots=True)
class InstitutionRecord:
    id: str
    name: str
    public_key: bytes
    status: str = ACTIVE
    former_keys: tuple[bytes, ...] = ()


@dataclass(frozen=True, slots=True)
class TierTable:
    """A wallet-tier table in force from block `effective_height` on."""

    effective_height: int
    tiers: tuple[Tier, ...]  # sorted by id

    def as_dict(self) -> dict[int, Tier]:
        return {t.id: t for t in self.tiers}


@dataclass(frozen=True, slots=True)
class BlockLimits:
    """Block caps in force from block `effective_height` on (at most genesis's)."""

    effective_height: int
    max_block_txs: int
    max_block_bytes: int


@dataclass(frozen=True, slots=True)
class ValidatorSchedule:
    """A validator set deciding blocks from `effective_height` on."""

    effective_height: int
    validators: tuple[Validator, ...]  # in the order they joined

    def validator_set(self) -> ValidatorSet:
        return ValidatorSet([(v.public_key, v.power) for v in self.validators])


@dataclass(frozen=True)
class Governance:
    authority: tuple[bytes, ...]
    threshold: int
    institutions: tuple[InstitutionRecord, ...]   # in order of admission, retired ones included
    tier_tables: tuple[TierTable, ...]            # ascending effective_height; the first in force
    validator_sets: tuple[ValidatorSchedule, ...] = ()  # ascending effective_height; all of them
    block_limits: tuple[BlockLimits, ...] = ()    # ascending effective_height; none: genesis caps
    # Derived once: the rules consult them for every transaction.
    _authority_set: frozenset[bytes] = field(init=False, repr=False, compare=False)
    _by_key: dict[bytes, InstitutionRecord] = field(init=False, repr=False, compare=False)
    _by_former_key: dict[bytes, InstitutionRecord] = field(init=False, repr=False, compare=False)
    _by_id: dict[str, InstitutionRecord] = field(init=False, repr=False, compare=False)
    _tables: tuple[tuple[int, dict[int, Tier]], ...] = field(init=False, repr=False, compare=False)
    _sets: dict[int, ValidatorSet] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        live = [i for i in self.institutions if i.status != RETIRED]
        object.__setattr__(self, "_authority_set", frozenset(self.authority))
        object.__setattr__(self, "_by_key", {i.public_key: i for i in live})
        object.__setattr__(self, "_by_former_key", {k: i for i in self.institutions for k in i.former_keys})
        object.__setattr__(self, "_by_id", {i.id: i for i in self.institutions})
        object.__setattr__(
            self, "_tables", tuple((t.effective_height, t.as_dict()) for t in reversed(self.tier_tables))
        )
        object.__setattr__(self, "_sets", {})

    @classmethod
    def from_genesis(cls, genesis: Genesis) -> Governance:
        return cls(
            authority=genesis.issuers,
            threshold=genesis.issue_threshold,
            institutions=tuple(InstitutionRecord(i.id, i.name, i.public_key) for i in genesis.institutions),
            tier_tables=(TierTable(0, tuple(sorted(genesis.tiers.values(), key=lambda t: t.id))),),
            validator_sets=(ValidatorSchedule(1, genesis.validators),),
        )

    # --- queries --------------------------------------------------------------------
    def is_authority(self, key: bytes) -> bool:
        return key in self._authority_set

    def institution_by_key(self, key: bytes) -> InstitutionRecord | None:
        """The active or suspended institution whose CURRENT key this is."""
        return self._by_key.get(key)

    def is_institution(self, key: bytes) -> bool:
        return key in self._by_key

    def institution_by_id(self, institution_id: str) -> InstitutionRecord | None:
        return self._by_id.get(institution_id)

    def institution_of_any_key(self, key: bytes) -> InstitutionRecord | None:
        """The institution whose current or former key this is (retired ones included)."""
        inst = self._by_key.get(key)
        if inst is not None:
            return inst
        inst = self._by_former_key.get(key)
        if inst is not None:
            return inst
        for i in self.institutions:  # a retired institution's last key
            if i.public_key == key:
                return i
        return None

    def former_keys_of(self, key: bytes) -> tuple[bytes, ...]:
        """The former keys of the institution whose current key is `key` (outputs they own
        are spendable by `key`)."""
        inst = self._by_key.get(key)
        return inst.former_keys if inst is not None else ()

    def key_in_use(self, key: bytes) -> str | None:
        """What role `key` has or had, or None: keys are never handed from role to role."""
        if key in self._authority_set:
            return "an authority key"
        inst = self.institution_of_any_key(key)
        if inst is not None:
            return f"a key of institution {inst.id!r}"
        return None

    def tiers_at(self, height: int) -> dict[int, Tier]:
        """The tier table in force at block `height`."""
        for start, table in self._tables:
            if start <= height:
                return table
        return self._tables[-1][1]

    def validators_at(self, height: int) -> ValidatorSchedule:
        """The schedule entry deciding block `height` (exact up to tip + VALIDATOR_DELAY;
        beyond, the latest scheduled set: later blocks may still change it)."""
        chosen = self.validator_sets[0]
        for entry in self.validator_sets:
            if entry.effective_height <= height:
                chosen = entry
        return chosen

    def validator_set_at(self, height: int) -> ValidatorSet:
        entry = self.validators_at(height)
        cached = self._sets.get(entry.effective_height)
        if cached is None:
            cached = self._sets[entry.effective_height] = entry.validator_set()
        return cached

    # --- changes (each returns a new record) ----------------------------------------
    def replace_institution(self, record: InstitutionRecord) -> Governance:
        institutions = tuple(record if i.id == record.id else i for i in self.institutions)
        if record.id not in self._by_id:
            institutions += (record,)
        return replace(self, institutions=institutions)

    def with_authority(self, keys: tuple[bytes, ...], threshold: int) -> Governance:
        return replace(self, authority=keys, threshold=threshold)

    def block_limits_at(self, height: int) -> BlockLimits | None:
        chosen = None
        for entry in self.block_limits:
            if entry.effective_height <= height:
                chosen = entry
        return chosen

    def with_block_limits(self, limits: BlockLimits, height: int) -> Governance:
        """Schedule `limits` (replacing any scheduled for the same height); entries no longer
        needed at `height` are dropped, as for tier tables."""
        entries = [e for e in self.block_limits if e.effective_height != limits.effective_height]
        entries.append(limits)
        entries.sort(key=lambda e: e.effective_height)
        in_force = max((i for i, e in enumerate(entries) if e.effective_height <= height), default=0)
        return replace(self, block_limits=tuple(entries[in_force:]))

    def with_validators(self, effective_height: int, validators: tuple[Validator, ...]) -> Governance:
        """Schedule `validators` from `effective_height` (replacing a set scheduled for the
        same height: two changes in one block compose)."""
        kept = tuple(s for s in self.validator_sets if s.effective_height != effective_height)
        return replace(self, validator_sets=(*kept, ValidatorSchedule(effective_height, validators)))

    def with_tier_table(self, table: TierTable, height: int) -> Governance:
        """Schedule `table`; tables no longer needed at `height` (superseded by one in force
        by then) are dropped, and a table scheduled for the same height is replaced."""
        tables = [t for t in self.tier_tables if t.effective_height != table.effective_height]
        tables.append(table)
        tables.sort(key=lambda t: t.effective_height)
        in_force = max((i for i, t in enumerate(tables) if t.effective_height <= height), default=0)
        return replace(self, tier_tables=tuple(tables[in_force:]))

    # --- encoding (store row and state-root element) ----------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "authority": [k.hex() for k in self.authority],
            "threshold": self.threshold,
            "institutions": [
                {
                    "id": i.id, "name": i.name, "public_key": i.public_key.hex(), "status": i.status,
                    "former_keys": [k.hex() for k in i.former_keys],
                }
                for i in self.institutions
            ],
            "tier_tables": [
                {
                    "effective_height": t.effective_height,
                    "tiers": [
                        [r.id, r.name, r.balance_cap, r.per_payment, r.daily, r.yearly] for r in t.tiers
                    ],
                }
                for t in self.tier_tables
            ],
            "validator_sets": [
                {
                    "effective_height": s.effective_height,
                    "validators": [[v.name, v.public_key.hex(), v.power] for v in s.validators],
                }
                for s in self.validator_sets
            ],
            "block_limits": [
                [e.effective_height, e.max_block_txs, e.max_block_bytes] for e in self.block_limits
            ],
        }

    def encode(self) -> bytes:
        """Canonical bytes: one encoding per record (sorted keys, no spaces, ASCII)."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()

    @classmethod
    def decode(cls, data: bytes) -> Governance:
        d = json.loads(data)
        return cls(
            authority=tuple(bytes.fromhex(k) for k in d["authority"]),
            threshold=d["threshold"],
            institutions=tuple(
                InstitutionRecord(
                    i["id"], i["name"], bytes.fromhex(i["public_key"]), i["status"],
                    tuple(bytes.fromhex(k) for k in i["former_keys"]),
                )
                for i in d["institutions"]
            ),
            tier_tables=tuple(
                TierTable(t["effective_height"], tuple(Tier(*row) for row in t["tiers"]))
                for t in d["tier_tables"]
            ),
            validator_sets=tuple(
                ValidatorSchedule(
                    s["effective_height"],
                    tuple(Validator(name, bytes.fromhex(key), power) for name, key, power in s["validators"]),
                )
                for s in d["validator_sets"]
            ),
            block_limits=tuple(BlockLimits(*row) for row in d.get("block_limits", ())),
        )

    def digest(self) -> bytes:
        return sha256(b"cbdc/governance/v1\x00" + self.encode())


_GENESIS_GOVERNANCE: dict[int, tuple[Genesis, Governance]] = {}


def governance_of(stored: Governance | None, genesis: Genesis) -> Governance:
    """The governance in force: the stored record, or (none stored yet) genesis's."""
    if stored is not None:
        return stored
    cached = _GENESIS_GOVERNANCE.get(id(genesis))
    if cached is None or cached[0] is not genesis:
        if len(_GENESIS_GOVERNANCE) > 64:  # tests build many genesis documents
            _GENESIS_GOVERNANCE.clear()
        cached = (genesis, Governance.from_genesis(genesis))
        _GENESIS_GOVERNANCE[id(genesis)] = cached
    return cached[1]


def validator_set_at(view, genesis: Genesis, height: int) -> ValidatorSet:
    """The validator set deciding block `height` on top of `view` (a StateView): exact for
    every height up to view's tip + VALIDATOR_DELAY."""
    return governance_of(view.governance(), genesis).validator_set_at(height)


def min_validators(genesis: Genesis) -> int:
    """The fewest validators a change may leave: MIN_VALIDATORS, or genesis's count if that
    was smaller (a devnet of one)."""
    return min(MIN_VALIDATORS, len(genesis.validators))


def block_caps_at(view, genesis: Genesis, height: int) -> tuple[int, int]:
    """(max_block_txs, max_block_bytes) for block `height` on top of `view`: the governed
    limits in force, else genesis's."""
    limits = governance_of(view.governance(), genesis).block_limits_at(height)
    if limits is None:
        return genesis.params.max_block_txs, genesis.params.max_block_bytes
    return limits.max_block_txs, limits.max_block_bytes
