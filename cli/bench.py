"""`cbdc bench ...`: benchmarks that print JSON with the machine's own limit beside each figure."""

from __future__ import annotations

import click

from cli.lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "ledger": "cli.bench_ledger:ledger",
        "consensus": "cli.bench_consensus:consensus",
        "devnet": "cli.bench_devnet:devnet",
        "sync": "cli.bench_sync:sync",
    },
)
def bench() -> None:
    """Measure throughput against this machine's ed25519 limit (prints JSON)."""
