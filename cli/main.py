"""Entry point of the `cbdc` console script."""

from __future__ import annotations

import click

from cli.lazy import LazyGroup


@click.group(
    cls=LazyGroup,
    lazy={
        "bench": "cli.bench:bench",
        "node": "cli.node:node",
        "devnet": "cli.devnet:devnet",
        "keys": "cli.keys:keys",
        "signer": "cli.signer:signer",
        "bank": "cli.bank:bank",
        "pay": "cli.pay:pay",
        "balance": "cli.pay:balance",
        "chain": "cli.chain:chain",
        "gov": "cli.gov:gov",
        "genesis": "cli.genesis:genesis",
        "audit": "cli.audit:audit",
        "escrow": "cli.escrow:escrow",
        "voucher": "cli.voucher:voucher",
        "purpose": "cli.purpose:purpose",
        "multisig": "cli.multisig:multisig",
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="cbdc")
def cli() -> None:
    """cbdc: validator node and tools for a two-tier retail digital currency."""
