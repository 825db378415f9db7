"""Validator-set changes on real node processes: four validators and an observer (a fifth
node whose key genesis does not list; it follows the chain with every certificate checked).
The authority adds the observer as a validator: committed at H, the new set decides from
H+2, and the newcomer's precommits then count in certificates. Then an original validator
is removed and, once the removal decides, stopped: the chain goes on without it. Every
node agrees on every block, and `audit verify` replays the chain from genesis, checking
each certificate against the set of its height."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from consensus.validators import ValidatorSet
from devnet.network import CHAIN_ID
from devnet.processes import stop
from node.audit import ProofError, build_proof, collect_handoffs, verify_node, verify_proof_doc
from node.client import govbuild
from node.client.connection import NodeClient
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.crypto import sha256
from node.ledger.genesis import Genesis
from node.net.commit_push import MAX_PUSH_LAG
from proto import ledger_pb2, node_pb2
from tests.support.network import Net, assert_same_chain, create_net, stop_net
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = create_net(tmp_path_factory.mktemp("validators"), 5)
    genesis = net.genesis()
    four = replace(genesis, validators=genesis.validators[:4])
    text = json.dumps(four.to_dict(), indent=2) + "\n"
    for path in [net.directory / "genesis.json", *(Path(n.home) / "genesis.json" for n in net.nodes)]:
        path.write_text(text)
    net.start()
    yield net
    stop_net(net)


def _header_and_signers(client: NodeClient, height: int):
    committed = decode_committed_block(client.block(height).committed_block)
    return committed.header, set(Certificate.decode(committed.certificate).signers)


def _change(net: Net, client: NodeClient, updates) -> int:
    authority = net.keys.issuers[:2]
    signers = [k.public for k in authority]
    body = govbuild.validators_body(CHAIN_ID, signers, updates, nonce=int.from_bytes(os.urandom(6), "big"))
    outcome = client.submit_and_wait(govbuild.build(CHAIN_ID, body, authority), timeout=30)
    assert outcome.status == node_pb2.TX_STATUS_COMMITTED, outcome
    return outcome.inclusion.height


def test_an_observer_becomes_a_validator_and_a_removed_validator_may_leave(net: Net) -> None:
    genesis: Genesis = net.genesis()
    assert len(genesis.validators) == 4
    observer = net.nodes[4]
    newcomer = net.validator_key(observer).public
    assert newcomer not in {v.public_key for v in genesis.validators}
    first = net.client(0, timeout=30)

    # The observer follows the chain but is not a validator.
    status = NodeClient(observer.api).status()
    assert status.validator_key == b"" and len(status.validators) == 4

    # One validator is down across the change: it catches up through it afterwards.
    late = net.nodes[3]
    stop([late])
    live = [n for n in net.nodes if n is not late]

    # Add it (power 10 of 40: a quarter of the power moves, within the third allowed).
    h = _change(net, first, [(newcomer, 10, "observer")])
    net.wait_height(h + 3, live)
    four = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
    five = ValidatorSet([*((v.public_key, v.power) for v in genesis.validators), (newcomer, 10)])
    header, _ = _header_and_signers(first, h + 1)
    assert header.validators_hash == four.hash() and header.next_validators_hash == five.hash()
    header, _ = _header_and_signers(first, h + 2)
    assert header.validators_hash == five.hash()
    wait_for(lambda: NodeClient(observer.api).status().validator_key == newcomer, 30, "the newcomer listed")

    def newcomer_signs() -> bool:
        top = first.status().height
        return any(newcomer in _header_and_signers(first, k)[1] for k in range(h + 2, top + 1))

    wait_for(newcomer_signs, 60, "a certificate carrying the newcomer's precommit")
    net.wait_height(first.status().height + MAX_PUSH_LAG + 2, live)  # beyond what pushes cover

    # The late validator syncs across the change, checking each certificate against the
    # set of its height.
    net.restart(late)
    net.wait_height(first.status().height, [late])
    assert assert_same_chain(net) > h + 2
    assert "synced heights" in (Path(late.home) / "node.log").read_text()  # by block sync

    # Remove the first validator; once the removal decides, stop it: the chain goes on.
    leaving = net.nodes[0]
    leaving_key = net.validator_key(leaving).public
    second = net.client(1, timeout=30)
    h2 = _change(net, second, [(leaving_key, 0, "")])
    net.wait_height(h2 + 2)
    header, _ = _header_and_signers(second, h2 + 2)
    assert header.validators_hash == ValidatorSet(
        [(v.public_key, v.power) for v in genesis.validators[1:]] + [(newcomer, 10)]
    ).hash()
    stop([leaving])
    rest = net.nodes[1:]
    top = max(NodeClient(n.api).status().height for n in rest)
    net.wait_height(top + 3, rest)
    assert assert_same_chain(net, rest) >= top + 3

    report = verify_node(second, genesis)
    assert report.ok, report.failure
    assert report.heights >= top + 3

    # An offline proof of the removal (decided by the five after the first change) verifies
    # from genesis alone through its hand-off; a tampered hand-off is refused by name.
    txid = decode_committed_block(second.block(h2).committed_block).block.txs[0]
    txid = sha256(ledger_pb2.Transaction.FromString(txid).body)
    handoffs = collect_handoffs(second, h2)
    assert [decode_committed_block(raw).height for raw, _ in handoffs] == [h + 1]
    proof = build_proof(second.block(h2).committed_block, txid, handoffs)
    assert verify_proof_doc(proof, genesis).height == h2
    with pytest.raises(ProofError, match="the header names a validator set other than the genesis one"):
        verify_proof_doc({**proof, "handoffs": []}, genesis)
    forged = json.loads(json.dumps(proof))
    forged["handoffs"][0]["next_validators"][0][1] += 1
    with pytest.raises(ProofError, match=rf"hand-off #0 \(block {h + 1}\): next_validators is not the set"):
        verify_proof_doc(forged, genesis)
