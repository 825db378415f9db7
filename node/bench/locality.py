"""`cbdc bench locality`: why the same Python code costs 2-3x more inside a validator than in
a loop, measured on this machine.

One transaction's decode (`decode_tx`: the first thing every transaction costs a node, no
state, no I/O) is timed per call in CPU time of the calling thread, so that waiting for a
core or for the GIL is not counted, in the surroundings it meets:

- `between_calls`: a tight loop (what a micro-benchmark measures), then with N other objects,
  scattered over a heap larger than the last-level cache, read between two decodes (what a
  node's other work between two transactions does to the caches);
- `wakeups`: bursts of 5 decodes with a 0.2 ms sleep between them (an event loop's rhythm:
  it blocks and wakes on every message), in one process and then in 2 x cores processes at
  once (validators sharing the machine).

The instructions executed per decode do not change between these (valgrind's cachegrind
counts ~80k per decode in a loop and between other reads: devnet/PERFORMANCE.md, eighth
session); the CPU time does. The machine's caches are printed beside the figures: they are
the limit here.
"""

from __future__ import annotations

import gc
import hashlib
import multiprocessing
import os
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from node.bench.limits import context_switches, ed25519_verifications_per_second, machine
from node.client.txbuild import build_transfer
from node.ledger.genesis import Genesis, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint

_CHAIN_ID = "cbdc-bench"
_TXS = 512  # distinct transfers cycled through: their bytes stay hot, as a batch's would
_HEAP_OBJECTS = 2_000_000  # 2-tuples, ~150 MB: far beyond any last-level cache here
_TOUCHED = (0, 256, 1_024, 4_096, 16_384)  # objects read between two decodes
_BURST = 5
_SLEEP_S = 0.0002


def _transfers() -> tuple[Genesis, list[bytes]]:
    """Signed one-input, two-output transfers (a payment and its change), as the devnet sends."""
    keys = [KeyPair.from_seed(hashlib.sha256(b"locality" + bytes([n])).digest()) for n in range(16)]
    genesis = make_genesis(issuers=[keys[0]], institutions=[keys[1]], chain_id=_CHAIN_ID)
    raws = []
    for n in range(_TXS):
        payer, payee = keys[n % 16], keys[(n + 1) % 16]
        coin = OutPoint(hashlib.sha256(n.to_bytes(4, "big")).digest(), 1)
        outputs = [(payee.public, 100), (payer.public, 9_900)]
        raws.append(build_transfer(_CHAIN_ID, payer, [coin], outputs, nonce=n))
    return genesis, raws


def _timer_overhead_ns() -> float:
    clock, total = time.thread_time_ns, 0
    for _ in range(20_000):
        start = clock()
        total += clock() - start
    return total / 20_000


def _decode_cost(
    genesis: Genesis, raws: list[bytes], seconds: float, between: Callable[[], object] | None
) -> tuple[float, float]:
    """Mean CPU nanoseconds per decode_tx (timer included) and per run of `between`, which
    runs before each call; at least 64 calls, then until `seconds` have passed."""
    clock, decoding, calls = time.thread_time_ns, 0, 0
    began = clock()
    deadline = time.monotonic() + seconds
    while calls < 64 or time.monotonic() < deadline:
        raw = raws[calls % len(raws)]
        if between is not None:
            between()
        start = clock()
        decode_tx(raw, genesis)
        decoding += clock() - start
        calls += 1
    rest = clock() - began - decoding  # `between`, the loop and the deadline checks
    return decoding / calls, rest / calls


def _reader(heap: list[tuple[int, int]], count: int, seed: int) -> Callable[[], int]:
    """Reads `count` heap objects chosen at random (a fresh stretch of indexes each call)."""
    rng = random.Random(seed)
    indexes = rng.choices(range(len(heap)), k=1 << 20)  # far more than one call reads
    position = 0

    def read() -> int:
        nonlocal position
        if position + count > len(indexes):
            position = 0
        total = 0
        for i in indexes[position : position + count]:
            total += heap[i][0]
        position += count
        return total

    return read


def _between_calls(genesis: Genesis, raws: list[bytes], seconds: float, overhead_ns: float) -> list[dict]:
    heap = [(i, i) for i in range(_HEAP_OBJECTS)]
    gc.collect()
    gc.freeze()  # the heap is long-lived: collections should not walk it while we time
    points = []
    try:
        # _TOUCHED starts at 0: the tight loop, against which the others are compared
        tight_ns = loop_ns = 0.0
        for count in _TOUCHED:
            reader = _reader(heap, count, seed=count) if count else None
            decode_ns, rest_ns = _decode_cost(genesis, raws, seconds, reader)
            decode_ns -= overhead_ns
            if reader is None:
                tight_ns, loop_ns = decode_ns, rest_ns
            points.append(
                {
                    "objects_read_between_calls": count,
                    "decode_cpu_us": round(decode_ns / 1000, 2),
                    "times_tight_loop": round(decode_ns / tight_ns, 2),
                    "reading_them_cpu_us": round(max(rest_ns - loop_ns, 0.0) / 1000, 1),
                }
            )
    finally:
        gc.unfreeze()
    return points


def _bursts(seconds: float) -> dict:
    """Run in a process of its own: decodes in bursts with a sleep between (spawn target)."""
    genesis, raws = _transfers()
    overhead_ns = _timer_overhead_ns()
    clock, total, calls = time.thread_time_ns, 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i in range(0, len(raws), _BURST):
            for raw in raws[i : i + _BURST]:
                start = clock()
                decode_tx(raw, genesis)
                total += clock() - start
            calls += _BURST
            time.sleep(_SLEEP_S)
    wakeups, _ = context_switches(os.getpid())
    decode_us = round((total / calls - overhead_ns) / 1000, 2)
    return {"decode_cpu_us": decode_us, "calls": calls, "wakeups": wakeups}


def _wakeups(seconds: float, processes: int) -> dict:
    # spawn, not fork: the caller may hold threads (gRPC's, a test runner's) that fork would copy
    with multiprocessing.get_context("spawn").Pool(processes) as pool:
        runs = pool.map(_bursts, [seconds] * processes)
    per_call = [r["decode_cpu_us"] for r in runs]
    wakeups = statistics.median(r["wakeups"] for r in runs)
    return {
        "processes": processes,
        "decode_cpu_us_median": round(statistics.median(per_call), 2),
        "decode_cpu_us_range": [min(per_call), max(per_call)],
        "wakeups_per_s_per_process": round(wakeups / seconds),
    }


def _caches() -> dict[str, str]:
    """This machine's CPU caches (cpu0), as the kernel describes them: e.g. {"L1d": "32K"}."""
    found: dict[str, str] = {}
    for index in sorted(Path("/sys/devices/system/cpu/cpu0/cache").glob("index*")):
        try:
            level = (index / "level").read_text().strip()
            kind = (index / "type").read_text().strip()
            size = (index / "size").read_text().strip()
        except OSError:
            continue
        suffix = {"Data": "d", "Instruction": "i"}.get(kind, "")
        found[f"L{level}{suffix}"] = size
    return found


def run(seconds: float = 2.0) -> dict:
    """Every figure, with the machine's caches and one ed25519 verification beside them."""
    verify_per_s = ed25519_verifications_per_second()
    genesis, raws = _transfers()
    overhead_ns = _timer_overhead_ns()
    between = _between_calls(genesis, raws, seconds, overhead_ns)
    cores = os.cpu_count() or 1
    alone = _wakeups(seconds, 1)
    shared = _wakeups(seconds, 2 * cores)
    tight = between[0]["decode_cpu_us"]
    return {
        "benchmark": "locality",
        "machine": machine(),
        "limit": {
            "caches": _caches(),
            "one_ed25519_verify_us": round(1e6 / verify_per_s, 1),
        },
        "measured_with": {
            "transfers_cycled": _TXS,
            "heap_objects": _HEAP_OBJECTS,
            "seconds_per_point": seconds,
            "timer_overhead_us_subtracted": round(overhead_ns / 1000, 2),
            "burst": _BURST,
            "sleep_between_bursts_ms": _SLEEP_S * 1000,
        },
        "between_calls": between,
        "wakeups": {
            "alone": {**alone, "times_tight_loop": round(alone["decode_cpu_us_median"] / tight, 2)},
            "shared": {**shared, "times_tight_loop": round(shared["decode_cpu_us_median"] / tight, 2)},
        },
    }
