"""The node config file: commented defaults that load back equal, and errors that name the key."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest

from consensus.messages import Step
from node.config import (
    CONFIG_FILE,
    ApiConfig,
    ConfigError,
    NodeConfig,
    PeerConfig,
    load_config,
    render_config,
    write_default_config,
)


def test_the_written_default_loads_back_as_the_defaults(tmp_path: Path) -> None:
    written = write_default_config(tmp_path)
    assert written == NodeConfig(home=tmp_path)
    assert load_config(tmp_path) == NodeConfig(home=tmp_path)
    text = (tmp_path / CONFIG_FILE).read_text()
    # Every option is in the file, with a comment above it.
    raw = tomllib.loads(text)
    for f in dataclasses.fields(NodeConfig):
        if f.name == "home":
            continue
        section = getattr(written, f.name)
        if dataclasses.is_dataclass(section):
            names = {sf.name for sf in dataclasses.fields(section)} - {"peers"}
            assert set(raw[f.name]) == names
        else:
            assert f.name in raw
    lines = text.splitlines()
    for i, line in enumerate(lines):
        if " = " in line and not line.startswith("#") and not lines[i - 1].startswith("["):
            assert lines[i - 1].startswith("#"), f"no comment above {line!r}"
    assert 'listen = "127.0.0.1:26656"' in text and 'listen = "127.0.0.1:26657"' in text
    assert "create_empty_blocks = false" in text and 'address = ""' in text


def test_overrides_round_trip_including_peers_and_awkward_strings(tmp_path: Path) -> None:
    peers = [PeerConfig("127.0.0.1:26666", bytes(range(32))), PeerConfig("[::1]:26676", bytes(32 * [7]))]
    written = write_default_config(
        tmp_path,
        genesis='../shared dir/"genesis"\\v1\t.json',
        p2p={"listen": "127.0.0.1:0", "peers": peers},
        api=ApiConfig(listen="127.0.0.1:0"),
        consensus={"create_empty_blocks": True, "timeout_propose_ms": 250},
        log={"format": "json", "level": "debug"},
        metrics={"address": "127.0.0.1:0"},
    )
    loaded = load_config(tmp_path)
    assert loaded == written
    assert loaded.p2p.peers == tuple(peers)
    assert loaded.genesis_path == tmp_path / '../shared dir/"genesis"\\v1\t.json'
    assert loaded.consensus.machine_config().timeout_ms(Step.PROPOSE, 2) == 250 + 2 * 500
    assert render_config(loaded) == (tmp_path / CONFIG_FILE).read_text()


def test_missing_keys_take_their_defaults(tmp_path: Path) -> None:
    (tmp_path / CONFIG_FILE).write_text('[mempool]\nmax_txs = 10\n')
    config = load_config(tmp_path)
    assert config.mempool.max_txs == 10
    assert dataclasses.replace(config, mempool=NodeConfig(home=tmp_path).mempool) == NodeConfig(home=tmp_path)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("genesis = 5\n", "genesis: expected a string, got 5 (int)"),
        ("[p2p]\nlisten = \"localhost\"\n", "p2p.listen: expected host:port"),
        ("[p2p]\nlisen = \"127.0.0.1:1\"\n", "p2p.lisen: unknown option"),
        ("[p2p]\nsend_queue_size = 0\n", "p2p.send_queue_size: must be at least 1, got 0"),
        ("[p2p]\nreconnect_min_ms = 500\nreconnect_max_ms = 100\n", "p2p.reconnect_max_ms: 100 is below"),
        ("[p2p]\n[[p2p.peers]]\naddress = \"127.0.0.1:1\"\n", "p2p.peers[0].validator_key: missing"),
        (
            "[p2p]\n[[p2p.peers]]\naddress = \"127.0.0.1:1\"\nvalidator_key = \"abcd\"\n",
            "p2p.peers[0].validator_key: expected 64 hex digits",
        ),
        (
            f"[p2p]\n[[p2p.peers]]\naddress = \"127.0.0.1:0\"\nvalidator_key = \"{'11' * 32}\"\n",
            "p2p.peers[0].address: port 0 cannot be dialled",
        ),
        (
            f"[[p2p.peers]]\naddress = \"h:1\"\nvalidator_key = \"{'11' * 32}\"\n"
            f"[[p2p.peers]]\naddress = \"h:2\"\nvalidator_key = \"{'11' * 32}\"\n",
            "p2p.peers[1].validator_key: 1111",
        ),
        ("[consensus]\ncreate_empty_blocks = 1\n", "consensus.create_empty_blocks: expected true or false"),
        ("[mempool]\nmax_bytes = true\n", "mempool.max_bytes: expected an integer, got True (bool)"),
        ("[block]\nmax_bytes = 33554432\n", "block.max_bytes: 33554432 does not fit in one gRPC message"),
        ("[log]\nformat = \"xml\"\n", "log.format: must be one of text, json, got 'xml'"),
        ("[metrics]\naddress = \"9090\"\n", "metrics.address: expected host:port"),
        ("[log]\nmodules = \"peers\"\n", "log.modules: 'peers' is not MODULE=LEVEL"),
        ("[log]\nmodules = \"peers=loud\"\n", "log.modules: unknown log level 'loud'"),
        (
            "[p2p]\n[[p2p.peers]]\naddress = \"127.0.0.1:1\"\nvalidator_key = \"cbdc1qqqq\"\n",
            "p2p.peers[0].validator_key: 'cbdc1qqqq' is not a valid cbdc1 key",
        ),
        ("mempool = 3\n", "mempool: expected a [mempool] table"),
        ("[p2p\n", "not valid TOML"),
    ],
)
def test_errors_name_the_key_that_is_wrong(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / CONFIG_FILE).write_text(text)
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert message in str(err.value)
    assert str(err.value).startswith(str(tmp_path / CONFIG_FILE))


def test_a_missing_file_says_how_to_make_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cbdc node init --home"):
        load_config(tmp_path / "nowhere")


def test_bad_overrides_are_refused_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown config option 'p2pp'"):
        write_default_config(tmp_path, p2pp={})
    with pytest.raises(ConfigError, match=r"log\.level: must be one of"):
        write_default_config(tmp_path, log={"level": "loud"})
    with pytest.raises(ConfigError, match=r"p2p\.no_such_key: unknown option"):
        write_default_config(tmp_path, p2p={"no_such_key": 1})
    assert not (tmp_path / CONFIG_FILE).exists()


def test_a_peer_key_may_be_written_in_its_cbdc1_form(tmp_path: Path) -> None:
    """`cbdc node init` prints a validator's key as cbdc1...; genesis.json holds that form too."""
    from node.ledger.address import encode_address

    key = bytes(range(32))
    (tmp_path / CONFIG_FILE).write_text(
        f'[[p2p.peers]]\naddress = "127.0.0.1:26656"\nvalidator_key = "{encode_address(key)}"\n'
        f'[[p2p.peers]]\naddress = "127.0.0.1:26666"\nvalidator_key = "{bytes(32).hex()}"\n'
    )
    peers = load_config(tmp_path).p2p.peers
    assert [p.validator_key for p in peers] == [key, bytes(32)]
