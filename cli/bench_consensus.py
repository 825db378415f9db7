"""`cbdc bench consensus`: decided heights/s and signature checks per height, simulated."""

from __future__ import annotations

import json

import click


@click.command()
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
    click.echo(json.dumps(bench_consensus(heights=heights, sizes=counts), indent=2))
