"""`cbdc bench devnet`: end-to-end throughput and finality of real node processes."""

from __future__ import annotations

import json
import sys

import click

from cli.common import unwind_on_sigterm


@click.command()
@click.option("--validators", default=4, show_default=True, type=click.IntRange(1, 16))
@click.option("--duration", default=30.0, show_default=True, help="Seconds of the sustained run.")
@click.option(
    "--rate", default="auto", show_default=True, help="Offered tx/s, or 'auto' to search for the best."
)
@click.option(
    "--timeout-commit-ms",
    default=0,
    show_default=True,
    type=click.IntRange(0, 10_000),
    help="The nodes' consensus.timeout_commit_ms (fewer, fuller blocks for some latency).",
)
def devnet(validators: int, duration: float, rate: str, timeout_commit_ms: int) -> None:
    """Start a fresh devnet, offer pre-signed transfers open-loop, print a table and JSON."""
    from rich.console import Console
    from rich.table import Table

    from devnet import bench

    try:
        offered = None if rate == "auto" else float(rate)
    except ValueError:
        raise click.BadParameter("must be a number of tx/s or 'auto'", param_hint="--rate") from None
    console = Console(stderr=True)
    unwind_on_sigterm()
    result = bench.run(
        validators=validators,
        duration=duration,
        rate=offered,
        timeout_commit_ms=timeout_commit_ms,
        say=console.print,
    )
    s, lim = result["sustained"], result["limit"]
    table = Table(title=f"cbdc bench devnet: {validators} validators, {result['machine']['cpus']} cores")
    table.add_column("figure")
    table.add_column("measured", justify="right")
    table.add_column("limit / note")
    table.add_row(
        "committed tx/s (sustained)",
        f"{s['committed_tps']:.0f}",
        f"L = {lim['crypto_ceiling_tps']:.0f} tx/s; ratio {result['ratio_to_limit']:.2f}",
    )
    table.add_row("blocks/s", f"{s['blocks_per_s']:.2f}", f"{s['mean_txs_per_block']:.0f} txs per block")
    for q in ("p50", "p95", "p99"):
        table.add_row(f"finality {q}", f"{s['latency_ms'][q]:.0f} ms", "submit -> client sees commit")
    table.add_row(
        "CPU per tx per validator",
        f"{s['cpu_ms_per_tx_per_validator']:.3f} ms",
        f"one ed25519 verify = {1000 / lim['ed25519_verifications_per_s_one_core']:.3f} ms",
    )
    table.add_row(
        "CPU: validators / load",
        f"{s['validators_cpu_share']:.0%} / {s['load_generator_cpu_share']:.0%}",
        f"of all {lim['cores']} cores; the load generator shares them",
    )
    for share, point in result["latency_curve"].items():
        table.add_row(
            f"at {share} of best",
            f"p50 {point['latency_ms']['p50']:.0f} ms",
            f"p99 {point['latency_ms']['p99']:.0f} ms at {point['committed_tps']:.0f} tx/s",
        )
    table.add_row(
        "node RSS after", f"{max(result['node_rss_mb_after'].values()):.0f} MB", "largest of the nodes"
    )
    console.print(table)
    json.dump(result, sys.stdout, indent=2)
    sys.stdout.write("\n")
