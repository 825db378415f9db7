"""[consensus] timeout_commit_ms on real validator processes: after a commit the next height
waits, so transactions arriving meanwhile share one block."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from devnet.height_log import height_phases
from devnet.network import CHAIN_ID
from devnet.traffic import Nonces
from node.client import txbuild
from node.ledger.keys import KeyPair
from proto import node_pb2
from tests.support.network import Net, create_net, start_net, stop_net
from tests.support.waiting import wait_for


def registrations(net: Net, first_nonce: int) -> Callable[[], bytes]:
    """Each call: a new wallet's registration by one institution (a fresh transaction)."""
    institution = net.keys.institutions["shenzhen"]
    nonce = Nonces(first_nonce)

    def register() -> bytes:
        return txbuild.build_register(CHAIN_ID, institution, KeyPair.generate().public, 3, nonce=nonce())

    return register


def pending_everywhere(net: Net) -> list[int]:
    sizes = []
    for i in range(len(net.nodes)):
        with net.client(i) as client:
            sizes.append(client.status().mempool_size)
    return sizes


def test_transactions_arriving_within_timeout_commit_share_one_block(tmp_path: Path) -> None:
    net = start_net(tmp_path, timeout_commit_ms=2000)
    try:
        register = registrations(net, 11)
        with net.client(0) as client:
            first = client.submit_and_wait(register())
            assert first.status == node_pb2.TX_STATUS_COMMITTED
            # The next height is held for 2 s after that commit: these two, 0.3 s apart,
            # go into it together (without the delay the first would start it alone).
            a = client.submit(register())
            time.sleep(0.3)
            b = client.submit(register())
            outcome_a, outcome_b = client.wait(a), client.wait(b)
        assert outcome_a.status == outcome_b.status == node_pb2.TX_STATUS_COMMITTED
        assert outcome_a.inclusion.height == outcome_b.inclusion.height == first.inclusion.height + 1
        # Each validator logged where that height's time went (node.height_clock): the 2 s wait
        # before it; then a vote round, which at least the first to vote had to wait for.
        held = outcome_a.inclusion.height

        def logged_everywhere() -> list[dict[str, float]] | None:
            phases = [height_phases(n.log_path).get(held) for n in net.nodes]
            return phases if all(phases) else None  # type: ignore[return-value]

        logged = wait_for(logged_everywhere, 10, "every validator's commit line for the height")
        assert all(p["wait"] >= 1500 for p in logged)
        assert max(p["prevote"] for p in logged) > 0 and max(p["precommit"] for p in logged) > 0
        # The three that did not propose it timed the proposal's arrival; its proposer did not.
        assert sum(1 for p in logged if p["proposal_at"] is not None) == 3
    finally:
        stop_net(net)


def test_enough_pending_transactions_end_the_wait_after_a_commit(tmp_path: Path) -> None:
    # A wait far longer than the test: only timeout_commit_txs can start these heights.
    net = create_net(tmp_path, timeout_commit_ms=600_000, timeout_commit_txs=3)
    try:
        # Height 1 starts with the nodes; after it, nothing starts for ten minutes but by
        # pending transactions.
        net.start(min_height=1)
        register = registrations(net, 12)
        with net.client(0) as client:
            # Three pending: the next height starts at once.
            first = [client.submit(register()) for _ in range(3)]
            heights = {client.wait(txid).inclusion.height for txid in first}
            assert len(heights) == 1
            (height,) = heights
            # Two pending are not enough: every node holds them, and none starts a height.
            waiting = [client.submit(register()) for _ in range(2)]
            wait_for(lambda: pending_everywhere(net) == [2] * 4, 30, "2 pending on every node")
            assert set(net.heights().values()) == {height}
            assert {client.wait(txid, timeout=0.5).status for txid in waiting} == {node_pb2.TX_STATUS_PENDING}
            # The third ends the wait: all three go into the next block.
            third = client.submit(register())
            outcomes = [client.wait(txid) for txid in [*waiting, third]]
        assert {o.status for o in outcomes} == {node_pb2.TX_STATUS_COMMITTED}
        assert {o.inclusion.height for o in outcomes} == {height + 1}
    finally:
        stop_net(net)
