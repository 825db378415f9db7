"""The garbage collector's thresholds for a node process.

CPython's defaults (700, 10, 10) collect the young generation whenever 700 more container
objects have been created than freed. A validator under load creates a pending transaction's
objects (the decoded transaction, its inputs and outputs, the mempool's entries) between two
commits, a few thousand of them, and frees them when the block that carries them commits,
about a second later. With 700 that growth ran several young collections per block: each
promoted the pending objects towards the oldest generation, and every quarter of the heap
promoted that way starts a full collection over the whole heap, tens to hundreds of
milliseconds with every thread of the node stopped (`cbdc_gc_pause_seconds`;
devnet/PERFORMANCE.md, fifth session: up to 867 ms).

With 20,000 a block's objects are usually freed, by reference count, before any young
collection sees them, and full collections become rare (63 of 50 ms or more in a measured
run, 4 with these thresholds). What still fills the young generation is cyclic garbage that
reference counting cannot free, mostly gRPC's: each server call leaves a cycle of about six
objects. A young collection now frees 10,000-15,000 of those at a time, and on a busy shared
machine some of them took 50-350 ms; the total pause time still fell by 58-64% (the eighth
session's measurements in PERFORMANCE.md).

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
    return previous
