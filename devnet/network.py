"""A local devnet: keys, genesis and node homes on loopback, and bringing it up and down.

Where: `--dir`, else $CBDC_DEVNET_DIR, else `devnet` in the per-user data directory
(~/.local/share/cbdc/devnet on Linux, ~/Library/Application Support/cbdc/devnet on macOS):
never inside the installed package, which may be read-only site-packages.

Layout of a devnet directory (devnet.homes writes all but devnet.json):

    genesis.json                 the chain (also copied into every node home)
    central-bank/issuer-N.key    the central bank's issuer keys (2-of-3 issuance)
    central-bank/auditor.key     the devnet operator's auditor key (named in genesis): the
                                 tools and the CLI read everything with it
    institutions/<site>.key      the pilot institutions' keys
    nodes/<site>/                one validator home each (config.toml, keys, tls/, data/, node.log)
    tls/members.crt              the members bundle (every validator's identity certificate):
                                 the CA clients check the nodes against
    devnet.json                  what `up` started: names, addresses, pids
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from platformdirs import user_data_path

from devnet.homes import AUDITOR_KEY, Plan, PlannedNode, write_network
from devnet.processes import (
    DevnetError,
    DevnetRecord,
    NodeRecord,
    free_ports,
    is_running,
    port_is_free,
    spawn,
    stop,
    tail,
)
from node.client.connection import ClientTls, NodeClient, Rejected, Unreachable
from node.config import load_config
from node.ledger.genesis import Genesis
from node.ledger.keys import KeyPair, load_key

SITES = (
    "shenzhen",
    "suzhou",
    "xiongan",
    "chengdu",
    "shanghai",
    "hainan",
    "changsha",
    "xian",
    "qingdao",
    "dalian",
)
CHAIN_ID = "cbdc-devnet"
ENV_DEVNET_DIR = "CBDC_DEVNET_DIR"
DEFAULT_DIR = user_data_path("cbdc", appauthor=False) / "devnet"


def default_dir() -> Path:
    """The devnet directory when no --dir is given: $CBDC_DEVNET_DIR, else DEFAULT_DIR."""
    env = os.environ.get(ENV_DEVNET_DIR, "").strip()
    return Path(env).expanduser() if env else DEFAULT_DIR




@dataclass(frozen=True)
class DevnetKeys:
    issuers: list[KeyPair]
    institutions: dict[str, KeyPair]  # site -> key


def site_names(count: int) -> list[str]:
    return [SITES[i] if i < len(SITES) else f"site{i + 1}" for i in range(count)]


def load_keys(directory: Path) -> DevnetKeys:
    issuers = [load_key(p) for p in sorted((directory / "central-bank").glob("issuer-*.key"))]
    institutions = {p.stem: load_key(p) for p in sorted((directory / "institutions").glob("*.key"))}
    return DevnetKeys(issuers, institutions)


def create(
    directory: Path,
    validators: int = 4,
    *,
    timeouts_ms: tuple[int, int, int] = (1000, 500, 500),
    timeout_commit_ms: int | None = None,
    timeout_commit_txs: int | None = None,
    tls: bool = True,
    open_reads: bool = False,
) -> DevnetRecord:
    """Generate keys, genesis and node homes for a fresh devnet of `validators` nodes.

    With `tls` (the default) every channel is TLS: each home gets its certificates
    (node.net.tls) and the members bundle of all validators; `tls=False` writes
    `[tls] insecure = true`. `open_reads` lets anyone read everything on the API (tests that
    read with unsigned clients); otherwise the devnet's auditor key reads everything.
    `timeout_commit_ms` / `timeout_commit_txs`: None keeps the node's defaults."""
    if validators < 1:
        raise DevnetError("a devnet needs at least one validator")
    names = site_names(validators)
    ports = free_ports(2 * validators)
    planned = tuple(
        PlannedNode(name, api=f"127.0.0.1:{ports[2 * i]}", peer=f"127.0.0.1:{ports[2 * i + 1]}")
        for i, name in enumerate(names)
    )
    propose, prevote, precommit = timeouts_ms
    commit_wait = {"timeout_commit_ms": timeout_commit_ms, "timeout_commit_txs": timeout_commit_txs}
    commit_wait = {option: value for option, value in commit_wait.items() if value is not None}
    written = write_network(directory, Plan(
        chain_id=CHAIN_ID,
        nodes=planned,
        tls=tls,
        open_reads=open_reads,
        p2p={"reconnect_max_ms": 2000},
        consensus={
            "timeout_propose_ms": propose,
            "timeout_prevote_ms": prevote,
            "timeout_precommit_ms": precommit,
            "heartbeat_interval_s": 2,
            **commit_wait,
        },
    ))
    records = [
        NodeRecord(
            name=node.name,
            role="validator (central bank)" if i == 0 else "validator (pilot institution)",
            home=str(written.homes[node.name]),
            api=node.api,
            peer=node.peer,
        )
        for i, node in enumerate(planned)
    ]
    record = DevnetRecord(chain_id=CHAIN_ID, nodes=records)
    record.save(directory)
    return record


def running_nodes(record: DevnetRecord) -> list[NodeRecord]:
    return [n for n in record.nodes if is_running(n)]


@dataclass(frozen=True)
class Access:
    """How the devnet's tools reach its nodes: TLS against the members bundle (None when the
    nodes are plaintext) and the devnet operator's auditor key for the private reads."""

    tls: ClientTls | None
    signer: KeyPair | None

    def client(self, api: str, timeout: float = 10.0) -> NodeClient:
        return NodeClient(api, timeout=timeout, tls=self.tls, signer=self.signer)


def access_for(node: NodeRecord) -> Access:
    """The Access of the devnet `node` belongs to, from its home (config, bundle) and the
    devnet directory two levels up (the auditor key, if there is one)."""
    home = Path(node.home)
    config = load_config(home)
    tls = None
    if not config.tls.insecure:
        _, _, ca = config.tls_paths()
        tls = ClientTls(ca_pem=ca.read_bytes())
    auditor = home.parents[1] / AUDITOR_KEY
    return Access(tls, load_key(auditor) if auditor.exists() else None)


def client_for(node: NodeRecord, timeout: float = 10.0) -> NodeClient:
    """A NodeClient for a devnet node, with that devnet's TLS and auditor key."""
    return access_for(node).client(node.api, timeout)


def node_height(node: NodeRecord, timeout: float = 2.0) -> int | None:
    try:
        with client_for(node, timeout=timeout) as client:
            return client.status().height
    except (Unreachable, Rejected):
        return None


def start(
    directory: Path,
    record: DevnetRecord,
    *,
    wait_s: float = 60.0,
    progress: Callable[[str], None] = lambda _: None,
    extra_args: dict[str, tuple[str, ...]] | None = None,
    min_height: int | None = None,
) -> None:
    """Start every node and wait until all of them have committed a block beyond where
    they started (or, with `min_height`, are at that height). On any failure every node is
    stopped again: never a half-started network."""
    if running_nodes(record):
        raise DevnetError(
            f"the devnet in {directory} is already running ({len(running_nodes(record))} nodes); "
            "`cbdc devnet down` stops it"
        )
    for node in record.nodes:
        for address in (node.api, node.peer):
            if not port_is_free(address):
                raise DevnetError(
                    f"port {address} of {node.name} is busy; stop whatever uses it, or remove {directory}"
                )
    try:
        for node in record.nodes:
            spawn(node, (extra_args or {}).get(node.name, ()))
            progress(f"started {node.name} (pid {node.pid})")
        record.started_at = time.time()
        record.save(directory)
        wait_for_blocks(record, wait_s=wait_s, min_height=min_height)
    except BaseException:
        stop(record.nodes)
        record.save(directory)
        raise


def find_node(record: DevnetRecord, name: str) -> NodeRecord:
    """The node called `name`; DevnetError listing the names when there is none."""
    node = next((n for n in record.nodes if n.name == name), None)
    if node is None:
        raise DevnetError(f"no node named {name!r}; nodes: {', '.join(n.name for n in record.nodes)}")
    return node


def restart_node(directory: Path, record: DevnetRecord, name: str, *, wait_s: float = 60.0) -> int:
    """Stop node `name` if it runs (SIGTERM, clean shutdown), start it again and wait until it
    answers and holds the height the running others had when it started; returns that height.
    The other nodes are left alone."""
    node = find_node(record, name)
    stop([node])
    record.save(directory)
    for address in (node.api, node.peer):
        if not port_is_free(address):
            raise DevnetError(f"port {address} of {node.name} is busy; stop whatever uses it")
    others = [h for n in running_nodes(record) if (h := node_height(n)) is not None]
    target = max(others, default=0)
    spawn(node)
    record.save(directory)
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        if not is_running(node):
            raise DevnetError(
                f"{node.name} exited during start-up; last lines of {node.log_path}:\n"
                + tail(node.log_path, 15)
            )
        height = node_height(node)
        if height is not None and height >= target:
            return height
        time.sleep(0.2)
    raise DevnetError(f"{node.name} did not catch up to height {target} within {wait_s:.0f}s")


def wait_for_blocks(record: DevnetRecord, *, wait_s: float, min_height: int | None = None) -> dict[str, int]:
    """Until every node is at `min_height` (default: one block past the first answer)."""
    deadline = time.monotonic() + wait_s
    first: dict[str, int] = {}
    heights: dict[str, int] = {}
    while time.monotonic() < deadline:
        for node in record.nodes:
            if not is_running(node):
                raise DevnetError(
                    f"{node.name} exited during start-up; last lines of {node.log_path}:\n"
                    + tail(node.log_path, 15)
                )
            height = node_height(node)
            if height is not None:
                first.setdefault(node.name, height)
                heights[node.name] = height
        target = {
            n.name: (min_height if min_height is not None else first.get(n.name, 0) + 1) for n in record.nodes
        }
        if len(heights) == len(record.nodes) and all(heights[n] >= target[n] for n in heights):
            return heights
        time.sleep(0.2)
    raise DevnetError(f"the devnet did not commit blocks within {wait_s:.0f}s (heights: {heights})")


def genesis_of(directory: Path) -> Genesis:
    return Genesis.load(directory / "genesis.json")
