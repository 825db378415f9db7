"""How long this process stops for garbage collection: a histogram per generation, and a
log line for each pause long enough to matter to a height (a vote round on loopback takes
a few milliseconds; a full collection over a large heap can take a hundred).

The collector runs on whichever thread allocates when a threshold is crossed, holding the
GIL: every thread of the node waits for it. `gc.callbacks` is process-wide, so each node
service installs its own watcher and removes it when it stops (tests run several nodes in
one process).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

from node.logs import get_logger

log = get_logger("node")

# A pause from which the log says so: the length of a healthy height's vote round.
LONG_PAUSE_S = 0.05


class GcPauses:
    def __init__(self, observe: Callable[[int, float], None], long_pause_s: float = LONG_PAUSE_S) -> None:
        """`observe(generation, seconds)` receives every collection (a metrics histogram)."""
        self._observe = observe
        self._long = long_pause_s
        self._started: float | None = None

    def install(self) -> None:
        gc.callbacks.append(self._callback)

    def remove(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
            return
        if self._started is None:
            return  # installed during a collection
        seconds = time.perf_counter() - self._started
        self._started = None
        generation = info.get("generation", 2)
        self._observe(generation, seconds)
        if seconds >= self._long:
            log.info(
                "long garbage collection",
                generation=generation,
                ms=round(seconds * 1000, 1),
                collected=info.get("collected", 0),
            )
