"""Open-loop load: pre-signed transfers offered at a fixed rate, whatever the network does.

Two loads share that idea. `run_load` measures (`cbdc bench devnet`, `cbdc devnet load`):
transactions are spread round-robin over the nodes and sent at their scheduled times
(SubmitBatch calls of whatever is due each tick); commits are seen on a WatchBlocks stream,
and latency is the time from a transaction's scheduled time to that. An open loop (unlike a
closed one that waits for answers before sending more) shows what happens to latency when
the offered rate nears capacity.

`PaymentLoad` survives faults (`cbdc devnet chaos`, tests/faults/): a thread offers the
transactions at a steady pace to whichever nodes are up at that moment, and afterwards every
submitted transaction is looked up, so that what clients saw committed can be checked on every
node.
"""

from __future__ import annotations

import asyncio
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import grpc.aio

from devnet import network
from devnet.height_log import height_phases
from devnet.latency import SeenBlock, Submission, breakdown
from devnet.network import Access
from devnet.processes import DevnetRecord
from devnet.traffic import prepare_load, txid_of
from node.client.connection import NodeClient, Rejected, Unreachable
from node.net.api import MAX_BATCH
from node.net.auth import NODE, sign_request
from node.net.grpc_server import insecure_channel, open_channel
from node.net.grpc_status import parse_rpc_error
from proto import ledger_pb2, node_pb2, node_pb2_grpc

_TICK_S = 0.005
_MAX_MESSAGE = 64 * 1024 * 1024


@dataclass
class LoadReport:
    offered_tps: float
    duration_s: float
    submitted: int = 0
    committed: int = 0
    rejected: int = 0
    rejected_by_code: dict[str, int] = field(default_factory=dict)
    pending_at_end: int = 0
    committed_tps: float = 0.0  # commits in the steady window / its length
    blocks: int = 0
    mean_txs_per_block: float = 0.0
    blocks_per_s: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)  # p50, p95, p99, max, mean
    # Where the latency went, for all and for the slowest 1% (devnet.latency).
    latency_breakdown: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


def _channel(api: str, access: Access | None) -> grpc.aio.Channel:
    """TLS against the devnet's members bundle when it has one, else plaintext."""
    tls = access.tls if access is not None else None
    if tls is None:
        return insecure_channel(api, _MAX_MESSAGE)
    return open_channel(api, _MAX_MESSAGE, tls.credentials(), tls.server_name or None)


@dataclass
class _Commits:
    """What the WatchBlocks stream showed: each block, and each transaction's first sighting."""

    blocks: list[SeenBlock] = field(default_factory=list)
    seen: dict[bytes, float] = field(default_factory=dict)  # txid -> when its block arrived
    included: dict[bytes, int] = field(default_factory=dict)  # txid -> that block's height


async def _watch(
    api: str,
    from_height: int,
    access: Access | None,
    chain_id: str,
    proposers: dict[bytes, int],
    commits: _Commits,
) -> None:
    """Commits as they arrive; `proposers` maps validator keys to node indices."""
    wall_to_monotonic = time.monotonic() - time.time()
    async with _channel(api, access) as channel:
        stub = node_pb2_grpc.NodeStub(channel)
        request = node_pb2.WatchBlocksRequest(from_height=from_height)
        metadata = None
        if access is not None and access.signer is not None:  # WatchBlocks is for auditors
            metadata = sign_request(access.signer.seed, chain_id, NODE + "WatchBlocks", request)
        async for msg in stub.WatchBlocks(request, metadata=metadata):
            now = time.monotonic()
            block = ledger_pb2.Block.FromString(
                ledger_pb2.CommittedBlock.FromString(msg.committed_block).block
            )
            header = ledger_pb2.BlockHeader.FromString(block.header)
            built = header.time_ms / 1000 + wall_to_monotonic  # the proposer's clock, ours too
            commits.blocks.append(
                SeenBlock(header.height, built, proposers.get(header.proposer, -1), now, len(block.txs))
            )
            for raw in block.txs:
                txid = txid_of(raw)
                if txid not in commits.seen:
                    commits.seen[txid] = now
                    commits.included[txid] = header.height


async def _submit(
    node: int,
    api: str,
    schedule: list[tuple[float, bytes, bytes]],
    sent: dict[bytes, float],
    rejected: Counter[str],
    access: Access | None,
    submissions: dict[bytes, Submission],
) -> None:
    """Every tick, what is due goes to the node in one SubmitBatch call, as a payment operator
    would forward its customers' payments. Calls to one node are made one after another so
    that it sees the transactions in schedule order; what falls due meanwhile joins the next
    batch, so the offered rate holds whatever the node does. Latency counts from each
    transaction's scheduled time, so time spent waiting here is not hidden."""
    async with _channel(api, access) as channel:
        stub = node_pb2_grpc.NodeStub(channel)
        i = 0
        while i < len(schedule):
            now = time.monotonic()
            batch = []
            while i < len(schedule) and schedule[i][0] <= now and len(batch) < MAX_BATCH:
                due, txid, raw = schedule[i]
                sent[txid] = due
                batch.append(raw)
                i += 1
            if batch:
                called = time.monotonic()
                try:
                    response = await stub.SubmitBatch(node_pb2.SubmitBatchRequest(txs=batch), timeout=60)
                    answered = time.monotonic()
                    carried = schedule[i - len(batch) : i]
                    for (due, txid, _), result in zip(carried, response.results, strict=True):
                        if result.status == node_pb2.TX_STATUS_REJECTED:
                            rejected[result.rejection.code] += 1
                        else:
                            submissions[txid] = Submission(node, due, called, answered)
                except Exception as err:  # a node going away mid-run is part of what we measure
                    code, _ = parse_rpc_error(err) if hasattr(err, "code") else ("client_error", str(err))
                    rejected[f"call_{code}"] += len(batch)
            if i < len(schedule):
                await asyncio.sleep(max(0.0, min(_TICK_S, schedule[i][0] - time.monotonic())))


async def run_load(
    apis: list[str],
    txs: list[bytes],
    *,
    tps: float,
    duration_s: float,
    warmup_s: float = 0.0,
    drain_s: float = 10.0,
    access: Access | None = None,
    watched_log: Path | None = None,
) -> LoadReport:
    """Offer `tps` transactions per second for `duration_s` (or until `txs` run out).
    `access` (devnet.network.access_for) is the devnet's TLS and auditor key; None: plaintext.
    `watched_log`: the log file of the node at `apis[0]`, whose logged phases of each height
    join the latency breakdown."""
    count = min(len(txs), int(tps * duration_s))
    ids = [txid_of(raw) for raw in txs[:count]]
    statuses = []
    for api in apis:
        async with _channel(api, access) as channel:
            statuses.append(await node_pb2_grpc.NodeStub(channel).GetStatus(node_pb2.GetStatusRequest()))
    status = statuses[0]
    # Which node proposed a block, from its header: for the latency breakdown.
    proposers = {s.validator_key: index for index, s in enumerate(statuses) if s.validator_key}
    commits = _Commits()
    seen = commits.seen
    submissions: dict[bytes, Submission] = {}
    watcher = asyncio.create_task(
        _watch(apis[0], status.height + 1, access, status.chain_id, proposers, commits)
    )
    await asyncio.sleep(0.2)  # let the watch stream open before the first commit
    t0 = time.monotonic() + 0.1
    schedules: list[list[tuple[float, bytes, bytes]]] = [[] for _ in apis]
    for i in range(count):
        schedules[i % len(apis)].append((t0 + i / tps, ids[i], txs[i]))
    sent: dict[bytes, float] = {}
    rejected: Counter[str] = Counter()
    await asyncio.gather(
        *(
            _submit(node, api, sch, sent, rejected, access, submissions)
            for node, (api, sch) in enumerate(zip(apis, schedules, strict=True))
        )
    )
    end_offer = time.monotonic()
    deadline = end_offer + drain_s
    wanted = set(ids)
    while time.monotonic() < deadline and len(wanted & seen.keys()) + sum(rejected.values()) < len(sent):
        await asyncio.sleep(0.05)
    watcher.cancel()
    try:
        await watcher
    except (asyncio.CancelledError, Exception):
        pass

    latencies = sorted((seen[t] - sent[t]) * 1000 for t in sent if t in seen)
    window_start = t0 + warmup_s
    window_end = max(end_offer, window_start + 1e-3)
    in_window = sum(1 for t in sent if t in seen and window_start <= seen[t] <= window_end)
    window_blocks = [(b.seen, b.txs) for b in commits.blocks if b.seen >= t0]
    span = (window_blocks[-1][0] - window_blocks[0][0]) if len(window_blocks) > 1 else 0.0
    committed = sum(1 for t in sent if t in seen)
    return LoadReport(
        offered_tps=tps,
        duration_s=duration_s,
        submitted=len(sent),
        committed=committed,
        rejected=sum(rejected.values()),
        rejected_by_code=dict(rejected),
        pending_at_end=len(sent) - committed - sum(rejected.values()),
        committed_tps=in_window / (window_end - window_start),
        blocks=len(window_blocks),
        mean_txs_per_block=(sum(n for _, n in window_blocks) / len(window_blocks)) if window_blocks else 0.0,
        blocks_per_s=(len(window_blocks) - 1) / span if span > 0 else 0.0,
        latency_ms={
            "p50": percentile(latencies, 0.50),
            "p95": percentile(latencies, 0.95),
            "p99": percentile(latencies, 0.99),
            "max": latencies[-1] if latencies else 0.0,
            "mean": sum(latencies) / len(latencies) if latencies else 0.0,
        },
        latency_breakdown=breakdown(
            submissions, commits.included, commits.blocks, height_phases(watched_log) if watched_log else None
        ),
    )


# --- a load that survives faults --------------------------------------------------------------


class PaymentLoad:
    """Pre-signed independent transfers submitted at a steady pace to whichever nodes are up;
    at the end every submitted transaction is looked up, and those some node reports
    committed are what clients saw committed."""

    def __init__(
        self,
        txs: list[bytes],
        per_second: float,
        targets: Callable[[], list[str]],
        *,
        access: network.Access | None = None,
    ) -> None:
        """`access`: the devnet's TLS and auditor key (devnet.network.access_for); None means
        plaintext, unsigned clients (a devnet created with tls=False and open_reads=True)."""
        self.access = access
        self.txs = txs
        self.per_second = per_second
        self.targets = targets
        self.submitted: list[bytes] = []
        self.committed: list[bytes] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _client(self, api: str, timeout: float) -> NodeClient:
        if self.access is None:
            return NodeClient(api, timeout=timeout)
        return self.access.client(api, timeout)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="payment-load", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        clients: dict[str, NodeClient] = {}
        rng = random.Random(len(self.txs))
        started = time.monotonic()
        try:
            for i, raw in enumerate(self.txs):
                if self._stop.is_set():
                    break
                pause = started + i / self.per_second - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                apis = self.targets()
                if not apis:
                    self.refused += 1
                    continue
                api = apis[rng.randrange(len(apis))]
                client = clients.get(api)
                if client is None:
                    client = clients[api] = self._client(api, 3)
                try:
                    self.submitted.append(client.submit(raw))
                except (Rejected, Unreachable):
                    self.refused += 1
        finally:
            for client in clients.values():
                client.close()

    def finish(self, wait_s: float = 30.0) -> list[bytes]:
        """Stop submitting; return the transactions some node reports committed, waiting up
        to `wait_s` for those still pending somewhere (a transaction no node knows was lost
        with the mempool of a killed node before it was gossiped: the client never saw it
        committed, and would submit it again)."""
        self.stop()
        if self._thread is not None:
            self._thread.join(timeout=60)
        deadline = time.monotonic() + wait_s
        clients = [self._client(api, 10) for api in self.targets()]
        committed: list[bytes] = []
        try:
            waiting = list(self.submitted)
            while waiting:
                pending = []
                for txid in waiting:
                    statuses = set()
                    for client in clients:
                        try:
                            statuses.add(client.wait(txid, 0).status)
                        except (Rejected, Unreachable):
                            continue
                        if node_pb2.TX_STATUS_COMMITTED in statuses:
                            break
                    if node_pb2.TX_STATUS_COMMITTED in statuses:
                        committed.append(txid)
                    elif node_pb2.TX_STATUS_PENDING in statuses:
                        pending.append(txid)
                waiting = pending
                if not waiting or time.monotonic() >= deadline:
                    break
                time.sleep(0.5)
        finally:
            for client in clients:
                client.close()
        self.committed = committed
        return committed


def prepare_payments(directory: Path, record: DevnetRecord, count: int, seed: int = 1) -> list[bytes]:
    """Register and fund wallets, then pre-sign `count` independent transfers (not timed).
    Use a new `seed` for each batch on one chain (it seeds the transactions' nonces)."""
    keys = network.load_keys(directory)
    live = network.running_nodes(record) or record.nodes
    with network.client_for(live[0], timeout=30) as client:
        return prepare_load(client, keys, transactions=count, wallets_per_institution=10, seed=seed)
