"""`cbdc devnet chaos`: a devnet under payments and random faults, then the invariants."""

from __future__ import annotations

from pathlib import Path

import click

from cli.common import EXIT_USAGE, fail, unwind_on_sigterm


@click.command()
@click.option("--duration", type=click.FloatRange(5, 24 * 3600), required=True, help="Seconds of faults.")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Devnet directory: a new devnet with per-link proxies is created there when it holds "
    "none; a running devnet there is used as is (kills and SIGSTOP only). Default: a new "
    "temporary directory.",
)
@click.option(
    "--validators", default=4, show_default=True, type=click.IntRange(4, 16), help="For a new devnet."
)
@click.option(
    "--tps", default=15.0, show_default=True, type=click.FloatRange(1, 500), help="Payments per second."
)
@click.option("--seed", type=int, default=None, help="Seed of the fault schedule (default: random).")
@click.option("--quiet", is_flag=True, help="Print only the final report.")
def chaos(
    duration: float, directory: Path | None, validators: int, tps: float, seed: int | None, quiet: bool
) -> None:
    """Run payments through SIGKILLs, crash points, SIGSTOPs, partitions and bad links, then check
    that every node holds the same chain, nothing committed was lost, the supply adds up and no
    honest validator signed twice. Exit status 1 when any invariant broke.

    \b
    Example:
      cbdc devnet chaos --duration 600
    """
    import random
    import time

    from devnet.chaos import run_chaos
    from devnet.processes import DevnetError

    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 31)
    unwind_on_sigterm()

    def say(line: str) -> None:
        if not quiet:
            click.echo(f"[{time.strftime('%H:%M:%S')}] {line}")

    say(f"seed {seed}")
    try:
        report = run_chaos(directory, duration, validators=validators, tps=tps, seed=seed, say=say)
    except DevnetError as err:
        fail(str(err), EXIT_USAGE)
    click.echo("chaos report")
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo(f"  seed:                {seed}")
    if not report.ok:
        raise SystemExit(1)
