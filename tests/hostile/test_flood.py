"""Flood: many concurrent clients against a real 4-validator devnet with a small mempool.

Sixteen client threads (four per node, loopback only) submit at once, for a bounded time:
valid transfers, the same transfers again to another node (duplicates), a conflicting
spend of every coin to a third node (double spends), and garbage of every kind. Meanwhile
one monitor per node calls GetStatus every 100 ms and times each call.

Checked: every answer is a clean status (never UNKNOWN/INTERNAL, never a timeout), garbage
is never admitted, every GetStatus answers within 1 s (the issue's one wall-clock bound),
the mempool never exceeds its bounds and the bound was actually hit, heights advance during
the flood, and afterwards the nodes agree block by block, no outpoint was spent twice, no
transaction was committed twice, and the supply identity holds on every node.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import grpc
import pytest

from devnet.network import CHAIN_ID
from devnet.traffic import YUAN, Nonces, Wallet, fund, issue_to_institutions, register_wallets, txid_of
from node.client import txbuild
from node.client.connection import NodeClient
from node.ledger.blocks import decode_committed_block
from node.ledger.crypto import sha256
from node.ledger.keys import KeyPair
from node.ledger.types import OutPoint
from proto import ledger_pb2, node_pb2, node_pb2_grpc
from tests.support.network import Net, assert_same_chain, create_net, stop_net
from tests.support.waiting import wait_for

MEMPOOL = {"max_txs": 64, "max_bytes": 256 * 1024, "max_per_wallet": 8}
WALLETS_PER_INSTITUTION = 6
COINS_PER_WALLET = 40  # many more than max_per_wallet: a wallet's burst meets the per-signer cap
COIN = 10 * YUAN
CLIENTS_PER_NODE = 4
FLOOD_S = 10.0
STATUS_EVERY_S = 0.1
ALLOWED = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Iterator[Net]:
    # A small mempool; everything else as the devnet wrote it.
    net = create_net(tmp_path_factory.mktemp("flood-devnet"), config=lambda i: {"mempool": MEMPOOL})
    net.start()
    try:
        yield net
    finally:
        stop_net(net)


# --- the traffic ------------------------------------------------------------------------------


@dataclass
class Item:
    kind: str  # valid | duplicate | double_spend | garbage
    raw: bytes


def prepare(net: Net) -> tuple[list[list[Item]], list[tuple[bytes, bytes]]]:
    """Per node, the items its clients send (interleaved so the two spends of one coin go
    out at about the same time to different nodes); and the (txid, txid) double-spend pairs."""
    rng = random.Random(5)
    nonce = Nonces(11)
    with net.client(0, timeout=30) as client:
        issued = issue_to_institutions(client, net.keys, 10_000_000 * YUAN, nonce)
        wallets: list[Wallet] = []
        for site, institution in net.keys.institutions.items():
            mine = register_wallets(client, institution, [1] * WALLETS_PER_INSTITUTION, nonce)
            payouts = [(w, COIN) for w in mine for _ in range(COINS_PER_WALLET)]
            fund(client, institution, (issued[site], 10_000_000 * YUAN), payouts, nonce)
            wallets += mine
        height = client.status().height
    net.wait_height(height)
    per_node: list[list[Item]] = [[] for _ in net.nodes]
    pairs = []
    stranger = KeyPair.generate()
    i = 0
    for w, wallet in enumerate(wallets):
        payee, other = wallets[(w + 1) % len(wallets)], wallets[(w + 2) % len(wallets)]
        for outpoint, value in wallet.coins:
            pay = [(payee.key.public, YUAN), (wallet.key.public, value - YUAN)]
            first = txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], pay, nonce())
            conflicting = [(other.key.public, value)]
            second = txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], conflicting, nonce())
            pairs.append((txid_of(first), txid_of(second)))
            per_node[i % 4].append(Item("valid", first))
            per_node[(i + 2) % 4].append(Item("double_spend", second))
            per_node[(i + 1) % 4].append(Item("duplicate", first))
            junk = garbage(rng, wallet, outpoint, value, stranger, nonce)
            per_node[(i + 3) % 4].append(Item("garbage", junk))
            i += 1
    return per_node, pairs


def garbage(
    rng: random.Random, wallet: Wallet, outpoint: OutPoint, value: int, stranger: KeyPair, nonce: Nonces
) -> bytes:
    """Something no node may admit: undecodable, forged, for another chain, or breaking a rule."""
    kind = rng.choice(["random", "truncated", "forged", "other_chain", "overspend", "unregistered",
                       "unknown_input", "oversized", "stolen"])
    payee = wallet.key.public
    if kind == "random":
        return rng.randbytes(rng.randint(0, 400))
    if kind == "truncated":
        raw = txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], [(payee, value)], nonce())
        return raw[: rng.randint(0, len(raw) - 1)]
    if kind == "forged":
        body = txbuild.transfer_body(CHAIN_ID, wallet.key.public, [outpoint], [(payee, value)], nonce())
        return txbuild.encode_tx(body, [stranger.sign(body)])
    if kind == "other_chain":
        return txbuild.build_transfer(CHAIN_ID + "-x", wallet.key, [outpoint], [(payee, value)], nonce())
    if kind == "overspend":
        return txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], [(payee, value + 1)], nonce())
    if kind == "unregistered":
        return txbuild.build_transfer(CHAIN_ID, wallet.key, [outpoint], [(stranger.public, value)], nonce())
    if kind == "unknown_input":
        missing = OutPoint(rng.randbytes(32), 0)
        return txbuild.build_transfer(CHAIN_ID, wallet.key, [missing], [(payee, 1)], nonce())
    if kind == "oversized":
        return b"\x0a" + b"\x00" * 40_000
    # "stolen": a stranger spends the wallet's coin
    return txbuild.build_transfer(CHAIN_ID, stranger, [outpoint], [(stranger.public, value)], nonce())


# --- clients and monitors ----------------------------------------------------------------------


@dataclass
class Tally:
    lock: threading.Lock = field(default_factory=threading.Lock)
    outcomes: Counter = field(default_factory=Counter)  # (kind, status name, code)
    bad: list[str] = field(default_factory=list)
    submitted: int = 0

    def record(self, kind: str, status: grpc.StatusCode, details: str) -> None:
        code = details.partition(":")[0] if status is not grpc.StatusCode.OK else ""
        with self.lock:
            self.submitted += 1
            self.outcomes[(kind, status.name, code)] += 1
            # A node catching up refuses submissions with UNAVAILABLE "syncing: ...", and one
            # behind its peers a state-dependent one with UNAVAILABLE "behind: ...": clean too.
            retryable = status is grpc.StatusCode.UNAVAILABLE and code in ("syncing", "behind")
            if status not in ALLOWED and not retryable:
                self.bad.append(f"{kind}: {status.name} {details}")
            elif kind == "garbage" and status is grpc.StatusCode.OK:
                self.bad.append("garbage admitted")

    def count(self, status: str | None = None, code: str | None = None, kind: str | None = None) -> int:
        return sum(
            n for (k, s, c), n in self.outcomes.items()
            if (status is None or s == status) and (code is None or c == code) and (kind is None or k == kind)
        )


def client_thread(address: str, items: list[Item], tally: Tally, deadline: float, stream: bool) -> None:
    """Submit `items`, then keep resending them (each again at most once per pass) mixed with
    fresh random garbage, until `deadline`. A transaction refused because the mempool is full
    goes to the back of the queue, as a real client would retry it later."""
    rng = random.Random(address + str(stream) + str(len(items)))
    channel = grpc.insecure_channel(address)
    stub = node_pb2_grpc.NodeStub(channel)
    queue = list(items)
    resend = 0
    try:
        while time.monotonic() < deadline:
            if not queue:  # everything sent once: now resend and add fresh garbage
                again = items[resend % len(items)]
                resend += 1
                kind = "garbage" if again.kind == "garbage" else "duplicate"
                queue = [Item(kind, again.raw), Item("garbage", rng.randbytes(rng.randint(0, 300)))]
            n = 8 if stream else 1
            batch, queue = queue[:n], queue[n:]
            full = 0
            answers = submit(stub, [i.raw for i in batch], stream)
            for item, (status, details) in zip(batch, answers, strict=True):
                tally.record(item.kind, status, details)
                if status is grpc.StatusCode.RESOURCE_EXHAUSTED:
                    full += 1
                    if item.kind != "garbage":
                        queue.append(item)
            if full == len(batch):
                time.sleep(0.02)  # back off while the mempool is full
    except Exception as exc:  # a broken client must fail the test, not vanish with its thread
        with tally.lock:
            tally.bad.append(f"client crashed: {exc!r}")
    finally:
        channel.close()


def submit(stub, raws: list[bytes], stream: bool) -> list[tuple[grpc.StatusCode, str]]:
    if not stream:
        try:
            stub.SubmitTransaction(node_pb2.SubmitTransactionRequest(tx=raws[0]), timeout=10)
            return [(grpc.StatusCode.OK, "")]
        except grpc.RpcError as err:
            return [(err.code(), err.details() or "")]
    try:
        results = list(stub.SubmitTransactions(
            iter([node_pb2.SubmitTransactionRequest(tx=r) for r in raws]), timeout=10))
    except grpc.RpcError as err:
        return [(err.code(), err.details() or "")] * len(raws)
    if [r.sequence for r in results] != list(range(len(raws))):
        raise AssertionError(f"results out of order: {[r.sequence for r in results]}")
    out = []
    for r in results:
        if r.status == node_pb2.TX_STATUS_PENDING:
            out.append((grpc.StatusCode.OK, ""))
        else:  # the same classes the unary call answers with, by machine code
            out.append((_STATUS_OF_CODE.get(r.rejection.code, grpc.StatusCode.UNKNOWN),
                        f"{r.rejection.code}: {r.rejection.message}"))
    return out


_STATUS_OF_CODE = {
    "malformed": grpc.StatusCode.INVALID_ARGUMENT,
    "wrong_chain": grpc.StatusCode.INVALID_ARGUMENT,
    "bad_signature": grpc.StatusCode.INVALID_ARGUMENT,
    "duplicate": grpc.StatusCode.ALREADY_EXISTS,
    "mempool_full": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "message_too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "syncing": grpc.StatusCode.UNAVAILABLE,
    "behind": grpc.StatusCode.UNAVAILABLE,
    **{c: grpc.StatusCode.FAILED_PRECONDITION for c in (
        "unknown_input", "double_spend", "insufficient_funds", "unbalanced", "zero_amount",
        "amount_overflow", "tier_limit_exceeded", "unregistered_recipient", "not_authorized",
        "unknown_tier", "invalid_block")},
}


@dataclass
class Sample:
    at: float
    latency: float
    height: int
    mempool_txs: int
    mempool_bytes: int


def monitor(address: str, samples: list[Sample], stop: threading.Event, failures: list[str]) -> None:
    channel = grpc.insecure_channel(address)
    stub = node_pb2_grpc.NodeStub(channel)
    try:
        while not stop.is_set():
            start = time.monotonic()
            try:
                status = stub.GetStatus(node_pb2.GetStatusRequest(), timeout=5)
            except grpc.RpcError as err:
                failures.append(f"{address}: GetStatus {err.code().name} {err.details()}")
            else:
                samples.append(Sample(start, time.monotonic() - start, status.height,
                                      status.mempool_size, status.mempool_bytes))
            stop.wait(STATUS_EVERY_S)
    finally:
        channel.close()


# --- the test ---------------------------------------------------------------------------------------


def committed_chain(net: Net, upto: int) -> list[ledger_pb2.Transaction]:
    txs = []
    with NodeClient(net.nodes[0].api, timeout=30) as client:
        for msg in client.blocks(1, upto):
            block = decode_committed_block(msg.committed_block).block
            txs += [ledger_pb2.Transaction.FromString(raw) for raw in block.txs]
    return txs


def test_flood_of_valid_duplicate_double_spending_and_garbage_transactions(net: Net) -> None:
    per_node, pairs = prepare(net)
    tally = Tally()
    stop = threading.Event()
    samples: list[list[Sample]] = [[] for _ in net.nodes]
    monitor_failures: list[str] = []
    monitors = [threading.Thread(target=monitor, args=(n.api, samples[i], stop, monitor_failures))
                for i, n in enumerate(net.nodes)]
    for m in monitors:
        m.start()
    # A baseline before the flood: a few answers from every node (a failure is reported below).
    wait_for(lambda: all(len(s) >= 3 for s in samples) or monitor_failures, 30, "GetStatus baselines")
    flood_start = time.monotonic()
    deadline = flood_start + FLOOD_S
    clients = []
    for i, node in enumerate(net.nodes):
        items = per_node[i]
        for c in range(CLIENTS_PER_NODE):
            share = items[c::CLIENTS_PER_NODE]
            clients.append(threading.Thread(target=client_thread,
                                            args=(node.api, share, tally, deadline, c % 2 == 1)))
    for t in clients:
        t.start()
    for t in clients:
        t.join(timeout=FLOOD_S + 30)
    flood_end = time.monotonic()
    assert not any(t.is_alive() for t in clients), "a client did not finish within its time bound"

    # Let what is pending commit, then stop watching.
    drained = time.monotonic() + 60
    while time.monotonic() < drained:
        last = [s[-1] for s in samples if s]
        if len(last) == 4 and all(s.mempool_txs == 0 for s in last) and len({s.height for s in last}) == 1:
            break
        time.sleep(0.3)
    stop.set()
    for m in monitors:
        m.join(timeout=10)

    summary = dict(tally.outcomes)
    assert tally.bad == [], (tally.bad[:10], summary)
    assert monitor_failures == []
    # Every GetStatus, before, during and after the flood, answered within one second.
    latencies = [s.latency for node in samples for s in node]
    assert len(latencies) > 4 * FLOOD_S / STATUS_EVERY_S / 2, len(latencies)
    assert max(latencies) < 1.0, sorted(latencies)[-5:]
    # The mempool stayed within its bounds at every sample, and the bound was really hit.
    assert max(s.mempool_txs for node in samples for s in node) <= MEMPOOL["max_txs"]
    assert max(s.mempool_bytes for node in samples for s in node) <= MEMPOOL["max_bytes"]
    assert tally.count(code="mempool_full") > 0, summary
    assert tally.count(kind="garbage") > 100 and tally.count(kind="garbage", status="OK") == 0
    assert tally.count(kind="duplicate", code="duplicate") > 0, summary
    assert tally.count(kind="double_spend", code="double_spend") > 0, summary
    # Consensus kept committing during the flood, on every node.
    for node in samples:
        during = [s.height for s in node if flood_start <= s.at <= flood_end]
        assert during and during[-1] - during[0] >= 3, during[:1] + during[-1:]

    height = assert_same_chain(net)
    txs = committed_chain(net, height)
    spent: Counter = Counter()
    for tx in txs:
        body = ledger_pb2.TxBody.FromString(tx.body)
        kind = body.WhichOneof("kind")
        inputs = getattr(body, kind).inputs if kind in ("transfer", "redeem") else []
        spent.update((i.txid, i.index) for i in inputs)
    assert [op for op, n in spent.items() if n > 1] == [], "an outpoint was spent twice"
    txids = Counter(sha256(tx.body) for tx in txs)
    assert [t for t, n in txids.items() if n > 1] == [], "a transaction was committed twice"
    committed_pairs = sum((a in txids) + (b in txids) for a, b in pairs)
    assert 100 <= committed_pairs <= len(pairs), (committed_pairs, summary)
    assert all(not (a in txids and b in txids) for a, b in pairs)
    for node in net.nodes:
        with NodeClient(node.api) as client:
            supply = client.supply()
            assert supply.issued - supply.redeemed == supply.outstanding
            assert client.status().height >= height
