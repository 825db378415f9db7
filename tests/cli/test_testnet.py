"""`cbdc testnet`: N homes for N hosts that, started as written, make one chain over TLS.

The hosts are four loopback addresses (127.0.0.2-5): each validator binds its own host's
address with the same ports as the others, as it would on four machines."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devnet import network
from devnet.processes import DevnetRecord, NodeRecord, free_ports, stop
from node.config import load_config
from node.ledger.address import encode_address
from tests.cli.helpers import assert_error, ok_json, run

HOSTS = ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5")
USAGE = 2


def _ports(count: int = 3) -> list[str]:
    return [str(p) for p in free_ports(count)]


def test_four_hosts_make_one_chain_over_tls(tmp_path: Path) -> None:
    out = tmp_path / "net"
    p2p, api, metrics = _ports()
    doc = ok_json("testnet", "--validators", "4", "--hosts", ",".join(HOSTS), "--out", str(out),
                  "--p2p-port", p2p, "--api-port", api, "--metrics-port", metrics)
    assert doc["tls"] is True and len(doc["validators"]) == 4
    genesis = json.loads((out / "genesis.json").read_text())
    assert [v["name"] for v in genesis["validators"]] == ["node0", "node1", "node2", "node3"]
    for row, host in zip(doc["validators"], HOSTS, strict=True):
        assert row["peer"] == f"{host}:{p2p}" and row["api"] == f"{host}:{api}"
        config = load_config(row["home"])
        # Each home dials the three other hosts, each by its validator key.
        assert sorted(p.address for p in config.p2p.peers) == sorted(f"{h}:{p2p}" for h in HOSTS if h != host)
        assert {p.validator_key.hex() for p in config.p2p.peers} == {
            r["validator_key"] for r in doc["validators"] if r["name"] != row["name"]
        }
        assert not config.tls.insecure
        assert (Path(row["home"]) / "genesis.json").read_text() == (out / "genesis.json").read_text()
    assert [v["public_key"] for v in genesis["validators"]] == [
        encode_address(bytes.fromhex(r["validator_key"])) for r in doc["validators"]
    ]

    record = DevnetRecord(
        chain_id=doc["chain_id"],
        nodes=[NodeRecord(r["name"], "validator", r["home"], r["api"], r["peer"]) for r in doc["validators"]],
    )
    try:
        network.start(out, record, wait_s=90)
        clients = [network.client_for(n) for n in record.nodes]
        try:
            common = min(c.status().height for c in clients)
            assert common >= 1
            hashes = {bytes(next(iter(c.blocks(common, common))).block_hash) for c in clients}
            assert len(hashes) == 1, f"the four hosts disagree at height {common}"
            # The chain is the one the written genesis describes.
            assert clients[0].status().chain_id == doc["chain_id"]
        finally:
            for c in clients:
                c.close()
    finally:
        stop(record.nodes)


def test_one_host_for_all_steps_the_ports(tmp_path: Path) -> None:
    p2p, api = _ports(2)
    doc = ok_json("testnet", "-v", "3", "--hosts", "127.0.0.1", "--out", str(tmp_path / "n"), "--insecure",
                  "--p2p-port", p2p, "--api-port", api, "--metrics-port", "0")
    assert [r["peer"] for r in doc["validators"]] == [f"127.0.0.1:{int(p2p) + 10 * i}" for i in range(3)]
    assert [r["api"] for r in doc["validators"]] == [f"127.0.0.1:{int(api) + 10 * i}" for i in range(3)]
    assert all(r["metrics"] == "" for r in doc["validators"])
    assert load_config(doc["validators"][0]["home"]).tls.insecure


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (("--hosts", "127.0.0.2,127.0.0.3"), ("2 hosts for 4 validators",)),
        (("--hosts", "127.0.0.2:26656"), ("not a host name",)),
        (("--hosts", "127.0.0.1", "--api-port", "26656"), ("must differ",)),
    ],
)
def test_bad_plans_are_refused_before_anything_is_written(tmp_path: Path, args: tuple[str, ...],
                                                          needles: tuple[str, ...]) -> None:
    out = tmp_path / "n"
    assert_error(run("testnet", "-v", "4", "--out", str(out), *args), USAGE, "--", *needles)
    assert not out.exists()


def test_an_existing_network_is_never_overwritten(tmp_path: Path) -> None:
    out = tmp_path / "n"
    ok_json("testnet", "-v", "1", "--hosts", "127.0.0.1", "--out", str(out), "--insecure")
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert_error(run("testnet", "-v", "1", "--hosts", "127.0.0.1", "--out", str(out)), USAGE, "not empty")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
