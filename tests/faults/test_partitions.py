"""Network partitions and bad links between real validator processes, under payment load.

Every validator dials each peer through a TCP proxy of its own on 127.0.0.1 (devnet.proxy;
the workplace allows loopback only, so no network namespaces): the test cuts, delays and
resets those links. Each test ends with the invariants on every node (FaultNet.finish)."""

from __future__ import annotations

import time
from collections.abc import Iterable

from devnet import network
from devnet.chaos import spawn_node, wait_heights
from devnet.network import CHAIN_ID, client_for
from devnet.processes import NodeRecord, stop
from devnet.traffic import YUAN, Nonces, fund, issue_to_institutions, register_wallets
from node.client import txbuild
from node.testing.faults import DEAF_ENV
from proto import node_pb2
from tests.support.waiting import wait_for

from .harness import (
    FaultNet,
    heights_logged,
    log_offset,
    log_since,
)

PAYMENTS = 900  # pre-signed for the module's devnet (tests/faults/conftest.py)


def _settled(net: FaultNet, quiet_s: float, timeout: float) -> dict[str, int | None]:
    """Heights once they stop changing for `quiet_s` (a halted network)."""
    deadline = time.monotonic() + timeout
    last = net.heights()
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = net.heights()
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            return now
    raise AssertionError(f"heights kept changing: {last}")


def _hears_only(net: FaultNet, groups: list[list[str]]) -> bool:
    """Every node's streams are up to the peers of its own group and down to all others."""
    for group in groups:
        own = {net.validator_keys[name] for name in group}
        for name in group:
            with client_for(net.node(name), timeout=5) as client:
                peers = client.status().peers
            if any((p.outbound or p.inbound) != (p.public_key in own) for p in peers):
                return False
    return True


def test_two_two_split_halts_without_forking_and_heals(net: FaultNet) -> None:
    load = net.load(count=250, per_second=30)
    wait_for(lambda: net.top() >= 2, 30, "blocks before the split")
    a, b = ["shenzhen", "suzhou"], ["xiongan", "chengdu"]
    net.proxies.partition(a, b)
    try:
        halted = _settled(net, quiet_s=2.0, timeout=30)
        # Neither half holds > 2/3 of the power: nothing may be committed, however long. A
        # round without 2/3 of any votes sets no timeout, so a halted half has nothing in
        # progress that waiting longer would let finish; what must be sure is that the cut
        # reached every node: each hears its own half and nobody else, and is still halted.
        wait_for(lambda: _hears_only(net, [a, b]), 30, "every node to hear only its own half")
        assert net.heights() == halted, "a half without a quorum committed a block"
        net.auditor.sync()
        assert not net.auditor.violations, net.auditor.violations
    finally:
        net.proxies.heal()
    top = max(h or 0 for h in halted.values())
    reached = wait_heights(net.nodes, top + 2, timeout=90)
    assert all(h is not None and h >= top + 2 for h in reached.values()), f"no progress after heal: {reached}"
    net.finish(load)


def test_one_three_split_majority_continues_minority_catches_up(net: FaultNet) -> None:
    load = net.load(count=250, per_second=30)
    lone = net.node("chengdu")
    majority = [n for n in net.nodes if n is not lone]
    wait_for(lambda: net.top() >= 1, 30, "a block")
    net.proxies.partition([lone.name], [n.name for n in majority])
    try:
        cut_at = net.top()
        reached = wait_heights(majority, cut_at + 4, timeout=60)
        assert all(h is not None and h >= cut_at + 4 for h in reached.values()), (
            f"the majority (3 of 4) stopped committing: {reached}"
        )
        # Alone it cannot decide anything beyond what was in flight when the link went down.
        assert (net.heights([lone])[lone.name] or 0) <= cut_at + 1
    finally:
        net.proxies.heal()
    top = net.top(majority)
    wait_for(lambda: (net.heights([lone])[lone.name] or 0) >= top, 60, "the healed minority to catch up")
    net.finish(load)


def test_delay_jitter_and_connection_loss_still_commit(net: FaultNet) -> None:
    load = net.load(count=250, per_second=30)
    start = net.top()
    # 20-60 ms per hop, reordered across links by the jitter, and about one connection in a
    # few hundred chunks reset (TCP has no message loss; a lost connection is what it has).
    net.proxies.degrade(delay_s=0.02, jitter_s=0.04, reset_probability=0.003)
    try:
        reached = wait_heights(net.nodes, start + 6, timeout=120)
        assert all(h is not None and h >= start + 6 for h in reached.values()), f"stalled: {reached}"
    finally:
        net.proxies.heal()
    assert net.proxies.stats()["bytes_forwarded"] > 0
    net.finish(load)


def _restart(node: NodeRecord, deaf_heights: Iterable[int] = ()) -> None:
    """Stop `node` (it must stop by itself) and start it again, deaf to `deaf_heights`."""
    assert not stop([node], timeout=30), f"{node.name} did not stop by itself"
    heights = ",".join(map(str, deaf_heights))
    spawn_node(node, env={DEAF_ENV: heights} if heights else None)


def test_a_validator_that_missed_heights_catches_up_by_pushed_commits_not_block_sync(
    net: FaultNet,
) -> None:
    """A validator deaf to two heights' proposals and votes (as behind a lossy link) cannot
    decide them by consensus. Peers that see its announced tip lag theirs push it each
    committed block with its certificate (node.net.commit_push); block sync, which pauses consensus
    and waits out a grace period for lags this small, must not be needed."""
    lone = net.node("xiongan")
    deaf = [net.top() + 3, net.top() + 4]
    offset = log_offset(lone)
    _restart(lone, deaf)
    load = net.load(count=60, per_second=10)
    wait_for(
        lambda: (net.heights([lone])[lone.name] or 0) > deaf[1],
        60,
        "the deaf validator to pass its deaf heights",
    )
    net.finish(load)
    text = log_since(lone, offset)
    assert "synced heights" not in text, "caught up through block sync, not pushed commits"
    pushed = heights_logged(text, r"height=(\d+): a peer pushed its committed block")
    assert set(deaf) <= set(pushed), (deaf, pushed)
    _restart(lone)  # back to a normal validator for the tests after this one


def test_spending_a_just_committed_output_on_a_validator_still_behind_waits_for_it(net: FaultNet) -> None:
    """A client told "committed" by one node spends the new output on another that has not
    committed that block yet (here: deaf to those heights, so it needs pushed commits). The
    lagging node knows its peers are ahead and judges the spend once it has caught up,
    instead of refusing it as spending an unknown output."""
    keys = network.load_keys(net.directory)
    nonce = Nonces(424242)
    with client_for(net.node("shenzhen")) as client:
        issued = issue_to_institutions(client, keys, 100_000 * YUAN, nonce)
        bank = keys.institutions["shenzhen"]
        alice, bob = register_wallets(client, bank, [1, 1], nonce)
    lone = net.node("xiongan")
    first = net.top() + 2
    _restart(lone, range(first, first + 6))
    wait_for(lambda: (net.heights([lone])[lone.name] or 0) >= first - 1, 60, "the restarted validator")
    with client_for(net.node("shenzhen")) as client:
        fund(client, bank, (issued["shenzhen"], 100_000 * YUAN), [(alice, 1_000 * YUAN)], nonce)
        funded_at = client.status().height
    (coin, value) = alice.coins[0]
    spend = txbuild.build_transfer(
        CHAIN_ID, alice.key, [coin], [(bob.key.public, 10 * YUAN), (alice.key.public, value - 10 * YUAN)]
    )
    with client_for(lone) as client:
        status = client.status()
        if status.height < funded_at:  # it has not caught up yet: the case under test
            wait_for(lambda: any(p.height >= funded_at for p in client.status().peers), 10, "a peer's status")
        outcome = client.submit_and_wait(spend)  # raises Rejected (unknown_input) without the wait
    assert outcome.status == node_pb2.TX_STATUS_COMMITTED
    _restart(lone)
