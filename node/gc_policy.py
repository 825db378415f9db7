"""The garbage collector's thresholds for a node process.

CPython's defaults (700, 10, 10) collect the young generation after every 700 net new
container objects. A validator under load creates a pending transaction's objects (the
decoded transaction, its inputs and outputs, the mempool's entries) many times a second, and
they live for a block or two, about a second: long enough to survive a young collection
every few transactions and then a middle one, so they are promoted into the oldest
generation before they die. Every quarter of the heap so promoted starts a full collection
over the whole heap, tens to hundreds of milliseconds with every thread of the node stopped
(`cbdc_gc_pause_seconds`; devnet/PERFORMANCE.md, fifth session: up to 867 ms).

With a larger young threshold a young collection comes after a second or so of load rather
than a few transactions, when most of those objects have died (by reference count, which
needs no collection): fewer survive, fewer are promoted, and the full collections they cause
become rarer. A young collection then examines up to YOUNG objects, a few milliseconds.

Set once per process by `node.service.run`, never by a Node (tests run several in one
process, and the thresholds are process-wide).
"""

from __future__ import annotations

import gc

YOUNG = 20_000
MIDDLE = 20
OLD = 10


def apply() -> tuple[int, int, int]:
    """Set the node's thresholds; returns the previous ones."""
    previous = gc.get_threshold()
    gc.set_threshold(YOUNG, MIDDLE, OLD)
    return previous  # type: ignore[return-value]
