"""The CLI against a real four-validator devnet: issue (2-of-3), register, pay, query, redeem,
prove and verify inclusion, and audit a node's data from genesis, including tampered data.

One devnet for the whole module (started with devnet.network, stopped at the end). Tests run
in file order and build on each other's transactions through `state`.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import nacl.signing
import plyvel
import pytest

from consensus.commit import encode_commit
from consensus.messages import VoteType, sign_vote
from devnet import network
from devnet.processes import DevnetRecord, NodeRecord, free_ports, spawn, stop
from node.config import PeerConfig, write_default_config
from node.ledger.crypto import sha256
from node.ledger.keys import load_key
from proto import consensus_pb2, ledger_pb2
from tests.cli.helpers import assert_error, mistype, ok, ok_json, run
from tests.support.waiting import wait_for


@dataclass
class Devnet:
    directory: Path
    record: DevnetRecord
    env: dict[str, str]
    state: dict[str, str] = field(default_factory=dict)

    def path(self, *parts: str) -> str:
        return str(self.directory.joinpath(*parts))

    def address(self, *parts: str) -> str:
        return load_key(self.directory.joinpath(*parts)).address


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Devnet]:
    directory = tmp_path_factory.mktemp("devnet")
    record = network.create(directory, 4)
    try:
        network.start(directory, record, wait_s=60)
        # CBDC_DEVNET_DIR: the CLI takes this devnet's members bundle and auditor key.
        yield Devnet(directory, record, {"CBDC_NODE": record.nodes[0].api, "CBDC_DEVNET_DIR": str(directory)})
    finally:
        stop(record.nodes)


def test_status(net: Devnet, monkeypatch: pytest.MonkeyPatch) -> None:
    doc = ok_json("chain", "status", env=net.env)
    assert doc["chain_id"] == network.CHAIN_ID and int(doc["height"]) >= 1
    # 64-bit integers are strings of digits in JSON (proto3's mapping; JavaScript-safe).
    assert isinstance(doc["height"], str) and isinstance(doc["time_ms"], str)
    assert len(bytes.fromhex(doc["block_hash"])) == 32 and len(bytes.fromhex(doc["state_root"])) == 32
    assert doc["validators"] == 4 and doc["peers_connected"] <= 3
    assert "state root" in ok("chain", "status", env=net.env).stdout
    # Without --node or $CBDC_NODE the running devnet is used.
    monkeypatch.setattr(network, "DEFAULT_DIR", net.directory)
    monkeypatch.delenv("CBDC_NODE", raising=False)
    assert ok_json("chain", "status")["node"] == net.record.nodes[0].api


def test_queries_find_the_devnet_in_dir_or_the_environment(
    net: Devnet, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CBDC_NODE", raising=False)
    monkeypatch.setattr(network, "DEFAULT_DIR", net.directory / "not-here")
    first, d = net.record.nodes[0].api, str(net.directory)
    assert ok_json("chain", "status", "--dir", d)["node"] == first
    assert ok_json("chain", "status", env={"CBDC_DEVNET_DIR": d})["node"] == first
    assert ok("devnet", "dir", env={"CBDC_DEVNET_DIR": d}).stdout.strip() == d
    # --dir is explicit: it wins over $CBDC_NODE; a --dir with no devnet says so.
    assert ok_json("chain", "status", "--dir", d, env={"CBDC_NODE": "127.0.0.1:1"})["node"] == first
    assert_error(run("chain", "status", "--dir", str(net.directory / "none")), 2, "no devnet there")


def test_one_node_is_stopped_and_restarted_while_the_others_run(net: Devnet) -> None:
    d = str(net.directory)
    name = net.record.nodes[1].name
    assert f"stopped {name}" in ok("devnet", "stop", name, "--dir", d).stdout
    running = {n["name"]: n["running"] for n in ok_json("devnet", "status", "--dir", d)["nodes"]}
    assert running == {n.name: n.name != name for n in net.record.nodes}
    assert ok("devnet", "stop", name, "--dir", d).stdout.strip() == f"{name} was not running"
    restarted = ok("devnet", "restart", name, "--dir", d).stdout
    # The restarted process is the devnet record's now: the fixture must stop it at the end.
    net.record.nodes[1].pid = DevnetRecord.load(net.directory).nodes[1].pid
    assert f"{name} is running (pid {net.record.nodes[1].pid}) at height " in restarted
    status = ok_json("devnet", "status", "--dir", d)["nodes"]
    assert all(n["running"] for n in status)
    assert int(status[1]["height"]) >= int(restarted.rsplit(" ", 1)[1])
    assert_error(run("devnet", "restart", "nobody", "--dir", d), 2, "no node named 'nobody'")


def test_issue_two_of_three_via_draft(net: Devnet, tmp_path: Path) -> None:
    institution = net.address("institutions", "shenzhen.key")
    draft = str(tmp_path / "issue.json")
    ok("bank", "issue", "--to", institution, "--amount", "1000000",
       "--signer", net.path("central-bank", "issuer-1.key"),
       "--cosigner", net.address("central-bank", "issuer-3.key"), "--draft", draft, env=net.env)
    assert_error(run("bank", "submit", draft, env=net.env), 2, "no valid signature yet")
    ok("bank", "sign", draft, "--key", net.path("central-bank", "issuer-3.key"))
    done = ok_json("bank", "submit", draft, env=net.env)
    assert done["status"] == "committed" and done["amount"] == "100000000"
    assert done["amount_yuan"] == "1000000.00"
    supply = ok_json("chain", "supply", env=net.env)
    assert (supply["issued"], supply["redeemed"], supply["outstanding"]) == ("100000000", "0", "100000000")
    # Resubmitting the same signed draft is refused by the chain: exit 1 with the code.
    assert_error(run("bank", "submit", draft, env=net.env), 1, "rejected: duplicate")
    # Both signers at once submits directly; one issuer alone is not enough.
    ok("bank", "issue", "--to", institution, "--amount", "10",
       "--signer", net.path("central-bank", "issuer-1.key"),
       "--signer", net.path("central-bank", "issuer-2.key"), env=net.env)
    assert_error(run("bank", "issue", "--to", institution, "--amount", "10",
                     "--signer", net.path("central-bank", "issuer-2.key"), env=net.env),
                 1, "not_authorized", "2 of the 3")


def test_register_pay_and_balances(net: Devnet, tmp_path_factory: pytest.TempPathFactory) -> None:
    d = tmp_path_factory.mktemp("wallets")
    alice = ok_json("keys", "new", "--out", str(d / "alice.key"))["address"]
    bob = ok_json("keys", "new", "--out", str(d / "bob.key"))["address"]
    stranger = ok_json("keys", "new", "--out", str(d / "stranger.key"))["address"]
    inst = net.path("institutions", "shenzhen.key")
    ok("bank", "register-wallet", "--key", inst, "--address", alice, "--tier", "1", env=net.env)
    reg = ok_json("bank", "register-wallet", "--key", inst, "--address", bob, "--tier", "4",
                  "--kyc-commitment", "5a" * 32, env=net.env)
    assert reg["tier"] == 4 and reg["kyc_commitment"] == "5a" * 32

    funded = ok_json("pay", "--from", inst, "--to", alice, "--amount", "15000", env=net.env)
    assert funded["amount"] == "1500000" and funded["status"] == "committed"
    paid = ok_json("pay", "--from", str(d / "alice.key"), "--to", bob, "--amount", "12.34", env=net.env)
    assert (paid["amount"], paid["change"], paid["change_yuan"]) == ("1234", "1498766", "14987.66")
    human = ok("pay", "--from", str(d / "alice.key"), "--to", bob, "--amount", "0.66", env=net.env).stdout
    assert "paid 0.66 yuan" in human and "committed in block" in human
    net.state.update(pay_txid=paid["txid"], pay_height=str(paid["height"]), alice=alice, bob=bob,
                     alice_key=str(d / "alice.key"))

    assert ok_json("balance", bob, env=net.env)["balance"] == "1300"
    assert ok_json("balance", alice, env=net.env)["balance_yuan"] == "14987.00"
    assert "13.00 yuan" in ok("balance", bob, env=net.env).stdout
    wallet = ok_json("chain", "wallet", bob, env=net.env)
    assert (wallet["tier"], wallet["kyc_commitment"], wallet["balance"]) == (4, "5a" * 32, "1300")
    utxos = ok_json("chain", "utxos", bob, env=net.env)
    assert sorted(int(u["amount"]) for u in utxos["utxos"]) == [66, 1234] and utxos["total"] == "1300"

    # Rejections by the chain: exit 1 and the ledger's reason (bob's tier 4 holds at most 10,000).
    assert_error(run("pay", "--from", str(d / "alice.key"), "--to", bob, "--amount", "12000", env=net.env),
                 1, "tier_limit_exceeded", "balance cap")
    assert_error(run("pay", "--from", str(d / "alice.key"), "--to", stranger, "--amount", "1", env=net.env),
                 1, "unregistered_recipient")
    assert_error(run("pay", "--from", str(d / "bob.key"), "--to", alice, "--amount", "13.01", env=net.env),
                 1, "insufficient_funds")
    # Unknown address / mistyped address against the live node too.
    assert_error(run("balance", mistype(bob), env=net.env), 2, "checksum")
    assert_error(run("chain", "wallet", stranger, env=net.env), 4, "not found")


def test_chain_queries(net: Devnet) -> None:
    txid, height = net.state["pay_txid"], int(net.state["pay_height"])
    tx = ok_json("chain", "tx", txid, env=net.env)
    assert (tx["kind"], tx["status"], int(tx["height"])) == ("transfer", "committed", height)
    assert tx["sender"] == net.state["alice"]
    assert {o["address"] for o in tx["outputs"]} == {net.state["alice"], net.state["bob"]}
    block = ok_json("chain", "block", str(height), env=net.env)
    assert txid in [t["txid"] for t in block["txs"]] and len(block["commit"]["signers"]) >= 3
    assert ok_json("chain", "block", block["block_hash"], env=net.env)["height"] == str(height)
    assert ok("chain", "block", str(height), env=net.env).stdout.count(txid) == 1
    assert "transfer" in ok("chain", "tx", txid, env=net.env).stdout
    # Not found is its own exit code (4), not a rejection (1); under --json the error is JSON.
    assert_error(run("chain", "tx", "00" * 32, env=net.env), 4, "not found")
    assert_error(run("chain", "block", "999999", env=net.env), 4, "not found")
    missing = run("chain", "tx", "00" * 32, "--json", env=net.env)
    assert missing.exit_code == 4 and missing.stdout == ""
    error = json.loads(missing.stderr)["error"]
    assert (error["code"], error["exit_code"]) == ("not_found", 4) and "00" * 32 in error["message"]
    refused = run("bank", "redeem", "--key", net.path("institutions", "suzhou.key"), "--amount", "1",
                  "--json", env=net.env)
    assert refused.exit_code == 1 and json.loads(refused.stderr)["error"]["code"] == "insufficient_funds"
    validators = ok_json("chain", "validators", env=net.env)
    assert validators["total_power"] == "40"
    assert [v["link"] for v in validators["validators"]].count("this node") == 1
    # Each validator by its genesis name, in people's tables too.
    # Every validator by its genesis name (listed in the order of the set, not of genesis).
    assert sorted(v["name"] for v in validators["validators"]) == sorted(n.name for n in net.record.nodes)
    table = ok("chain", "validators", env=net.env).stdout
    assert all(n.name in table for n in net.record.nodes)
    lines = ok("chain", "watch", "--from", "1", "--count", "3", "--json", env=net.env).stdout.splitlines()
    assert [json.loads(line)["height"] for line in lines] == ["1", "2", "3"]
    assert "supply at height" in ok("chain", "supply", env=net.env).stdout


def test_status_of_a_node_that_is_not_a_validator(net: Devnet, tmp_path: Path) -> None:
    """A follower (its key is not in genesis) dials every validator: "of 4", not "of 3"."""
    home = tmp_path / "follower"
    ok("node", "init", "--home", str(home), "--genesis", net.path("genesis.json"))
    api, peer = (f"127.0.0.1:{p}" for p in free_ports(2))
    validators = {n.name: load_key(Path(n.home) / "validator.key").public for n in net.record.nodes}
    write_default_config(home, api={"listen": api}, p2p={"listen": peer, "peers": [
        PeerConfig(n.peer, validators[n.name]) for n in net.record.nodes]})
    follower = NodeRecord("follower", "follower", str(home), api, peer)
    spawn(follower)
    try:
        wait_for(lambda: network.node_height(follower) is not None, 30, "the follower's API")
        # The follower's API certificate is signed by its own identity (`node init`).
        own_ca = {"CBDC_CA": str(home / "tls" / "members.crt")}
        doc = ok_json("chain", "status", "--node", api, env=own_ca)
        assert doc["validator"] is None and doc["validators"] == 4 and doc["peers_expected"] == 4
        assert "connected of 4 validators" in ok("chain", "status", "--node", api, env=own_ca).stdout
        assert ok_json("chain", "status", env=net.env)["peers_expected"] == 3  # a validator: the others
    finally:
        stop([follower])


def test_redeem(net: Devnet) -> None:
    before = ok_json("chain", "supply", env=net.env)
    done = ok_json("bank", "redeem", "--key", net.path("institutions", "shenzhen.key"), "--amount", "100.50",
                   env=net.env)
    assert done["amount"] == "10050"
    after = ok_json("chain", "supply", env=net.env)
    assert int(after["redeemed"]) - int(before["redeemed"]) == 10_050
    assert int(after["outstanding"]) == int(after["issued"]) - int(after["redeemed"])
    assert_error(run("bank", "redeem", "--key", net.path("institutions", "suzhou.key"), "--amount", "1",
                     env=net.env), 1, "insufficient_funds")


# --- inclusion proofs ---------------------------------------------------------------------


def test_prove_and_verify_offline(net: Devnet, tmp_path: Path) -> None:
    proof = tmp_path / "pay.proof.json"
    made = ok_json("audit", "prove", net.state["pay_txid"], "--out", str(proof), env=net.env)
    assert made["height"] == net.state["pay_height"]
    genesis = net.path("genesis.json")
    checked = ok_json("audit", "verify-proof", str(proof), "--genesis", genesis)
    assert checked["valid"] and checked["txid"] == net.state["pay_txid"] and int(checked["power"]) >= 30
    assert "VALID" in ok("audit", "verify-proof", str(proof), "--genesis", genesis).stdout
    net.state["proof"] = str(proof)


def _tampered(source: str, tmp_path: Path, name: str, change) -> str:
    doc = json.loads(Path(source).read_text())
    change(doc)
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(doc))
    return str(path)


def _flip(hex_text: str, at: int) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[at] ^= 0x01
    return raw.hex()


def _flip_merkle_path(doc: dict) -> None:
    if doc["merkle_path"]:
        doc["merkle_path"][0] = _flip(doc["merkle_path"][0], 5)
    else:  # a one-transaction block has an empty path; a made-up sibling must fail as well
        doc["merkle_path"] = ["00" * 32]


def _flip_state_root_in_header(doc: dict) -> None:
    header = ledger_pb2.BlockHeader.FromString(bytes.fromhex(doc["header"]))
    raw = bytes.fromhex(doc["header"])
    doc["header"] = _flip(doc["header"], raw.index(header.state_root) + 3)


def _drop_precommits(doc: dict) -> None:
    cert = consensus_pb2.CommitCertificate.FromString(bytes.fromhex(doc["commit"]))
    del cert.precommits[2:]
    doc["commit"] = cert.SerializeToString().hex()


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        ("merkle", _flip_merkle_path, "Merkle path does not lead"),
        ("header", _flip_state_root_in_header, "commit certificate does not verify"),
        ("tx", lambda d: d.update(tx=_flip(d["tx"], len(d["tx"]) // 4)), "txid"),
        ("commit", _drop_precommits, "precommits carry power 20 of 40"),
        ("index", lambda d: d.update(tx_index=d["tx_index"] + 1), "Merkle path does not lead"),
    ],
)
def test_tampered_proof_is_caught(net: Devnet, tmp_path: Path, name: str, change, reason: str) -> None:
    bad = _tampered(net.state["proof"], tmp_path, name, change)
    line = assert_error(run("audit", "verify-proof", bad, "--genesis", net.path("genesis.json")), 1,
                        "INVALID proof")
    assert reason in line


# --- audit verify --------------------------------------------------------------------------


def test_audit_refuses_a_running_nodes_store(net: Devnet) -> None:
    assert_error(run("audit", "verify", "--home", net.record.nodes[0].home), 2, "in use", "--node")


def test_audit_over_the_api(net: Devnet) -> None:
    doc = ok_json("audit", "verify", "--genesis", net.path("genesis.json"), env=net.env)
    assert doc["ok"] and int(doc["height"]) >= int(net.state["pay_height"]) and doc["failure"] is None
    assert int(doc["outstanding"]) == int(doc["issued"]) - int(doc["redeemed"])


@pytest.fixture(scope="module")
def stopped_home(net: Devnet) -> Path:
    """The last validator, stopped so its store can be read (three of four keep committing).
    It is stopped only once it holds every block the others had, so its store has every
    transaction the earlier tests committed."""
    node = net.record.nodes[-1]
    tip = network.node_height(net.record.nodes[0])
    deadline = time.monotonic() + 30
    while (network.node_height(node) or 0) < (tip or 0) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop([node])
    return Path(node.home)


def test_audit_verify_home(net: Devnet, stopped_home: Path) -> None:
    result = ok("audit", "verify", "--home", str(stopped_home), "--recompute-every", "5")
    assert result.stdout.startswith("PASS: cbdc-devnet verified from genesis to height ")
    assert len(result.stdout.strip().splitlines()) == 1
    doc = ok_json("audit", "verify", "--home", str(stopped_home))
    supply = ok_json("chain", "supply", env=net.env)
    assert (doc["issued"], doc["redeemed"]) == (supply["issued"], supply["redeemed"])


def _copy_ledger(home: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "ledger"
    shutil.copytree(home / "data" / "ledger", copy)
    return copy


def _rewrite_block(ledger: Path, height: int, change) -> None:
    """Replace the stored CommittedBlock at `height` (store key b"B" + height u64)."""
    db = plyvel.DB(str(ledger))
    try:
        key = b"B" + height.to_bytes(8, "big")
        committed = ledger_pb2.CommittedBlock.FromString(db.get(key))
        change(committed)
        db.put(key, committed.SerializeToString(), sync=True)
    finally:
        db.close()


def test_tampered_certificate_in_store(net: Devnet, stopped_home: Path, tmp_path: Path) -> None:
    height = int(net.state["pay_height"])
    ledger = _copy_ledger(stopped_home, tmp_path)

    def weaken(committed: ledger_pb2.CommittedBlock) -> None:
        cert = consensus_pb2.CommitCertificate.FromString(committed.commit)
        del cert.precommits[2:]
        committed.commit = cert.SerializeToString()

    _rewrite_block(ledger, height, weaken)
    result = run("audit", "verify", "--store", str(ledger), "--genesis", net.path("genesis.json"))
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert result.stdout.strip() == (
        f"FAIL at height {height}: block {height}: commit certificate does not verify: "
        "precommits carry power 20 of 40; a commit needs at least 27"
    )


def test_forged_state_root_signed_by_validators_is_caught(
    net: Devnet, stopped_home: Path, tmp_path: Path
) -> None:
    """Even a supermajority of validators signing a header with a false state root is caught:
    the auditor re-executes the block and compares roots."""
    height = int(net.state["pay_height"])
    ledger = _copy_ledger(stopped_home, tmp_path)
    homes = [Path(n.home) for n in net.record.nodes]
    signers = [nacl.signing.SigningKey(load_key(home / "validator.key").seed) for home in homes]

    def forge(committed: ledger_pb2.CommittedBlock) -> None:
        block = ledger_pb2.Block.FromString(committed.block)
        header = ledger_pb2.BlockHeader.FromString(block.header)
        header.state_root = bytes(32)
        block.header = header.SerializeToString()
        digest = sha256(block.header)
        votes = [sign_vote(k, network.CHAIN_ID, height, 0, VoteType.PRECOMMIT, digest) for k in signers]
        committed.block = block.SerializeToString()
        committed.commit = encode_commit(height, 0, digest, votes)

    _rewrite_block(ledger, height, forge)
    doc = json.loads(run("audit", "verify", "--store", str(ledger), "--genesis", net.path("genesis.json"),
                         "--json").stdout)
    assert not doc["ok"] and doc["failed_height"] == str(height)
    assert f"block {height} does not re-execute" in doc["failure"]
    assert "state_root 0000000000000000 differs from the state its transactions produce" in doc["failure"]
    assert doc["height"] == str(height - 1)  # everything below the forged block verified
