"""[consensus] timeout_commit_ms on real validator processes: after a commit the next height
waits, so transactions arriving meanwhile share one block."""

from __future__ import annotations

import time
from pathlib import Path

from devnet.network import CHAIN_ID
from devnet.traffic import Nonces
from node.client import txbuild
from node.ledger.keys import KeyPair
from proto import node_pb2
from tests.support.network import start_net, stop_net


def test_transactions_arriving_within_timeout_commit_share_one_block(tmp_path: Path) -> None:
    net = start_net(tmp_path, timeout_commit_ms=2000)
    try:
        institution = net.keys.institutions["shenzhen"]
        nonce = Nonces(11)

        def register() -> bytes:
            wallet = KeyPair.generate().public
            return txbuild.build_register(CHAIN_ID, institution, wallet, 3, nonce=nonce())

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
    finally:
        stop_net(net)
