"""`cbdc testnet`: the keys, genesis and node homes of an N-validator network across hosts.

The anchor is CometBFT's `testnet` command: one directory with a home per validator, peers
filled in, ready to copy to the hosts. Each validator listens on its host's address (or
`--bind`), with the same ports on every host; when one host is given for all validators
(a lab on one machine), each validator's ports step by PORT_STEP instead.

Every secret key ends up in `--out`: for a lab or a pilot's staging network. Real
institutions build their genesis with `cbdc genesis ...`, each creating its own keys.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.common import EXIT_USAGE, fail
from cli.connect import handle_errors, json_option

PORT_STEP = 10


def _hosts(text: tuple[str, ...], validators: int) -> list[str]:
    hosts = [h.strip() for part in text for h in part.split(",") if h.strip()]
    if not hosts:
        fail("--hosts: give one host per validator (comma-separated), or one host for all", EXIT_USAGE)
    for host in hosts:
        if ":" in host or "/" in host or " " in host:
            fail(f"--hosts: {host!r} is not a host name or IPv4 address "
                 "(ports come from --p2p-port/--api-port)", EXIT_USAGE)
    if len(hosts) not in (1, validators):
        fail(f"--hosts: {len(hosts)} hosts for {validators} validators; give one per validator, "
             "or one host for all of them", EXIT_USAGE)
    return hosts * validators if len(hosts) == 1 else hosts


@click.command()
@click.option("--validators", "-v", "count", type=click.IntRange(min=1, max=100), required=True,
              help="How many validators.")
@click.option("--hosts", multiple=True, required=True, metavar="HOST[,HOST...]",
              help="The host of each validator, in order (one host: all on it, ports stepping by 10).")
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Directory to write (must be empty or absent).")
@click.option("--chain-id", default="cbdc-testnet", show_default=True)
@click.option("--p2p-port", type=click.IntRange(1, 65535), default=26656, show_default=True)
@click.option("--api-port", type=click.IntRange(1, 65535), default=26657, show_default=True)
@click.option("--metrics-port", type=click.IntRange(0, 65535), default=26660, show_default=True,
              help="Metrics and /healthz; 0 turns them off.")
@click.option("--bind", default=None, metavar="ADDRESS",
              help="Listen on this address instead of each host's (e.g. 0.0.0.0 behind NAT).")
@click.option("--name-prefix", default="node", show_default=True,
              help="Validators are named PREFIX0, PREFIX1, ...")
@click.option("--insecure", "plaintext", is_flag=True,
              help="Plaintext channels ([tls] insecure = true): never on a real network.")
@json_option
@handle_errors
def testnet(count: int, hosts: tuple[str, ...], out: Path, chain_id: str, p2p_port: int, api_port: int,
            metrics_port: int, bind: str | None, name_prefix: str, plaintext: bool, as_json: bool) -> None:
    """Write N validator homes with genesis, TLS and peers filled in, for a multi-host network.

    Copy nodes/NAME to its host and run `cbdc node start --home nodes/NAME` there."""
    from devnet.homes import Plan, PlannedNode, write_network

    placed = _hosts(hosts, count)
    if out.exists() and any(out.iterdir()):
        fail(f"--out {out}: not empty; testnet never overwrites keys (choose a new directory)", EXIT_USAGE)
    ports = [p for p in (p2p_port, api_port, metrics_port) if p]
    if len(set(ports)) != len(ports):
        fail("--p2p-port, --api-port and --metrics-port must differ", EXIT_USAGE)
    one_host = len(set(placed)) == 1 and count > 1
    nodes = []
    for i, host in enumerate(placed):
        step = PORT_STEP * i if one_host else 0
        listen = bind or host
        nodes.append(PlannedNode(
            name=f"{name_prefix}{i}",
            api=f"{listen}:{api_port + step}",
            peer=f"{host}:{p2p_port + step}",
            peer_listen=f"{listen}:{p2p_port + step}",
            metrics=f"{listen}:{metrics_port + step}" if metrics_port else "",
        ))
    out.mkdir(parents=True, exist_ok=True)
    written = write_network(out, Plan(chain_id=chain_id, nodes=tuple(nodes), tls=not plaintext))
    rows = [
        {
            "name": node.name,
            "host": host,
            "home": str(written.homes[node.name]),
            "peer": node.peer,
            "api": node.api,
            "metrics": node.metrics,
            "validator_key": written.validator_keys[node.name].hex(),
        }
        for node, host in zip(nodes, placed, strict=True)
    ]
    doc = {"chain_id": chain_id, "genesis_hash": written.genesis.hash().hex(), "out": str(out.resolve()),
           "tls": not plaintext, "validators": rows}
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"wrote {count} validator homes for chain {chain_id} in {out}")
    click.echo(f"genesis hash {doc['genesis_hash']}{'' if not plaintext else '  (plaintext: --insecure)'}")
    for row in rows:
        click.echo(f"  {row['name']:<10} peer {row['peer']:<22} api {row['api']:<22} {row['home']}")
    click.echo("next: copy nodes/NAME to its host and run `cbdc node start --home nodes/NAME` there;")
    click.echo("      the keys of the whole network are in this directory: keep it as secret as they are")
