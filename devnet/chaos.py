"""Faults under payment load on a real devnet, and the invariants checked afterwards.

Used by the fault tests (tests/faults/) and by `cbdc devnet chaos --duration S`, which runs
a devnet through random faults for S seconds and reports:

- faults: SIGKILL + restart of a validator (sometimes restarted with a crash point armed, so
  it dies again inside the WAL write, between signing and sending, or inside the block's write
  batch), SIGSTOP beyond the consensus timeouts + SIGCONT, partitions (2|2 and 1|3) through the
  per-link TCP proxies of devnet.proxy, and delay/jitter/connection loss on every link. Faults
  come one at a time, each once the network has recovered from the one before (every node up
  and within a block of the others, waited for up to 30 s), so mostly one validator of four is
  out at a time; a node restarted with a crash point may die again during the next fault, and
  a 2|2 split halts the chain by design until it heals.
- invariants (ChainAuditor): every node holds the same block hash and state root at every
  height; every transaction a client saw committed is committed on every node; issued -
  redeemed == outstanding on every node (and, offline after the run, == the sum of every
  unspent output and of every balance); no honest validator key signed two different votes
  for one height/round/type (every precommit of every commit certificate and every vote in
  evidence is collected); evidence names only misbehaving validators, at most once per
  (validator, height).
"""

from __future__ import annotations

import os
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from consensus.messages import InvalidMessage, decode_vote
from devnet import network
from devnet.processes import DevnetError, DevnetRecord, NodeRecord, is_running, signal_group, spawn, stop
from devnet.proxy import LinkProxies, install_proxies, load_links
from devnet.traffic import prepare_load
from node.client.connection import NodeClient, Rejected, Unreachable
from node.ledger.blocks import block_hash, decode_committed
from node.ledger.crypto import sha256
from node.testing.faults import CRASH_ENV, CRASH_EXIT_CODE, CRASH_POINTS
from proto import consensus_pb2, ledger_pb2, node_pb2

# --- processes -------------------------------------------------------------------------------


def spawn_node(node: NodeRecord, *, env: dict[str, str] | None = None, args: tuple[str, ...] = ()) -> int:
    """`cbdc node start --home HOME [args]` detached (as devnet.processes.spawn), with extra
    environment variables (e.g. a crash point). Returns the pid."""
    environment = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    environment.update(env or {})
    return spawn(node, args, env=environment)


def signal_node(node: NodeRecord, sig: int) -> None:
    """Send `sig` to the node's process group (its own session: the node and any helpers)."""
    if node.pid > 0:
        signal_group(node.pid, sig)


def wait_exit(node: NodeRecord, timeout: float) -> int | None:
    """Wait for a node we spawned to exit; its exit status (negative: killed by that signal)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, status = os.waitpid(node.pid, os.WNOHANG)
        except ChildProcessError:
            return None if is_running(node) else 0
        if pid == node.pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def kill_node(node: NodeRecord) -> None:
    signal_node(node, signal.SIGKILL)
    wait_exit(node, 10)
    node.pid = 0


def node_tip(node: NodeRecord, timeout: float = 2.0) -> tuple[int, bytes] | None:
    try:
        with NodeClient(node.api, timeout=timeout) as client:
            status = client.status()
            return status.height, bytes(status.state_root)
    except (Unreachable, Rejected):
        return None


def wait_heights(
    nodes: list[NodeRecord], height: int, timeout: float, *, poll: float = 0.2
) -> dict[str, int | None]:
    """Until every node is at `height` or beyond; returns the heights seen last (the caller
    decides what a shortfall means)."""
    deadline = time.monotonic() + timeout
    while True:
        heights = {n.name: network.node_height(n) for n in nodes}
        if all(h is not None and h >= height for h in heights.values()) or time.monotonic() >= deadline:
            return heights
        time.sleep(poll)


def wait_converged(nodes: list[NodeRecord], timeout: float) -> int | None:
    """Until all nodes report the same tip height twice in a row; that height, or None."""
    deadline = time.monotonic() + timeout
    previous = None
    while time.monotonic() < deadline:
        heights = [network.node_height(n) for n in nodes]
        if None not in heights and len(set(heights)) == 1:
            if heights[0] == previous:
                return previous
            previous = heights[0]
        else:
            previous = None
        time.sleep(0.3)
    return None


# --- payment load ----------------------------------------------------------------------------


class PaymentLoad:
    """Pre-signed independent transfers submitted at a steady pace to whichever nodes are up;
    at the end every submitted transaction is looked up, and those some node reports
    committed are what clients saw committed."""

    def __init__(self, txs: list[bytes], per_second: float, targets: Callable[[], list[str]]) -> None:
        self.txs = txs
        self.per_second = per_second
        self.targets = targets
        self.submitted: list[bytes] = []
        self.committed: list[bytes] = []
        self.refused = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

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
                    client = clients[api] = NodeClient(api, timeout=3)
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
        clients = [NodeClient(api, timeout=10) for api in self.targets()]
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
    with NodeClient(live[0].api, timeout=30) as client:
        return prepare_load(client, keys, transactions=count, wallets_per_institution=10, seed=seed)


# --- invariants ------------------------------------------------------------------------------


@dataclass
class EvidenceSeen:
    validator: bytes
    height: int  # of the double vote
    block_height: int  # of the block carrying it


class ChainAuditor:
    """Reads every node's blocks (incrementally: each call fetches only what is new) and
    checks the invariants; `violations` lists what broke, in words."""

    def __init__(self, nodes: list[NodeRecord], byzantine: set[bytes] | None = None) -> None:
        self.nodes = nodes
        self.byzantine = set(byzantine or ())
        self.canonical: list[tuple[bytes, bytes]] = []  # (block hash, state root) by height - 1
        self.checked: dict[str, int] = {}
        self.txids: set[bytes] = set()
        self.votes: dict[tuple[bytes, int, int, int], set[bytes]] = {}
        self.evidence: list[EvidenceSeen] = []
        self.violations: list[str] = []
        self.checks: dict[str, bool] = {}

    def _violate(self, check: str, message: str) -> None:
        self.checks[check] = False
        if message not in self.violations:
            self.violations.append(message)

    def _passed(self, check: str) -> None:
        self.checks.setdefault(check, True)

    def _vote(self, raw: bytes, where: str) -> None:
        try:
            vote = decode_vote(raw)
        except InvalidMessage as err:
            self._violate("signatures", f"{where}: a stored vote does not verify: {err}")
            return
        self.votes.setdefault((vote.validator, vote.height, vote.round, int(vote.type)), set()).add(
            vote.block_hash
        )

    def _index(self, height: int, block: ledger_pb2.Block, digest: bytes, certificate: bytes) -> None:
        cert = consensus_pb2.CommitCertificate.FromString(certificate)
        if cert.height != height or cert.block_hash != digest:
            self._violate("same_chain", f"block {height}: its certificate is for another block")
        for raw in cert.precommits:
            self._vote(raw, f"certificate of block {height}")
        for item in block.evidence:
            ev = consensus_pb2.Evidence.FromString(item)
            votes = [ev.duplicate_vote.vote_a, ev.duplicate_vote.vote_b]
            for raw in votes:
                self._vote(raw, f"evidence in block {height}")
            try:
                first = decode_vote(votes[0])
            except InvalidMessage:
                continue
            self.evidence.append(EvidenceSeen(first.validator, first.height, height))
        for raw in block.txs:
            self.txids.add(sha256(ledger_pb2.Transaction.FromString(raw).body))

    def sync(self, nodes: list[NodeRecord] | None = None) -> int:
        """Fetch what is new on each (reachable) node and compare it with the chain seen so far;
        returns the lowest tip among the nodes read."""
        lowest: int | None = None
        for node in nodes or self.nodes:
            try:
                with NodeClient(node.api, timeout=30) as client:
                    tip = client.status().height
                    start = self.checked.get(node.name, 0) + 1
                    if tip >= start:
                        for msg in client.blocks(start, tip):
                            self._compare(node, msg)
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            lowest = tip if lowest is None else min(lowest, tip)
        self._passed("same_chain")
        return lowest or 0

    def _compare(self, node: NodeRecord, msg: node_pb2.CommittedBlockMsg) -> None:
        height = msg.height
        block, header, certificate = decode_committed(msg.committed_block)
        digest = block_hash(block.header)
        if digest != msg.block_hash or header.height != height:
            self._violate("same_chain", f"{node.name}: block {height} is not what its header says")
        entry = (digest, bytes(header.state_root))
        if height <= len(self.canonical):
            if self.canonical[height - 1] != entry:
                self._violate(
                    "same_chain",
                    f"FORK: {node.name} holds block {digest.hex()[:16]} (state root "
                    f"{entry[1].hex()[:16]}) at height {height}, another node "
                    f"{self.canonical[height - 1][0].hex()[:16]}",
                )
        elif height == len(self.canonical) + 1:
            self.canonical.append(entry)
            self._index(height, block, digest, certificate)
        self.checked[node.name] = height

    def check_committed_present(self, txids: list[bytes], nodes: list[NodeRecord] | None = None) -> None:
        """Every transaction a client saw committed is committed on every node."""
        missing_chain = [t for t in txids if t not in self.txids]
        if missing_chain:
            self._violate(
                "committed_present",
                f"{len(missing_chain)} transactions clients saw committed are in no block read",
            )
        for node in nodes or self.nodes:
            try:
                with NodeClient(node.api, timeout=30) as client:
                    missing = [t for t in txids if client.wait(t, 0).status != node_pb2.TX_STATUS_COMMITTED]
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            if missing:
                self._violate(
                    "committed_present",
                    f"{node.name} lacks {len(missing)} of {len(txids)} transactions clients saw committed",
                )
        self._passed("committed_present")

    def check_supply(self, nodes: list[NodeRecord] | None = None) -> None:
        """issued - redeemed == outstanding on every node; equal supply at equal heights."""
        by_height: dict[int, set[tuple[int, int]]] = {}
        for node in nodes or self.nodes:
            try:
                with NodeClient(node.api, timeout=10) as client:
                    supply = client.supply()
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            if supply.issued - supply.redeemed != supply.outstanding:
                self._violate(
                    "supply",
                    f"{node.name}: issued {supply.issued} - redeemed {supply.redeemed} != "
                    f"outstanding {supply.outstanding}",
                )
            by_height.setdefault(supply.height, set()).add((supply.issued, supply.redeemed))
        for height, values in by_height.items():
            if len(values) > 1:
                self._violate("supply", f"nodes at height {height} report different supplies: {values}")
        self._passed("supply")

    def check_signatures(self) -> None:
        """No honest key signed two different votes for one (height, round, type); evidence
        names only Byzantine keys, once per (validator, height)."""
        for (validator, height, round_, kind), hashes in self.votes.items():
            if len(hashes) > 1 and validator not in self.byzantine:
                self._violate(
                    "no_double_signing",
                    f"honest validator {validator.hex()[:16]} signed {len(hashes)} different "
                    f"{'prevotes' if kind == 1 else 'precommits'} at height {height} round {round_}",
                )
        seen: dict[tuple[bytes, int], int] = {}
        for item in self.evidence:
            if item.validator not in self.byzantine:
                self._violate(
                    "evidence",
                    f"evidence in block {item.block_height} blames honest validator "
                    f"{item.validator.hex()[:16]}",
                )
            key = (item.validator, item.height)
            if key in seen:
                self._violate(
                    "evidence",
                    f"evidence against {item.validator.hex()[:16]} at height {item.height} is committed "
                    f"twice (blocks {seen[key]} and {item.block_height})",
                )
            seen[key] = item.block_height
        self._passed("no_double_signing")
        self._passed("evidence")

    def check_all(self, committed: list[bytes], nodes: list[NodeRecord] | None = None) -> list[str]:
        self.sync(nodes)
        self.check_committed_present(committed, nodes)
        self.check_supply(nodes)
        self.check_signatures()
        return self.violations

    def evidence_heights(self, validator: bytes) -> list[int]:
        return sorted(e.height for e in self.evidence if e.validator == validator)


def audit_stores(record: DevnetRecord, genesis_path: Path) -> list[str]:
    """Offline, with every node stopped: each store checks itself (state root recomputed from
    scratch over every UTXO and wallet, sum of unspent outputs == issued - redeemed, balances ==
    UTXO sums, address index complete), and stores at the same height hold the same tip.
    (Stores are not byte-identical: each node keeps the commit certificate it assembled, and
    two certificates for one block may carry different sets of precommits.)"""
    from node.ledger.genesis import Genesis
    from node.ledger.store import Store

    genesis = Genesis.load(genesis_path)
    problems: list[str] = []
    tips: dict[int, set[tuple[bytes, bytes]]] = {}
    for node in record.nodes:
        path = Path(node.home) / "data" / "ledger"
        if not path.exists():
            continue
        with Store.open(str(path), genesis) as store:
            problems += [f"{node.name}: {p}" for p in store.audit()]
            tip = store.tip()
            tips.setdefault(tip.height, set()).add((tip.block_hash, tip.state_root))
    for height, values in tips.items():
        if len(values) > 1:
            problems.append(f"stores at height {height} hold different tips")
    return problems


# --- the chaos run ---------------------------------------------------------------------------


@dataclass
class ChaosReport:
    duration_s: float = 0.0
    validators: int = 0
    kills: int = 0
    crash_point_exits: int = 0
    restarts: int = 0
    stops: int = 0
    partitions_healed: int = 0
    link_degradations: int = 0
    submitted: int = 0
    committed: int = 0
    start_height: int = 0
    end_height: int = 0
    blocks_checked: int = 0
    checks: dict[str, bool] = field(default_factory=dict)
    violations: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    @property
    def faults(self) -> int:
        return self.kills + self.stops + self.partitions_healed + self.link_degradations

    @property
    def ok(self) -> bool:
        return not self.violations

    def lines(self) -> list[str]:
        verdict = "all hold" if self.ok else f"{len(self.violations)} broke"
        out = [
            f"duration:            {self.duration_s:.0f} s, {self.validators} validators",
            f"faults injected:     {self.faults}",
            f"  kills (SIGKILL):   {self.kills}",
            f"  crash-point exits: {self.crash_point_exits}",
            f"  restarts:          {self.restarts}",
            f"  SIGSTOP/SIGCONT:   {self.stops}",
            f"  partitions healed: {self.partitions_healed}",
            f"  degraded links:    {self.link_degradations} (delay, jitter, connection loss)",
            f"transactions:        {self.committed} committed of {self.submitted} submitted",
            f"heights:             {self.start_height} -> {self.end_height} "
            f"({self.blocks_checked} blocks checked on every node)",
            f"invariants:          {verdict}",
        ]
        for name, held in sorted(self.checks.items()):
            out.append(f"  {name:<20} {'holds' if held else 'BROKEN'}")
        out += [f"  VIOLATION: {v}" for v in self.violations]
        return out


class Chaos:
    """Random faults on a running devnet, one at a time, with restarts."""

    def __init__(
        self,
        record: DevnetRecord,
        proxies: LinkProxies | None,
        report: ChaosReport,
        rng: random.Random,
        say: Callable[[str], None],
        directory: Path | None = None,
    ) -> None:
        self.directory = directory
        self.record = record
        self.proxies = proxies
        self.report = report
        self.rng = rng
        self.say = say

    def _note(self, text: str) -> None:
        self.report.log.append(text)
        self.say(text)

    def record_changed(self) -> None:
        """Keep devnet.json's pids current, so `cbdc devnet status|down` see the restarts."""
        if self.directory is not None:
            self.record.save(self.directory)

    def live_apis(self) -> list[str]:
        return [n.api for n in self.record.nodes if is_running(n)]

    def revive(self) -> None:
        """Restart every node that is not running (a crash point may have fired)."""
        for node in self.record.nodes:
            if node.pid and not is_running(node):
                status = wait_exit(node, 1)
                if status == CRASH_EXIT_CODE:
                    self.report.crash_point_exits += 1
                    self._note(f"{node.name} exited at its crash point; restarting it")
                node.pid = 0
            if not node.pid:
                spawn_node(node)
                self.report.restarts += 1
                self.record_changed()

    def settle(self, timeout: float = 30.0) -> None:
        """Until every node is up and within one block of the highest (or `timeout`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.revive()
            heights = [network.node_height(n) for n in self.record.nodes]
            if None not in heights and max(heights) - min(heights) <= 1:  # type: ignore[type-var,operator]
                return
            time.sleep(0.3)

    def step(self) -> None:
        kinds = ["kill", "kill", "crash", "stop"]
        if self.proxies is not None:
            kinds += ["partition", "isolate", "degrade"]
        getattr(self, f"_{self.rng.choice(kinds)}")()

    def _victim(self) -> NodeRecord:
        return self.rng.choice(self.record.nodes)

    def _kill(self, env: dict[str, str] | None = None) -> None:
        node = self._victim()
        if not is_running(node):
            return
        kill_node(node)
        self.report.kills += 1
        time.sleep(self.rng.uniform(0.2, 2.0))
        spawn_node(node, env=env)
        self.report.restarts += 1
        self.record_changed()
        self._note(f"SIGKILL {node.name}, restarted" + (f" with {CRASH_ENV}={env[CRASH_ENV]}" if env else ""))

    def _crash(self) -> None:
        point = f"{self.rng.choice(CRASH_POINTS)}:{self.rng.randint(1, 40)}"
        self._kill({CRASH_ENV: point})

    def _stop(self) -> None:
        node = self._victim()
        if not is_running(node):
            return
        signal_node(node, signal.SIGSTOP)
        held = self.rng.uniform(2.5, 5.0)  # beyond the 1 s propose / 0.5 s vote timeouts
        time.sleep(held)
        signal_node(node, signal.SIGCONT)
        self.report.stops += 1
        self._note(f"SIGSTOP {node.name} for {held:.1f} s, SIGCONT")

    def _partition(self) -> None:
        assert self.proxies is not None
        names = [n.name for n in self.record.nodes]
        self.rng.shuffle(names)
        half = len(names) // 2
        self._split([names[:half], names[half:]])

    def _isolate(self) -> None:
        names = [n.name for n in self.record.nodes]
        lone = self.rng.choice(names)
        self._split([[lone], [n for n in names if n != lone]])

    def _split(self, groups: list[list[str]]) -> None:
        assert self.proxies is not None
        held = self.rng.uniform(2.0, 5.0)
        self.proxies.partition(*groups)
        time.sleep(held)
        self.proxies.heal()
        self.report.partitions_healed += 1
        self._note(f"partition {' | '.join(','.join(g) for g in groups)} for {held:.1f} s, healed")

    def _degrade(self) -> None:
        assert self.proxies is not None
        delay = self.rng.uniform(0.01, 0.08)
        jitter = self.rng.uniform(0.0, 0.05)
        loss = self.rng.choice([0.0, 0.001, 0.005])
        held = self.rng.uniform(3.0, 6.0)
        self.proxies.degrade(delay_s=delay, jitter_s=jitter, reset_probability=loss)
        time.sleep(held)
        self.proxies.heal()
        self.report.link_degradations += 1
        self._note(
            f"links delayed {delay * 1000:.0f} ms + jitter {jitter * 1000:.0f} ms, "
            f"connection loss {loss:.3f}/chunk for {held:.1f} s, restored"
        )


def run_chaos(
    directory: Path | None,
    duration_s: float,
    *,
    validators: int = 4,
    tps: float = 15.0,
    seed: int | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    """Create (with per-link proxies) or use the devnet in `directory`, run payments and random
    faults for `duration_s`, then heal everything and check the invariants."""
    report = ChaosReport(validators=validators)
    rng = random.Random(seed)
    directory = directory or Path(tempfile.mkdtemp(prefix="cbdc-chaos-"))
    record = DevnetRecord.load(directory)
    if record is None:
        say(f"creating a {validators}-validator devnet with per-link proxies in {directory}")
        record = network.create(directory, validators)
        install_proxies(directory, record)
    report.validators = len(record.nodes)
    proxies: LinkProxies | None = None
    started_here = False
    try:
        if not network.running_nodes(record):
            links = load_links(directory)
            if links is not None:
                proxies = LinkProxies(links, seed=rng.randrange(1 << 30))
                proxies.start()
            network.start(directory, record, wait_s=120, progress=say)
            started_here = True
        elif len(network.running_nodes(record)) != len(record.nodes):
            raise DevnetError("some nodes of this devnet are down; start all of them (or none) first")
        else:
            say("using the running devnet (no partitions: its links have no proxies of ours)")
        report.start_height = min(h for h in (network.node_height(n) for n in record.nodes) if h is not None)
        count = int(tps * duration_s) + 50
        say(f"preparing {count} pre-signed payments...")
        txs = prepare_payments(directory, record, count)
        chaos = Chaos(record, proxies, report, rng, say, directory)
        auditor = ChainAuditor(record.nodes)
        load = PaymentLoad(txs, tps, chaos.live_apis)
        load.start()
        say(f"chaos for {duration_s:.0f} s at {tps:g} payments/s")
        began = time.monotonic()
        deadline = began + duration_s
        next_audit = began + 30
        while time.monotonic() < deadline:
            chaos.settle()
            chaos.step()
            time.sleep(rng.uniform(0.5, 2.0))
            if time.monotonic() >= next_audit:
                chaos.revive()
                wait_heights(record.nodes, 0, 5)
                auditor.sync([n for n in record.nodes if is_running(n)])
                auditor.violations = [v for v in auditor.violations if "did not answer" not in v]
                auditor.checks.pop("reachable", None)
                next_audit = time.monotonic() + 30
        report.duration_s = time.monotonic() - began
        say("healing the network, restarting everything, letting payments drain...")
        if proxies is not None:
            proxies.heal()
        chaos.revive()
        time.sleep(2)
        chaos.revive()  # a crash point armed by the last fault may have fired meanwhile
        committed = load.finish(wait_s=60)
        report.submitted = len(load.submitted)
        report.committed = len(committed)
        end = wait_converged(record.nodes, 120)
        if end is None:
            auditor._violate("liveness", "the nodes did not converge on one height within 120 s of healing")
        auditor.check_all(committed)
        report.end_height = auditor.sync()
        if report.end_height <= report.start_height:
            auditor._violate("liveness", "no block was committed during the run")
        auditor._passed("liveness")
        report.blocks_checked = len(auditor.canonical)
        report.checks = dict(auditor.checks)
        report.violations = list(auditor.violations)
    finally:
        if started_here:
            stop(record.nodes)
            record.save(directory)
        if proxies is not None:
            proxies.stop()
    if started_here:
        problems = audit_stores(record, directory / "genesis.json")
        report.checks["stores_audited_offline"] = not problems
        report.violations += problems
    return report
