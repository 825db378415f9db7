"""`cbdc bench devnet`: a fresh devnet of real node processes under open-loop load,
measured against the machine's own limit.

The limit: each validator verifies each transaction's signature once, so with C cores that
each verify V signatures per second, n validators cannot commit more than L = C * V / n
transactions per second however good everything else is. Every figure is printed beside it.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import psutil

from devnet import network
from devnet.load import LoadReport, run_load
from devnet.network import access_for, client_for
from devnet.processes import DevnetRecord, stop
from devnet.traffic import prepare_load
from node.bench.limits import context_switches, ed25519_verifications_per_second, machine
from node.config import load_config

# The auto search: offered rates _FIRST_PROBE * _PROBE_STEP**i, _PROBE_S seconds each, until
# two probes in a row fall behind the offer or let p99 pass 2 s.
_FIRST_PROBE = 200.0
_PROBE_STEP = 1.5
_PROBES = 7
_PROBE_S = 4.0
# The overload probe offers this multiple of the best sustained rate; a network that does
# not collapse still commits at least _OVERLOAD_TARGET of that best.
_OVERLOAD_FACTOR = 2.0
_OVERLOAD_TARGET = 0.9
_MAIN_THREAD_TARGET_MS = 0.060


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a validator process (psutil: portable, no /proc parsing)."""
    times = psutil.Process(pid).cpu_times()
    return times.user + times.system


def _main_thread_cpu_seconds(pid: int) -> float:
    """User + system CPU time of a validator's main thread: the one that holds the GIL and
    runs the event loop (its tid is the pid). What it spends per transaction bounds how far
    one node scales on more cores, whatever the other threads do. 0 where /proc is missing."""
    try:
        stat = Path(f"/proc/{pid}/task/{pid}/stat").read_text()
    except OSError:
        return 0.0
    # The command name (field 2) may hold spaces; utime and stime are fields 14 and 15.
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_mb(pid: int) -> float:
    return psutil.Process(pid).memory_info().rss / (1024 * 1024)


@dataclass
class Trial:
    report: LoadReport
    cpu_s_per_tx_per_validator: float
    main_thread_cpu_s_per_tx_per_validator: float
    # Shares of the whole machine (all cores) over the trial: the validators together, and
    # this process offering the load, which competes with them for the same cores.
    validators_cpu_share: float
    load_generator_cpu_share: float
    # Per validator, per second of the trial: its main thread's wake-ups and preemptions.
    main_thread_wakeups_per_s: float
    main_thread_preemptions_per_s: float

    def summary(self) -> dict:
        r = self.report
        return {
            "offered_tps": r.offered_tps,
            "committed_tps": round(r.committed_tps, 1),
            "blocks_per_s": round(r.blocks_per_s, 2),
            "mean_txs_per_block": round(r.mean_txs_per_block, 1),
            "latency_ms": {k: round(v, 1) for k, v in r.latency_ms.items()},
            "latency_breakdown": r.latency_breakdown,
            "committed": r.committed,
            "rejected": r.rejected,
            "rejected_by_code": r.rejected_by_code,
            "cpu_ms_per_tx_per_validator": round(self.cpu_s_per_tx_per_validator * 1000, 3),
            "main_thread_cpu_ms_per_tx_per_validator": round(
                self.main_thread_cpu_s_per_tx_per_validator * 1000, 3
            ),
            "validators_cpu_share": round(self.validators_cpu_share, 3),
            "load_generator_cpu_share": round(self.load_generator_cpu_share, 3),
            "main_thread_wakeups_per_s": round(self.main_thread_wakeups_per_s),
            "main_thread_preemptions_per_s": round(self.main_thread_preemptions_per_s),
        }


def _trial(record: DevnetRecord, txs: list[bytes], rate: float, duration: float) -> Trial:
    pids = [n.pid for n in record.nodes]
    before = [_cpu_seconds(p) for p in pids]
    main_before = [_main_thread_cpu_seconds(p) for p in pids]
    # The main thread's wake-ups and preemptions: each a moment its caches may be taken by
    # other work (`cbdc bench locality` measures what that costs the same code).
    switches_before = [context_switches(p, thread=p) for p in pids]
    own_before, wall_before = time.process_time(), time.monotonic()
    report = asyncio.run(
        run_load(
            [n.api for n in record.nodes], txs, tps=rate, duration_s=duration,
            warmup_s=min(3.0, duration / 4), access=access_for(record.nodes[0]),
            watched_log=record.nodes[0].log_path,
        )
    )
    used = sum(_cpu_seconds(p) - b for p, b in zip(pids, before, strict=True))
    main_used = sum(_main_thread_cpu_seconds(p) - b for p, b in zip(pids, main_before, strict=True))
    own, wall = time.process_time() - own_before, time.monotonic() - wall_before
    switches = [context_switches(p, thread=p) for p in pids]
    wakeups = sum(a[0] - b[0] for a, b in zip(switches, switches_before, strict=True)) / len(pids) / wall
    preemptions = sum(a[1] - b[1] for a, b in zip(switches, switches_before, strict=True)) / len(pids) / wall
    _drain(record)
    capacity = wall * (os.cpu_count() or 1)
    per_tx = used / len(pids) / report.committed if report.committed else 0.0
    main_per_tx = main_used / len(pids) / report.committed if report.committed else 0.0
    return Trial(report, per_tx, main_per_tx, used / capacity, own / capacity, wakeups, preemptions)


def _drain(record: DevnetRecord, timeout_s: float = 120.0) -> None:
    """Until every mempool is empty, so that a trial that overran the network does not leave
    its queue to the next one (whose latency would then measure it)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sizes = []
        for node in record.nodes:
            with client_for(node, timeout=5) as client:
                sizes.append(client.status().mempool_size)
        if not any(sizes):
            return
        time.sleep(0.5)


def run(
    *,
    validators: int = 4,
    duration: float = 30.0,
    rate: float | None = None,
    directory: Path | None = None,
    timeout_commit_ms: int | None = None,
    timeout_commit_txs: int | None = None,
    tls: bool = True,
    say: Callable[[str], None] = lambda _: None,
) -> dict:
    """Measure; `rate=None` searches for the best sustained rate first. `tls=False` runs the
    same devnet with plaintext channels (to measure what TLS costs). `timeout_commit_ms` /
    `timeout_commit_txs`: None runs the nodes with their defaults."""
    verify_per_s = ed25519_verifications_per_second()
    cores = os.cpu_count() or 1
    limit = cores * verify_per_s / validators
    owned = directory is None
    tmp = tempfile.TemporaryDirectory(prefix="cbdc-bench-") if owned else None
    directory = Path(tmp.name) if tmp else directory
    record = network.create(
        directory,
        validators,
        timeout_commit_ms=timeout_commit_ms,
        timeout_commit_txs=timeout_commit_txs,
        tls=tls,
    )
    consensus = load_config(Path(record.nodes[0].home)).consensus  # what the nodes run with
    try:
        network.start(directory, record, wait_s=90)
        trials: list[tuple[str, Trial]] = []
        budget = _budget(rate, duration, limit)
        with client_for(record.nodes[0], timeout=60) as client:
            say(f"pre-signing {budget} transfers (not timed)...")
            pool = prepare_load(
                client, network.load_keys(directory), transactions=budget, wallets_per_institution=100
            )
        best: Trial | None = None
        if rate is None:
            probe = _FIRST_PROBE
            shortfalls = 0
            for _ in range(_PROBES):
                n = int(probe * _PROBE_S)
                txs, pool = pool[:n], pool[n:]
                if len(txs) < n:
                    break
                trial = _trial(record, txs, probe, _PROBE_S)
                trials.append((f"probe {probe:.0f}/s", trial))
                say(
                    f"probe {probe:.0f} tx/s -> {trial.report.committed_tps:.0f} committed/s, "
                    f"p99 {trial.report.latency_ms['p99']:.0f} ms"
                )
                # The best is the fastest probe that kept up: one that fell short only shows a
                # queue building, and running the sustained test there measures that queue.
                # Kept up: committed what was offered, and p99 finality stayed within 2 s (a
                # longer tail in a 4 s probe means a queue is building).
                short = trial.report.committed_tps < 0.9 * probe or trial.report.latency_ms["p99"] > 2000
                if not short and (best is None or trial.report.committed_tps > best.report.committed_tps):
                    best = trial
                # One short probe can be noise on a shared machine: stop at the second in a row.
                shortfalls = shortfalls + 1 if short else 0
                if shortfalls >= 2:
                    break
                probe *= _PROBE_STEP
            rate = best.report.committed_tps if best else _FIRST_PROBE
        txs, pool = pool[: int(rate * duration)], pool[int(rate * duration) :]
        say(f"sustained run: {rate:.0f} tx/s offered for {duration:.0f} s")
        sustained = _trial(record, txs, rate, duration)
        best_rate = sustained.report.committed_tps
        curve = {}
        for share in (0.25, 0.50, 0.75):
            curve_rate = max(1.0, best_rate * share)
            span = max(2.0, duration / 3)
            txs, pool = pool[: int(curve_rate * span)], pool[int(curve_rate * span) :]
            if len(txs) < curve_rate * span * 0.9:
                break
            t = _trial(record, txs, curve_rate, span)
            curve[f"{int(share * 100)}%"] = t.summary()
            say(
                f"{int(share * 100)}% of best: p50 {t.report.latency_ms['p50']:.0f} ms, "
                f"p99 {t.report.latency_ms['p99']:.0f} ms"
            )
        overload = _overload(record, pool, best_rate, duration, say)
        rss = {n.name: round(_rss_mb(n.pid), 1) for n in record.nodes}
    finally:
        stop(record.nodes)
        if tmp is not None:
            tmp.cleanup()
    result = sustained.summary()
    verify_ms = 1000 / verify_per_s
    return {
        "benchmark": "devnet",
        "validators": validators,
        "duration_s": duration,
        "timeout_commit_ms": consensus.timeout_commit_ms,
        "timeout_commit_txs": consensus.timeout_commit_txs,
        "tls": tls,
        "sustained": result,
        "limit": {
            "ed25519_verifications_per_s_one_core": round(verify_per_s),
            "cores": cores,
            "crypto_ceiling_tps": round(limit, 1),
            "formula": "cores * verifications_per_s / validators",
            "one_ed25519_verify_ms": round(verify_ms, 4),
            # Targets beside the per-transaction figures (issue 15): total CPU per committed
            # transaction per validator within two verifications; the main thread's within
            # 60 us, the rest of the signature work spread over the other cores.
            "cpu_ms_per_tx_per_validator_target": round(2 * verify_ms, 4),
            "main_thread_cpu_ms_per_tx_per_validator_target": _MAIN_THREAD_TARGET_MS,
        },
        "cpu_per_tx_in_verifications": round(result["cpu_ms_per_tx_per_validator"] / verify_ms, 2),
        "main_thread_cpu_per_tx_in_verifications": round(
            result["main_thread_cpu_ms_per_tx_per_validator"] / verify_ms, 2
        ),
        "overload": overload,
        "ratio_to_limit": round(result["committed_tps"] / limit, 3),
        "latency_curve": curve,
        "probes": [dict(label=label, **t.summary()) for label, t in trials],
        "node_rss_mb_after": rss,
        "machine": machine(),
    }


def _overload(
    record: DevnetRecord, pool: list[bytes], best_rate: float, duration: float, say: Callable[[str], None]
) -> dict:
    """Offer twice the best sustained rate: a network that degrades gently still commits
    close to its best (target >= 90% of it) and refuses the excess (mempool_full, retryable)
    instead of queueing it until everything slows down."""
    rate = max(2.0, _OVERLOAD_FACTOR * best_rate)
    span = max(_PROBE_S, duration / 3)
    txs = pool[: int(rate * span)]
    if len(txs) < rate * span * 0.9:
        return {}
    trial = _trial(record, txs, rate, span)
    fraction = trial.report.committed_tps / best_rate if best_rate else 0.0
    say(
        f"overload: {rate:.0f} tx/s offered -> {trial.report.committed_tps:.0f} committed/s "
        f"({fraction:.0%} of best), refused {trial.report.rejected}"
    )
    return {
        **trial.summary(),
        "best_sustained_tps": round(best_rate, 1),
        "committed_fraction_of_best": round(fraction, 3),
        "target_fraction_of_best": _OVERLOAD_TARGET,
    }


def _budget(rate: float | None, duration: float, limit: float) -> int:
    """Transfers to pre-sign: the probes (auto), the sustained run, the latency curve and the
    overload probe."""
    top = rate if rate is not None else min(limit, _FIRST_PROBE * _PROBE_STEP ** (_PROBES - 1))
    probes = 0 if rate is not None else sum(_FIRST_PROBE * _PROBE_STEP**i for i in range(_PROBES)) * _PROBE_S
    curve = 1.5 * top * max(5.0, duration / 3)
    overload = _OVERLOAD_FACTOR * top * max(_PROBE_S, duration / 3)
    return int(probes + top * duration + curve + overload) + 100
