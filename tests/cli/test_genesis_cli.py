"""The genesis ceremony: four institutions build one genesis.json with `cbdc genesis`, each
edit checked; `validate` reports an incomplete or broken file by field; the hash is the one
nodes compare; the published schema accepts what the commands write."""

from __future__ import annotations

import json
from pathlib import Path

from cli.common import EXIT_USAGE
from node.ledger.genesis import Genesis
from node.ledger.keys import KeyPair

from .helpers import assert_error, ok, ok_json, run


def test_four_institutions_build_a_genesis_together(tmp_path: Path) -> None:
    g = str(tmp_path / "genesis.json")
    ok("genesis", "new", "--chain-id", "cbdc-pilot", "--time-ms", "1767225600000", "--out", g)
    assert_error(run("genesis", "new", "--chain-id", "x", "--out", g), EXIT_USAGE, "exists already")
    assert_error(run("genesis", "validate", g), EXIT_USAGE, "issuers: the central bank needs at least one")

    issuers = [KeyPair.generate() for _ in range(3)]
    for k in issuers:
        ok("genesis", "add-issuer", g, "--key", k.address)
    assert_error(run("genesis", "set-threshold", g, "4"), EXIT_USAGE, "more than the 3 issuer key(s)")
    ok("genesis", "set-threshold", g, "2")
    names = ("bank-a", "bank-b", "bank-c", "bank-d")
    banks = {name: (KeyPair.generate(), KeyPair.generate()) for name in names}
    for name, (inst, node) in banks.items():
        ok("genesis", "add-institution", g, "--id", name, "--name", name.upper(), "--key", inst.address)
        ok("genesis", "add-validator", g, "--name", name, "--key", node.address, "--power", "10")
    # Each edit is checked: a key in another role, an id twice, a validator twice.
    taken = run("genesis", "add-institution", g, "--id", "bank-e", "--name", "E", "--key", issuers[0].address)
    assert_error(taken, EXIT_USAGE, "is already issuers[0]")
    assert_error(run("genesis", "add-institution", g, "--id", "bank-a", "--name", "A", "--key",
                     KeyPair.generate().address), EXIT_USAGE, "'bank-a' is used already")
    node_a = banks["bank-a"][1]
    assert_error(run("genesis", "add-validator", g, "--name", "x", "--key", node_a.address), EXIT_USAGE,
                 "is a validator already")

    verdict = ok_json("genesis", "validate", g)
    loaded = Genesis.load(g)
    assert verdict == {"valid": True, "chain_id": "cbdc-pilot", "hash": loaded.hash().hex()}
    assert ok("genesis", "hash", g).stdout.strip() == loaded.hash().hex()
    assert loaded.issue_threshold == 2 and len(loaded.validators) == 4 and len(loaded.institutions) == 4
    shown = ok_json("genesis", "show", g)
    assert [v["name"] for v in shown["validators"]] == list(banks)

    # A hand edit that breaks the file is reported by field.
    doc = json.loads(Path(g).read_text())
    doc["validators"][2]["power"] = 0
    Path(g).write_text(json.dumps(doc))
    assert_error(run("genesis", "validate", g), EXIT_USAGE, "validators[2].power: must be a positive integer")


def test_the_published_schema_describes_the_file() -> None:
    schema = json.loads(ok("genesis", "schema").stdout)
    assert schema["required"] == ["chain_id", "genesis_time_ms", "issuers", "issue_threshold", "institutions",
                                  "validators", "tiers"]
    params = {"max_body_bytes", "max_inputs", "max_outputs", "max_block_txs", "max_block_bytes",
              "utc_offset_minutes"}
    assert set(schema["properties"]["params"]["properties"]) == params
