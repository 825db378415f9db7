"""`cbdc bench ledger`: transfers applied per second against this machine's ed25519 limit,
and (with --memory) peak RSS with a million UTXOs in the store. Prints JSON."""

from __future__ import annotations

import json

import click

from cli.common import EXIT_USAGE, fail


@click.command("ledger")
@click.option("--txs", default=20_000, show_default=True, help="Signed transfers to apply.")
@click.option("--wallets", default=1_000, show_default=True, help="Registered wallets making them.")
@click.option("--block-size", default=1_000, show_default=True, help="Transactions per block.")
@click.option(
    "--workers", default=2, show_default=True,
    help="Signature-verification workers for the parallel modes (0: sequential only).",
)
@click.option("--memory", is_flag=True, help="Instead: fill a store with --utxos UTXOs and report peak RSS.")
@click.option("--utxos", default=1_000_000, show_default=True, help="UTXOs for --memory.")
def ledger(txs: int, wallets: int, block_size: int, workers: int, memory: bool, utxos: int) -> None:
    """Apply signed transfers to a fresh LevelDB store and compare with ed25519 verify speed.

    Timed: validating and committing each block with a fresh signature cache (decode,
    signature verification, rules, state root, one synced write batch). The ratio is
    applied tx/s over one core's ed25519 verifications/s (target >= 0.7).
    """
    from node.bench import ledger as bench  # imported here: plyvel/nacl only when run

    if memory:
        if utxos < 1:
            fail("--utxos must be at least 1", EXIT_USAGE)
        report = bench.run_memory(utxos=utxos)
    else:
        if txs < 1 or wallets < 2 or block_size < 1 or workers < 0:
            fail("need --txs >= 1, --wallets >= 2, --block-size >= 1 and --workers >= 0", EXIT_USAGE)
        report = bench.run(txs=txs, wallets=wallets, block_size=block_size, workers=workers)
    click.echo(json.dumps(report, indent=2))
