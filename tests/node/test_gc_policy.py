"""node.gc_policy: a node process's collector thresholds, and what they are for: objects that
live about a second (a pending transaction's) die young instead of reaching the oldest
generation, whose growth starts full collections over the whole heap."""

from __future__ import annotations

import gc

from node import gc_policy


def _promoted_to_oldest(blocks: int, per_block: int) -> int:
    """Collections of the middle generation (each promotes its survivors into the oldest)
    while pending transactions come and go as under load: `per_block` of them arrive (a
    container object each, with one inside), then a commit frees them all at once."""
    gc.collect()
    before = gc.get_stats()[1]["collections"]
    for _ in range(blocks):
        pending = [{"inputs": [n]} for n in range(per_block)]
        pending.clear()
    return gc.get_stats()[1]["collections"] - before


def test_apply_sets_the_node_thresholds_and_returns_the_previous() -> None:
    saved = gc.get_threshold()
    try:
        gc.set_threshold(700, 10, 10)
        assert gc_policy.apply() == (700, 10, 10)
        assert gc.get_threshold() == (gc_policy.YOUNG, gc_policy.MIDDLE, gc_policy.OLD)
    finally:
        gc.set_threshold(*saved)


def test_short_lived_objects_stop_reaching_the_oldest_generation() -> None:
    saved, was_enabled = gc.get_threshold(), gc.isenabled()
    gc.enable()
    try:
        gc.set_threshold(700, 10, 10)
        default = _promoted_to_oldest(200, per_block=2_000)
        gc_policy.apply()
        tuned = _promoted_to_oldest(200, per_block=2_000)
    finally:
        gc.set_threshold(*saved)
        if not was_enabled:
            gc.disable()
    # 4,000 objects per block: 5 young collections a block by default, a middle one every
    # 2 blocks; with the node's thresholds a block's objects die before any collection.
    assert default >= 50, default
    assert tuned * 10 <= default, (tuned, default)
