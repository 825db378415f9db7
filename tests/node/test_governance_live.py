"""Governance on four real validator processes, under payment load: admit an institution,
freeze and unfreeze a wallet, tighten a tier limit from a height, rotate an institution's
key, replace the authority, admit two more institutions and retire one. After each step
every node holds the same block hashes and state roots and payments keep committing; at
the end `audit verify` replays the chain from genesis and an offline proof of a later
payment verifies from genesis alone."""

from __future__ import annotations

import threading
from dataclasses import replace

import pytest

from devnet.network import CHAIN_ID
from devnet.traffic import YUAN, Nonces, fund, issue_to_institutions, register_wallets, txid_of
from node.audit import build_proof, verify_node, verify_proof_doc
from node.client import govbuild, txbuild
from node.client.connection import NodeClient, Rejected
from node.ledger.genesis import default_tiers
from node.ledger.keys import KeyPair
from node.ledger.types import OutPoint
from proto import node_pb2
from tests.support.network import Net, assert_same_chain, start_net, stop_net
from tests.support.waiting import wait_for

AML, HOLDER_REQUEST = 2, 4


class PaymentLoad:
    """One coin paid back and forth between two wallets, one payment per block or so, on
    its own thread and node connection, until stopped; counts the committed payments."""

    def __init__(self, api: str, a, b) -> None:
        self.committed = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, args=(api, a, b), daemon=True)
        self._nonce = Nonces(99)

    def start(self) -> None:
        self._thread.start()

    def _run(self, api: str, a, b) -> None:
        payer, payee = a, b
        outpoint, value = payer.coins.pop()
        with NodeClient(api, timeout=30) as client:
            while not self._stop.is_set():
                raw = txbuild.build_transfer(CHAIN_ID, payer.key, [outpoint], [(payee.key.public, value)],
                                             nonce=self._nonce())
                try:
                    outcome = client.submit_and_wait(raw, timeout=30)
                except Rejected as err:
                    self.errors.append(str(err))
                    return
                if outcome.status != node_pb2.TX_STATUS_COMMITTED:
                    self.errors.append(f"payment not committed: {outcome}")
                    return
                self.committed += 1
                outpoint = OutPoint(outcome.txid, 0)
                payer, payee = payee, payer

    def more_than(self, n: int) -> bool:
        assert not self.errors, self.errors
        return self.committed > n

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)
        assert not self.errors, self.errors


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = start_net(tmp_path_factory.mktemp("governance"))
    yield net
    stop_net(net)


def _submit(net: Net, client: NodeClient, raw: bytes) -> node_pb2.TransactionOutcome:
    """Submit, wait until committed, and until every node has that block (the next step
    asks another node, which may commit it a few milliseconds later)."""
    outcome = client.submit_and_wait(raw, timeout=30)
    assert outcome.status == node_pb2.TX_STATUS_COMMITTED, outcome
    net.wait_height(outcome.inclusion.height)
    return outcome


def _refused(client: NodeClient, raw: bytes, code: str) -> str:
    with pytest.raises(Rejected) as err:
        client.submit(raw)
    assert err.value.code == code, err.value
    return err.value.message


def test_governance_under_payment_load_keeps_every_node_in_agreement(net: Net) -> None:
    nonce = Nonces(13)
    clients = [net.client(i, timeout=30) for i in range(len(net.nodes))]
    first = clients[0]
    keys = net.keys
    authority = keys.issuers[:2]
    signers = [k.public for k in authority]
    shenzhen = keys.institutions["shenzhen"]
    issued = issue_to_institutions(first, keys, 1_000_000 * YUAN, nonce)
    a, b, anon = register_wallets(first, shenzhen, [1, 1, 4], nonce)
    change = fund(first, shenzhen, (issued["shenzhen"], 1_000_000 * YUAN),
                  [(a, 1_000 * YUAN), (b, 1_000 * YUAN), (anon, 500 * YUAN)], nonce)
    # The load runs on another node, which may commit the funding a few milliseconds later.
    net.wait_height(first.status().height)
    load = PaymentLoad(net.nodes[3].api, a, b)
    load.start()

    def step_done(step: str) -> None:
        before = load.committed
        wait_for(lambda: load.more_than(before + 1), 60, f"payments committing after {step}")
        assert assert_same_chain(net) >= 1

    # 1. Admit an institution; it receives issuance and registers a wallet.
    new_bank = KeyPair.generate()
    body = govbuild.admit_institution_body(
        CHAIN_ID, signers, "bank-new", "Bank New", new_bank.public, nonce()
    )
    _submit(net, clients[1], govbuild.build(CHAIN_ID, body, authority))
    to_new_bank = [(new_bank.public, 1_000 * YUAN)]
    _submit(net, clients[2], txbuild.build_issue(CHAIN_ID, to_new_bank, authority, nonce()))
    newcomer = register_wallets(clients[2], new_bank, [2], nonce)[0]
    net.wait_height(clients[2].status().height)
    step_done("admitting an institution")

    # 2. Freeze a wallet (by its institution): it can neither receive nor send; unfreeze.
    holder = [shenzhen.public]
    body = govbuild.wallet_body(CHAIN_ID, "freeze", holder, anon.key.public, HOLDER_REQUEST, nonce())
    _submit(net, clients[0], govbuild.build(CHAIN_ID, body, [shenzhen]))
    coin, value = anon.coins[0]
    pay_anon = txbuild.build_transfer(CHAIN_ID, anon.key, [coin], [(newcomer.key.public, value)], nonce())
    assert "frozen" in _refused(clients[1], pay_anon, "wallet_frozen")
    body = govbuild.wallet_body(CHAIN_ID, "unfreeze", holder, anon.key.public, HOLDER_REQUEST, nonce())
    _submit(net, clients[1], govbuild.build(CHAIN_ID, body, [shenzhen]))
    step_done("freezing and unfreezing a wallet")

    # 3. Tighten tier 4's per-payment limit to 1 yuan from a later height.
    tiers = default_tiers()
    tiers[4] = replace(tiers[4], per_payment=1 * YUAN)
    # The change must be committed before its effective height. Under payment load a height
    # takes tens of ms here (test nets start heights at once), and a transaction reaches the
    # next proposer only with the next gossip message (node.service, up to 100 ms): so leave
    # room for several heights to pass before it is in a block.
    effective = first.status().height + 20
    body = govbuild.tier_table_body(CHAIN_ID, signers, effective, tiers.values(), nonce())
    _submit(net, clients[2], govbuild.build(CHAIN_ID, body, authority))
    wait_for(lambda: all(c.status().height >= effective for c in clients), 60, f"height {effective}")
    assert "per-payment" in _refused(clients[3], pay_anon, "tier_limit_exceeded")
    one_yuan = txbuild.build_transfer(CHAIN_ID, anon.key, [coin], [(newcomer.key.public, 1 * YUAN),
                                      (anon.key.public, value - 1 * YUAN)], nonce())
    _submit(net, clients[3], one_yuan)
    step_done("changing a tier limit")

    # 4. Rotate shenzhen's key (old and new key sign): its money moves only with the new key.
    rotated = KeyPair.generate()
    body = govbuild.rotate_institution_key_body(CHAIN_ID, holder, "pilot-shenzhen", rotated.public, nonce())
    _submit(net, clients[0], govbuild.build(CHAIN_ID, body, [shenzhen, rotated]))
    outpoint, value = change
    old_spend = txbuild.build_transfer(CHAIN_ID, shenzhen, [outpoint], [(shenzhen.public, value)], nonce())
    _refused(clients[1], old_spend, "not_authorized")
    spend = txbuild.build_transfer(CHAIN_ID, rotated, [outpoint], [(newcomer.key.public, 10 * YUAN),
                                   (rotated.public, value - 10 * YUAN)], nonce())
    paid = _submit(net, clients[1], spend)
    step_done("rotating an institution's key")

    # 5. Replace the authority (new keys, 2 of 3): the old keys issue nothing any more.
    new_authority = [KeyPair.generate() for _ in range(3)]
    body = govbuild.authority_body(CHAIN_ID, signers, [k.public for k in new_authority], 2, nonce())
    _submit(net, clients[2], govbuild.build(CHAIN_ID, body, authority))
    _refused(clients[3], txbuild.build_issue(CHAIN_ID, [(new_bank.public, 1)], authority, nonce()),
             "not_authorized")
    by_new = txbuild.build_issue(CHAIN_ID, [(new_bank.public, 1)], new_authority[1:], nonce())
    _submit(net, clients[3], by_new)
    step_done("replacing the authority")

    # 6. Two more institutions join; one pilot bank returns all its money and retires.
    deciders = [k.public for k in new_authority[:2]]
    for n in (6, 7):
        joining = KeyPair.generate().public
        body = govbuild.admit_institution_body(CHAIN_ID, deciders, f"bank-{n}", f"Bank {n}", joining, nonce())
        _submit(net, clients[n % 4], govbuild.build(CHAIN_ID, body, new_authority[:2]))
    xiongan = keys.institutions["xiongan"]
    redeem = txbuild.build_redeem(CHAIN_ID, xiongan, [issued["xiongan"]], 1_000_000 * YUAN, nonce=nonce())
    _submit(net, clients[1], redeem)
    body = govbuild.institution_body(CHAIN_ID, "retire", deciders, "pilot-xiongan", nonce())
    _submit(net, clients[2], govbuild.build(CHAIN_ID, body, new_authority[:2]))
    listed = {i.id: i.status for i in clients[3].governance().institutions}
    assert listed["bank-6"] == listed["bank-7"] == "active" and listed["pilot-xiongan"] == "retired"
    step_done("admitting two institutions and retiring one")

    load.stop()
    assert load.committed >= 10
    top = assert_same_chain(net)
    genesis = net.genesis()
    report = verify_node(first, genesis)
    assert report.ok, report.failure
    assert report.heights >= top
    proof = build_proof(first.block(paid.inclusion.height).committed_block, txid_of(spend))
    proven = verify_proof_doc(proof, genesis)
    assert proven.height == paid.inclusion.height
    for c in clients:
        c.close()
