"""The programmable-money pilots end to end on a real four-validator devnet, through the CLI:
the course (10 lessons, 7 attended: 7 released, 3 refunded at the deadline), a merchant
closing mid-course, a 2-of-3 supplier payment, an airdrop spent only at an allowed merchant,
a voucher expiring and reclaimed, a relocation fund traced across three hops, and a delivery
released automatically except the installment its buyer disputed.

One devnet for the module; tests run in file order. Time-based steps (the course deadline,
the voucher expiry) are set a few seconds ahead when they are created, and the tests in
between run while those clocks run out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from devnet import network
from devnet.processes import stop
from node.ledger.keys import load_key
from tests.cli.helpers import assert_error, ok, ok_json, run
from tests.support.waiting import wait_for

DEADLINE_S = 25   # the course's refund deadline, from its creation
EXPIRY_S = 25     # the voucher's expiry, from its issue


@dataclass
class Pilot:
    directory: Path
    env: dict[str, str]
    keys: dict[str, str] = field(default_factory=dict)       # name -> key file
    addr: dict[str, str] = field(default_factory=dict)       # name -> address
    state: dict[str, str] = field(default_factory=dict)

    @property
    def bank(self) -> str:
        return str(self.directory / "institutions" / "shenzhen.key")

    def balance(self, name: str) -> int:
        return int(ok_json("balance", self.addr[name], env=self.env)["balance"])  # proto3 JSON: a string


@pytest.fixture(scope="module")
def pilot(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Pilot]:
    directory = tmp_path_factory.mktemp("pilot")
    record = network.create(directory, 4)
    try:
        network.start(directory, record, wait_s=60)
        # $CBDC_DEVNET_DIR: the CLI checks the nodes against this devnet's members bundle.
        p = Pilot(directory, {"CBDC_NODE": record.nodes[0].api, "CBDC_DEVNET_DIR": str(directory)})
        p.addr["bank"] = load_key(p.bank).address
        ok("bank", "issue", "--to", p.addr["bank"], "--amount", "100000",
           "--signer", str(directory / "central-bank" / "issuer-1.key"),
           "--signer", str(directory / "central-bank" / "issuer-2.key"), env=p.env)
        people = ["parent", "school", "bureau", "citizen", "busco", "shop", "resident", "builder", "supplier",
                  "acme"]
        for name in people:
            p.keys[name] = str(directory / f"{name}.key")
            p.addr[name] = ok_json("keys", "new", "--out", p.keys[name])["address"]
            ok("bank", "register-wallet", "--key", p.bank, "--address", p.addr[name], "--tier", "1",
               env=p.env)
        yield p
    finally:
        stop(record.nodes)


def test_course_created_and_seven_lessons_released(pilot: Pilot) -> None:
    p = pilot
    ok("pay", "--from", p.bank, "--to", p.addr["parent"], "--amount", "5000", env=p.env)
    made = ok_json("escrow", "create", "--from", p.keys["parent"], "--to", p.addr["school"],
                   "--installments", "10", "--each", "300", "--deadline", f"+{DEADLINE_S}s",
                   "--arbiter", p.addr["bureau"], "--memo", "piano course, 10 lessons", env=p.env)
    p.state["course"] = made["escrow"]
    assert int(made["total"]) == 300_000 and p.balance("parent") == 200_000
    for _ in range(7):  # one release per lesson attended
        ok("escrow", "release", made["escrow"], "--key", p.keys["parent"], env=p.env)
    assert p.balance("school") == 7 * 30_000
    status = ok_json("escrow", "status", made["escrow"], env=p.env)
    assert int(status["installments_left"]) == 3 and int(status["held"]) == 90_000
    # The school cannot release to itself; nobody can refund before the deadline.
    assert_error(run("escrow", "release", made["escrow"], "--key", p.keys["school"], env=p.env), 1,
                 "not_authorized", "release")
    assert_error(run("escrow", "refund", made["escrow"], env=p.env), 1, "condition_not_met",
                 "not yet releasable until")


def test_delivery_disputed_before_its_automatic_release(pilot: Pilot) -> None:
    p = pilot
    made = ok_json("escrow", "create", "--from", p.keys["parent"], "--to", p.addr["supplier"],
                   "--installments", "3", "--each", "100", "--deadline", "+90d",
                   "--auto-release", f"+{DEADLINE_S}s", "--arbiter", p.addr["bureau"], "--memo", "delivery",
                   env=p.env)
    p.state["delivery"] = made["escrow"]
    # The payee cannot dispute; nobody releases automatically before the date.
    assert_error(run("escrow", "dispute", made["escrow"], "--key", p.keys["supplier"], env=p.env), 1,
                 "not_authorized", "dispute")
    assert_error(run("escrow", "auto-release", made["escrow"], env=p.env), 1, "condition_not_met",
                 "not yet releasable until")
    disputed = ok_json("escrow", "dispute", made["escrow"], "--key", p.keys["parent"], "--installments", "1",
                       env=p.env)
    assert int(disputed["disputed"]) == 10_000
    status = ok_json("escrow", "status", made["escrow"], env=p.env)
    assert int(status["installments_left"]) == 2
    assert (int(status["disputed"]), int(status["disputed_held"])) == (1, 10_000)
    # `chain tx` shows the new kinds readably: the dispute names its clause and where the money went.
    shown = ok_json("chain", "tx", disputed["txid"], env=p.env)
    assert shown["kind"] == "spend_locked" and shown["clause"]["name"] == "dispute"
    assert shown["signers"] == [p.addr["parent"]]
    assert shown["outputs"][0]["lock"]["clauses"][0]["pay_to"] == [p.addr["parent"], p.addr["supplier"]]
    text = " ".join(ok("chain", "tx", disputed["txid"], env=p.env).stdout.split())  # columns aside
    assert "clause 4 (dispute)" in text and f"signed by {p.addr['parent']}" in text
    assert f"4 dispute: and(pk({p.addr['parent']}),before_time(" in text
    assert f"0 decide: pk({p.addr['bureau']}) -> {p.addr['parent']}, {p.addr['supplier']}" in text


def test_voucher_issued_and_spent_at_its_merchant(pilot: Pilot) -> None:
    p = pilot
    made = ok_json("voucher", "issue", "--key", p.bank, "--to", p.addr["citizen"], "--amount", "20",
                   "--expires", f"+{EXPIRY_S}s", "--merchant", p.addr["shop"], env=p.env)
    p.state["voucher"] = made["voucher"]
    p.state["voucher_expires_ms"] = str(made["expires_ms"])
    ok("voucher", "spend", made["voucher"], "--key", p.keys["citizen"], "--to", p.addr["shop"],
       "--amount", "5", env=p.env)
    assert p.balance("shop") == 500
    assert_error(run("voucher", "spend", made["voucher"], "--key", p.keys["citizen"], "--to", p.addr["busco"],
                     "--amount", "5", env=p.env), 1, "destination_not_allowed")


def test_merchant_closes_mid_course_and_the_arbiter_refunds(pilot: Pilot) -> None:
    p = pilot
    made = ok_json("escrow", "create", "--from", p.keys["parent"], "--to", p.addr["school"],
                   "--installments", "4", "--each", "100", "--deadline", "+90d",
                   "--arbiter", p.addr["bureau"], env=p.env)
    ok("escrow", "release", made["escrow"], "--key", p.keys["parent"], env=p.env)
    before = p.balance("parent")
    settled = ok_json("escrow", "settle", made["escrow"], "--key", p.keys["bureau"], "--to", "payer",
                      env=p.env)
    assert int(settled["settled"]) == 30_000 and p.balance("parent") == before + 30_000


def test_two_of_three_supplier_payment(pilot: Pilot) -> None:
    p = pilot
    officers = []
    for name in ("treasurer", "cfo", "ceo"):  # every key of a lock is a registered wallet
        p.keys[name] = str(p.directory / f"{name}.key")
        officers.append(ok_json("keys", "new", "--out", p.keys[name])["address"])
        ok("bank", "register-wallet", "--key", p.bank, "--address", officers[-1], "--tier", "1", env=p.env)
    wallet = ["--k", "2", "--keys", ",".join(officers)]
    ok("multisig", "fund", "--from", p.bank, *wallet, "--amount", "1000", env=p.env)
    assert int(ok_json("multisig", "address", *wallet, env=p.env)["balance"]) == 100_000
    pay = ["multisig", "pay", *wallet, "--to", p.addr["supplier"], "--amount", "400"]
    assert_error(run(*pay, "--signer", p.keys["cfo"], env=p.env), 1, "condition_not_met",
                 "needs 2 of 3 signatures and has 1")
    paid = ok_json(*pay, "--signer", p.keys["treasurer"], "--signer", p.keys["ceo"], env=p.env)
    assert int(paid["left"]) == 60_000 and p.balance("supplier") == 40_000


def test_two_of_three_by_a_draft_passed_between_officers(pilot: Pilot, tmp_path: Path) -> None:
    p = pilot
    officers = [load_key(p.keys[name]).address for name in ("treasurer", "cfo", "ceo")]
    wallet = ["--k", "2", "--keys", ",".join(officers)]
    draft = str(tmp_path / "pay.json")
    supplier_before = p.balance("supplier")
    # The treasurer drafts and signs; the CFO, elsewhere, signs later from the file.
    made = ok_json("multisig", "pay", *wallet, "--to", p.addr["supplier"], "--amount", "100",
                   "--signer", p.keys["treasurer"], "--cosigner", officers[1], "--draft", draft, env=p.env)
    assert [s["status"] for s in made["signers"]] == ["signed", "missing"]
    assert_error(run("multisig", "submit", draft, env=p.env), 2, "no valid signature yet", officers[1])
    assert_error(run("multisig", "sign", draft, "--key", p.keys["ceo"]), 2, "not among the signers")
    assert_error(run("multisig", "pay", *wallet, "--to", p.addr["supplier"], "--amount", "100",
                     "--signer", p.keys["treasurer"], "--cosigner", officers[1], env=p.env), 2, "--draft")
    signed = ok_json("multisig", "sign", draft, "--key", p.keys["cfo"])
    assert [s["status"] for s in signed["signers"]] == ["signed", "signed"]
    sent = ok_json("multisig", "submit", draft, env=p.env)
    assert sent["txid"] == made["txid"] and p.balance("supplier") == supplier_before + 10_000
    assert int(ok_json("multisig", "address", *wallet, env=p.env)["balance"]) == 50_000


def test_airdrop_only_at_allowed_merchants(pilot: Pilot) -> None:
    p = pilot
    ok("purpose", "define", "carbon-airdrop", "--key", p.bank, "--description", "public transport", env=p.env)
    ok("purpose", "register", "carbon-airdrop", p.addr["citizen"], "--role", "beneficiary", "--key", p.bank,
       env=p.env)
    ok("purpose", "register", "carbon-airdrop", p.addr["busco"], "--role", "merchant", "--key", p.bank,
       env=p.env)
    ok("purpose", "earmark", "carbon-airdrop", "--key", p.bank, "--to", p.addr["citizen"], "--amount", "50",
       env=p.env)
    ok("purpose", "pay", "carbon-airdrop", "--key", p.keys["citizen"], "--to", p.addr["busco"],
       "--amount", "3", env=p.env)
    assert_error(run("purpose", "pay", "carbon-airdrop", "--key", p.keys["citizen"], "--to", p.addr["shop"],
                     "--amount", "3", env=p.env), 1, "purpose_not_allowed", "cannot be paid to")
    held = ok_json("purpose", "balance", "carbon-airdrop", p.addr["citizen"], env=p.env)
    assert int(held["balance"]) == 4_700
    # The bus company settles to a bank: the allowed exit.
    ok("purpose", "pay", "carbon-airdrop", "--key", p.keys["busco"], "--to", p.addr["bank"], "--amount", "3",
       env=p.env)


def test_relocation_fund_traced_across_three_hops(pilot: Pilot) -> None:
    p = pilot
    fund = "relocation-fund"
    # A public fund: the central bank defines it (2 of its 3 issuer keys) and appoints the bank.
    issuers = [str(p.directory / "central-bank" / f"issuer-{i}.key") for i in (1, 2)]
    assert_error(run("purpose", "define", fund, "--signer", issuers[0], "--institution", p.addr["bank"],
                     env=p.env), 1, "not_authorized", "needs 2 of the 3 authority keys")
    made = ok_json("purpose", "define", fund, "--signer", issuers[0], "--signer", issuers[1],
                   "--institution", p.addr["bank"], env=p.env)
    assert made["defined_by"] == "central_bank" and made["institution"] == p.addr["bank"]
    shown = " ".join(ok("chain", "tx", made["txid"], env=p.env).stdout.split())
    assert "defined by the central bank (" in shown and f"institution {p.addr['bank']}" in shown
    for name, role in (("resident", "beneficiary"), ("builder", "beneficiary"), ("supplier", "merchant")):
        ok("purpose", "register", fund, p.addr[name], "--role", role, "--key", p.bank, env=p.env)
    ok("purpose", "earmark", fund, "--key", p.bank, "--to", p.addr["resident"], "--amount", "1000", env=p.env)
    hop2 = ok_json("purpose", "pay", fund, "--key", p.keys["resident"], "--to", p.addr["builder"],
                   "--amount", "1000", env=p.env)
    ok("purpose", "pay", fund, "--key", p.keys["builder"], "--to", p.addr["supplier"], "--amount", "600",
       env=p.env)
    genesis = str(p.directory / "genesis.json")
    doc = ok_json("audit", "trace", f"{hop2['txid']}:0", "--genesis", genesis, env=p.env)
    assert doc["back"][0]["kind"] == "issue" and doc["issued_from"]
    assert {c["to"] for c in doc["unspent"]} == {p.addr["builder"], p.addr["supplier"]}
    flows = ok_json("audit", "flows", "--purpose", fund, "--genesis", genesis, env=p.env)
    assert int(flows["totals_fen"]["earmarked"]) == 100_000 and int(flows["totals_fen"]["held"]) == 100_000
    assert flows["held_by_class_fen"] == {"beneficiary": 40_000, "merchant": 60_000}


def test_course_refunded_at_the_deadline_and_voucher_reclaimed(pilot: Pilot) -> None:
    p = pilot
    parent_before, bank_before = p.balance("parent"), p.balance("bank")
    # From the deadline on anyone may submit the refund; until then the chain refuses it
    # (condition_not_met), so poll the refund itself.
    refunded = wait_for(lambda: _ok_unless_early("escrow", "refund", p.state["course"], env=p.env),
                        DEADLINE_S + 30, "the course deadline")
    assert int(refunded["refunded"]) == 90_000 and p.balance("parent") == parent_before + 90_000
    assert p.balance("school") == 7 * 30_000 + 10_000
    # The voucher: wait until its expiry has passed on the clock the node stamps blocks with.
    expires_ms = int(p.state["voucher_expires_ms"])
    wait_for(lambda: time.time() * 1000 > expires_ms + 1_000, EXPIRY_S + 30, "the voucher's expiry")
    late = run("voucher", "spend", p.state["voucher"], "--key", p.keys["citizen"], "--to", p.addr["shop"],
               "--amount", "1", env=p.env)
    assert_error(late, 1, "voucher_expired", "reclaim")
    reclaimed = ok_json("voucher", "reclaim", p.state["voucher"], env=p.env)
    assert int(reclaimed["reclaimed"]) == 1_500 and p.balance("bank") == bank_before + 1_500
    assert ok_json("audit", "verify", "--genesis", str(p.directory / "genesis.json"), env=p.env)["ok"]


def test_undisputed_installments_released_and_the_dispute_settled(pilot: Pilot) -> None:
    p = pilot
    supplier_before, parent_before = p.balance("supplier"), p.balance("parent")
    released = wait_for(lambda: _ok_unless_early("escrow", "auto-release", p.state["delivery"], env=p.env),
                        DEADLINE_S + 30, "the delivery's automatic release")
    assert int(released["released"]) == 20_000 and p.balance("supplier") == supplier_before + 20_000
    # The disputed installment never released itself: the arbiter returns it to the buyer.
    settled = ok_json("escrow", "settle", p.state["delivery"], "--key", p.keys["bureau"], "--to", "payer",
                      env=p.env)
    assert int(settled["settled"]) == 10_000 and p.balance("parent") == parent_before + 10_000
    assert int(ok_json("escrow", "status", p.state["delivery"], env=p.env)["disputed"]) == 0


def _ok_unless_early(*args: str, env: dict[str, str]) -> dict | None:
    result = run(*args, "--json", env=env)
    if result.exit_code == 0:
        return json.loads(result.stdout)
    assert "condition_not_met" in result.stderr, result.stderr
    return None
