"""`cbdc node init`: the files it writes are the files a node uses, and the key it prints is
in the form the rest of the system (genesis, a peer's config.toml) accepts."""

from __future__ import annotations

import re
from pathlib import Path

from node.config import PeerConfig, load_config, write_default_config
from node.ledger.keys import load_key
from tests.cli.helpers import ok


def test_init_writes_only_what_the_node_uses_and_prints_a_key_peers_accept(tmp_path: Path) -> None:
    home = tmp_path / "bank-a"
    out = ok("node", "init", "--home", str(home)).stdout
    # No unused node.key; tls/ holds the identity certificate bound to the validator key, the
    # TLS leaf and its key, and the members bundle.
    assert sorted(p.name for p in home.iterdir()) == ["config.toml", "tls", "validator.key"]
    assert sorted(p.name for p in (home / "tls").iterdir()) == [
        "identity.crt", "members.crt", "node.crt", "node.key"
    ]
    assert "node_key" not in (home / "config.toml").read_text()
    printed = re.search(r"public key:\s+(cbdc1\S+)", out)[1]
    assert printed == load_key(home / "validator.key").address
    # Another validator pastes the printed key into its [[p2p.peers]] as is.
    peer_home = tmp_path / "bank-b"
    write_default_config(peer_home)
    text = (peer_home / "config.toml").read_text()
    (peer_home / "config.toml").write_text(
        text + f'\n[[p2p.peers]]\naddress = "127.0.0.1:26656"\nvalidator_key = "{printed}"\n'
    )
    assert load_config(peer_home).p2p.peers == (
        PeerConfig("127.0.0.1:26656", load_key(home / "validator.key").public),
    )


def test_a_config_written_by_an_earlier_version_with_node_key_still_loads(tmp_path: Path) -> None:
    write_default_config(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text('node_key = "node.key"\n' + config.read_text())
    assert load_config(tmp_path).validator_key == "validator.key"
