"""`cbdc gov` on a real node process: a change drafted with one authority signature, signed
offline by a second authority key, submitted; then a freeze signed at once; and the
queries (`chain institutions`, `chain wallet`, `chain history`) show what was committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cli.common import EXIT_USAGE
from node.ledger.keys import KeyPair, save_key
from tests.support.network import Net, module_net
from tests.support.waiting import wait_for

from .helpers import assert_error, ok, ok_json, run

# The CLI reaches --node as the devnet of the module's `net` says (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_devnet_dir")


net = module_net("gov-cli", 1)



def test_gov_draft_sign_submit_and_the_queries_that_show_it(net: Net, tmp_path: Path) -> None:
    node = ["--node", net.nodes[0].api]
    issuers = sorted((net.directory / "central-bank").glob("issuer-*.key"))
    new_bank = KeyPair.generate()
    save_key(tmp_path / "new-bank.key", new_bank)
    draft = tmp_path / "admit.json"

    doc = ok_json("gov", "admit-institution", "--id", "bank-new", "--name", "Bank New",
                  "--institution-key", new_bank.address, "--signer", str(issuers[0]),
                  "--cosigner", net.keys.issuers[1].address, "--draft", str(draft), *node)
    assert [s["status"] for s in doc["signers"]] == ["signed", "missing"]
    assert doc["kind"] == "admit_institution" and doc["change"]["id"] == "bank-new"
    assert_error(run("gov", "submit", str(draft), *node), EXIT_USAGE, "1 named signer(s)")
    signed = ok_json("gov", "sign", str(draft), "--key", str(issuers[1]))
    assert [s["status"] for s in signed["signers"]] == ["signed", "signed"]
    committed = ok_json("gov", "submit", str(draft), *node)
    assert committed["status"] == "committed" and committed["kind"] == "admit_institution"

    listed = ok_json("chain", "institutions", *node)
    assert {"id": "bank-new", "name": "Bank New", "address": new_bank.address, "status": "active",
            "former_keys": []} in listed["institutions"]
    assert listed["authority"]["threshold"] == 2

    # The new institution registers a wallet; the authority freezes it at once.
    wallet = KeyPair.generate()
    ok("bank", "register-wallet", "--key", str(tmp_path / "new-bank.key"), "--address", wallet.address,
       "--tier", "4", *node)
    frozen = ok_json("gov", "freeze-wallet", "--address", wallet.address, "--reason", "court_order",
                     "--signer", str(issuers[0]), "--signer", str(issuers[2]), *node)
    assert frozen["change"]["reason"] == "court_order"
    shown = ok_json("chain", "wallet", wallet.address, *node)
    assert (shown["status"], shown["reason"]) == ("frozen by the authority", "court_order")
    # The institution cannot lift the authority's freeze: the node refuses, naming why.
    refused = run("gov", "unfreeze-wallet", "--address", wallet.address, "--reason", "other",
                  "--signer", str(tmp_path / "new-bank.key"), *node)
    assert_error(refused, 1, "not_authorized", "only the authority can unfreeze it")

    history = ok_json("chain", "history", *node)
    kinds = [(c["kind"], c.get("id") or c.get("address")) for c in history["changes"]]
    assert kinds == [("admit_institution", "bank-new"), ("freeze_wallet", wallet.address)]
    assert json.dumps(history)  # plain JSON throughout


def test_gov_set_validators_and_chain_validators_at_a_height(net: Net) -> None:
    node = ["--node", net.nodes[0].api]
    issuers = sorted((net.directory / "central-bank").glob("issuer-*.key"))
    extra = KeyPair.generate()
    genesis_name = net.genesis().validators[0].name
    # A third of the power at most: 3 of the single validator's 10.
    refused = run("gov", "set-validators", "--add", f"extra:{extra.address}:4", "--signer", str(issuers[0]),
                  "--signer", str(issuers[1]), *node)
    assert_error(refused, 1, "bound_violation", "at most a third")
    done = ok_json("gov", "set-validators", "--add", f"extra:{extra.address}:3", "--signer", str(issuers[0]),
                   "--signer", str(issuers[1]), *node)
    h = int(done["height"])  # 64-bit integers are strings in JSON (proto3 convention)
    before = ok_json("chain", "validators", "--at", str(h + 1), *node)
    assert [v["name"] for v in before["validators"]] == [genesis_name]
    after = ok_json("chain", "validators", "--at", str(h + 2), *node)
    powers = sorted((v["name"], int(v["power"])) for v in after["validators"])
    assert powers == sorted([(genesis_name, 10), ("extra", 3)])
    assert int(after["since_height"]) == h + 2 and int(after["total_power"]) == 13
    assert_error(run("chain", "validators", "--at", str(h + 1000), *node), EXIT_USAGE, "known up to the tip")
    history = ok_json("chain", "history", *node)
    assert history["changes"][-1]["kind"] == "set_validators"


def test_audit_proof_after_a_validator_change_verifies_from_genesis(net: Net, tmp_path: Path) -> None:
    node = ["--node", net.nodes[0].api]
    issuers = sorted((net.directory / "central-bank").glob("issuer-*.key"))
    # The previous test's change decides two blocks after it: wait for it.
    wait_for(lambda: len(ok_json("chain", "validators", *node)["validators"]) == 2, 30, "the new set")
    later = ok_json("gov", "suspend-institution", "--id", "bank-new", "--signer", str(issuers[0]),
                    "--signer", str(issuers[2]), *node)
    proof = tmp_path / "suspend.proof.json"
    ok("audit", "prove", later["txid"], "--out", str(proof), *node)
    assert len(json.loads(proof.read_text())["handoffs"]) == 1
    verdict = ok_json("audit", "verify-proof", str(proof), "--genesis", str(net.directory / "genesis.json"))
    assert verdict["valid"] and int(verdict["total_power"]) == 13
