"""Bounded waits for tests that drive real processes from a plain (non-async) thread.

A test waits for the evidence it needs - a height reached, a counter risen, a log line -
never for a fixed time: a fixed sleep is too short on a loaded machine and too long on an
idle one, and a sleep followed by "nothing changed" also passes when the input never arrived.
(Tests inside one event loop use tests.transport.mesh.wait_until.)
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], timeout: float, what: str, poll: float = 0.2) -> T:
    """Poll until `condition()` is truthy and return that value; AssertionError naming `what`
    after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"gave up waiting ({timeout:.0f} s) for {what}")
        time.sleep(poll)
