"""The machine's own limits, measured in the same run as every benchmark figure."""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path

import nacl.signing


def ed25519_verifications_per_second(seconds: float = 1.0) -> float:
    """Verifications per second on one core, of the same size message a transaction signs."""
    key = nacl.signing.SigningKey(b"\x07" * 32)
    message = b"\x5a" * 32
    signature = key.sign(message).signature
    verify = key.verify_key.verify
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(200):
            verify(message, signature)
        count += 200
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def machine() -> dict:
    """A short description of the machine, printed beside every figure."""
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "processor": platform.processor() or platform.machine(),
    }


def context_switches(pid: int, thread: int | None = None) -> tuple[int, int]:
    """How often a process (or one of its threads, by tid) has blocked and woken, and been
    preempted: its voluntary and involuntary context switches. (0, 0) where /proc is missing."""
    path = Path(f"/proc/{pid}/task/{thread}/status" if thread is not None else f"/proc/{pid}/status")
    try:
        status = path.read_text()
    except OSError:
        return 0, 0
    counts = dict.fromkeys(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"), 0)
    for line in status.splitlines():
        name, _, value = line.partition(":")
        if name in counts:
            counts[name] = int(value)
    return counts["voluntary_ctxt_switches"], counts["nonvoluntary_ctxt_switches"]
