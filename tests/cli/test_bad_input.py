"""Bad input on every command: one clear line, the right exit code, never a traceback.

Needs no running network: an unreachable node is a loopback port nobody listens on.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair, save_key
from tests.cli.helpers import assert_error, free_port, mistype, ok, run

USAGE, REJECTED, UNREACHABLE = 2, 1, 3


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    d = tmp_path_factory.mktemp("offline")
    issuers = [KeyPair.generate() for _ in range(3)]
    inst = KeyPair.generate()
    wallet = KeyPair.generate()
    genesis = make_genesis(issuers=issuers, institutions=[inst], issue_threshold=2)
    genesis.save(d / "genesis.json")
    for name, key in (("issuer1", issuers[0]), ("issuer2", issuers[1]), ("inst", inst), ("wallet", wallet)):
        save_key(d / f"{name}.key", key)
    (d / "garbage.json").write_text("{not json")
    ok("bank", "issue", "--to", inst.address, "--amount", "5", "--signer", str(d / "issuer1.key"),
       "--cosigner", issuers[2].address, "--draft", str(d / "draft.json"), "--chain-id", genesis.chain_id)
    return {
        "draft": str(d / "draft.json"),
        "dir": str(d), "genesis": str(d / "genesis.json"), "issuer1": str(d / "issuer1.key"),
        "issuer2": str(d / "issuer2.key"), "issuer3_address": issuers[2].address,
        "inst": str(d / "inst.key"), "inst_address": inst.address, "wallet": str(d / "wallet.key"),
        "wallet_address": wallet.address, "missing": str(d / "nope.key"), "garbage": str(d / "garbage.json"),
        "dead": f"127.0.0.1:{free_port()}",
    }


TXID = "ab" * 32


def commands(f: dict[str, str]) -> dict[str, list[tuple[list[str], int, str]]]:
    """For each kind of bad input: (argv, exit code, words the error line must contain)."""
    bad_addr = mistype(f["wallet_address"])
    dead = ["--node", f["dead"]]
    return {
        "unknown address": [
            (["pay", "--from", f["wallet"], "--to", bad_addr, "--amount", "1", *dead], USAGE, "checksum"),
            (["balance", bad_addr, *dead], USAGE, "checksum"),
            (["bank", "issue", "--to", bad_addr, "--amount", "1", "--signer", f["issuer1"], *dead], USAGE,
             "--to"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "1", "--signer", f["issuer1"],
              "--cosigner", "cbdc1notanaddress", *dead], USAGE, "--cosigner"),
            (["bank", "register-wallet", "--key", f["inst"], "--address", bad_addr, "--tier", "4", *dead],
             USAGE, "checksum"),
            (["chain", "utxos", bad_addr, *dead], USAGE, "checksum"),
            (["chain", "wallet", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", *dead], USAGE, "address"),
        ],
        "malformed amount": [
            (["pay", "--from", f["wallet"], "--to", f["wallet_address"], "--amount", "12.345", *dead], USAGE,
             "decimal places"),
            (["pay", "--from", f["wallet"], "--to", f["wallet_address"], "--amount", "-1", *dead], USAGE,
             "negative"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "abc", "--signer", f["issuer1"], *dead],
             USAGE, "not a number"),
            (["bank", "redeem", "--key", f["inst"], "--amount", "99999999999999999999", *dead], USAGE,
             "largest amount"),
        ],
        "missing key file": [
            (["pay", "--from", f["missing"], "--to", f["wallet_address"], "--amount", "1", *dead], USAGE,
             "does not exist"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "1", "--signer", f["missing"], *dead],
             USAGE, "does not exist"),
            (["bank", "redeem", "--key", f["missing"], "--amount", "1", *dead], USAGE, "does not exist"),
            (["bank", "register-wallet", "--key", f["missing"], "--address", f["wallet_address"],
              "--tier", "4", *dead], USAGE, "does not exist"),
            (["bank", "sign", f["draft"], "--key", f["missing"]], USAGE, "does not exist"),
            (["keys", "show", f["missing"]], USAGE, "does not exist"),
            (["keys", "address", f["garbage"]], USAGE, "not valid JSON"),
        ],
        "unreachable node": [
            (["chain", "status", *dead], UNREACHABLE, f["dead"]),
            (["chain", "block", "1", *dead], UNREACHABLE, "no answer"),
            (["chain", "tx", TXID, *dead], UNREACHABLE, "no answer"),
            (["chain", "utxos", f["wallet_address"], *dead], UNREACHABLE, "no answer"),
            (["chain", "wallet", f["wallet_address"], *dead], UNREACHABLE, "no answer"),
            (["chain", "supply", *dead], UNREACHABLE, "no answer"),
            (["chain", "validators", *dead], UNREACHABLE, "no answer"),
            (["chain", "watch", "--count", "1", *dead], UNREACHABLE, "no answer"),
            (["balance", f["wallet_address"], *dead], UNREACHABLE, "no answer"),
            (["pay", "--from", f["wallet"], "--to", f["wallet_address"], "--amount", "1", *dead], UNREACHABLE,
             "no answer"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "1", "--signer", f["issuer1"],
              "--signer", f["issuer2"], *dead], UNREACHABLE, "no answer"),
            (["bank", "redeem", "--key", f["inst"], "--amount", "1", *dead], UNREACHABLE, "no answer"),
            (["bank", "register-wallet", "--key", f["inst"], "--address", f["wallet_address"], "--tier", "4",
              *dead], UNREACHABLE, "no answer"),
            (["audit", "prove", TXID, *dead], UNREACHABLE, "no answer"),
            (["audit", "verify", "--genesis", f["genesis"], *dead], UNREACHABLE, "no answer"),
        ],
        "other usage": [
            (["chain", "tx", "xyz", *dead], USAGE, "not hex"),
            (["chain", "tx", "abcd", *dead], USAGE, "32 bytes"),
            (["chain", "block", "tip", *dead], USAGE, "neither a height nor"),
            (["audit", "prove", "12", *dead], USAGE, "txid"),
            (["bank", "register-wallet", "--key", f["inst"], "--address", f["wallet_address"], "--tier", "4",
              "--kyc-commitment", "zz", *dead], USAGE, "not hex"),
            (["bank", "register-wallet", "--key", f["inst"], "--address", f["wallet_address"], "--tier", "4",
              "--kyc-commitment", "ab" * 8, *dead], USAGE, "32 bytes"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "1", *dead], USAGE, "--signer"),
            (["bank", "issue", "--to", f["inst_address"], "--amount", "1", "--signer", f["issuer1"],
              "--cosigner", f["issuer3_address"], *dead], USAGE, "--draft FILE"),
            (["bank", "submit", f["missing"], *dead], USAGE, "does not exist"),
            (["bank", "submit", f["garbage"], *dead], USAGE, "not a readable JSON"),
            (["bank", "submit", f["genesis"], *dead], USAGE, "not an issuance draft"),
            (["bank", "submit", f["draft"], *dead], USAGE, "no valid signature yet"),
            (["audit", "verify", "--home", f["dir"] + "/no-such-home"], USAGE, "no config file"),
            (["audit", "verify", "--store", f["dir"], "--genesis", f["genesis"]], USAGE,
             "not a ledger store"),
            (["audit", "verify", "--store", f["dir"], "--genesis", f["missing"]], USAGE, "does not exist"),
            (["audit", "verify", *dead], USAGE, "--genesis"),
            (["audit", "verify-proof", f["missing"], "--genesis", f["genesis"]], USAGE, "does not exist"),
            (["audit", "verify-proof", f["garbage"], "--genesis", f["genesis"]], USAGE, "not readable JSON"),
            (["audit", "verify-proof", f["genesis"], "--genesis", f["missing"]], USAGE, "does not exist"),
            (["keys", "new", "--out", f["inst"]], USAGE, "already exists"),
            (["keys", "new", "--out", f["dir"] + "/no/such/dir/k.key"], USAGE, "does not exist"),
        ],
    }


KINDS = ["unknown address", "malformed amount", "missing key file", "unreachable node", "other usage"]


@pytest.mark.parametrize("kind", KINDS)
def test_one_line_error_and_exit_code(files: dict[str, str], kind: str) -> None:
    for argv, code, needle in commands(files)[kind]:
        result = run(*argv)
        try:
            assert_error(result, code, needle)
        except AssertionError as err:
            raise AssertionError(f"cbdc {' '.join(argv)}: {err}") from None


def test_not_a_proof_is_rejected(files: dict[str, str]) -> None:
    # The genesis file is JSON but not a proof: exit 1 (the proof does not hold).
    assert_error(run("audit", "verify-proof", files["genesis"], "--genesis", files["genesis"]), REJECTED,
                 "not an inclusion proof")


def test_no_node_anywhere(files: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    import devnet.network

    monkeypatch.setattr(devnet.network, "DEFAULT_DIR", Path(files["dir"]) / "no-devnet")
    monkeypatch.delenv("CBDC_NODE", raising=False)
    assert_error(run("chain", "status"), USAGE, "--node", "CBDC_NODE", "cbdc devnet up")
    # $CBDC_NODE is the next default after --node.
    assert_error(run("chain", "supply", env={"CBDC_NODE": files["dead"]}), UNREACHABLE, files["dead"])


def test_keys_commands(files: dict[str, str], tmp_path: Path) -> None:
    import os
    import stat

    out = tmp_path / "alice.key"
    created = json.loads(ok("keys", "new", "--out", str(out), "--json").stdout)
    assert stat.S_IMODE(os.stat(out).st_mode) == 0o600
    assert ok("keys", "address", str(out)).stdout.strip() == created["address"]
    shown = json.loads(ok("keys", "show", str(out), "--json").stdout)
    assert shown["address"] == created["address"] and shown["mode"] == "0600"
    assert json.loads(out.read_text())["secret_seed"] not in ok("keys", "show", str(out)).output
    os.chmod(out, 0o644)  # readable by others: still works, with a warning naming the fix
    result = ok("keys", "address", str(out))
    assert "chmod 600" in result.stderr


def test_draft_is_signed_offline(files: dict[str, str], tmp_path: Path) -> None:
    """Issuers sign a draft without any node (the chain id travels in the body)."""
    draft = tmp_path / "issue.json"
    ok("bank", "issue", "--to", files["inst_address"], "--amount", "5", "--signer", files["issuer1"],
       "--cosigner", json.loads(ok("keys", "show", files["issuer2"], "--json").stdout)["address"],
       "--draft", str(draft), "--chain-id", "cbdc-test")
    doc = json.loads(draft.read_text())
    assert [s["status"] for s in doc["signers"]] == ["signed", "missing"]
    assert doc["outputs"] == [{"address": files["inst_address"], "amount": "500", "amount_yuan": "5.00"}]
    # A key the draft does not name cannot sign it; the file is left as it was.
    assert_error(run("bank", "sign", str(draft), "--key", files["inst"]), USAGE, "not among the signers")
    signed = json.loads(ok("bank", "sign", str(draft), "--key", files["issuer2"], "--json").stdout)
    assert [s["status"] for s in signed["signers"]] == ["signed", "signed"]
    assert signed["txid"] == doc["txid"]  # signing never changes the body


def test_completion_script() -> None:
    """click's completion: `eval "$(_CBDC_COMPLETE=bash_source cbdc)"` in ~/.bashrc."""
    from click.testing import CliRunner

    from cli.main import cli

    runner = CliRunner()
    script = runner.invoke(cli, [], env={"_CBDC_COMPLETE": "bash_source"}, prog_name="cbdc")
    assert script.exit_code == 0 and "_CBDC_COMPLETE=bash_complete" in script.output
    words = runner.invoke(cli, [], prog_name="cbdc",
                          env={"_CBDC_COMPLETE": "bash_complete", "COMP_WORDS": "cbdc ch", "COMP_CWORD": "1"})
    assert "plain,chain" in words.output


def test_errors_are_json_under_json(files: dict[str, str]) -> None:
    """With --json a failure is one JSON object on stderr (stdout stays empty), with a machine
    code and the same exit code as without."""
    for argv, env, exit_code, code in [
        (("balance", "cbdc1notanaddress", "--json"), {"CBDC_NODE": files["dead"]}, USAGE, "usage"),
        (("chain", "supply", "--json"), {"CBDC_NODE": files["dead"]}, UNREACHABLE, "unreachable"),
    ]:
        result = run(*argv, env=env)
        assert result.exit_code == exit_code and result.stdout == "", result.output
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1, result.stderr
        error = json.loads(lines[0])["error"]
        assert (error["code"], error["exit_code"]) == (code, exit_code) and error["message"]
