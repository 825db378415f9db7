"""Crashes of real validator processes under payment load: SIGKILL and restart, numbered crash
points, torn and corrupted consensus WAL, SIGSTOP beyond the timeouts. Each test ends with the
invariants on every node (FaultNet.finish): same block hash and state root at every height,
every payment a client saw committed present everywhere, supply identity, no honest double
signature (and, at module teardown, every store audited offline)."""

from __future__ import annotations

import os
import random
import signal
from pathlib import Path

import pytest

from devnet.chaos import kill_node, spawn_node, wait_exit, wait_heights
from devnet.network import client_for
from devnet.processes import stop
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.store import Store
from node.ledger.store_audit import audit_store
from node.service import validator_set
from node.testing.faults import CRASH_ENV, CRASH_EXIT_CODE, CRASH_POINTS
from tests.support.waiting import wait_for

from .harness import (
    FaultNet,
    log_offset,
    log_since,
    wal_frames,
    wal_path,
)

PAYMENTS = 1500  # pre-signed for the module's devnet (tests/faults/conftest.py)


def _kill_and_restart(net: FaultNet, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    load = net.load(count=kills * 60 + 100, per_second=30)
    for _ in range(kills):
        victim = rng.choice(net.nodes)
        others = [n for n in net.nodes if n is not victim]
        kill_node(victim)
        # One of four down (f = 1): the others keep committing.
        before = net.top(others)
        reached = wait_heights(others, before + 2, timeout=60)
        assert all(h is not None and h >= before + 2 for h in reached.values()), (
            f"the others stopped committing while {victim.name} was down: {reached}"
        )
        spawn_node(victim)
        # Back up and caught up before the next kill (else two would be out at once).
        wait_for(
            lambda v=victim, o=others: (net.heights([v])[v.name] or 0) >= net.top(o) - 1,
            60,
            f"{victim.name} to catch up after its restart",
        )
    net.finish(load)


def test_sigkill_random_validators_under_load(net: FaultNet) -> None:
    _kill_and_restart(net, kills=5, seed=1)


@pytest.mark.soak
def test_sigkill_random_validators_soak(net: FaultNet) -> None:
    _kill_and_restart(net, kills=25, seed=2)


# The N-th time each point is reached after the restart (all reached within seconds under load).
_NTH = {"after-wal-write": 40, "after-sign-before-broadcast": 8, "mid-commit-batch": 3}


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_crash_point_exit_and_recovery(net: FaultNet, point: str) -> None:
    victim = net.nodes[1]
    load = net.load(count=200, per_second=30)
    stop([victim])
    offset = log_offset(victim)
    spawn_node(victim, env={CRASH_ENV: f"{point}:{_NTH[point]}"})
    assert wait_exit(victim, 90) == CRASH_EXIT_CODE, f"{victim.name} did not exit at {point}"
    assert f"crash point {point} reached" in log_since(victim, offset)
    victim.pid = 0
    if point == "mid-commit-batch":
        # The batch is atomic: the block being written is simply absent, the tip is whole.
        with Store.open(str(Path(victim.home) / "data" / "ledger"), net.genesis()) as store:
            tip = store.height
            assert store.get_block(height=tip + 1) is None
            assert audit_store(store) == []
        others = [n for n in net.nodes if n is not victim]
        wait_for(lambda: net.top(others) > tip, 60, f"the others to commit height {tip + 1}")
    spawn_node(victim)
    wait_for(lambda: (net.heights([victim])[victim.name] or 0) >= net.top() - 1, 60, "the restarted node")
    net.finish(load)
    if point == "mid-commit-batch":
        with client_for(victim) as mine, client_for(net.nodes[0]) as theirs:
            assert mine.block(height=tip + 1).block_hash == theirs.block(height=tip + 1).block_hash


def _kill_with_wal_records(net: FaultNet, victim, at_least: int) -> bytes:
    """SIGKILL `victim` at a moment its WAL holds >= `at_least` records; the WAL bytes."""
    for _ in range(20):
        kill_node(victim)
        data = wal_path(victim).read_bytes()
        if len(wal_frames(data)) >= at_least:
            return data
        spawn_node(victim)
        wait_for(lambda: net.heights([victim])[victim.name] is not None, 60, "restart")
    pytest.fail(f"{victim.name}'s WAL never held {at_least} records when killed")


def test_torn_wal_tail_is_dropped_with_a_warning(net: FaultNet) -> None:
    victim = net.nodes[2]
    load = net.load(count=200, per_second=30)
    data = _kill_with_wal_records(net, victim, 1)
    offset, size = wal_frames(data)[-1]
    torn_at = offset + 8 + max(1, (size - 8) // 2)  # mid-way through the last record's payload
    with open(wal_path(victim), "r+b") as f:
        f.truncate(torn_at)
    log_at = log_offset(victim)
    spawn_node(victim)
    wait_for(lambda: (net.heights([victim])[victim.name] or 0) >= net.top() - 1, 60, "the restarted node")
    assert f"dropped a torn last WAL record at byte {offset}" in log_since(victim, log_at)
    net.finish(load)


def test_corrupt_wal_record_before_the_tail_stops_the_node(net: FaultNet) -> None:
    victim = net.nodes[3]
    load = net.load(count=200, per_second=30)
    data = bytearray(_kill_with_wal_records(net, victim, 2))
    first_offset, first_size = wal_frames(bytes(data))[0]
    data[first_offset + 8 + (first_size - 8) // 2] ^= 0xFF  # a flipped bit in the first record
    wal_path(victim).write_bytes(bytes(data))
    log_at = log_offset(victim)
    spawn_node(victim)
    status = wait_exit(victim, 60)
    assert status == 1, f"a node with a corrupt WAL must refuse to start (exit 1), got {status}"
    said = log_since(victim, log_at)
    assert "cannot start the node: consensus WAL is corrupt at byte 0" in said
    assert "Traceback" not in said
    victim.pid = 0
    # What the message tells the operator to do: move the WAL aside; the sign-state still
    # keeps the validator from contradicting what it signed before.
    wal_path(victim).rename(wal_path(victim).with_suffix(".corrupt"))
    spawn_node(victim)
    wait_for(lambda: (net.heights([victim])[victim.name] or 0) >= net.top() - 1, 60, "the restarted node")
    net.finish(load)


def test_sigstopped_proposer_is_skipped_and_catches_up(net: FaultNet) -> None:
    validators = validator_set(net.genesis())
    load = net.load(count=300, per_second=30)
    wait_for(lambda: net.top() > 0, 30, "a height")
    stopped_key = validators.proposer(net.top() + 1, 0)
    victim = net.by_key(stopped_key)
    others = [n for n in net.nodes if n is not victim]
    with client_for(victim) as client:
        frozen_at = client.status().height
    os.kill(victim.pid, signal.SIGSTOP)
    try:
        # Far beyond the timeouts: 4 validators rotate, so it was due to propose within 4 heights.
        reached = wait_heights(others, frozen_at + 7, timeout=90)
        assert all(h is not None and h >= frozen_at + 7 for h in reached.values()), f"stalled: {reached}"
        during = net.top(others)
    finally:
        os.kill(victim.pid, signal.SIGCONT)
    # It may have proposed for frozen_at + 1 before it froze; from frozen_at + 2 on it could not.
    skipped = []
    with client_for(others[0]) as client:
        for msg in client.blocks(frozen_at + 2, during):
            committed = decode_committed_block(msg.committed_block)
            header = committed.header
            if validators.proposer(msg.height, 0) == stopped_key:
                cert = Certificate.decode(committed.certificate)
                assert cert.round >= 1 and header.proposer != stopped_key, (
                    f"height {msg.height}: the stopped proposer's round 0 cannot have committed"
                )
                skipped.append(msg.height)
    assert skipped, "the stopped validator was never the round-0 proposer while stopped"
    wait_for(lambda: (net.heights([victim])[victim.name] or 0) >= during, 60, "the resumed node to catch up")
    net.finish(load)
