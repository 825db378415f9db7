"""`cbdc node init|start`: set up and run a validator node."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import click

from cli.common import fail


@click.group()
def node() -> None:
    """Set up and run a validator node."""


@node.command()
@click.option(
    "--home", required=True, type=click.Path(file_okay=False, path_type=Path), help="Node home directory."
)
@click.option(
    "--genesis",
    "genesis_file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Copy this genesis file into the home.",
)
@click.option(
    "--force", is_flag=True, help="Rewrite config.toml even if it exists (keys are never replaced)."
)
def init(home: Path, genesis_file: Path | None, force: bool) -> None:
    """Write a commented config.toml and new validator and node keys into HOME."""
    from node.config import CONFIG_FILE, write_default_config
    from node.ledger.keys import KeyPair, load_key, save_key
    from node.net.tls import init_node_tls

    home.mkdir(parents=True, exist_ok=True)
    if (home / CONFIG_FILE).exists() and not force:
        fail(f"{home / CONFIG_FILE} already exists; use --force to rewrite it", code=2)
    config = write_default_config(home)
    created = []
    for name in (config.validator_key, config.node_key):
        path = home / name
        if path.exists():
            load_key(path)  # refuse to go on with a damaged key file
        else:
            save_key(path, KeyPair.generate())
            created.append(name)
    if genesis_file is not None:
        shutil.copyfile(genesis_file, home / config.genesis)
    validator = load_key(home / config.validator_key)
    _, cert_path, ca_path = config.tls_paths()
    tls_dir = cert_path.parent
    tls_created = init_node_tls(tls_dir, validator.seed)
    click.echo(f"initialised {home}")
    click.echo(f"  config:        {home / CONFIG_FILE}")
    click.echo(
        f"  validator key: {home / config.validator_key}{' (new)' if config.validator_key in created else ''}"
    )
    click.echo(f"  public key:    {validator.public.hex()}")
    click.echo(f"  address:       {validator.address}")
    new = f" (new: {', '.join(tls_created)})" if tls_created else ""
    click.echo(f"  TLS:           {tls_dir}{new}")
    click.echo(
        f"  identity cert: {tls_dir / 'identity.crt'} "
        f"(give it to the other members; append theirs to {ca_path})"
    )
    if genesis_file is None and not (home / config.genesis).exists():
        click.echo(f"  next: put the chain's genesis at {home / config.genesis}")


@node.command()
@click.option(
    "--home",
    required=True,
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Node home directory (from `cbdc node init`).",
)
@click.option(
    "--misbehave",
    type=click.Choice(["equivocate", "double-vote", "invalid-block", "oversized-proposal", "silent"]),
    hidden=True,
    help="TEST-ONLY: run as a Byzantine validator that breaks the protocol (fault tests).",
)
def start(home: Path, misbehave: str | None) -> None:
    """Run the node until SIGINT or SIGTERM, then shut down cleanly (exit 0)."""
    from consensus.signer import SignStateError
    from consensus.wal import WalCorruption
    from node.config import ConfigError
    from node.ledger.errors import LedgerError
    from node.ledger.genesis import GenesisError
    from node.ledger.keys import KeyFileError
    from node.net.tls import TlsError
    from node.service import run

    profile_path = os.environ.get("CBDC_PROFILE")
    profiler = None
    if profile_path:  # developer aid: a CPU profile of every thread, written at exit
        profiler = _start_profile()
    if misbehave:
        click.echo(
            f"WARNING: --misbehave {misbehave}: TEST-ONLY Byzantine validator, never on a real network",
            err=True,
        )
    try:
        asyncio.run(run(home.resolve(), misbehave))
    except (ConfigError, GenesisError, KeyFileError, LedgerError, OSError, TlsError) as err:
        fail(f"cannot start the node: {err}", code=1)
    except (WalCorruption, SignStateError) as err:
        fail(f"cannot start the node: {err}", code=1)
    finally:
        if profiler is not None:
            profiler(profile_path)


def _start_profile():
    """yappi (all threads, CPU clock) when installed, else cProfile of the main thread.
    Returns a function that stops profiling and writes pstats to a path."""
    try:
        import yappi
    except ImportError:
        import cProfile

        profile = cProfile.Profile()
        profile.enable()

        def finish(path: str) -> None:
            profile.disable()
            profile.dump_stats(path)

        return finish
    yappi.set_clock_type("cpu")
    yappi.start()

    def finish_yappi(path: str) -> None:
        yappi.stop()
        yappi.get_func_stats().save(path, type="pstat")

    return finish_yappi
