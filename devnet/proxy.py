"""TCP proxies on 127.0.0.1, one per directed validator link, for partition and link-fault tests.

Each validator dials each peer at the address in its config.toml; `install_proxies` rewrites
those addresses so that the link A -> B goes through a proxy of its own (127.0.0.1 only: no
network namespaces or `tc` needed, and no traffic ever leaves loopback). A node sends its
messages on the stream it dialled (node.net.peers), and block sync dials the same address, so
cutting the proxy of A -> B silences everything A says to B and everything A fetches from B.

What a proxy can do to its link, under the control of the test or `cbdc devnet chaos`:

- cut: open connections are reset and new ones are reset at once (the dialler retries with
  its backoff); heal restores the link and the node reconnects by itself;
- delay with jitter: every chunk of bytes is held for delay + uniform(0, jitter) before it
  is forwarded, never overtaking the chunk before it (TCP keeps order);
- loss: each chunk resets the connection with a given probability. TCP never loses or
  reorders bytes inside a connection, so "loss" at this level is losing a connection and
  whatever was queued or in flight on it, and then reconnecting;
- reordering happens between links: with jitter, messages of different senders (and of one
  sender to different peers) arrive in varying orders.

The proxies run on an asyncio loop in a background thread of the controlling process.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from devnet.processes import DevnetError, DevnetRecord, free_ports

PROXIES_FILE = "proxies.json"
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class LinkSpec:
    src: str  # node name of the dialler
    dst: str  # node name it dials
    listen: str  # 127.0.0.1:port the dialler's config now points at
    target: str  # the real peer address of dst


@dataclass
class LinkState:
    cut: bool = False
    delay_s: float = 0.0
    jitter_s: float = 0.0
    reset_probability: float = 0.0  # per forwarded chunk


def install_proxies(directory: Path, record: DevnetRecord) -> list[LinkSpec]:
    """Point every node's [[p2p.peers]] addresses at a proxy per directed link (before the
    nodes start) and save the plan in PROXIES_FILE. Returns the links."""
    names = [n.name for n in record.nodes]
    ports = iter(free_ports(len(names) * (len(names) - 1)))
    links: list[LinkSpec] = []
    for node in record.nodes:
        config = Path(node.home) / "config.toml"
        text = config.read_text()
        for peer in record.nodes:
            if peer is node:
                continue
            spec = LinkSpec(node.name, peer.name, f"127.0.0.1:{next(ports)}", peer.peer)
            line = f'address = "{peer.peer}"'
            if text.count(line) != 1:
                raise DevnetError(f"{config}: expected one peer entry for {peer.peer}")
            text = text.replace(line, f'address = "{spec.listen}"')
            links.append(spec)
        config.write_text(text)
    (directory / PROXIES_FILE).write_text(json.dumps([asdict(s) for s in links], indent=2) + "\n")
    return links


def load_links(directory: Path) -> list[LinkSpec] | None:
    path = directory / PROXIES_FILE
    if not path.exists():
        return None
    try:
        return [LinkSpec(**entry) for entry in json.loads(path.read_text())]
    except (ValueError, TypeError) as err:
        raise DevnetError(f"{path} is damaged ({err})") from err


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    if host != "127.0.0.1":
        raise DevnetError(f"proxies only use loopback, not {address}")
    return host, int(port)


class _Link:
    def __init__(self, spec: LinkSpec, rng: random.Random) -> None:
        self.spec = spec
        self.state = LinkState()
        self.rng = rng
        self.writers: set[asyncio.StreamWriter] = set()
        self.server: asyncio.AbstractServer | None = None
        self.forwarded = 0  # bytes
        self.resets = 0

    def abort_all(self) -> None:
        for writer in list(self.writers):
            writer.transport.abort()
        self.writers.clear()

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.state.cut:
            writer.transport.abort()
            return
        host, port = _split(self.spec.target)
        try:
            up_reader, up_writer = await asyncio.open_connection(host, port)
        except OSError:
            writer.transport.abort()
            return
        pair = {writer, up_writer}
        self.writers |= pair
        try:
            await asyncio.gather(self._pump(reader, up_writer, pair), self._pump(up_reader, writer, pair))
        finally:
            for w in pair:
                w.transport.abort()
            self.writers -= pair

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, pair: set[asyncio.StreamWriter]
    ) -> None:
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue()
        sender = asyncio.ensure_future(self._deliver(queue, writer))
        last = 0.0
        try:
            while True:
                try:
                    data = await reader.read(_CHUNK)
                except (ConnectionError, OSError):
                    data = b""
                state = self.state
                if not data or state.cut:
                    break
                if state.reset_probability and self.rng.random() < state.reset_probability:
                    self.resets += 1
                    break
                self.forwarded += len(data)
                if state.delay_s or state.jitter_s:
                    due = time.monotonic() + state.delay_s + self.rng.uniform(0, state.jitter_s)
                    last = max(last, due)
                    queue.put_nowait((last, data))
                else:
                    queue.put_nowait((0.0, data))
        finally:
            queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await sender
            for w in pair:
                w.transport.abort()

    @staticmethod
    async def _deliver(
        queue: asyncio.Queue[tuple[float, bytes] | None], writer: asyncio.StreamWriter
    ) -> None:
        while True:
            item = await queue.get()
            if item is None:
                return
            due, data = item
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()


class LinkProxies:
    """The proxies of a devnet's directed links, running on a background event loop."""

    def __init__(self, links: list[LinkSpec], seed: int = 0) -> None:
        rng = random.Random(seed)
        self._links = {(s.src, s.dst): _Link(s, random.Random(rng.random())) for s in links}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def names(self) -> list[str]:
        return sorted({src for src, _ in self._links} | {dst for _, dst in self._links})

    def start(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        self._thread = threading.Thread(target=loop.run_forever, name="link-proxies", daemon=True)
        self._thread.start()
        self._call(self._start_servers())

    async def _start_servers(self) -> None:
        for link in self._links.values():
            host, port = _split(link.spec.listen)
            link.server = await asyncio.start_server(link.handle, host, port, reuse_address=True)

    def stop(self) -> None:
        if self._loop is None:
            return
        self._call(self._stop_servers())
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    async def _stop_servers(self) -> None:
        for link in self._links.values():
            if link.server is not None:
                link.server.close()
            link.abort_all()
        for link in self._links.values():
            if link.server is not None:
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(link.server.wait_closed(), 2)

    def _call(self, coro) -> None:
        assert self._loop is not None, "LinkProxies.start() first"
        asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout=30)

    def _update(self, pairs: list[tuple[str, str]], **changes: float | bool) -> None:
        async def apply() -> None:
            for pair in pairs:
                link = self._links[pair]
                for key, value in changes.items():
                    setattr(link.state, key, value)
                if link.state.cut:
                    link.abort_all()

        self._call(apply())

    # --- what tests and the chaos command use ---------------------------------------------
    def links_between(self, a: list[str], b: list[str]) -> list[tuple[str, str]]:
        """Both directions of every link between the groups a and b."""
        return [(x, y) for x in a for y in b] + [(y, x) for x in a for y in b]

    def partition(self, *groups: list[str]) -> None:
        """Cut every link between different groups; links inside a group stay as they are."""
        pairs = []
        for i, a in enumerate(groups):
            for b in groups[i + 1 :]:
                pairs += self.links_between(a, b)
        self._update(pairs, cut=True)

    def cut(self, pairs: list[tuple[str, str]]) -> None:
        self._update(pairs, cut=True)

    def heal(self) -> None:
        """Every link up again, without delay or loss."""
        self._update(list(self._links), cut=False, delay_s=0.0, jitter_s=0.0, reset_probability=0.0)

    def degrade(self, *, delay_s: float = 0.0, jitter_s: float = 0.0, reset_probability: float = 0.0) -> None:
        """Delay, jitter and connection loss on every link."""
        self._update(
            list(self._links), delay_s=delay_s, jitter_s=jitter_s, reset_probability=reset_probability
        )

    def stats(self) -> dict[str, int]:
        return {
            "bytes_forwarded": sum(link.forwarded for link in self._links.values()),
            "connection_resets": sum(link.resets for link in self._links.values()),
        }
