"""The load generator's latency breakdown (devnet.latency) on timelines built by hand."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from devnet.height_log import height_phases
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


def test_each_group_gets_the_logged_phases_of_the_heights_that_carried_it_and_of_those_before() -> None:
    subs = {b"a": Submission(0, 0.0, 0.0, 0.01), b"b": Submission(1, 0.0, 0.0, 0.01)}
    blocks = [SeenBlock(5, 0.1, 0, 0.2), SeenBlock(6, 0.3, 1, 1.5)]
    phases = {
        4: dict.fromkeys(("wait", "propose", "prevote", "precommit", "commit", "execute"), 1),
        5: {"wait": 100, "propose": 40, "prevote": 5, "precommit": 5, "commit": 10, "execute": 30},
        6: {"wait": 100, "propose": 900, "prevote": 5, "precommit": 5, "commit": 10, "execute": 850},
    }
    out = breakdown(subs, {b"a": 5, b"b": 6}, blocks, phases)
    tail = out["slowest_1pct"]  # b: its height 6 spent 900 ms proposing, 850 of them executing
    assert tail["heights"] == 1
    assert tail["height_phases_ms_median"]["propose"] == 900
    assert tail["previous_height_phases_ms_median"]["execute"] == 30
    assert out["all"]["heights"] == 2 and out["all"]["height_phases_ms_median"]["propose"] == 470


def test_height_phases_are_read_back_from_logfmt_and_json_logs(tmp_path) -> None:
    log = tmp_path / "node.log"
    log.write_text(
        "ts=2026-11-30T16:37:15.603Z level=info logger=cbdc.node msg=\"node started\" height=1\n"
        "ts=2026-11-30T16:37:15.781Z level=info logger=cbdc.consensus msg=committed height=991 round=0 "
        "txs=141 hash=6d69372610fddfee wait_ms=100 propose_ms=52 prevote_ms=9 precommit_ms=11 "
        "commit_ms=14 execute_ms=31\n"
        '{"ts":"x","level":"info","logger":"cbdc.consensus","msg":"committed","height":992,"round":1,'
        '"txs":3,"hash":"ab","wait_ms":0,"propose_ms":1200,"prevote_ms":3,"precommit_ms":4,'
        '"commit_ms":5,"execute_ms":6,"proposal_at_ms":12.5}\n'
        "ts=2026-11-30T16:37:16.000Z level=info logger=cbdc.consensus msg=committed height=993 round=0 "
        "txs=1 hash=cd\n"  # a node from before phases were logged: skipped
    )
    phases = height_phases(log)
    assert set(phases) == {991, 992}
    assert phases[991] == dict(
        wait=100, propose=52, prevote=9, precommit=11, commit=14, execute=31, proposal_at=None
    )
    assert phases[992]["propose"] == 1200 and phases[992]["proposal_at"] == 12.5
    assert height_phases(tmp_path / "missing.log") == {}
