"""`cbdc devnet chaos --duration S`: a devnet under payments and random faults for S seconds,
with validator-set changes among the faults (devnet/chaos/governance.py), then healed,
drained and checked against the invariants, ending with `audit verify` from genesis."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from devnet import network
from devnet.chaos.faults import Chaos
from devnet.chaos.governance import GovernanceChaos
from devnet.chaos.heights import wait_converged, wait_heights
from devnet.chaos.invariants import ChainAuditor, audit_stores
from devnet.chaos.report import ChaosReport
from devnet.load import PaymentLoad, prepare_payments
from devnet.processes import DevnetError, DevnetRecord, is_running, stop
from devnet.proxy import LinkProxies, install_proxies, load_links
from node.client.connection import Rejected, Unreachable


def run_chaos(
    directory: Path | None,
    duration_s: float,
    *,
    validators: int = 4,
    tps: float = 15.0,
    seed: int | None = None,
    governance: bool = False,
    say: Callable[[str], None] = lambda _: None,
) -> ChaosReport:
    """Create (with per-link proxies) or use the devnet in `directory`, run payments and random
    faults for `duration_s` (with `governance`, every other fault is a validator-set change,
    see GovernanceChaos), then heal everything and check the invariants."""
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
        gov = (
            GovernanceChaos(record, directory, proxies, report, rng, chaos.note, chaos.record_changed)
            if governance else None
        )
        auditor = ChainAuditor(record.nodes)
        load = PaymentLoad(txs, tps, chaos.live_apis, access=network.access_for(record.nodes[0]))
        load.start()
        say(f"chaos for {duration_s:.0f} s at {tps:g} payments/s")
        began = time.monotonic()
        deadline = began + duration_s
        next_audit = began + 30
        turn = 0
        while time.monotonic() < deadline:
            chaos.settle()
            turn += 1
            if gov is not None and turn % 2 == 1:
                gov.step()
            else:
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
        if gov is not None:
            try:
                problems = gov.verify(record.nodes)
            except (Unreachable, Rejected) as err:
                problems = [f"the validator-set history could not be read: {err}"]
            for problem in problems:
                auditor._violate("validator_sets", problem)
            auditor._passed("validator_sets")
        report.end_height = auditor.sync()
        _audit_from_genesis(record, directory, auditor)
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


def _audit_from_genesis(record: DevnetRecord, directory: Path, auditor: ChainAuditor) -> None:
    """`audit verify` against the first node: every block replayed from genesis.json, each
    certificate checked against the validator set of its height."""
    from devnet.network import client_for
    from node.audit import AuditError, verify_node
    from node.ledger.genesis import Genesis

    try:
        with client_for(record.nodes[0], timeout=60) as client:
            audit = verify_node(client, Genesis.load(directory / "genesis.json"))
    except (AuditError, Rejected, Unreachable) as err:
        auditor._violate("audit_verify", f"audit verify from genesis could not run: {err}")
        return
    if not audit.ok:
        auditor._violate("audit_verify", f"audit verify from genesis: {audit.failure}")
    auditor._passed("audit_verify")
