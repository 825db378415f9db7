"""Four real validator processes on loopback: payments, agreement, rejections, hostile RPCs."""

from __future__ import annotations

import random
import threading

import grpc
import pytest

from devnet.network import CHAIN_ID
from devnet.traffic import YUAN, Nonces, fund, issue_to_institutions, register_wallets, txid_of
from node.client import txbuild
from node.client.connection import NodeClient, Rejected
from node.ledger.keys import KeyPair
from node.ledger.types import OutPoint
from proto import node_pb2, node_pb2_grpc
from tests.support.network import Net, assert_same_chain, start_net, stop_net


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = start_net(tmp_path_factory.mktemp("devnet"))
    yield net
    stop_net(net)


@pytest.fixture(scope="module")
def funded(net: Net):
    """The central bank has issued to every institution; shenzhen has three wallets."""
    nonce = Nonces(7)
    client = net.client(0)
    issued = issue_to_institutions(client, net.keys, 1_000_000 * YUAN, nonce)
    shenzhen = net.keys.institutions["shenzhen"]
    wallets = register_wallets(client, shenzhen, [1, 1, 4], nonce)
    change = fund(
        client,
        shenzhen,
        (issued["shenzhen"], 1_000_000 * YUAN),
        [(wallets[0], 20_000 * YUAN), (wallets[1], 20_000 * YUAN), (wallets[2], 500 * YUAN)],
        nonce,
    )
    # Another node may commit that block a few milliseconds later than this one did.
    net.wait_height(client.status().height)
    return {"wallets": wallets, "change": change, "nonce": nonce, "issued": issued}


def test_payments_commit_and_every_node_holds_the_same_chain(net: Net, funded) -> None:
    a, b, _ = funded["wallets"]
    nonce = funded["nonce"]
    outpoint, value = a.coins.pop()
    raw = txbuild.build_transfer(
        CHAIN_ID, a.key, [outpoint], [(b.key.public, 1_234), (a.key.public, value - 1_234)], nonce=nonce()
    )
    with net.client(1) as client:  # submitted to another node than the one that funded
        outcome = client.submit_and_wait(raw)
    assert outcome.status == node_pb2.TX_STATUS_COMMITTED
    a.coins.append((OutPoint(outcome.txid, 1), value - 1_234))
    b.coins.append((OutPoint(outcome.txid, 0), 1_234))
    net.wait_height(outcome.inclusion.height)
    assert assert_same_chain(net) >= outcome.inclusion.height
    for node in net.nodes:
        with NodeClient(node.api) as client:
            assert client.balance(b.key.public).balance == 20_000 * YUAN + 1_234
            supply = client.supply()
            assert supply.issued - supply.redeemed == supply.outstanding
            status = client.status()
            assert status.chain_id == CHAIN_ID and len(status.validators) == 4
    with net.client(2) as client:
        found = client.transaction(outcome.txid)
        assert found.status == node_pb2.TX_STATUS_COMMITTED and found.tx == raw
        assert found.inclusion.height == outcome.inclusion.height


def test_rejections_carry_the_right_status_and_code(net: Net, funded) -> None:
    a, b, anon = funded["wallets"]
    nonce = funded["nonce"]
    stub = node_pb2_grpc.NodeStub(grpc.insecure_channel(net.nodes[0].api))
    outpoint, value = a.coins[0]

    def submit(raw: bytes) -> grpc.RpcError:
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=raw), timeout=10)
        return caught.value

    err = submit(b"\x0a\x03abc\xff")
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("malformed: ")
    over = txbuild.build_transfer(CHAIN_ID, a.key, [outpoint], [(b.key.public, value + 1)], nonce=nonce())
    err = submit(over)
    assert err.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert err.details().startswith("insufficient_funds: ")
    stranger = KeyPair.generate()
    err = submit(
        txbuild.build_transfer(CHAIN_ID, a.key, [outpoint], [(stranger.public, value)], nonce=nonce())
    )
    assert err.details().startswith("unregistered_recipient: ")
    forged = txbuild.encode_tx(
        txbuild.transfer_body(CHAIN_ID, a.key.public, [outpoint], [(b.key.public, value)], nonce()),
        [b.key.sign(b"\x00" * 32)],
    )
    err = submit(forged)
    assert err.code() is grpc.StatusCode.INVALID_ARGUMENT and err.details().startswith("bad_signature: ")
    other_chain = txbuild.build_transfer("another-chain", a.key, [outpoint], [(b.key.public, value)])
    assert submit(other_chain).details().startswith("wrong_chain: ")
    # Over the anonymous wallet's balance cap (10,000 yuan).
    big = txbuild.build_transfer(
        CHAIN_ID,
        a.key,
        [outpoint],
        [(anon.key.public, 10_000 * YUAN), (a.key.public, value - 10_000 * YUAN)],
        nonce=nonce(),
    )
    assert submit(big).details().startswith("tier_limit_exceeded: ")
    ok = txbuild.build_transfer(CHAIN_ID, a.key, [outpoint], [(b.key.public, value)], nonce=nonce())
    again = txbuild.build_transfer(CHAIN_ID, a.key, [outpoint], [(a.key.public, value)], nonce=nonce())
    # One stream, admitted back to back: the second meets the first in the mempool (a block
    # needs several network round trips, admission of the next request one thread hop).
    results = list(
        stub.SubmitTransactions(iter([node_pb2.SubmitTransactionRequest(tx=r) for r in (ok, again, ok)]))
    )
    assert [r.status for r in results] == [2, 4, 4]
    assert results[1].rejection.code == "double_spend"
    assert results[2].rejection.code == "duplicate"
    err = submit(ok)
    assert err.code() is grpc.StatusCode.ALREADY_EXISTS and err.details().startswith("duplicate: ")
    with net.client(0) as client:
        assert client.wait(txid_of(ok), 30).status == node_pb2.TX_STATUS_COMMITTED
    a.coins.pop(0)
    b.coins.append((OutPoint(txid_of(ok), 0), value))


def test_double_spend_across_two_nodes_commits_exactly_one(net: Net, funded) -> None:
    a, b, _ = funded["wallets"]
    nonce = funded["nonce"]
    outpoint, value = b.coins.pop()
    first = txbuild.build_transfer(CHAIN_ID, b.key, [outpoint], [(a.key.public, value)], nonce=nonce())
    second = txbuild.build_transfer(CHAIN_ID, b.key, [outpoint], [(b.key.public, value)], nonce=nonce())
    results: dict[int, object] = {}

    def send(i: int, raw: bytes) -> None:
        with net.client(i) as client:
            try:
                results[i] = client.submit_and_wait(raw, timeout=30).status
            except Rejected as err:
                results[i] = err.code

    threads = [threading.Thread(target=send, args=(i, raw)) for i, raw in ((0, first), (3, second))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    committed = [r for r in results.values() if r == node_pb2.TX_STATUS_COMMITTED]
    assert len(committed) == 1, results
    assert set(results.values()) - {node_pb2.TX_STATUS_COMMITTED} <= {"double_spend", "unknown_input"}
    with net.client(0) as client:
        height = client.status().height
    net.wait_height(height)
    for node in net.nodes:  # every node agrees on which one spent the output
        with NodeClient(node.api) as client:
            outcomes = [client.wait(txid_of(raw), 0).status for raw in (first, second)]
        assert outcomes.count(node_pb2.TX_STATUS_COMMITTED) == 1, (node.name, outcomes)
    # The node the loser was submitted to answers for it as lost, not as never seen.
    loser, i = (second, 3) if results[0] == node_pb2.TX_STATUS_COMMITTED else (first, 0)
    with net.client(i) as client:
        assert client.wait(txid_of(loser), 0).status == node_pb2.TX_STATUS_REJECTED


def test_submit_batch_answers_each_transaction_in_order(net: Net, funded) -> None:
    shenzhen = net.keys.institutions["shenzhen"]
    nonce = funded["nonce"]
    good = [
        txbuild.build_register(CHAIN_ID, shenzhen, KeyPair.generate().public, 3, nonce=nonce())
        for _ in range(3)
    ]
    batch = [good[0], b"\x00garbage", good[1], good[0], good[2]]
    with net.client(3) as client:
        results = client.submit_batch(batch)
        assert [r.sequence for r in results] == [0, 1, 2, 3, 4]
        assert [r.status for r in results] == [
            node_pb2.TX_STATUS_PENDING,
            node_pb2.TX_STATUS_REJECTED,
            node_pb2.TX_STATUS_PENDING,
            node_pb2.TX_STATUS_REJECTED,
            node_pb2.TX_STATUS_PENDING,
        ]
        assert results[1].rejection.code == "malformed" and results[1].txid == b""
        assert results[3].rejection.code == "duplicate" and results[3].txid == results[0].txid
        assert client.submit_batch([]) == []
        for r in (results[0], results[2], results[4]):
            assert client.wait(r.txid).status == node_pb2.TX_STATUS_COMMITTED
        with pytest.raises(Rejected) as caught:
            client.submit_batch([b"\x00"] * 10_001)
        assert caught.value.code == "malformed" and "at most 10000" in caught.value.message


def test_batch_refusals_name_the_transaction_whenever_its_bytes_parse(net: Net) -> None:
    shenzhen = net.keys.institutions["shenzhen"]
    other_chain = txbuild.build_register(CHAIN_ID + "-x", shenzhen, KeyPair.generate().public, 3, nonce=1)
    oversized = b"\x0a" + b"\x00" * 40_000
    with net.client(2) as client:
        results = client.submit_batch([other_chain, oversized])
    assert results[0].rejection.code == "wrong_chain" and results[0].txid == txid_of(other_chain)
    assert results[1].rejection.code == "message_too_large" and results[1].txid == b""


def test_wait_transaction_reports_pending_and_unknown(net: Net) -> None:
    with net.client(0) as client:
        outcome = client.wait(b"\x11" * 32, timeout=0.2)
        assert outcome.status == node_pb2.TX_STATUS_UNKNOWN
        assert not outcome.HasField("rejection")  # never seen: no reason
        with pytest.raises(Rejected) as caught:
            client.wait(b"\x11" * 5, timeout=0.2)
        assert caught.value.code == "malformed"


GARBAGE = [b"", b"\x00", b"\xff" * 64, bytes(random.Random(3).getrandbits(8) for _ in range(4096))]


@pytest.mark.parametrize("blob", GARBAGE, ids=lambda b: f"{len(b)}B")
def test_garbage_on_every_rpc_gets_a_clean_error(net: Net, blob: bytes) -> None:
    channel = grpc.insecure_channel(net.nodes[1].api)
    for service in ("cbdc.node.v1.Node", "cbdc.node.v1.Sync"):
        methods = node_pb2.DESCRIPTOR.services_by_name[service.split(".")[-1]].methods
        for method in methods:
            path = f"/{service}/{method.name}"
            if method.client_streaming:
                call = channel.stream_stream(path) if method.server_streaming else channel.stream_unary(path)
                request = iter([blob])
            else:
                call = channel.unary_stream(path) if method.server_streaming else channel.unary_unary(path)
                request = blob
            try:
                result = call(request, timeout=1.5)
                if method.server_streaming:
                    for _ in result:
                        pass
            except grpc.RpcError as err:
                # A clean, specific refusal - never UNKNOWN/INTERNAL (an unhandled crash).
                assert err.code() not in (grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL), (path, err)
    with NodeClient(net.nodes[1].api) as client:
        assert client.status().height >= 1  # still serving


def test_oversized_message_is_refused_and_the_node_keeps_running(net: Net) -> None:
    channel = grpc.insecure_channel(
        net.nodes[2].api, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    stub = node_pb2_grpc.NodeStub(channel)
    with pytest.raises(grpc.RpcError) as caught:
        stub.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=b"\x00" * (20 * 1024 * 1024)), timeout=10)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    # Within gRPC's limit but over the chain's transaction size cap: refused for its size, as
    # the README documents, before anything tries to decode it.
    big_but_allowed = b"\x0a" + b"\x00" * (1024 * 1024)
    with pytest.raises(grpc.RpcError) as caught:
        stub.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=big_but_allowed), timeout=10)
    assert caught.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details().startswith("message_too_large: transaction is 1048577 bytes; at most ")
    with NodeClient(net.nodes[2].api) as client:
        assert client.status().height >= 1
