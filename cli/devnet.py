"""`cbdc devnet ...`: a local multi-validator network on loopback, in one command."""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from pathlib import Path

import click

from cli.common import EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE, fail, unwind_on_sigterm
from cli.lazy import LazyGroup

_DIR_HELP = (
    "Devnet directory. Default: $CBDC_DEVNET_DIR, else `devnet` in your per-user data directory "
    "(`cbdc devnet dir` prints it)."
)


def _resolve_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> Path:
    from devnet.network import default_dir

    return value if value is not None else default_dir()


def _dir_option(f):
    return click.option(
        "--dir",
        "directory",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        callback=_resolve_dir,
        help=_DIR_HELP,
    )(f)


def _dir_args(directory: Path) -> str:
    """` --dir D` when the devnet is not where commands look by default (for printed hints)."""
    from devnet.network import default_dir

    return "" if directory.resolve() == default_dir().resolve() else f" --dir {directory}"


def _record(directory: Path):
    from devnet.processes import DevnetError, DevnetRecord

    try:
        record = DevnetRecord.load(directory)
    except DevnetError as err:
        fail(str(err), EXIT_USAGE)
    if record is None:
        fail(f"no devnet in {directory}; start one with `cbdc devnet up`", EXIT_USAGE)
    return record


@click.group(cls=LazyGroup, lazy={"chaos": "cli.chaos:chaos"})
def devnet() -> None:
    """Run a local network of validators on loopback (for developers)."""


@devnet.command()
@click.option(
    "--validators", default=4, show_default=True, type=click.IntRange(1, 16), help="Validators to run."
)
@_dir_option
@click.option("--detach", is_flag=True, help="Return once blocks are committed; nodes keep running.")
@click.option("--demo", is_flag=True, help="Run demo traffic (issue, register, pay) while in the foreground.")
@click.option("--fresh", is_flag=True, help="Delete the existing devnet in --dir and create a new chain.")
def up(validators: int, directory: Path, detach: bool, demo: bool, fresh: bool) -> None:
    """Create (or restart) a devnet, start every node, and wait for blocks.

    Without --detach it stays in the foreground with a live status line; Ctrl-C stops every
    node cleanly. An existing devnet in --dir is restarted with its chain data kept.
    """
    from devnet import network
    from devnet.processes import DevnetError, DevnetRecord, exclusive

    if not detach:
        unwind_on_sigterm()
    try:
        with exclusive(directory):
            record = DevnetRecord.load(directory)
            if record is not None and fresh:
                if network.running_nodes(record):
                    fail(f"the devnet in {directory} is running; `cbdc devnet down` first", EXIT_USAGE)
                shutil.rmtree(directory / "nodes", ignore_errors=True)
                for sub in ("central-bank", "institutions"):
                    shutil.rmtree(directory / sub, ignore_errors=True)
                record = None
            if record is None:
                click.echo(f"creating a {validators}-validator devnet in {directory}")
                record = network.create(directory, validators)
            elif len(record.nodes) != validators and validators != 4:
                fail(
                    f"the devnet in {directory} has {len(record.nodes)} validators; "
                    "add --fresh to recreate it with a different number",
                    EXIT_USAGE,
                )
            network.start(directory, record, progress=lambda line: click.echo(f"  {line}"))
    except DevnetError as err:
        fail(str(err), EXIT_REJECTED)
    if detach:
        _print_table(record)
        d = _dir_args(directory)
        click.echo(
            f"devnet is running; `cbdc devnet status{d}`, `cbdc devnet logs NAME{d}`, `cbdc devnet down{d}`"
        )
        if d:
            click.echo(f"queries find it with `cbdc chain status{d}` or `export CBDC_DEVNET_DIR={directory}`")
        return
    _foreground(directory, record, demo)


def _foreground(directory: Path, record, demo: bool) -> None:
    from rich.console import Console
    from rich.live import Live

    from devnet import demo as demo_traffic
    from devnet.network import access_for
    from devnet.processes import stop

    console = Console()
    stopping = threading.Event()
    demo_thread = None
    live_shown = False

    def run_demo() -> None:
        try:
            demo_traffic.run(
                directory, [n.api for n in record.nodes], say=lambda s: console.print(s), stop=stopping,
                access=access_for(record.nodes[0]),
            )
        except Exception as err:  # the demo must never take the network down with it
            if not stopping.is_set():
                console.print(f"[red]demo stopped: {err}[/red]")

    try:  # the nodes run: from here on an interrupt (Ctrl-C, or SIGTERM made one) stops them
        _print_table(record)
        if demo:
            demo_thread = threading.Thread(target=run_demo, name="demo", daemon=True)
            demo_thread.start()
        watcher = _ChainWatch(record.nodes)
        d = _dir_args(directory)
        if d:
            console.print(f"queries find this devnet with `cbdc chain status{d}` or "
                          f"`export CBDC_DEVNET_DIR={directory}`", soft_wrap=True)
        console.print("[dim]Ctrl-C stops every node cleanly[/dim]")
        with Live(watcher.line(), console=console, refresh_per_second=2, transient=False) as live:
            live_shown = True
            while True:
                time.sleep(1.0)
                watcher.poll()
                live.update(watcher.line())
    except KeyboardInterrupt:
        pass
    finally:
        stopping.set()
        if live_shown and not console.is_terminal:
            # On a terminal rich ends the status line itself; into a pipe or file (make's
            # output captured, a log) it leaves the line open.
            console.line()
        console.print("stopping nodes...")
        killed = stop(record.nodes)
        record.save(directory)
        if demo_thread is not None:
            demo_thread.join(timeout=5)
        console.print("devnet stopped" + (f" (had to kill: {', '.join(killed)})" if killed else " cleanly"))


class _ChainWatch:
    """Height, committed transactions and recent tx/s, from whichever node answers."""

    def __init__(self, nodes) -> None:
        from devnet.network import client_for

        self.clients = [client_for(n, timeout=2) for n in nodes]
        self.height = 0
        self.txs = 0
        self.rate = 0.0
        self._samples: list[tuple[float, int]] = []
        self.poll()

    def poll(self) -> None:
        from node.client.connection import Rejected, Unreachable
        from node.ledger.blocks import decode_committed_block

        for client in self.clients:
            try:
                tip = client.status().height
                for height in range(self.height + 1, tip + 1):
                    header = decode_committed_block(client.block(height=height).committed_block).header
                    self.txs += header.tx_count
                self.height = max(self.height, tip)
                break
            except (Unreachable, Rejected):
                continue
        now = time.monotonic()
        self._samples = [(t, n) for t, n in self._samples if now - t <= 10] + [(now, self.txs)]
        (t0, n0), (t1, n1) = self._samples[0], self._samples[-1]
        self.rate = (n1 - n0) / (t1 - t0) if t1 > t0 else 0.0

    def line(self) -> str:
        return f"height {self.height}   txs committed {self.txs}   {self.rate:.1f} tx/s (10 s average)"


def _print_table(record) -> None:
    from rich.console import Console
    from rich.table import Table

    from devnet.network import node_height
    from devnet.processes import is_running

    table = Table(title=f"devnet {record.chain_id}")
    for column in ("name", "role", "api", "height", "pid"):
        table.add_column(column)
    for node in record.nodes:
        height = node_height(node) if is_running(node) else None
        table.add_row(
            node.name,
            node.role,
            node.api,
            "-" if height is None else str(height),
            str(node.pid) if is_running(node) else "stopped",
        )
    Console().print(table)


@devnet.command()
@_dir_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def status(directory: Path, as_json: bool) -> None:
    """Show each node: running or not, its API address and height."""
    from cli.format import emit_json
    from devnet.network import node_height
    from devnet.processes import is_running

    record = _record(directory)
    nodes = []
    for node in record.nodes:
        running = is_running(node)
        nodes.append(
            {
                "name": node.name,
                "role": node.role,
                "api": node.api,
                "peer": node.peer,
                "pid": node.pid if running else None,
                "running": running,
                "height": node_height(node) if running else None,
            }
        )
    if as_json:
        emit_json({"chain_id": record.chain_id, "dir": str(directory), "nodes": nodes})
        return
    _print_table(record)
    if not any(n["running"] for n in nodes):
        raise SystemExit(EXIT_UNREACHABLE)


@devnet.command()
@click.argument("name")
@_dir_option
@click.option("-n", "--lines", default=40, show_default=True, help="How many lines from the end.")
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines (Ctrl-C to stop).")
def logs(name: str, directory: Path, lines: int, follow: bool) -> None:
    """Print the log of node NAME."""
    from devnet.processes import tail

    record = _record(directory)
    node = next((n for n in record.nodes if n.name == name), None)
    if node is None:
        fail(f"no node named {name!r}; nodes: {', '.join(n.name for n in record.nodes)}", EXIT_USAGE)
    click.echo(tail(node.log_path, lines))
    if follow:
        try:
            with open(node.log_path, "rb") as f:
                f.seek(0, 2)
                while True:
                    line = f.readline()
                    if line:
                        click.echo(line.decode(errors="replace"), nl=False)
                    else:
                        time.sleep(0.2)
        except KeyboardInterrupt:
            pass


@devnet.command()
@_dir_option
def down(directory: Path) -> None:
    """Stop every node of the devnet (SIGTERM, then SIGKILL after 15 s)."""
    from devnet.network import running_nodes
    from devnet.processes import DevnetError, exclusive, stop

    record = _record(directory)
    try:
        with exclusive(directory):
            running = running_nodes(record)
            killed = stop(record.nodes)
            record.save(directory)
    except DevnetError as err:
        fail(str(err), EXIT_REJECTED)
    if not running:
        click.echo("no devnet node was running (stale records cleared)")
        return
    click.echo(f"stopped {len(running)} nodes" + (f" (killed: {', '.join(killed)})" if killed else ""))


@devnet.command(name="stop")
@click.argument("name")
@_dir_option
def stop_node(name: str, directory: Path) -> None:
    """Stop node NAME only (SIGTERM, then SIGKILL after 15 s); the others keep running."""
    from devnet.network import find_node
    from devnet.processes import DevnetError, exclusive, is_running, stop

    record = _record(directory)
    try:
        with exclusive(directory):
            node = find_node(record, name)
            was_running = is_running(node)
            killed = stop([node])
            record.save(directory)
    except DevnetError as err:
        fail(str(err), EXIT_USAGE)
    if not was_running:
        click.echo(f"{name} was not running")
        return
    click.echo(f"stopped {name}" + (" (killed)" if killed else "") +
               f"; `cbdc devnet restart {name}{_dir_args(directory)}` starts it again")


@devnet.command()
@click.argument("name")
@_dir_option
@click.option("--wait", "wait_s", default=60.0, show_default=True, help="Seconds to wait for it to catch up.")
def restart(name: str, directory: Path, wait_s: float) -> None:
    """Restart node NAME (or start it, if it was stopped) while the others keep running; returns
    once it answers at the height the others had."""
    from devnet.network import find_node, restart_node
    from devnet.processes import DevnetError, exclusive

    record = _record(directory)
    try:
        find_node(record, name)
    except DevnetError as err:
        fail(str(err), EXIT_USAGE)
    try:
        with exclusive(directory):
            height = restart_node(directory, record, name, wait_s=wait_s)
    except DevnetError as err:
        fail(str(err), EXIT_REJECTED)
    node = next(n for n in record.nodes if n.name == name)
    click.echo(f"{name} is running (pid {node.pid}) at height {height}")


@devnet.command(name="dir")
@_dir_option
def show_dir(directory: Path) -> None:
    """Print the devnet directory (--dir, else $CBDC_DEVNET_DIR, else the per-user default)."""
    click.echo(str(directory))


@devnet.command()
@_dir_option
@click.option(
    "--rounds", type=int, default=None, help="Stop after this many payment rounds (default: Ctrl-C)."
)
def demo(directory: Path, rounds: int | None) -> None:
    """Issue, register wallets of several tiers, fund them, then pay continuously."""
    from devnet import demo as demo_traffic
    from devnet.network import running_nodes
    from node.client.connection import Rejected, Unreachable

    record = _record(directory)
    nodes = running_nodes(record)
    if not nodes:
        fail(f"the devnet in {directory} is not running; `cbdc devnet up --detach` first", EXIT_UNREACHABLE)
    try:
        counts = demo_traffic.run(directory, [n.api for n in nodes], say=click.echo, rounds=rounds)
    except KeyboardInterrupt:
        return
    except Unreachable as err:
        fail(str(err), EXIT_UNREACHABLE)
    except Rejected as err:
        fail(f"rejected: {err}", EXIT_REJECTED)
    click.echo(json.dumps(counts))


@devnet.command()
@_dir_option
@click.option("--tps", type=float, required=True, help="Offered transactions per second (open loop).")
@click.option("--duration", type=float, default=20.0, show_default=True, help="Seconds of load.")
@click.option("--json", "as_json", is_flag=True, help="Print only the JSON report.")
def load(directory: Path, tps: float, duration: float, as_json: bool) -> None:
    """Offer pre-signed transfers at a fixed rate; report commits, rejections and latency."""
    from devnet.load import run_load
    from devnet.network import access_for, load_keys, running_nodes
    from devnet.traffic import prepare_load
    from node.client.connection import Rejected, Unreachable

    record = _record(directory)
    nodes = running_nodes(record)
    if not nodes:
        fail(f"the devnet in {directory} is not running; `cbdc devnet up --detach` first", EXIT_UNREACHABLE)
    count = int(tps * duration)
    say = (lambda _: None) if as_json else click.echo
    try:
        access = access_for(nodes[0])
        with access.client(nodes[0].api, timeout=30) as client:
            say(f"preparing {count} pre-signed transfers (not timed)...")
            txs = prepare_load(client, load_keys(directory), transactions=count, progress=say)
    except Unreachable as err:
        fail(str(err), EXIT_UNREACHABLE)
    except Rejected as err:
        fail(f"preparing the load was rejected: {err}", EXIT_REJECTED)
    say(f"offering {tps:g} tx/s for {duration:g} s to {len(nodes)} nodes...")
    report = asyncio.run(
        run_load(
            [n.api for n in nodes], txs, tps=tps, duration_s=duration, warmup_s=min(2.0, duration / 4),
            access=access, watched_log=nodes[0].log_path,
        )
    )
    click.echo(json.dumps(report.to_dict(), indent=None if as_json else 2))
