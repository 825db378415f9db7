"""`cbdc node init|start|snapshot|migrate`: set up, run, back up and upgrade a validator node."""

from __future__ import annotations

import asyncio
import os
import shutil
from pathlib import Path

import click

from cli.common import EXIT_UNREACHABLE, EXIT_USAGE, fail


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
    """Write a commented config.toml and a new validator key into HOME."""
    from node.config import CONFIG_FILE, write_default_config
    from node.ledger.keys import KeyPair, load_key, save_key
    from node.net.tls import init_node_tls

    home.mkdir(parents=True, exist_ok=True)
    if (home / CONFIG_FILE).exists() and not force:
        fail(f"{home / CONFIG_FILE} already exists; use --force to rewrite it", code=2)
    config = write_default_config(home)
    created = []
    for name in (config.validator_key,):
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
    click.echo(f"  public key:    {validator.address}")
    click.echo(f"  (hex)          {validator.public.hex()}")
    click.echo("  peers list it in their [[p2p.peers]] validator_key, and genesis in its validators")
    new = f" (new: {', '.join(tls_created)})" if tls_created else ""
    click.echo(f"  TLS:           {tls_dir}{new}")
    click.echo(
        f"  identity cert: {tls_dir / 'identity.crt'} "
        f"(give it to the other members; append theirs to {ca_path})"
    )
    if genesis_file is None and not (home / config.genesis).exists():
        click.echo(f"  next: put the chain's genesis at {home / config.genesis}")


@node.command("tls")
@click.option("--home", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Node home directory (from `cbdc node init`).")
@click.option("--key", "key_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The consensus key to bind to (default: the home's validator key), e.g. the new "
                   "key of a rotation before it is put in place.")
def tls(home: Path, key_file: Path | None) -> None:
    """Renew the node's TLS certificate, or bind it to a rotated consensus key.

    A new node key and certificate always; a new identity certificate when the key changed
    (give it to the other members: they append it to their members.crt and restart). The
    node reads its TLS files at start: restart it to use them. config.toml is untouched."""
    from node.config import ConfigError, load_config
    from node.ledger.keys import KeyFileError, load_key
    from node.net.tls import IDENTITY_FILE, renew_node_tls

    try:
        config = load_config(home)
        key = load_key(key_file if key_file is not None else home / config.validator_key)
    except (ConfigError, KeyFileError) as err:
        fail(str(err), EXIT_USAGE)
    _, cert_path, ca_path = config.tls_paths()
    written = renew_node_tls(cert_path.parent, key.seed)
    click.echo(f"TLS of {home} bound to {key.address}: wrote {', '.join(written)} in {cert_path.parent}")
    if IDENTITY_FILE in written:
        click.echo(f"  new identity: {cert_path.parent / IDENTITY_FILE} (the other members append it to "
                   f"their members.crt; it is in {ca_path} here)")
    click.echo("  restart the node to use it")


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
    from node.ledger.store import StoreVersionError
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
    except (
        ConfigError, GenesisError, KeyFileError, LedgerError, StoreVersionError, OSError, TlsError
    ) as err:
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


# --- snapshots and upgrades --------------------------------------------------------------


@node.group()
def snapshot() -> None:
    """Consistent snapshots of the ledger state: backups, and new nodes that skip the replay.

    \b
    A snapshot holds the state at one height (unspent outputs, wallets, supply, the
    transaction and evidence indexes) with that height's block and commit certificate.
    `create` reads it from a LevelDB snapshot, so a running node keeps committing
    meanwhile; never copy a live data directory with cp -r (it is not crash-consistent).
    `restore` trusts only the genesis: it checks the certificate against the genesis
    validators and recomputes the state root before it builds the new store.
    """


def _home_paths(home: Path):
    """(config, genesis, ledger path) of a node home; a usage error when unreadable."""
    from node.config import ConfigError, load_config
    from node.ledger.genesis import Genesis, GenesisError

    try:
        config = load_config(home)
        genesis = Genesis.load(config.genesis_path)
    except (ConfigError, GenesisError) as err:
        fail(str(err), EXIT_USAGE)
    return config, genesis, config.data_path / "ledger"


def _snapshot_doc(info) -> dict:
    return {
        "chain_id": info.chain_id,
        "height": info.height,
        "block_hash": info.block_hash.hex(),
        "state_root": info.state_root.hex(),
        "rows": info.rows,
    }


def _print_snapshot(verb: str, where: str, info, as_json: bool, extra: dict | None = None) -> None:
    import json

    doc = {**_snapshot_doc(info), **(extra or {})}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"{verb} {where}")
    click.echo(f"  chain:      {info.chain_id}")
    click.echo(f"  height:     {info.height}")
    click.echo(f"  block hash: {info.block_hash.hex()}")
    click.echo(f"  state root: {info.state_root.hex()}")
    click.echo(f"  rows:       {info.rows}")
    for key, value in (extra or {}).items():
        click.echo(f"  {key}: {value}")


def _download(address: str, path: Path) -> int:
    """Stream the snapshot of the node at `address` (its API: TLS and the signed read of an
    auditor, as every CLI call) into `path`, written beside it and renamed once complete.
    Returns the snapshot's height; failures are one line (exit 3 unreachable, 1 refused)."""
    import os

    from cli.connect import client
    from node.client.connection import Rejected, Unreachable

    tmp = path.with_name(path.name + ".partial")
    height = 0
    try:
        with client(address) as node, open(tmp, "wb") as f:
            for chunk in node.snapshot():
                f.write(chunk.data)
                height = chunk.height
            f.flush()
            os.fsync(f.fileno())
    except Unreachable as err:
        tmp.unlink(missing_ok=True)
        fail(f"node {address} unreachable: {err}", EXIT_UNREACHABLE)
    except Rejected as err:
        tmp.unlink(missing_ok=True)
        fail(f"node {address} refused: {err.code}: {err.message}")
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    tmp.replace(path)
    return height


@snapshot.command("create")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The snapshot file to write (refused if it exists).")
@click.option("--node", "node_address", metavar="HOST:PORT", default=None,
              help="A RUNNING node's API address (default: $CBDC_NODE, else the local devnet).")
@click.option("--home", type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="Instead of --node: a STOPPED node's home, read directly.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")
def snapshot_create(out: Path, node_address: str | None, home: Path | None, as_json: bool) -> None:
    """Write a snapshot of a node's state at its current height to OUT.

    The node serves it from a LevelDB snapshot over its Sync API, so it keeps running and
    committing; the file is complete only once renamed into place.

    Example: cbdc node snapshot create --node 127.0.0.1:26657 --out bank-a.snap
    """
    from cli.connect import NoNode, resolve_node
    from node.ledger.errors import LedgerError
    from node.ledger.snapshot import read_snapshot_info, snapshot_file_chunks, write_snapshot
    from node.ledger.store import Store, StoreVersionError

    if out.exists():
        fail(f"{out} already exists; choose another file (snapshots are never overwritten)", EXIT_USAGE)
    if home is not None and node_address is not None:
        fail("give --node (a running node) or --home (a stopped one), not both", EXIT_USAGE)
    if home is not None:
        _, genesis, ledger = _home_paths(home)
        if not ledger.exists():
            fail(f"{home} holds no ledger yet ({ledger})", EXIT_USAGE)
        try:
            with Store.open(str(ledger), genesis) as store:
                info = write_snapshot(store, str(out))
        except (LedgerError, StoreVersionError) as err:
            fail(str(err))
        except OSError as err:  # LevelDB's lock: the node is running
            fail(f"cannot read {ledger}: {err}; for a running node use --node", EXIT_USAGE)
        _print_snapshot("wrote", str(out), info, as_json, {"source": f"home {home}"})
        return
    try:
        address = resolve_node(node_address)
    except NoNode as err:
        fail(str(err), EXIT_USAGE)
    _download(address, out)
    info = read_snapshot_info(snapshot_file_chunks(str(out)))
    _print_snapshot("wrote", str(out), info, as_json, {"source": f"node {address}"})


@snapshot.command("restore")
@click.option("--home", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="A NEW node's home (from `cbdc node init`, with the chain's genesis); its data "
                   "directory must hold no ledger yet.")
@click.option("--file", "snapshot_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              help="The snapshot file (from `cbdc node snapshot create`).")
@click.option("--from-node", "from_node", metavar="HOST:PORT",
              help="Instead of --file: fetch the snapshot from this node's API (an auditor's read: "
                   "`cbdc --read-key`).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")
def snapshot_restore(home: Path, snapshot_file: Path | None, from_node: str | None, as_json: bool) -> None:
    """Build HOME's ledger from a snapshot, after checking it against HOME's genesis: the
    snapshot's block must carry a commit certificate of the validator set its hand-offs
    lead to from the genesis validators (each certified by the set before it) and the
    state root recomputed from its rows must equal that block's. `cbdc node start` then
    syncs on from the snapshot's height. The sign-state and WAL in the data directory are
    left as they are: keep a validator's sign_state.bin, it is what stops it signing twice.

    Example: cbdc node snapshot restore --home nodes/bank-e --file bank-a.snap
    """
    from node.ledger.errors import LedgerError
    from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks

    if (snapshot_file is None) == (from_node is None):
        fail("give exactly one of --file and --from-node", EXIT_USAGE)
    _, genesis, ledger = _home_paths(home)
    if ledger.exists():
        fail(
            f"{ledger} already holds a ledger; restore only into a new node's home "
            "(stop the node and move its data directory away first, keeping sign_state.bin)",
            EXIT_USAGE,
        )
    ledger.parent.mkdir(parents=True, exist_ok=True)
    source = str(snapshot_file)
    if from_node is not None:
        download = ledger.parent / "restore.snapshot"
        _download(from_node, download)
        source = str(download)
    try:
        info = restore_snapshot(snapshot_file_chunks(source), str(ledger), genesis)
    except LedgerError as err:
        fail(f"snapshot refused: {err}")
    finally:
        if from_node is not None:
            Path(source).unlink(missing_ok=True)
    _print_snapshot(
        "restored", str(ledger), info, as_json,
        {"next": f"cbdc node start --home {home} (syncs on from height {info.height + 1})"},
    )


@snapshot.command("info")
@click.argument("snapshot_file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")
def snapshot_info(snapshot_file: Path, as_json: bool) -> None:
    """Show what a snapshot file says it holds (nothing is verified: `restore` does that)."""
    from node.ledger.errors import LedgerError
    from node.ledger.snapshot import read_snapshot_info, snapshot_file_chunks

    try:
        info = read_snapshot_info(snapshot_file_chunks(str(snapshot_file)))
    except LedgerError as err:
        fail(str(err), EXIT_USAGE)
    _print_snapshot("snapshot", str(snapshot_file), info, as_json)


@node.command()
@click.option("--home", required=True, type=click.Path(file_okay=False, exists=True, path_type=Path),
              help="The STOPPED node's home.")
def migrate(home: Path) -> None:
    """Upgrade HOME's ledger store to this version's format, in place.

    Run it with the node stopped, after a backup (a snapshot, or a copy of the stopped
    node's home). Each step is one synced write: interrupted, it leaves the old format or
    the new one, and running it again finishes. A store from a newer version is refused.
    """
    from node.ledger.store import StoreVersionError
    from node.ledger.store_migrate import MigrationError, migrate_store

    _, _, ledger = _home_paths(home)
    if not ledger.exists():
        fail(f"{home} holds no ledger ({ledger}); nothing to migrate", EXIT_USAGE)
    try:
        done = migrate_store(str(ledger))
    except StoreVersionError as err:
        fail(str(err))
    except MigrationError as err:
        fail(f"{err} (is the node still running? stop it first)")
    if done.changed:
        click.echo(f"migrated {ledger}: schema version {done.from_version} -> {done.to_version}")
    else:
        click.echo(f"{ledger} is already at schema version {done.to_version}; nothing to do")
