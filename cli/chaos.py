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
    "--validators",
    default=None,
    type=click.IntRange(4, 16),
    help="For a new devnet. Default: 5 with governance changes (one can leave the set and the 4 a "
    "chain needs remain), else 4.",
)
@click.option(
    "--governance/--no-governance",
    default=True,
    show_default=True,
    help="Make every other fault a validator-set change: a validator removed and re-added, a "
    "power change, a validator killed at its change height, a partition across a change.",
)
@click.option(
    "--tps", default=15.0, show_default=True, type=click.FloatRange(1, 500), help="Payments per second."
)
@click.option("--seed", type=int, default=None, help="Seed of the fault schedule (default: random).")
@click.option("--quiet", is_flag=True, help="Print only the final report.")
@click.option("--json", "as_json", is_flag=True, help="Print only the report, as JSON.")
def chaos(
    duration: float,
    directory: Path | None,
    validators: int | None,
    governance: bool,
    tps: float,
    seed: int | None,
    quiet: bool,
    as_json: bool,
) -> None:
    """Run payments through SIGKILLs, crash points, SIGSTOPs, partitions, bad links and
    validator-set changes, then check that every node holds the same chain, nothing committed
    was lost, the supply adds up, no honest validator signed twice, every change is in force
    where it should be, and `audit verify` replays the chain from genesis. Exit status 1 when
    any invariant broke.

    \b
    Example:
      cbdc devnet chaos --duration 600
    """
    import json
    import random
    import time

    from devnet.chaos import run_chaos
    from devnet.processes import DevnetError

    seed = seed if seed is not None else random.SystemRandom().randrange(1 << 31)
    validators = validators if validators is not None else (5 if governance else 4)
    unwind_on_sigterm()

    def say(line: str) -> None:
        if not quiet and not as_json:
            click.echo(f"[{time.strftime('%H:%M:%S')}] {line}")

    say(f"seed {seed}")
    try:
        report = run_chaos(
            directory, duration, validators=validators, tps=tps, seed=seed, governance=governance, say=say
        )
    except DevnetError as err:
        fail(str(err), EXIT_USAGE)
    if as_json:
        click.echo(json.dumps({**report.to_dict(), "seed": seed}, indent=2))
        if not report.ok:
            raise SystemExit(1)
        return
    click.echo("chaos report")
    for line in report.lines():
        click.echo(f"  {line}")
    click.echo(f"  seed:                {seed}")
    if not report.ok:
        raise SystemExit(1)
