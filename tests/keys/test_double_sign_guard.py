"""A validator restored without its sign-state, on real processes: it watches
`double_sign_check_height` heights decided without it before it signs again, so it never
signs a second message where its key may already have signed; then it signs again.

The restored validator also keeps its key encrypted at rest and gets the passphrase from
the environment, as a service would."""

from __future__ import annotations

import re
from pathlib import Path

from devnet.processes import spawn, stop
from node.client.connection import NodeClient
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.keys import ENV_PASSPHRASE, save_key
from tests.faults.harness import log_offset, log_since
from tests.support.network import start_net, stop_net
from tests.support.waiting import wait_for

CHECK_HEIGHTS = 3


def _signers(client: NodeClient, first: int, last: int) -> dict[int, tuple[bytes, ...]]:
    return {
        decode_committed_block(m.committed_block).height: Certificate.decode(
            decode_committed_block(m.committed_block).certificate
        ).signers
        for m in client.blocks(first, last)
    }


def test_a_validator_restored_without_its_sign_state_watches_before_it_signs(tmp_path: Path) -> None:
    net = start_net(tmp_path, config=lambda i: {"consensus": {"double_sign_check_height": CHECK_HEIGHTS}})
    try:
        victim, witness = net.nodes[1], net.nodes[0]
        victim_key = net.validator_key(victim)
        net.wait_height(3)
        stop([victim])
        home = Path(victim.home)
        (home / "data" / "sign_state.bin").unlink()  # restored from a backup without it
        save_key(home / "validator.key", victim_key, overwrite=True, passphrase=b"s3cret")
        stopped_at = net.top()
        offset = log_offset(victim)
        spawn(victim, env={ENV_PASSPHRASE: "s3cret"})

        released = wait_for(
            lambda: re.search(r"double-sign guard released: .* up to (\d+)", log_since(victim, offset)),
            120,
            "the restored validator to watch its heights and release the guard",
        )
        text = log_since(victim, offset)
        assert "double-sign guard: no sign-state beside a block store" in text
        watched = [int(h) for h in re.findall(r"height (\d+) decided without this validator", text)]
        release_height = int(released.group(1))
        assert len(watched) == CHECK_HEIGHTS - 1 and watched == sorted(watched)
        assert release_height > watched[-1]

        # It signs again: a later certificate carries its precommit (wait for the evidence).
        client = NodeClient(witness.api, timeout=30)
        try:
            def signs_again() -> int | None:
                top = client.status().height
                if top <= release_height:
                    return None
                later = _signers(client, release_height + 1, top)
                return next((h for h, s in sorted(later.items()) if victim_key.public in s), None)

            first_signed = wait_for(signs_again, 90, "the restored validator to sign again")
            # From its shutdown to its release it signed nothing: no certificate carries its key.
            guarded = _signers(client, stopped_at + 1, release_height)
            assert guarded and all(victim_key.public not in s for s in guarded.values()), guarded
            assert first_signed > release_height
        finally:
            client.close()

        # Nobody saw it sign twice.
        for node in net.nodes:
            assert "evidence of double vote" not in log_since(node, 0), node.name
    finally:
        stop_net(net)
