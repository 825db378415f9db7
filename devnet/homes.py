"""Writing a network's keys, genesis and node homes: what the local devnet and `cbdc testnet`
share.

A `Plan` says where each validator listens; `write_network` writes, under one directory:

    genesis.json                 the chain (also copied into every node home)
    central-bank/issuer-N.key    the central bank's issuer keys (m-of-n issuance and authority)
    central-bank/auditor.key     an auditor key named in genesis: it reads everything
    institutions/<name>.key      one pilot institution per validator
    nodes/<name>/                one validator home each (config.toml, validator.key,
                                 genesis.json, tls/)
    tls/members.crt              the members bundle (every validator's identity certificate):
                                 the CA clients check the nodes against

Every secret key of the network is in this one directory. That is what a lab, a devnet or a
test needs; a consortium of real institutions builds its genesis with `cbdc genesis ...`
instead, each institution creating its own keys on its own machine (README, the ceremony).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from node.config import PeerConfig, write_default_config
from node.ledger.genesis import Genesis, Institution, Validator, make_genesis
from node.ledger.keys import KeyPair, save_key
from node.net.tls import IDENTITY_FILE, MEMBERS_FILE, init_node_tls

AUDITOR_KEY = Path("central-bank") / "auditor.key"
ISSUERS = 3
ISSUE_THRESHOLD = 2


@dataclass(frozen=True)
class PlannedNode:
    """One validator: its name and where it listens (host:port each). `peer` is where the
    others dial it; `peer_listen`, when set, is what it binds instead (e.g. 0.0.0.0:26656
    behind NAT)."""

    name: str
    api: str
    peer: str
    metrics: str = ""
    peer_listen: str = ""


@dataclass(frozen=True)
class Plan:
    """A network to write. `consensus` and `p2p` are config.toml overrides for every home."""

    chain_id: str
    nodes: tuple[PlannedNode, ...]
    tls: bool = True
    open_reads: bool = False
    consensus: dict[str, Any] = field(default_factory=dict)
    p2p: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Written:
    """What write_network made: the genesis and each node's home, by name."""

    genesis: Genesis
    homes: dict[str, Path]
    validator_keys: dict[str, bytes]


def write_network(directory: Path, plan: Plan) -> Written:
    """Generate every key and write genesis and one home per planned node under `directory`.

    With `plan.tls` every channel is TLS: each home gets its certificates (node.net.tls) and
    the members bundle of all validators; otherwise `[tls] insecure = true`. `open_reads`
    lets anyone read everything on the API; otherwise the auditor key does."""
    names = [n.name for n in plan.nodes]
    if not names:
        raise ValueError("a network needs at least one validator")
    if len(set(names)) != len(names):
        raise ValueError("validator names must differ")
    (directory / "central-bank").mkdir(parents=True, exist_ok=True)
    (directory / "institutions").mkdir(parents=True, exist_ok=True)
    issuers = [KeyPair.generate() for _ in range(ISSUERS)]
    for n, key in enumerate(issuers, 1):
        save_key(directory / "central-bank" / f"issuer-{n}.key", key)
    institutions = {name: KeyPair.generate() for name in names}
    for name, key in institutions.items():
        save_key(directory / "institutions" / f"{name}.key", key)
    node_keys = {name: KeyPair.generate() for name in names}
    auditor = KeyPair.generate()
    save_key(directory / AUDITOR_KEY, auditor)
    genesis = make_genesis(
        chain_id=plan.chain_id,
        genesis_time_ms=int(time.time() * 1000),
        issuers=issuers,
        issue_threshold=ISSUE_THRESHOLD,
        institutions=[
            Institution(f"pilot-{name}", f"Pilot bank {name.capitalize()}", institutions[name].public)
            for name in names
        ],
        validators=[Validator(name, node_keys[name].public, 10) for name in names],
        auditors=[auditor],
    )
    genesis_text = json.dumps(genesis.to_dict(), indent=2) + "\n"
    (directory / "genesis.json").write_text(genesis_text)
    homes = {name: (directory / "nodes" / name).resolve() for name in names}
    if plan.tls:
        # Each member's identity certificate, then one bundle of all of them in every home:
        # the stand-in for the consortium exchanging certificates.
        for name in names:
            init_node_tls(homes[name] / "tls", node_keys[name].seed)
        members = b"".join((homes[name] / "tls" / IDENTITY_FILE).read_bytes() for name in names)
        (directory / "tls").mkdir(exist_ok=True)
        (directory / "tls" / MEMBERS_FILE).write_bytes(members)
        for name in names:
            (homes[name] / "tls" / MEMBERS_FILE).write_bytes(members)
    for node in plan.nodes:
        home = homes[node.name]
        home.mkdir(parents=True, exist_ok=True)
        save_key(home / "validator.key", node_keys[node.name])
        (home / "genesis.json").write_text(genesis_text)
        peers = [PeerConfig(o.peer, node_keys[o.name].public) for o in plan.nodes if o is not node]
        write_default_config(
            home,
            p2p={"listen": node.peer_listen or node.peer, "peers": peers, **plan.p2p},
            api={"listen": node.api, "open_reads": plan.open_reads},
            tls={"insecure": not plan.tls},
            metrics={"address": node.metrics},
            consensus=dict(plan.consensus),
        )
    return Written(genesis, homes, {name: key.public for name, key in node_keys.items()})
