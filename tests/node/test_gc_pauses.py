"""Garbage-collection pauses as the node reports them (node.gc_pauses)."""

from __future__ import annotations

import gc
import logging

import pytest

from node.gc_pauses import GcPauses


def test_every_collection_is_timed_and_a_long_one_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    seen: list[tuple[int, float]] = []
    watcher = GcPauses(lambda gen, s: seen.append((gen, s)), long_pause_s=0.0)  # every pause is "long"
    watcher.install()
    try:
        with caplog.at_level(logging.INFO, logger="cbdc.node"):
            gc.collect(2)
            gc.collect(0)
    finally:
        watcher.remove()
    assert [gen for gen, _ in seen[-2:]] == [2, 0]
    assert all(s >= 0 for _, s in seen)
    logged = [r for r in caplog.records if r.getMessage() == "long garbage collection"]
    assert len(logged) >= 2


def test_a_short_pause_is_not_logged_and_a_removed_watcher_sees_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[int, float]] = []
    watcher = GcPauses(lambda gen, s: seen.append((gen, s)), long_pause_s=3600)
    watcher.install()
    with caplog.at_level(logging.INFO, logger="cbdc.node"):
        gc.collect(0)
    watcher.remove()
    gc.collect(0)
    assert len(seen) == 1
    assert not [r for r in caplog.records if r.getMessage() == "long garbage collection"]
