"""A real node (node.service.Node) inside the test process, on an event loop of its own.

The node is exactly what `cbdc node start` runs - store, mempool, consensus driver, peers,
sync, both gRPC servers - minus signal handling; running it in-process lets a test look at
internals the process would hide (the consensus machine's `ignored` counters, metrics)
while talking to it only over real gRPC on 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from node.config import load_config
from node.ledger.genesis import Genesis
from node.ledger.keys import load_key
from node.ledger.store import Store
from node.service import Node

T = TypeVar("T")


class LoopThread:
    """An asyncio loop running forever in a daemon thread; `run` submits a coroutine."""

    def __init__(self, name: str) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name=name, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)  # type: ignore[arg-type]

    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function on the loop (to read state the loop owns without racing it)."""

        async def call() -> T:
            return fn(*args)

        return self.run(call())

    def close(self) -> None:
        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(cancel_rest(), timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class InProcessNode:
    """Starts the node of `home` (config.toml, genesis, validator key) and stops it."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        self.loop = LoopThread(f"node-{self.home.name}")
        self.node: Node = self.loop.run(self._create())
        try:
            self.loop.run(self.node.start())
        except BaseException:
            self.stop()
            raise

    async def _create(self) -> Node:
        config = load_config(self.home)
        genesis = Genesis.load(config.genesis_path)
        key = load_key(config.validator_key_path)
        config.data_path.mkdir(parents=True, exist_ok=True)
        store = Store.open(str(config.data_path / "ledger"), genesis)
        return Node(config, genesis, key, store)

    @property
    def api(self) -> str:
        assert self.node.api_server is not None
        return f"127.0.0.1:{self.node.api_server.port}"

    @property
    def peer(self) -> str:
        assert self.node.peer_server is not None
        return f"127.0.0.1:{self.node.peer_server.port}"

    def ignored(self) -> dict[str, int]:
        """A snapshot of the consensus machine's dropped-message counters, by reason."""
        return self.loop.call(lambda: dict(self.node.driver.machine.ignored))

    def received(self, kind: str) -> float:
        """How many messages of `kind` (vote, proposal, evidence, ...) authenticated peers
        have delivered to this node. Read on the node's loop, between two of its steps: a
        message counted here has also been handed to its handler (which, for evidence, acts
        at once; votes and proposals queue for the consensus driver)."""
        registry = self.node.metrics.registry
        name, labels = "cbdc_peer_messages_received_total", {"kind": kind}
        return self.loop.call(lambda: registry.get_sample_value(name, labels) or 0.0)

    def consensus_position(self) -> tuple[int, int]:
        """(height the consensus machine is at, messages it holds for the height after it):
        a node idle after committing height h reads (h, 0); one that has started h + 1, or
        kept a message as a sign that the network has, reads otherwise."""
        return self.loop.call(
            lambda: (self.node.driver.machine.height, self.node.driver.machine.next_height_buffered)
        )

    def stop(self) -> None:
        try:
            self.loop.run(self.node.stop(), timeout=60)
        finally:
            self.loop.close()
