"""Process supervision for the local devnet: start, find, and stop node processes.

A devnet directory holds one home per validator and `devnet.json`, the record of what
was started (names, addresses, pids). Every pid is checked against its command line before
it is trusted or signalled, so a stale record (reboot, pid reuse) never kills a stranger.
Processes are inspected through psutil (command line, parent, zombie state), not /proc, so
the devnet runs wherever psutil does (Linux, macOS, the BSDs).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import psutil

from node.testing.faults import CRASH_ENV

STATE_FILE = "devnet.json"
LOCK_FILE = "devnet.lock"


class DevnetError(Exception):
    """Something a person must act on (already running, busy port, node failed to start)."""


@dataclass
class NodeRecord:
    name: str
    role: str
    home: str
    api: str  # host:port of the public gRPC API
    peer: str  # host:port of the validator-to-validator service
    pid: int = 0

    @property
    def log_path(self) -> Path:
        return Path(self.home) / "node.log"


@dataclass
class DevnetRecord:
    chain_id: str
    nodes: list[NodeRecord]
    started_at: float = 0.0

    def save(self, directory: Path) -> None:
        tmp = directory / (STATE_FILE + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2) + "\n")
        os.replace(tmp, directory / STATE_FILE)

    @classmethod
    def load(cls, directory: Path) -> DevnetRecord | None:
        path = directory / STATE_FILE
        if not path.exists():
            return None
        try:
            raw = json.loads(path.read_text())
            return cls(
                chain_id=raw["chain_id"],
                nodes=[NodeRecord(**n) for n in raw["nodes"]],
                started_at=raw.get("started_at", 0.0),
            )
        except (ValueError, KeyError, TypeError) as err:
            raise DevnetError(f"{path} is damaged ({err}); remove the directory to start afresh") from err


@contextlib.contextmanager
def exclusive(directory: Path) -> Iterator[None]:
    """Hold the devnet directory's lock: two `up`/`down` at once must not interleave."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK_FILE, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as err:
            raise DevnetError(f"another cbdc devnet command is working on {directory}") from err
        yield


def free_ports(count: int, host: str = "127.0.0.1") -> list[int]:
    """Ports free right now (held open together so they are distinct), chosen at random
    below the kernel's ephemeral range: a port the kernel handed out for `bind(0)` lies in
    that range, where any outgoing connection can take it before the node binds it (seen as
    "port ... is busy" when test networks start while others run).

    A port handed out earlier by this process is not handed out again: a caller often asks
    twice before anything binds (a test picks metrics ports, then the network picks its
    own), and a port free at both asks would go to two listeners (seen in CI as a node
    failing to start with "Address already in use")."""
    low = _ephemeral_low()
    rng = random.SystemRandom()
    sockets: list[socket.socket] = []
    try:
        tries = 0
        while len(sockets) < count:
            tries += 1
            port = rng.randrange(_PORTS_FROM, low) if tries < 50 * count else 0
            if port in _HANDED_OUT:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind((host, port))
            except OSError:
                s.close()
                continue
            if s.getsockname()[1] in _HANDED_OUT:  # the kernel's choice, when port is 0
                s.close()
                continue
            sockets.append(s)
        ports = [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()
    _remember(ports)
    return ports


_PORTS_FROM = 10_000
# The ports this process handed out, oldest first; a bounded memory (a long test session
# asks for a few thousand), so the random choice never runs out of candidates.
_HANDED_OUT: dict[int, None] = {}
_REMEMBERED = 8_000


def _remember(ports: list[int]) -> None:
    for port in ports:
        _HANDED_OUT.pop(port, None)
        _HANDED_OUT[port] = None
    while len(_HANDED_OUT) > _REMEMBERED:
        del _HANDED_OUT[next(iter(_HANDED_OUT))]


def _ephemeral_low() -> int:
    # Linux says where its ephemeral range starts; elsewhere the IANA default is assumed.
    try:
        low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768
    return low if low > _PORTS_FROM + 1_000 else 32_768


def port_is_free(address: str) -> bool:
    host, _, port = address.rpartition(":")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, int(port)))
        except OSError:
            return False
    return True


def is_running(node: NodeRecord) -> bool:
    """True only when the pid is alive AND is a cbdc node for this home, or is a child we
    spawned that has not finished exec() yet: in that instant its command line is still
    ours, and calling it stopped let a node escape `stop` (seen as leaked processes)."""
    if node.pid <= 0:
        return False
    try:
        process = psutil.Process(node.pid)
        cmdline = process.cmdline()
        if "node" in cmdline and "start" in cmdline and node.home in cmdline:
            return process.status() != psutil.STATUS_ZOMBIE
        return _alive(node.pid) and process.ppid() == os.getpid()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return False


def spawn(node: NodeRecord, args: tuple[str, ...] = (), env: dict[str, str] | None = None) -> int:
    """Start `cbdc node start --home HOME [args]` detached from our terminal and session, so a
    Ctrl-C in the foreground reaches the supervisor, which then stops nodes in order.
    `env`: variables added to our environment for this node only (e.g. a crash point). A
    crash point in our own environment is never passed on: only a node asked for one gets it
    (a restarted node must not die again at the point its predecessor was armed with)."""
    environment = {k: v for k, v in os.environ.items() if k != CRASH_ENV}
    environment.update(env or {})
    with open(node.log_path, "ab") as log:  # the child keeps its own descriptor
        proc = subprocess.Popen(
            [sys.executable, "-m", "cli", "node", "start", "--home", node.home, *args],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=environment,
        )
    node.pid = proc.pid
    return proc.pid


def stop(nodes: list[NodeRecord], timeout: float = 15.0) -> list[str]:
    """SIGTERM every running node, wait for clean exits, SIGKILL what outlives `timeout`.

    Returns the names that had to be killed.
    """
    running = [n for n in nodes if is_running(n)]
    for node in running:
        signal_node(node, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(n.pid) for n in running):
        _reap([n.pid for n in running])
        time.sleep(0.05)
    killed = []
    for node in running:
        if _alive(node.pid):
            signal_node(node, signal.SIGKILL)
            killed.append(node.name)
    _reap([n.pid for n in running])
    for node in nodes:
        node.pid = 0
    return killed


def signal_node(node: NodeRecord, sig: int) -> None:
    """Send `sig` to the node's whole process group (spawn gives it a session of its own), so
    nothing it started outlives it; just to the pid if the group is gone or not ours. A node
    with no pid (never started, or stopped) gets nothing: pid 0 would mean our own group."""
    if node.pid <= 0:
        return
    try:
        if os.getpgid(node.pid) == node.pid:
            os.killpg(node.pid, sig)
            return
    except (ProcessLookupError, PermissionError):
        pass
    with contextlib.suppress(ProcessLookupError):
        os.kill(node.pid, sig)


def kill(node: NodeRecord) -> None:
    """SIGKILL the node (a crash: no clean shutdown), wait for it to go, forget its pid."""
    signal_node(node, signal.SIGKILL)
    wait_exit(node, 10)
    node.pid = 0


def wait_exit(node: NodeRecord, timeout: float) -> int | None:
    """Wait for a node we spawned to exit; its exit status (negative: killed by that signal),
    or None if it still runs after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            pid, status = os.waitpid(node.pid, os.WNOHANG)
        except ChildProcessError:
            return None if is_running(node) else 0
        if pid == node.pid:
            return os.waitstatus_to_exitcode(status)
        time.sleep(0.05)
    return None


def tail(path: Path, lines: int) -> str:
    if not path.exists():
        return ""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        data = f.read().decode(errors="replace")
    return "\n".join(data.splitlines()[-lines:])


def _alive(pid: int) -> bool:
    """The process exists and is not a zombie (a zombie child of ours is dead for our purposes)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False
    except psutil.AccessDenied:  # someone else's live process
        return True


def _reap(pids: list[int]) -> None:
    """Collect exit statuses of nodes we started ourselves (others are not our children)."""
    for pid in pids:
        with contextlib.suppress(ChildProcessError):
            os.waitpid(pid, os.WNOHANG)
