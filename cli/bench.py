"""`cbdc bench ledger|consensus|sync|devnet|locality`: benchmarks that print JSON with the machine's own
limit beside each figure.

- ledger: transfers applied per second against this machine's ed25519 limit, and (with
  --memory) peak RSS with a million UTXOs in the store;
- consensus: decided heights/s and signature checks per height, simulated;
- sync: how fast a fresh node catches up a long chain from a peer;
- devnet: end-to-end throughput and finality of real node processes;
- locality: one transaction's decode in a loop and amid other work, beside the machine's
  caches (why the same code costs more inside a node than in the loops above).

Each command imports what it measures only when it runs (plyvel, nacl, grpc, the devnet).
"""

from __future__ import annotations

import json
from typing import Any

import click

from cli.common import EXIT_USAGE, fail, unwind_on_sigterm


@click.group()
def bench() -> None:
    """Measure throughput against this machine's ed25519 limit (prints JSON)."""


def _print_json(doc: Any) -> None:
    """The figures on stdout, indented (progress and tables go to stderr)."""
    click.echo(json.dumps(doc, indent=2))


@bench.command("ledger")
@click.option("--txs", default=20_000, show_default=True, help="Signed transfers to apply.")
@click.option("--wallets", default=1_000, show_default=True, help="Registered wallets making them.")
@click.option("--block-size", default=1_000, show_default=True, help="Transactions per block.")
@click.option(
    "--workers", default=2, show_default=True,
    help="Signature-verification workers for the parallel modes (0: sequential only).",
)
@click.option("--memory", is_flag=True, help="Instead: fill a store with --utxos UTXOs and report peak RSS.")
@click.option("--utxos", default=1_000_000, show_default=True, help="UTXOs for --memory.")
@click.option("--conditional/--no-conditional", default=True, show_default=True,
              help="Also time the same payments as 2-of-3 locked (conditional) spends.")
def ledger(txs: int, wallets: int, block_size: int, workers: int, memory: bool, utxos: int,
           conditional: bool) -> None:
    """Apply signed transfers to a fresh LevelDB store and compare with ed25519 verify speed.

    Timed: validating and committing each block with a fresh signature cache (decode,
    signature verification, rules, state root, one synced write batch). The ratio is
    applied tx/s over one core's ed25519 verifications/s (target >= 0.7). The
    conditional_spend section reports a 2-of-3 locked spend beside the plain transfer.
    """
    from node.bench import ledger as ledger_bench  # imported here: plyvel/nacl only when run

    if memory:
        if utxos < 1:
            fail("--utxos must be at least 1", EXIT_USAGE)
        report = ledger_bench.run_memory(utxos=utxos)
    else:
        if txs < 1 or wallets < 2 or block_size < 1 or workers < 0:
            fail("need --txs >= 1, --wallets >= 2, --block-size >= 1 and --workers >= 0", EXIT_USAGE)
        report = ledger_bench.run(txs=txs, wallets=wallets, block_size=block_size, workers=workers,
                                  with_conditional=conditional)
    _print_json(report)


@bench.command()
@click.option("--heights", default=200, show_default=True, type=click.IntRange(1),
              help="Heights to decide at n=4 (larger networks run fewer, scaled by 16/n^2).")
@click.option("--sizes", default="4,16", show_default=True, help="Comma-separated validator counts.")
def consensus(heights: int, sizes: str) -> None:
    """Run the simulated validator network with zero delays and print JSON."""
    from node.bench.consensus import bench_consensus

    try:
        counts = tuple(int(x) for x in sizes.split(","))
    except ValueError:
        message = f"{sizes!r} is not a comma-separated list of integers"
        raise click.BadParameter(message, param_hint="--sizes") from None
    if any(c < 1 or c > 255 for c in counts):
        raise click.BadParameter("validator counts must be between 1 and 255", param_hint="--sizes") from None
    _print_json(bench_consensus(heights=heights, sizes=counts))


@bench.command()
@click.option("--txs", default=100_000, show_default=True, help="Transactions in the chain to catch up.")
@click.option("--wallets", default=1_000, show_default=True, help="Wallets making the transfers.")
@click.option("--block-size", default=1_000, show_default=True, help="Transactions per block.")
def sync(txs: int, wallets: int, block_size: int) -> None:
    """Build a certified chain (untimed), serve it from a node, time a fresh node syncing it."""
    from node.bench.sync import run

    unwind_on_sigterm()
    click.echo("building and certifying the chain (untimed)...", err=True)
    _print_json(run(txs=txs, wallets=wallets, block_size=block_size))


@bench.command()
@click.option("--seconds", default=2.0, show_default=True, type=click.FloatRange(0.05, 600),
              help="Seconds per measured point.")
def locality(seconds: float) -> None:
    """Time one transaction's decode per call (CPU time) in a tight loop, with other memory
    read between calls, and in processes that sleep and wake (print JSON)."""
    from node.bench.locality import run

    _print_json(run(seconds=seconds))


@bench.command()
@click.option("--validators", default=4, show_default=True, type=click.IntRange(1, 16))
@click.option("--duration", default=30.0, show_default=True, help="Seconds of the sustained run.")
@click.option(
    "--rate", default="auto", show_default=True, help="Offered tx/s, or 'auto' to search for the best."
)
@click.option(
    "--timeout-commit-ms",
    default=None,
    type=click.IntRange(0, 10_000),
    help="The nodes' consensus.timeout_commit_ms (fewer, fuller blocks for some latency); "
    "default: the node's default.",
)
@click.option(
    "--timeout-commit-txs",
    default=None,
    type=click.IntRange(0, 1 << 20),
    help="The nodes' consensus.timeout_commit_txs (pending transactions that end the wait "
    "early); default: the node's default.",
)
@click.option(
    "--insecure", is_flag=True,
    help="Plaintext channels ([tls] insecure = true), to compare with the default TLS run.",
)
def devnet(
    validators: int,
    duration: float,
    rate: str,
    timeout_commit_ms: int | None,
    timeout_commit_txs: int | None,
    insecure: bool,
) -> None:
    """Start a fresh devnet, offer pre-signed transfers open-loop, print a table and JSON."""
    from rich.console import Console
    from rich.table import Table

    from devnet import bench as devnet_bench

    try:
        offered = None if rate == "auto" else float(rate)
    except ValueError:
        raise click.BadParameter("must be a number of tx/s or 'auto'", param_hint="--rate") from None
    console = Console(stderr=True)
    unwind_on_sigterm()
    result = devnet_bench.run(
        validators=validators,
        duration=duration,
        rate=offered,
        timeout_commit_ms=timeout_commit_ms,
        timeout_commit_txs=timeout_commit_txs,
        tls=not insecure,
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
        "main-thread CPU per tx per validator",
        f"{s['main_thread_cpu_ms_per_tx_per_validator']:.3f} ms",
        f"target {lim['main_thread_cpu_ms_per_tx_per_validator_target']:.3f} ms (the GIL-holding event loop)",
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
    over = result["overload"]
    if over:
        table.add_row(
            f"overload: {over['offered_tps']:.0f} tx/s offered",
            f"{over['committed_tps']:.0f} tx/s",
            f"{over['committed_fraction_of_best']:.0%} of best "
            f"(target {over['target_fraction_of_best']:.0%}); refused {over['rejected']}",
        )
    table.add_row(
        "node RSS after", f"{max(result['node_rss_mb_after'].values()):.0f} MB", "largest of the nodes"
    )
    console.print(table)
    _print_json(result)
