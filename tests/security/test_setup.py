"""What sets security up: `cbdc node init` (TLS material bound to the validator key), the
[tls] and [api] options, auditors in genesis, and the warnings for the insecure modes."""

from __future__ import annotations

import logging
import stat
from pathlib import Path

import pytest

from node.config import ConfigError, load_config, write_default_config
from node.ledger.genesis import Genesis, GenesisError, make_genesis
from node.ledger.keys import KeyPair, load_key, save_key
from node.net.tls import peer_key
from node.service import load_tls
from tests.cli.helpers import assert_error, ok, run


def test_node_init_creates_tls_material_bound_to_the_validator_key(tmp_path: Path) -> None:
    home = tmp_path / "home"
    out = ok("node", "init", "--home", str(home)).stdout
    assert "identity cert" in out and "members.crt" in out
    key = load_key(home / "validator.key")
    tls = home / "tls"
    assert peer_key((tls / "node.crt").read_bytes()) == key.public
    assert stat.S_IMODE((tls / "node.key").stat().st_mode) == 0o600
    assert (tls / "members.crt").read_bytes() == (tls / "identity.crt").read_bytes()
    config = load_config(home)
    assert config.tls.insecure is False and load_tls(config, key.public) is not None
    # --force rewrites the config and keeps keys and certificates.
    before = {p.name: p.read_bytes() for p in tls.iterdir()}
    ok("node", "init", "--home", str(home), "--force")
    assert {p.name: p.read_bytes() for p in tls.iterdir()} == before


def test_tls_and_api_options_render_parse_and_refuse_bad_values(tmp_path: Path) -> None:
    written = write_default_config(tmp_path, tls={"insecure": True}, api={"open_reads": True})
    text = (tmp_path / "config.toml").read_text()
    assert "[tls]" in text and "insecure = true" in text and "open_reads = true" in text
    assert load_config(tmp_path) == written
    with pytest.raises(ConfigError, match=r"tls\.insecure: expected true or false"):
        write_default_config(tmp_path, tls={"insecure": "no"})
    with pytest.raises(ConfigError, match=r"api\.request_window_s: must be at least 1"):
        write_default_config(tmp_path, api={"request_window_s": 0})
    with pytest.raises(ConfigError, match=r"tls\.ca: expected a file path"):
        write_default_config(tmp_path, tls={"ca": ""})


def test_insecure_mode_is_logged_as_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    config = write_default_config(tmp_path, tls={"insecure": True})
    with caplog.at_level(logging.WARNING, logger="cbdc"):
        assert load_tls(config, KeyPair.generate().public) is None
    assert any("tls.insecure = true" in r.getMessage() for r in caplog.records)


def test_a_node_without_its_tls_files_refuses_to_start_with_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok("node", "init", "--home", str(home))
    validator = load_key(home / "validator.key")
    make_genesis(issuers=[KeyPair.generate()], validators=[validator]).save(home / "genesis.json")
    (home / "tls" / "node.key").unlink()
    assert_error(run("node", "start", "--home", str(home)), 1, "node.key does not exist", "cbdc node init",
                 log_lines=True)


def test_genesis_auditors_round_trip_and_leave_other_chains_hashes_alone() -> None:
    issuers = [KeyPair.generate() for _ in range(3)]
    bank, auditor = KeyPair.generate(), KeyPair.generate()
    plain = make_genesis(issuers=issuers, institutions=[bank])
    assert "auditors" not in plain.to_dict()
    with_auditor = make_genesis(issuers=issuers, institutions=[bank], auditors=[auditor])
    assert Genesis.from_dict(with_auditor.to_dict()) == with_auditor
    assert with_auditor.auditors == (auditor.public,)
    assert with_auditor.hash() != plain.hash()
    assert Genesis.from_dict(plain.to_dict()).hash() == plain.hash()
    doc = with_auditor.to_dict()
    doc["auditors"] = [doc["auditors"][0], doc["auditors"][0]]
    with pytest.raises(GenesisError, match=r"auditors\[1\]: is listed twice"):
        Genesis.from_dict(doc)
    doc["auditors"] = ["cbdc1notakey"]
    with pytest.raises(GenesisError, match=r"auditors\[0\]"):
        Genesis.from_dict(doc)


def test_node_tls_renews_the_leaf_and_binds_a_rotated_key_leaving_config_alone(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ok("node", "init", "--home", str(home))
    tls = home / "tls"
    config_before = (home / "config.toml").read_text()
    identity, leaf = (tls / "identity.crt").read_bytes(), (tls / "node.crt").read_bytes()
    old = load_key(home / "validator.key")
    # Renewal: the same identity, a new leaf still bound to the same key.
    out = ok("node", "tls", "--home", str(home)).stdout
    assert "node.crt" in out and "new identity" not in out
    assert (tls / "identity.crt").read_bytes() == identity and (tls / "node.crt").read_bytes() != leaf
    assert peer_key((tls / "node.crt").read_bytes()) == old.public
    # Rotation: the new key's identity, its leaf, and the bundle holding both identities.
    new = KeyPair.generate()
    save_key(tmp_path / "new.key", new)
    out = ok("node", "tls", "--home", str(home), "--key", str(tmp_path / "new.key")).stdout
    assert "new identity" in out
    assert peer_key((tls / "node.crt").read_bytes()) == new.public
    members = (tls / "members.crt").read_bytes()
    assert identity.strip() in members and (tls / "identity.crt").read_bytes().strip() in members
    assert (home / "config.toml").read_text() == config_before
    # A node started with the new key accepts its own TLS files (the binding check).
    assert load_tls(load_config(home), new.public) is not None
    (tmp_path / "empty").mkdir()
    assert_error(run("node", "tls", "--home", str(tmp_path / "empty")), 2, "config.toml")
