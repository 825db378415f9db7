"""Two validators that cannot hear each other, on four real validator processes.

Neither lists the other in [[p2p.peers]], so the handshake refuses them both ways (as
during a rolling key rotation, or behind a firewall rule). With all four up, each still
hears a quorum directly. Then a third validator stops: the three left hold 30 of 40 power,
but the two at the cut hear only 20 each directly. Each announces whom it cannot hear
(StatusAnnouncement.unheard), the validator linked to both passes their votes and
proposals on (node/net/pass_on.py), and the chain goes on: heights are decided and
transactions commit. Without the passing on, the simulator shows these stalls
(tests/consensus/test_consensus_simulation.py, the test of the test).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from devnet.network import CHAIN_ID
from devnet.processes import is_running, stop
from devnet.traffic import YUAN, Nonces
from node.client import txbuild
from node.config import load_config
from proto import node_pb2
from tests.support.network import Net, assert_same_chain, create_net, reconfigure, stop_net
from tests.support.waiting import wait_for


@pytest.fixture(scope="module")
def net(tmp_path_factory) -> Net:
    net = create_net(tmp_path_factory.mktemp("mesh"))
    a, b = net.nodes[0], net.nodes[1]
    keys = {node.name: net.validator_key(node).public for node in (a, b)}
    for node, other in ((a, b), (b, a)):
        peers = load_config(Path(node.home)).p2p.peers
        kept = tuple(p for p in peers if p.validator_key != keys[other.name])
        assert len(kept) == len(peers) - 1
        reconfigure(Path(node.home), {"p2p": {"peers": kept}})
    net.start()
    yield net
    stop_net(net)


def test_two_validators_that_cannot_hear_each_other_decide_through_a_third(net: Net) -> None:
    a, b, c, d = net.nodes
    b_key = net.validator_key(b).public
    net.wait_height(net.top() + 2)
    stop([d])
    wait_for(lambda: not is_running(d), 30, f"{d.name} stopped")
    live = [a, b, c]
    start = net.top(live)
    net.wait_height(start + 5, live, timeout=90)

    # Without passing on, no height could be decided now: c would see a quorum of
    # prevotes, a and b never (the simulator's test of the test shows the stall).
    with net.client(0, timeout=30) as at_a:
        issue = txbuild.build_issue(CHAIN_ID, [(k.public, YUAN) for k in net.keys.institutions.values()],
                                    net.keys.issuers[:2], nonce=Nonces(41)())
        outcome = at_a.submit_and_wait(issue, timeout=60)
        assert outcome.status == node_pb2.TX_STATUS_COMMITTED, outcome
    a_log = a.log_path.read_text()
    assert "inbound stream up" in a_log
    assert not [line for line in a_log.splitlines() if "stream up" in line and b_key.hex() in line]

    net.restart(d)
    net.wait_height(net.top(live) + 2)
    assert assert_same_chain(net) >= start + 5
