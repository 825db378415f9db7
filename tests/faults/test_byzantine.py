"""One Byzantine validator of four (`cbdc node start --misbehave MODE`, a test-only mode of the
real node) under payment load: the three honest validators stay safe (one chain, invariants
on every node) and live (they keep committing, including the heights the Byzantine one was
meant to propose), and its double votes end up as evidence on the chain exactly once per
(validator, height) detected, never naming an honest validator."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest

from consensus.messages import VoteType, decode_vote
from devnet.chaos import spawn_node, wait_heights
from devnet.network import client_for
from devnet.processes import stop
from node.ledger.blocks import Certificate, decode_committed_block
from node.service import validator_set
from tests.support.waiting import wait_for

from .harness import FaultNet, log_offset, log_since

BYZANTINE = "chengdu"
_HEIGHTS = 10  # honest heights to commit under each mode (the Byzantine one proposes 2-3 of them)


PAYMENTS = 1500  # pre-signed for the module's devnet (tests/faults/conftest.py)


@pytest.fixture(scope="module")
def net(net: FaultNet) -> FaultNet:
    """The module's devnet (tests/faults/conftest.py), its auditor told who is Byzantine."""
    net.auditor.byzantine.add(net.validator_keys[BYZANTINE])
    return net


def _misbehave(
    net: FaultNet, mode: str, until: Callable[[dict[str, int]], object] | None = None
) -> tuple[int, int, dict[str, int]]:
    """Restart the Byzantine node in `mode` and let the honest ones commit _HEIGHTS heights;
    then restart it honest. Returns (first, last) height decided meanwhile and the log offsets
    of every node from before it misbehaved."""
    byzantine = net.node(BYZANTINE)
    honest = [n for n in net.nodes if n is not byzantine]
    stop([byzantine])
    offsets = {n.name: log_offset(n) for n in net.nodes}
    spawn_node(byzantine, args=("--misbehave", mode))
    wait_for(lambda: net.heights([byzantine])[BYZANTINE] is not None, 60, "the Byzantine node's API")
    first = net.top(honest) + 1
    reached = wait_heights(honest, first + _HEIGHTS, timeout=120)
    assert all(h is not None and h >= first + _HEIGHTS for h in reached.values()), (
        f"honest validators stopped committing under --misbehave {mode}: {reached}"
    )
    if mode != "silent":
        # A restarted node may spend the first heights catching up, voting and proposing
        # nothing: judge the mode only once it has actually misbehaved.
        wait_for(
            lambda: "MISBEHAVE " in log_since(byzantine, offsets[BYZANTINE]),
            120,
            f"--misbehave {mode} to act",
        )
    if until is not None:
        # A misbehaviour the honest validators only see while they decide that height (a
        # double vote arriving after they moved on is just late): keep it going until seen.
        wait_for(lambda: until(offsets), 120, f"the honest validators to notice --misbehave {mode}")
    last = net.top(honest)
    stop([byzantine])
    said = log_since(byzantine, offsets[BYZANTINE])
    assert f"MISBEHAVING ON PURPOSE: --misbehave {mode}" in said
    spawn_node(byzantine)
    return first, last, offsets


def _blocks(net: FaultNet, first: int, last: int):
    with client_for(net.nodes[0], timeout=30) as client:
        for msg in client.blocks(first, last):
            committed = decode_committed_block(msg.committed_block)
            yield msg.height, committed.block, committed.header, Certificate.decode(committed.certificate)


def _proposer_heights(net: FaultNet, first: int, last: int) -> list[int]:
    validators = validator_set(net.genesis())
    key = net.validator_keys[BYZANTINE]
    return [h for h in range(first, last + 1) if validators.proposer(h, 0) == key]


@pytest.mark.parametrize("mode", ["invalid-block", "oversized-proposal", "silent"])
def test_byzantine_proposer_cannot_stall_or_fork(net: FaultNet, mode: str) -> None:
    load = net.load(count=250, per_second=30)
    first, last, offsets = _misbehave(net, mode)
    key = net.validator_keys[BYZANTINE]
    due = _proposer_heights(net, first + 1, last)  # first may have begun before the restart
    assert due, "the Byzantine validator was never due to propose"
    for height, _, header, certificate in _blocks(net, first + 1, last):
        # Nothing it proposed (garbage, or nothing at all) was decided.
        assert header.proposer != key, f"height {height}: a block of the {mode} validator was committed"
        if height in due:
            assert certificate.round >= 1, f"height {height}: its round 0 cannot have decided"
    honest_logs = "".join(log_since(n, offsets[n.name]) for n in net.nodes if n.name != BYZANTINE)
    if mode == "invalid-block":
        assert re.search(r"rejected proposed block \w+: invalid_block: block \d+: state_root", honest_logs), (
            "no honest node rejected the invalid block"
        )
    elif mode == "oversized-proposal":
        assert re.search(r"rejected proposed block \w+: invalid_block: block is \d+ bytes", honest_logs), (
            "no honest node rejected the oversized block"
        )
    else:
        # Silent: none of its precommits is in any certificate of the heights it sat out.
        votes = _certificate_votes(net, first + 1, last)
        assert not [h for (v, h, _, t) in votes if v == key and t == VoteType.PRECOMMIT]
    net.finish(load)


def _certificate_votes(net: FaultNet, first: int, last: int) -> list[tuple[bytes, int, int, int]]:
    votes = []
    for _, _, _, certificate in _blocks(net, first, last):
        for raw in certificate.precommits:
            vote = decode_vote(raw)
            votes.append((vote.validator, vote.height, vote.round, int(vote.type)))
    return votes


_DETECTED = r"msg=\"evidence of double vote\" height=(\d+) round=\d+ validator={key}"


@pytest.mark.parametrize("mode", ["double-vote", "equivocate"])
def test_double_votes_become_evidence_exactly_once(net: FaultNet, mode: str) -> None:
    load = net.load(count=400, per_second=30)
    key = net.validator_keys[BYZANTINE]
    net.auditor.sync()
    earlier = set(net.auditor.evidence_heights(key))  # from a mode tested before this one
    honest = [n for n in net.nodes if n.name != BYZANTINE]

    def detected_since(offsets: dict[str, int]) -> set[int]:
        pattern = _DETECTED.format(key=key.hex())
        return {int(h) for n in honest for h in re.findall(pattern, log_since(n, offsets[n.name]))}

    _, _, offsets = _misbehave(net, mode, until=detected_since)
    injected = {
        int(h)
        for h in re.findall(
            rf"MISBEHAVE {'double-vote' if mode == 'double-vote' else 'equivocate-vote'} height=(\d+)",
            log_since(net.node(BYZANTINE), offsets[BYZANTINE]),
        )
    }
    assert injected, f"--misbehave {mode} injected nothing"

    def detected() -> set[int]:
        return detected_since(offsets)

    assert detected(), f"no honest validator detected a double vote of --misbehave {mode}"

    # Payments keep flowing; the evidence each honest node holds goes into the next blocks.
    def all_committed() -> bool:
        net.auditor.sync(honest)
        return detected() <= set(net.auditor.evidence_heights(key)) - earlier

    wait_for(all_committed, 90, "every detected double vote to be committed as evidence", poll=1.0)
    net.finish(load)  # includes: no evidence twice for one (validator, height), none blames the honest
    committed = [h for h in net.auditor.evidence_heights(key) if h not in earlier]
    seen = detected()
    assert sorted(set(committed)) == committed, f"evidence committed twice: {committed}"
    assert set(committed) == seen, f"committed {committed}, detected {sorted(seen)}"
    assert seen <= injected, f"evidence for heights it did not double-vote at: {sorted(seen - injected)}"
    assert all(e.validator == key for e in net.auditor.evidence)
