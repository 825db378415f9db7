"""`cbdc audit trace` and `cbdc audit flows` offline, from a store: the relocation fund from
the budget (an issuance) across three hops to its final recipients, and the fund's totals."""

from __future__ import annotations

import pytest

from node.client.locks import SPEND, earmark_lock
from node.client.txbuild import (
    build_define_purpose,
    build_issue,
    build_register,
    build_register_for_purpose,
    build_spend_locked,
    build_transfer,
    locked_output,
)
from node.ledger.address import encode_address
from node.ledger.crypto import sha256
from node.ledger.keys import KeyPair
from node.ledger.purposes import BENEFICIARY, MERCHANT
from node.ledger.types import OutPoint
from tests.store.prog_chain import BANK, CHAIN, GENESIS, ISSUER, YUAN, Chain, body, key

from .helpers import assert_error, ok, ok_json, run

FUND = "relocation-fund"
RESIDENT, BUILDER, SUPPLIER = key(30), key(31), key(32)


@pytest.fixture(scope="module")
def chain_dir(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Issue 1,000 yuan (the budget); the bank earmarks it for a resident (hop 1), who pays
    the builder (hop 2), who pays 600 to a supplier and keeps 400 (hop 3); the supplier, a
    merchant, settles 100 to the bank."""
    root = tmp_path_factory.mktemp("trace")
    chain = Chain(root / "ledger")
    issue = build_issue(CHAIN, [(BANK.public, 1_000 * YUAN)], [ISSUER], chain.n())
    people = (RESIDENT, BUILDER, SUPPLIER)
    setup = [issue, *(build_register(CHAIN, BANK, k.public, 1, nonce=chain.n()) for k in people)]
    setup.append(build_define_purpose(CHAIN, BANK, FUND, "resettlement", chain.n()))
    chain.block(setup)
    chain.block([build_register_for_purpose(CHAIN, BANK, FUND, k.public, role, chain.n())
                 for k, role in ((RESIDENT, BENEFICIARY), (BUILDER, BENEFICIARY), (SUPPLIER, MERCHANT))])
    locks = {k.public: earmark_lock(k.public, FUND) for k in (RESIDENT, BUILDER, SUPPLIER)}

    def hop(holder: KeyPair, coin: OutPoint, outputs: list) -> bytes:
        return build_spend_locked(CHAIN, locks[holder.public], SPEND, [coin], outputs, [holder], chain.n())

    hop1 = build_transfer(CHAIN, BANK, [OutPoint(sha256(body(issue)), 0)],
                          [locked_output(locks[RESIDENT.public], 1_000 * YUAN)], chain.n())
    chain.block([hop1])
    to_builder = [locked_output(locks[BUILDER.public], 1_000 * YUAN)]
    hop2 = hop(RESIDENT, OutPoint(sha256(body(hop1)), 0), to_builder)
    chain.block([hop2])
    to_supplier = [
        locked_output(locks[SUPPLIER.public], 600 * YUAN), locked_output(locks[BUILDER.public], 400 * YUAN),
    ]
    hop3 = hop(BUILDER, OutPoint(sha256(body(hop2)), 0), to_supplier)
    chain.block([hop3])
    to_bank = [(BANK.public, 100 * YUAN), locked_output(locks[SUPPLIER.public], 500 * YUAN)]
    settle = hop(SUPPLIER, OutPoint(sha256(body(hop3)), 0), to_bank)
    chain.block([settle])
    chain.store.close()
    genesis = root / "genesis.json"
    GENESIS.save(genesis)
    ids = [sha256(body(t)).hex() for t in (issue, hop1, hop2, hop3, settle)]
    return {"store": str(root / "ledger"), "genesis": str(genesis), "ids": ids}


def _src(chain_dir: dict[str, object]) -> list[str]:
    return ["--store", str(chain_dir["store"]), "--genesis", str(chain_dir["genesis"])]


def test_trace_from_the_budget_to_each_final_recipient(chain_dir: dict[str, object]) -> None:
    issue, hop1, hop2, hop3, settle = chain_dir["ids"]  # type: ignore[misc]
    doc = ok_json("audit", "trace", f"{hop2}:0", *_src(chain_dir))
    assert [t["txid"] for t in doc["back"]] == [issue, hop1]
    assert doc["issued_from"] == [issue]
    assert [t["txid"] for t in doc["forward"]] == [hop3, settle]
    now = {(c["to"], c["amount_fen"], c.get("purpose")) for c in doc["unspent"]}
    assert now == {
        (encode_address(BUILDER.public), 400 * YUAN, FUND),
        (encode_address(SUPPLIER.public), 500 * YUAN, FUND),
        (f"inst-0 ({encode_address(BANK.public)})", 100 * YUAN, None),
    }
    text = ok("audit", "trace", hop2, *_src(chain_dir)).stdout
    assert "back to issuance:" in text and "earmarked relocation-fund" in text and "issue" in text


def test_flows_of_the_fund(chain_dir: dict[str, object]) -> None:
    doc = ok_json("audit", "flows", "--purpose", FUND, *_src(chain_dir))
    totals = doc["totals_fen"]
    assert totals == {"earmarked": 1_000 * YUAN, "held": 900 * YUAN, "returned": 100 * YUAN, "settled": 0}
    assert doc["held_by_class_fen"] == {"beneficiary": 400 * YUAN, "merchant": 500 * YUAN}
    # Change back to the payer's own earmark is not a payment.
    assert doc["paid_to_class_fen"] == {"beneficiary": 1_000 * YUAN, "merchant": 600 * YUAN}
    assert doc["earmarked_fen"] == {f"inst-0 ({encode_address(BANK.public)})": 1_000 * YUAN}
    assert "totals: earmarked 1,000.00 = held 900.00 + returned 100.00" in ok(
        "audit", "flows", "--purpose", FUND, *_src(chain_dir)).stdout


def test_trace_and_flows_refusals(chain_dir: dict[str, object]) -> None:
    assert_error(run("audit", "trace", "nothex", *_src(chain_dir)), 2, "TXID or TXID:INDEX")
    assert_error(run("audit", "trace", "00" * 32, *_src(chain_dir)), 1, "is not in the")
    assert_error(run("audit", "flows", "--purpose", "carbon", *_src(chain_dir)), 1, "relocation-fund")
    assert_error(run("audit", "flows", "--purpose", FUND, "--store", "/nonexistent"), 2, "--genesis")

