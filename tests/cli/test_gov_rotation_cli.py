"""`cbdc gov rotate-validator-key` / `rotate-authority-key` on a real node process, in the
draft -> sign -> submit flow, and `cbdc chain history` / `chain validators` /
`chain institutions` showing what they changed."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.ledger.keys import KeyPair, save_key
from tests.support.network import Net, module_net

from .helpers import assert_error, ok_json, run

# The CLI reaches --node as the devnet of the module's `net` says (tests/conftest.py).
pytestmark = pytest.mark.usefixtures("cli_devnet_dir")


net = module_net("gov-rotation-cli", 1)



def _key_file(tmp_path: Path, name: str) -> tuple[KeyPair, Path]:
    key = KeyPair.generate()
    save_key(tmp_path / name, key)
    return key, tmp_path / name


def test_rotate_validator_key_drafted_signed_submitted(net: Net, tmp_path: Path) -> None:
    node = ["--node", net.nodes[0].api]
    issuers = sorted((net.directory / "central-bank").glob("issuer-*.key"))
    validator = net.validator_key(net.nodes[0])
    name = net.genesis().validators[0].name
    new, new_file = _key_file(tmp_path, "new-validator.key")
    # The only validator holds all the power: its rotation would move more than a third.
    refused = run("gov", "rotate-validator-key", "--old-key", validator.address, "--new-key", str(new_file),
                  "--signer", str(Path(net.nodes[0].home) / "validator.key"), *node)
    assert_error(refused, 1, "bound_violation", "moves 10 of 10")
    # A second validator (3 of 13 power) rotates, the authority signing for it (2 of 3).
    extra, _ = _key_file(tmp_path, "extra.key")
    ok_json("gov", "set-validators", "--add", f"extra:{extra.address}:3", "--signer", str(issuers[0]),
            "--signer", str(issuers[1]), *node)
    draft = tmp_path / "rotate.json"
    doc = ok_json("gov", "rotate-validator-key", "--old-key", extra.address, "--new-key", str(new_file),
                  "--signer", str(issuers[0]), "--cosigner", net.keys.issuers[1].address,
                  "--draft", str(draft), *node)
    assert doc["kind"] == "rotate_validator_key"
    assert doc["change"]["old_key"] == extra.address and doc["change"]["new_key"] == new.address
    assert [s["status"] for s in doc["signers"]] == ["signed", "missing", "signed"]  # the new key last
    assert_error(run("gov", "submit", str(draft), *node), 2, "1 named signer(s)")
    ok_json("gov", "sign", str(draft), "--key", str(issuers[1]))
    done = ok_json("gov", "submit", str(draft), *node)
    assert done["status"] == "committed"
    h = int(done["height"])
    at = ok_json("chain", "validators", "--at", str(h + 2), *node)
    assert sorted((v["name"], v["address"]) for v in at["validators"]) == sorted(
        [(name, validator.address), ("extra", new.address)]
    )
    before = ok_json("chain", "validators", "--at", str(h + 1), *node)
    assert extra.address in [v["address"] for v in before["validators"]]
    history = ok_json("chain", "history", *node)
    last = history["changes"][-1]
    assert (last["kind"], last["old_key"], last["new_key"]) == ("rotate_validator_key", extra.address,
                                                                new.address)
    text = run("chain", "history", *node).stdout
    assert "rotate validator key" in text and "(by the authority)" in text


def test_rotate_authority_key_by_its_holder(net: Net, tmp_path: Path) -> None:
    node = ["--node", net.nodes[0].api]
    issuers = sorted((net.directory / "central-bank").glob("issuer-*.key"))
    old = net.keys.issuers[2]
    new, new_file = _key_file(tmp_path, "new-issuer.key")
    done = ok_json("gov", "rotate-authority-key", "--old-key", old.address, "--new-key", str(new_file),
                   "--signer", str(issuers[2]), *node)
    assert done["status"] == "committed" and done["kind"] == "rotate_authority_key"
    authority = ok_json("chain", "institutions", *node)["authority"]
    assert new.address in authority["keys"] and old.address not in authority["keys"]
    # The old key governs nothing any more.
    refused = run("gov", "rotate-authority-key", "--old-key", old.address, "--new-key", str(new_file),
                  "--signer", str(issuers[2]), *node)
    assert_error(refused, 1, "not_authorized", "is not an authority key")
    history = ok_json("chain", "history", *node)
    assert history["changes"][-1]["kind"] == "rotate_authority_key"
    assert "(by the holder)" in run("chain", "history", *node).stdout
