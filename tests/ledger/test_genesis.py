"""genesis.json: defaults, round trip, network hash, and errors that name the field."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from node.ledger.address import encode_address
from node.ledger.genesis import (
    Genesis,
    GenesisError,
    LedgerParams,
    Tier,
    default_tiers,
    make_genesis,
)
from tests.support.cast import key


def genesis_doc() -> dict[str, Any]:
    g = make_genesis(
        issuers=[key(1), key(2), key(3)],
        institutions=[key(10), key(11)],
        validators=[key(30), key(31), key(32)],
        issue_threshold=2,
        genesis_time_ms=1_767_225_600_000,
    )
    return g.to_dict()


def test_default_tiers_follow_ecny_classes() -> None:
    t = default_tiers()
    yuan = 100
    assert t[4] == Tier(4, "anonymous", 10_000 * yuan, 2_000 * yuan, 5_000 * yuan, 50_000 * yuan)
    assert t[1] == Tier(1, "full", 500_000 * yuan, 50_000 * yuan, 100_000 * yuan, None)
    assert sorted(t) == [1, 2, 3, 4]
    # Stricter identity never means lower limits.
    for stronger, weaker in [(1, 2), (2, 3), (3, 4)]:
        for field in ("balance_cap", "per_payment", "daily"):
            assert getattr(t[stronger], field) >= getattr(t[weaker], field)


def test_round_trip_through_a_file(tmp_path: Path) -> None:
    doc = genesis_doc()
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(doc))
    g = Genesis.load(path)
    assert g.to_dict() == doc
    assert g.params == LedgerParams() and g.params.utc_offset_minutes == 480
    assert g.is_institution(key(10).public) and not g.is_institution(key(1).public)
    inst = g.institution(key(11).public)
    assert inst is not None and inst.id == "inst-1"
    assert g.is_issuer(key(3).public) and g.total_voting_power == 30
    g.save(tmp_path / "again.json")
    assert Genesis.load(tmp_path / "again.json") == g


def test_hash_ignores_spelling_but_not_content() -> None:
    doc = genesis_doc()
    g = Genesis.from_dict(doc)
    spelled = copy.deepcopy(doc)
    spelled["issuers"] = [key(n).public.hex() for n in (1, 2, 3)]     # hex instead of bech32m
    spelled["tiers"].reverse()                                          # another order
    del spelled["params"]                                               # defaults
    assert Genesis.from_dict(spelled).hash() == g.hash()
    changed = copy.deepcopy(doc)
    changed["tiers"][0]["daily"] += 1
    assert Genesis.from_dict(changed).hash() != g.hash()
    assert len(g.hash()) == 32


def test_unlimited_is_null_or_absent() -> None:
    doc = genesis_doc()
    doc["tiers"] = [{"id": 7, "name": "staff", "daily": 100}]
    g = Genesis.from_dict(doc)
    assert g.tiers == {7: Tier(7, "staff", None, None, 100, None)}


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted/indexed path like 'validators[2].power'; value ... deletes."""
    parts: list[str | int] = []
    for piece in path.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        if rest:
            parts.extend(int(i) for i in rest.rstrip("]").split("]["))
    target: Any = doc
    for p in parts[:-1]:
        target = target[p]
    if value is ...:
        del target[parts[-1]]
    else:
        target[parts[-1]] = value


BAD = [
    ("validators[2].power", 0, "validators[2].power: must be a positive integer"),
    ("validators[1].power", "10", "validators[1].power: must be a positive integer"),
    ("validators[0].power", True, "validators[0].power: must be a positive integer"),
    ("validators[0].public_key", "cbdc1qqqq", "validators[0].public_key: "),
    ("validators[1].public_key", encode_address(key(30).public),
     "validators[1].public_key: belongs to another"),
    ("validators", [], "validators: at least one validator"),
    ("issuers[1]", encode_address(key(1).public), "issuers[1]: is listed twice"),
    ("issuers[0]", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "issuers[0]: "),
    ("issue_threshold", 4, "issue_threshold: must be an integer from 1 to the number of issuers (3)"),
    ("issue_threshold", 0, "issue_threshold: "),
    ("institutions[1].id", "inst-0", "institutions[1].id: institution id 'inst-0' is used twice"),
    ("institutions[0].id", "has space", "institutions[0].id: "),
    ("institutions[0].name", "", "institutions[0].name: must be a non-empty string"),
    ("institutions[1].public_key", encode_address(key(2).public),
     "institutions[1].public_key: is an issuer key"),
    ("institutions[0].extra", 1, "institutions[0].extra: unknown field"),
    ("tiers[2].daily", -1, "tiers[2].daily: must be an amount in fen"),
    ("tiers[0].balance_cap", 1.5, "tiers[0].balance_cap: must be an amount in fen"),
    ("tiers[1].id", 1, "tiers[1].id: tier 1 is listed twice"),
    ("tiers[3].id", "four", "tiers[3].id: must be an integer"),
    ("tiers", [], "tiers: at least one wallet tier"),
    ("chain_id", "", "chain_id: must be 1-50 characters"),
    ("chain_id", "cbdc main", "chain_id: "),
    ("genesis_time_ms", -1, "genesis_time_ms: must be unix time"),
    ("params.max_inputs", 0, "params.max_inputs: must be an integer from 1"),
    ("params.utc_offset_minutes", 900, "params.utc_offset_minutes: "),
    ("params.max_blocks", 5, "params.max_blocks: unknown field"),
    ("params.max_body_bytes", 10_000_000, "params.max_body_bytes: must not exceed params.max_block_bytes"),
    ("issuers", ..., "issuers: is missing"),
    ("issue_treshold", 2, "issue_treshold: unknown field"),
]


@pytest.mark.parametrize(("path", "value", "message"), BAD, ids=[b[0] for b in BAD])
def test_invalid_genesis_names_the_field(path: str, value: Any, message: str) -> None:
    doc = genesis_doc()
    _set(doc, path, value)
    with pytest.raises(GenesisError) as e:
        Genesis.from_dict(doc)
    assert str(e.value).startswith(message), str(e.value)
    assert e.value.field == message.split(":")[0]


def test_load_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "genesis.json"
    with pytest.raises(GenesisError, match="file does not exist"):
        Genesis.load(path)
    path.write_text("{ nope")
    with pytest.raises(GenesisError, match="not valid JSON"):
        Genesis.load(path)
    doc = genesis_doc()
    doc["validators"][2]["power"] = -3
    path.write_text(json.dumps(doc))
    with pytest.raises(GenesisError) as e:
        Genesis.load(path)
    assert str(e.value) == f"genesis {path}: validators[2].power: must be a positive integer"
    path.write_text("[1, 2]")
    with pytest.raises(GenesisError, match="must be a JSON object"):
        Genesis.load(path)
