"""Bounded admission on real validators: a node whose mempool is full refuses more work with
mempool_full (RESOURCE_EXHAUSTED, retryable) instead of queueing it, loses nothing it
admitted, and commits again as soon as the network can.

Four validators with a 20-transaction mempool. Two are stopped so nothing commits, which
keeps the mempool full for as long as the test needs; they are then restarted.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator

import grpc
import pytest

from devnet.processes import stop
from devnet.traffic import prepare_load, txid_of
from node.client.connection import Rejected
from proto import node_pb2, node_pb2_grpc
from tests.support.network import Net, create_net, stop_net
from tests.support.waiting import wait_for

CAP = 20
PENDING = node_pb2.TX_STATUS_PENDING


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Iterator[Net]:
    net = create_net(tmp_path_factory.mktemp("bounded"), config=lambda i: {"mempool": {"max_txs": CAP}})
    net.start()
    try:
        yield net
    finally:
        stop_net(net)


def _pending(net: Net, i: int) -> int:
    with net.client(i) as client:
        return client.status().mempool_size


def test_a_full_mempool_refuses_with_mempool_full_and_loses_nothing_admitted(net: Net) -> None:
    with net.client(0, timeout=30) as client:
        # Few wallets per institution: setting up must itself stay under the cap.
        txs = prepare_load(client, net.keys, transactions=3 * CAP, wallets_per_institution=3)
    wait_for(lambda: _pending(net, 0) == 0, 30, "an empty mempool after the set-up")
    stalled = net.nodes[2:]
    stop(stalled)  # two of four: no quorum, nothing commits while the mempool is full
    with net.client(0) as client:
        height = client.status().height
        first = client.submit_batch(txs[: CAP + 10])
    codes = Counter(r.rejection.code if r.status == node_pb2.TX_STATUS_REJECTED else "pending" for r in first)
    assert codes == {"pending": CAP, "mempool_full": 10}, codes
    refused = [r for r in first if r.status == node_pb2.TX_STATUS_REJECTED]
    assert all(r.txid for r in refused) and all("retry later" in r.rejection.message for r in refused)
    admitted = [r.txid for r in first if r.status == node_pb2.TX_STATUS_PENDING]

    # Full: the next call is refused whole, before anything in it is decoded or queued.
    with grpc.insecure_channel(net.nodes[0].api) as channel:
        stub = node_pb2_grpc.NodeStub(channel)
        with pytest.raises(grpc.RpcError) as caught:
            stub.SubmitBatch(node_pb2.SubmitBatchRequest(txs=txs[CAP + 10 : CAP + 20]), timeout=10)
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert caught.value.details().startswith("mempool_full: ")
    with net.client(0) as client:
        status = client.status()
        assert status.mempool_size == CAP
        for raw in txs[CAP : CAP + 20]:  # refused: not held anywhere
            asked = time.monotonic()
            assert client.wait(txid_of(raw), 0).status == node_pb2.TX_STATUS_UNKNOWN
            # wait(..., 0) answers now; it used to hold each call to its 5 s deadline.
            assert time.monotonic() - asked < 2.5

    for node in stalled:
        net.restart(node)
    with net.client(0, timeout=30) as client:
        for txid in admitted:  # nothing admitted was lost
            assert client.wait(txid, 60).status == node_pb2.TX_STATUS_COMMITTED
        # Retryable: the refused ones go in once there is room, and commit too.
        rest = txs[CAP:]
        while rest:
            wait_for(lambda: _pending(net, 0) < CAP, 60, "room in the mempool")
            try:
                results = client.submit_batch(rest[:CAP])
            except Rejected as whole:  # full again meanwhile: the whole call, retryable
                assert whole.code == "mempool_full", whole
                continue
            refused = [(raw, r) for raw, r in zip(rest, results, strict=False) if r.status != PENDING]
            assert all(r.rejection.code == "mempool_full" for _, r in refused), refused
            rest = [raw for raw, _ in refused] + rest[CAP:]
        for raw in txs[CAP:]:
            assert client.wait(txid_of(raw), 60).status == node_pb2.TX_STATUS_COMMITTED
        assert client.status().height > height
