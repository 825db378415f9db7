"""`cbdc genesis new|add-issuer|set-threshold|add-institution|add-validator|validate|hash|show|schema`:
the genesis ceremony.

Institutions build one genesis.json together instead of writing JSON by hand: the
coordinator runs `new`, each party adds its public key with the matching `add-*` command
(each a small, checked edit of the same file, passed around or kept under version control),
and `validate` checks the whole document as a node will when it starts, reporting every
problem by field. `hash` prints the identity every node must agree on (peers refuse a node
with another genesis hash). The file format is published as a JSON Schema by `schema`.

    cbdc genesis new --chain-id cbdc-pilot --out genesis.json
    cbdc genesis add-issuer genesis.json --key cbdc1...            # each central-bank key
    cbdc genesis set-threshold genesis.json 2
    cbdc genesis add-institution genesis.json --id bank-a --name "Bank A" --key cbdc1...
    cbdc genesis add-validator genesis.json --name bank-a --key cbdc1... --power 10
    cbdc genesis validate genesis.json && cbdc genesis hash genesis.json
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_USAGE, fail, read_json_file, write_json_atomically
from cli.connect import address_bytes, handle_errors, json_option
from cli.format import Fields, Grid, render

_FILE = click.argument("file", type=click.Path(dir_okay=False, path_type=Path))


@click.group()
def genesis() -> None:
    """Build, check and inspect a genesis file together (the genesis ceremony)."""


def _load(path: Path) -> dict[str, Any]:
    doc = read_json_file(path, "genesis")
    if not isinstance(doc, dict):
        fail(f"genesis {path} is not a JSON object", EXIT_USAGE)
    for name, empty in (("issuers", []), ("institutions", []), ("validators", []), ("tiers", [])):
        if not isinstance(doc.setdefault(name, empty), list):
            fail(f"genesis {path}: {name} must be a JSON list", EXIT_USAGE)
    return doc


def _save(path: Path, doc: dict[str, Any]) -> None:
    """Atomic replace: a crash mid-edit never leaves half a genesis."""
    write_json_atomically(path, doc, ensure_ascii=False)


def _keys_in_use(doc: dict[str, Any]) -> dict[bytes, str]:
    """Every key the document already names, with its role ("issuers[0]", ...)."""
    used: dict[bytes, str] = {}
    for i, k in enumerate(doc["issuers"]):
        used.setdefault(_decoded(k), f"issuers[{i}]")
    for i, inst in enumerate(doc["institutions"]):
        used.setdefault(_decoded(inst.get("public_key", "")), f"institutions[{i}] ({inst.get('id')})")
    return used


def _decoded(text: Any) -> bytes:
    try:
        return address_bytes(text) if isinstance(text, str) and not _is_hex(text) else bytes.fromhex(text)
    except Exception:  # an unreadable key already in the file: `validate` names it
        return b""


def _is_hex(text: str) -> bool:
    return len(text) == 64 and all(c in "0123456789abcdefABCDEF" for c in text)


def _address(text: str, what: str) -> str:
    from node.ledger.address import encode_address

    return encode_address(address_bytes(text, what))


@genesis.command()
@click.option("--chain-id", required=True, help="The network's name, e.g. cbdc-pilot.")
@click.option("--time-ms", type=click.IntRange(min=0), default=None,
              help="Genesis time, unix milliseconds (default: now).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The genesis file to create (refuses to overwrite).")
@json_option
@handle_errors
def new(chain_id: str, time_ms: int | None, out: Path, as_json: bool) -> None:
    """Start a genesis: chain id, time, the default tier table and parameters; no keys yet."""
    from dataclasses import asdict

    from node.ledger.genesis import LedgerParams, default_tiers

    if out.exists():
        fail(f"{out} exists already; pick another --out or remove it", EXIT_USAGE)
    doc = {
        "chain_id": chain_id,
        "genesis_time_ms": int(time.time() * 1000) if time_ms is None else time_ms,
        "issuers": [],
        "issue_threshold": 1,
        "institutions": [],
        "validators": [],
        "tiers": [asdict(t) for t in sorted(default_tiers().values(), key=lambda t: t.id)],
        "params": asdict(LedgerParams()),
    }
    _save(out, doc)
    render({"file": str(out), "chain_id": chain_id}, as_json,
           Fields([("file", out), ("chain", chain_id),
                   ("next", "add issuers, institutions and validators, then `cbdc genesis validate`")]))


@genesis.command("add-issuer")
@_FILE
@click.option("--key", required=True, metavar="ADDRESS", help="A central-bank issuance (authority) key.")
@json_option
@handle_errors
def add_issuer(file: Path, key: str, as_json: bool) -> None:
    """Add one of the central bank's m-of-n issuance and governance keys."""
    doc = _load(file)
    address = _address(key, "--key")
    role = _keys_in_use(doc).get(address_bytes(address))
    if role is not None:
        fail(f"--key {address} is already {role}; every role needs a key of its own", EXIT_USAGE)
    doc["issuers"].append(address)
    _save(file, doc)
    render({"issuers": len(doc["issuers"])}, as_json, Fields([("issuers", len(doc["issuers"]))]))


@genesis.command("set-threshold")
@_FILE
@click.argument("threshold", type=click.IntRange(min=1))
@json_option
@handle_errors
def set_threshold(file: Path, threshold: int, as_json: bool) -> None:
    """How many issuer keys must sign an issuance or a governance change (m of n)."""
    doc = _load(file)
    if threshold > len(doc["issuers"]):
        fail(f"threshold {threshold} is more than the {len(doc['issuers'])} issuer key(s); add issuers first",
             EXIT_USAGE)
    doc["issue_threshold"] = threshold
    _save(file, doc)
    render({"issue_threshold": threshold}, as_json,
           Fields([("threshold", f"{threshold} of {len(doc['issuers'])}")]))


@genesis.command("add-institution")
@_FILE
@click.option("--id", "institution_id", required=True, help="A short id, e.g. bank-a.")
@click.option("--name", required=True, help="The institution's name.")
@click.option("--key", required=True, metavar="ADDRESS", help="The institution's public key.")
@json_option
@handle_errors
def add_institution(file: Path, institution_id: str, name: str, key: str, as_json: bool) -> None:
    """Add a licensed institution (receives issuance, registers wallets)."""
    doc = _load(file)
    address = _address(key, "--key")
    role = _keys_in_use(doc).get(address_bytes(address))
    if role is not None:
        fail(f"--key {address} is already {role}; every role needs a key of its own", EXIT_USAGE)
    if any(i.get("id") == institution_id for i in doc["institutions"]):
        fail(f"institution id {institution_id!r} is used already", EXIT_USAGE)
    doc["institutions"].append({"id": institution_id, "name": name, "public_key": address})
    _save(file, doc)
    render({"institutions": len(doc["institutions"])}, as_json,
           Fields([("institutions", len(doc["institutions"]))]))


@genesis.command("add-validator")
@_FILE
@click.option("--name", required=True, help="The validator's name (shown by `cbdc chain validators`).")
@click.option("--key", required=True, metavar="ADDRESS",
              help="The node's validator key (`cbdc node init` prints it).")
@click.option("--power", type=click.IntRange(min=1), default=10, show_default=True, help="Voting power.")
@json_option
@handle_errors
def add_validator(file: Path, name: str, key: str, power: int, as_json: bool) -> None:
    """Add a validator node."""
    doc = _load(file)
    address = _address(key, "--key")
    if any(_decoded(v.get("public_key", "")) == address_bytes(address) for v in doc["validators"]):
        fail(f"--key {address} is a validator already", EXIT_USAGE)
    doc["validators"].append({"name": name, "public_key": address, "power": power})
    _save(file, doc)
    render({"validators": len(doc["validators"])}, as_json, Fields([("validators", len(doc["validators"]))]))


@genesis.command()
@_FILE
@json_option
@handle_errors
def validate(file: Path, as_json: bool) -> None:
    """Check the whole document as a node will when it starts; prints its hash when valid."""
    from node.ledger.genesis import Genesis, GenesisError

    try:
        loaded = Genesis.load(file)
    except GenesisError as err:
        fail(f"INVALID {err}", EXIT_USAGE)
    doc = {"valid": True, "chain_id": loaded.chain_id, "hash": loaded.hash().hex()}
    render(doc, as_json, Fields([("valid", "yes"), ("chain", loaded.chain_id), ("hash", doc["hash"])]))


@genesis.command("hash")
@_FILE
@json_option
@handle_errors
def hash_(file: Path, as_json: bool) -> None:
    """The genesis hash: every node of the network must print the same."""
    from node.ledger.genesis import Genesis, GenesisError

    try:
        digest = Genesis.load(file).hash().hex()
    except GenesisError as err:
        fail(f"INVALID {err}", EXIT_USAGE)
    if as_json:
        render({"hash": digest}, True)
        return
    click.echo(digest)


@genesis.command()
@_FILE
@json_option
@handle_errors
def show(file: Path, as_json: bool) -> None:
    """The roles and parameters of a genesis file (complete or not)."""
    doc = _load(file)
    render(doc, as_json,
           Fields([("chain", doc.get("chain_id")), ("time ms", doc.get("genesis_time_ms")),
                   ("threshold", f"{doc.get('issue_threshold')} of {len(doc['issuers'])} issuer keys")]),
           Grid(["issuer key"], [(k,) for k in doc["issuers"]], title="issuers (the authority)"),
           Grid(["id", "name", "key"], [(i.get("id"), i.get("name"), i.get("public_key"))
                                        for i in doc["institutions"]], title="institutions"),
           Grid(["name", "key", "power"], [(v.get("name"), v.get("public_key"), v.get("power"))
                                           for v in doc["validators"]], title="validators", right=["power"]))


@genesis.command()
def schema() -> None:
    """Print the JSON Schema of genesis.json."""
    click.echo(json.dumps(GENESIS_SCHEMA, indent=2))


_KEY = {"type": "string", "description": "a cbdc1... address (bech32m) or 64 hex digits",
        "pattern": "^(cbdc1[02-9ac-hj-np-z]{50,}|[0-9a-fA-F]{64})$"}
_AMOUNT = {"type": ["integer", "null"], "minimum": 0, "description": "fen; null: unlimited"}
GENESIS_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "cbdc genesis",
    "type": "object",
    "additionalProperties": False,
    "required": ["chain_id", "genesis_time_ms", "issuers", "issue_threshold", "institutions", "validators",
                 "tiers"],
    "properties": {
        "chain_id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,49}$"},
        "genesis_time_ms": {"type": "integer", "minimum": 0},
        "issuers": {"type": "array", "items": _KEY, "minItems": 1, "maxItems": 16, "uniqueItems": True},
        "issue_threshold": {"type": "integer", "minimum": 1, "description": "at most the number of issuers"},
        "institutions": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "name", "public_key"],
            "properties": {"id": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
                           "name": {"type": "string", "minLength": 1, "maxLength": 200},
                           "public_key": _KEY}}},
        "validators": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["name", "public_key", "power"],
            "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 200},
                           "public_key": _KEY, "power": {"type": "integer", "minimum": 1}}}},
        "tiers": {"type": "array", "minItems": 1, "items": {
            "type": "object", "additionalProperties": False, "required": ["id", "name"],
            "properties": {"id": {"type": "integer", "minimum": 0, "maximum": 4294967295},
                           "name": {"type": "string", "minLength": 1, "maxLength": 64},
                           "balance_cap": _AMOUNT, "per_payment": _AMOUNT, "daily": _AMOUNT,
                           "yearly": _AMOUNT}}},
        "params": {"type": "object", "additionalProperties": False, "properties": {
            "max_body_bytes": {"type": "integer", "minimum": 128, "maximum": 16777216},
            "max_inputs": {"type": "integer", "minimum": 1, "maximum": 65536},
            "max_outputs": {"type": "integer", "minimum": 1, "maximum": 65536},
            "max_block_txs": {"type": "integer", "minimum": 1, "maximum": 1048576},
            "max_block_bytes": {"type": "integer", "minimum": 1024, "maximum": 1073741824},
            "utc_offset_minutes": {"type": "integer", "minimum": -720, "maximum": 840}}},
    },
}
