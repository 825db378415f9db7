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
    },
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="cbdc")
def cli() -> None:
    """cbdc: validator node and tools for a two-tier retail digital currency."""
