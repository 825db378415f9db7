"""Consensus benchmark: the simulated network with zero delays and trivial blocks.

Every validator runs a real ConsensusMachine (real ed25519 signing and verification), so
the CPU spent is that of n validators plus the simulator's event loop. The figure that
matters, consensus CPU per height *per validator* beyond its signature work, subtracts the
measured cost of the signatures made and checked, and charges the simulator's own
bookkeeping to consensus (so it is an upper bound).
"""

from __future__ import annotations

import time

import nacl.signing
from consensus.sim import Faults, SimConfig
from consensus.sim.world import World

from node.bench.limits import ed25519_verifications_per_second, machine


def ed25519_signatures_per_second(seconds: float = 0.3) -> float:
    key = nacl.signing.SigningKey(b"\x07" * 32)
    message = b"\x5a" * 32
    count = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        for _ in range(100):
            key.sign(message)
        count += 100
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - start)


def run_network(n: int, heights: int, verify_s: float, sign_s: float) -> dict:
    """Decide `heights` heights on an n-validator network with zero delays."""
    config = SimConfig(
        seed=1, powers=(1,) * n, heights=heights, trace=False,
        faults=Faults(min_delay_ms=0, max_delay_ms=0, delta_ms=0, gst_ms=0),
    )
    world = World(config)
    wall = time.perf_counter()
    cpu = time.process_time()
    result = world.run()
    cpu = time.process_time() - cpu
    wall = time.perf_counter() - wall
    if not result.ok:
        raise RuntimeError("benchmark network failed: " + "; ".join(result.violations))
    signatures = sum(len(node.signed_history) for node in world.nodes)
    crypto_s = result.verifications * verify_s + signatures * sign_s
    beyond_ms = max(0.0, cpu - crypto_s) * 1000 / heights
    return {
        "validators": n,
        "heights": heights,
        "decided_heights_per_second": round(heights / wall, 1),
        "signature_verifications_per_height": round(result.verifications / heights, 1),
        "signatures_per_height": round(signatures / heights, 1),
        "messages_delivered_per_height": round(result.messages / heights, 1),
        "cpu_ms_per_height_all_validators": round(cpu * 1000 / heights, 3),
        "cpu_ms_per_height_signatures": round(crypto_s * 1000 / heights, 3),
        "cpu_ms_per_height_beyond_signatures_all_validators": round(beyond_ms, 3),
        "cpu_ms_per_height_beyond_signatures_per_validator": round(beyond_ms / n, 3),
    }


def bench_consensus(heights: int = 200, sizes: tuple[int, ...] = (4, 16), target_ms: float = 5.0) -> dict:
    verify_rate = ed25519_verifications_per_second()
    sign_rate = ed25519_signatures_per_second()
    networks = []
    for n in sizes:
        # Larger networks cost ~n^2 per height: scale the heights so the default stays short.
        networks.append(run_network(n, max(5, heights * 16 // (n * n)), 1 / verify_rate, 1 / sign_rate))
    first = next((r for r in networks if r["validators"] == 4), networks[0])
    return {
        "benchmark": "consensus",
        "machine": machine(),
        "ed25519_verifications_per_second": round(verify_rate),
        "ed25519_signatures_per_second": round(sign_rate),
        "networks": networks,
        "target": {
            "validators": first["validators"],
            "cpu_ms_per_height_beyond_signatures_per_validator_max": target_ms,
            "measured": first["cpu_ms_per_height_beyond_signatures_per_validator"],
            "met": first["cpu_ms_per_height_beyond_signatures_per_validator"] <= target_ms,
        },
    }
