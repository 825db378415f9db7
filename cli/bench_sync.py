"""`cbdc bench sync`: how fast a fresh node catches up a long chain from a peer."""

from __future__ import annotations

import json

import click

from cli.common import unwind_on_sigterm


@click.command()
@click.option("--txs", default=100_000, show_default=True, help="Transactions in the chain to catch up.")
@click.option("--wallets", default=1_000, show_default=True, help="Wallets making the transfers.")
@click.option("--block-size", default=1_000, show_default=True, help="Transactions per block.")
def sync(txs: int, wallets: int, block_size: int) -> None:
    """Build a certified chain (untimed), serve it from a node, time a fresh node syncing it."""
    from node.bench.sync import run

    unwind_on_sigterm()
    click.echo("building and certifying the chain (untimed)...", err=True)
    click.echo(json.dumps(run(txs=txs, wallets=wallets, block_size=block_size), indent=2))
