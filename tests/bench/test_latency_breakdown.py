"""The load generator's latency breakdown (devnet.latency) on timelines built by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devnet.latency import SeenBlock, Submission, breakdown


def test_a_transaction_left_out_by_its_own_node_and_another_is_counted_in_to_block() -> None:
    # Submitted to node 0 at t=0 (due), called at 0.01, admitted at 0.05; blocks 10 and 11
    # were built after that without it (10 by node 0 itself), block 12 by node 2 took it.
    subs = {b"t": Submission(node=0, due=0.0, called=0.01, answered=0.05)}
    blocks = [
        SeenBlock(height=9, built=0.02, proposer=1, seen=0.03),  # built before it was admitted
        SeenBlock(height=10, built=0.10, proposer=0, seen=0.20),
        SeenBlock(height=11, built=0.30, proposer=3, seen=0.40),
        SeenBlock(height=12, built=0.50, proposer=2, seen=0.75),
    ]
    out = breakdown(subs, {b"t": 12}, blocks)["slowest_1pct"]
    assert out["txs"] == 1
    assert out["latency_ms_median"] == 750.0
    assert out["median_ms"] == {"queued": 10.0, "admission": 40.0, "to_block": 450.0, "finality": 250.0}
    assert out["left_out"] == {"blocks_median": 2, "blocks_max": 2, "by_own_node_median": 1}
    assert out["included_by_own_node_share"] == 0.0


def test_the_tail_is_the_slowest_one_percent_and_uncommitted_transactions_are_left_out() -> None:
    subs = {bytes([i]): Submission(i % 4, due=i / 100, called=i / 100, answered=i / 100) for i in range(200)}
    blocks = [SeenBlock(height=1, built=2.5, proposer=0, seen=3.0)]
    included = {bytes([i]): 1 for i in range(199)}  # the last one never committed
    out = breakdown(subs, included, blocks)
    assert out["all"]["txs"] == 199
    # The earliest submitted waited longest: the slowest 1% are the first two or three.
    assert out["slowest_1pct"]["txs"] in (2, 3)
    assert out["slowest_1pct"]["latency_ms_median"] >= 2980.0
    by_node_0 = sum(1 for i in range(199) if i % 4 == 0)
    assert out["all"]["included_by_own_node_share"] == round(by_node_0 / 199, 3)


def test_nothing_committed_gives_an_empty_breakdown() -> None:
    subs = {b"t": Submission(node=0, due=0.0, called=0.0, answered=0.1)}
    assert breakdown(subs, {}, []) == {}


@given(
    st.lists(
        st.tuples(
            st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.floats(0, 1), st.integers(0, 3)
        ),
        min_size=1,
        max_size=50,
    )
)
def test_the_parts_add_up_to_the_latency(steps: list[tuple[float, float, float, float, int]]) -> None:
    subs, blocks, included = {}, [], {}
    for i, (queued, admission, to_block, finality, node) in enumerate(steps):
        due = float(i)
        called = due + queued
        answered = called + admission
        built = answered + to_block
        txid = i.to_bytes(2, "big")
        subs[txid] = Submission(node, due, called, answered)
        blocks.append(SeenBlock(height=i + 1, built=built, proposer=node, seen=built + finality))
        included[txid] = i + 1
    out = breakdown(subs, included, blocks)
    for group in out.values():
        if group["latency_ms_median"] > 1:
            assert abs(sum(group["share_of_latency"].values()) - 1) <= 0.002  # each rounded to 0.001
        assert group["included_by_own_node_share"] == 1.0
