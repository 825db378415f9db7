"""What the operator, wallet and auditor commands share: finding a node and how to trust it,
reading keys and addresses, and turning every expected failure into one line and the right
exit code.

How the CLI checks a node (first that applies): `cbdc --ca FILE` / $CBDC_CA, the members
bundle to trust (with `--cert/--key` / $CBDC_CERT and $CBDC_TLS_KEY, a client certificate);
`cbdc --insecure` / $CBDC_INSECURE=1 for a plaintext node; a node of the local devnet
($CBDC_DEVNET, else devnet/.data): that devnet's bundle, and its auditor key signs the reads
no wallet key is given for; otherwise TLS against the system's public roots.

Exit codes (cli.common): 0 ok, 1 rejected by the chain, 2 usage error (bad amount, address,
key file), 3 node unreachable. Nothing a person can type produces a traceback.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from cli.common import EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE, fail
from cli.format import AmountError, parse_amount

ENV_NODE = "CBDC_NODE"
ENV_DEVNET = "CBDC_DEVNET"
ENV_CA = "CBDC_CA"
ENV_CERT = "CBDC_CERT"
ENV_TLS_KEY = "CBDC_TLS_KEY"
ENV_INSECURE = "CBDC_INSECURE"
P = ParamSpec("P")
R = TypeVar("R")


class NoNode(Exception):
    """Neither --node, $CBDC_NODE nor a devnet record says where a node is."""


class BadTlsFile(Exception):
    """--ca, --cert or --key names a file that cannot be used."""


def handle_errors(command: Callable[P, R]) -> Callable[P, R]:
    """Map the exceptions of node.client.connection, node.ledger.keys and node.ledger.address
    to `error: ...` lines.

    Imports are local: `cbdc keys new` must not pay for importing grpc.
    """

    @functools.wraps(command)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        from node.ledger.address import AddressError
        from node.ledger.keys import KeyFileError

        try:
            return command(*args, **kwargs)
        except (AddressError, AmountError, KeyFileError, NoNode, BadTlsFile) as err:
            fail(str(err), EXIT_USAGE)
        except Exception as err:  # client errors: imported lazily, matched by type below
            from node.client.connection import Rejected, Unreachable

            if isinstance(err, Unreachable):
                fail(str(err), EXIT_UNREACHABLE)
            if isinstance(err, Rejected):
                fail(f"rejected: {err.code}: {err.message}", EXIT_REJECTED)
            raise

    return wrapper


# --- the node ---------------------------------------------------------------------------


def node_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--node HOST:PORT`, defaulting to $CBDC_NODE, then to the running local devnet."""
    return click.option(
        "--node",
        "node_address",
        metavar="HOST:PORT",
        default=None,
        help=f"Node API address. Default: ${ENV_NODE}, else the first node of the local devnet.",
    )(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")(command)


def resolve_node(address: str | None) -> str:
    """The API address to talk to; NoNode with what to do when there is none."""
    if address:
        return address
    env = os.environ.get(ENV_NODE, "").strip()
    if env:
        return env
    from devnet.processes import DevnetError, DevnetRecord, is_running

    try:
        record = DevnetRecord.load(devnet_dir())
    except DevnetError as err:
        raise NoNode(str(err)) from None
    if record is None or not record.nodes:
        raise NoNode(
            f"no node given: pass --node HOST:PORT, set ${ENV_NODE}, or start a devnet (`cbdc devnet up`)"
        )
    running = [n for n in record.nodes if is_running(n)]
    return (running or record.nodes)[0].api


def devnet_dir() -> Path:
    """The local devnet's directory: $CBDC_DEVNET, else devnet/.data."""
    env = os.environ.get(ENV_DEVNET, "").strip()
    if env:
        return Path(env)
    from devnet.network import DEFAULT_DIR

    return DEFAULT_DIR


def _tls_file(path: str, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise BadTlsFile(f"{what} {path}: cannot read ({err.strerror})") from None
    if b"-----BEGIN" not in data:
        raise BadTlsFile(f"{what} {path}: not a PEM file")
    return data


def _option(name: str, env: str) -> str:
    ctx = click.get_current_context(silent=True)
    value = ctx.find_root().meta.get(f"cbdc.{name}") if ctx is not None else None
    return value or os.environ.get(env, "").strip()


def resolve_security(address: str) -> tuple[Any, Any]:
    """(ClientTls or None for plaintext, the default signer or None) for a node at `address`;
    see the module docstring for the order."""
    from node.client.connection import ClientTls

    ca = _option("ca", ENV_CA)
    if ca:
        cert, key = _option("cert", ENV_CERT), _option("tls_key", ENV_TLS_KEY)
        if bool(cert) != bool(key):
            raise BadTlsFile("--cert and --key go together (a client certificate and its private key)")
        return ClientTls(
            ca_pem=_tls_file(ca, "--ca"),
            cert_pem=_tls_file(cert, "--cert") if cert else None,
            key_pem=_tls_file(key, "--key") if key else None,
        ), None
    if _option("insecure", ENV_INSECURE).lower() in ("1", "true", "yes"):
        return None, None
    from devnet.network import access_for
    from devnet.processes import DevnetError, DevnetRecord

    try:
        record = DevnetRecord.load(devnet_dir())
    except DevnetError:
        record = None
    for node in record.nodes if record is not None else ():
        if node.api == address:
            access = access_for(node)
            return access.tls, access.signer
    return ClientTls(ca_pem=None, server_name=None), None


def client(address: str | None, timeout: float = 10.0, signer: Any | None = None):
    """A NodeClient for --node (or its defaults); use as a context manager. `signer` (a
    KeyPair) signs the private reads; without one, a local devnet's auditor key does."""
    from node.client.connection import NodeClient

    resolved = resolve_node(address)
    tls, default_signer = resolve_security(resolved)
    return NodeClient(resolved, timeout=timeout, tls=tls, signer=signer or default_signer)


# --- keys, addresses, amounts -----------------------------------------------------------


def load_key(path: str | Path):
    """A KeyPair from a key file; prints the permission warning (if any) to stderr.
    A missing or malformed file raises KeyFileError (exit 2 through handle_errors)."""
    from node.ledger.keys import load_key_checked

    key, warning = load_key_checked(path)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return key


def address_bytes(text: str, what: str = "address") -> bytes:
    """The 32-byte key of a bech32m address; AddressError names the field and the problem."""
    from node.ledger.address import AddressError, decode_address

    try:
        return decode_address(text)
    except AddressError as err:
        raise AddressError(f"{what} {text!r}: {err}") from None


def amount_fen(text: str, what: str = "--amount") -> int:
    try:
        return parse_amount(text)
    except AmountError as err:
        raise AmountError(f"{what}: {err}") from None


def hex_bytes(text: str, what: str, size: int) -> bytes:
    """Exactly `size` bytes given as hex; a usage error otherwise."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        fail(f"{what} {text!r} is not hex", EXIT_USAGE)
    if len(raw) != size:
        fail(f"{what} must be {size} bytes ({2 * size} hex characters), got {len(raw)}", EXIT_USAGE)
    return raw


def txid_bytes(text: str) -> bytes:
    """A 32-byte transaction id given as 64 hex characters; a usage error otherwise."""
    try:
        raw = bytes.fromhex(text.strip())
    except ValueError:
        fail(f"txid {text!r} is not hex (a txid is 64 hex characters)", EXIT_USAGE)
    if len(raw) != 32:
        fail(f"txid {text!r} is {len(raw)} bytes; a txid is 32 bytes (64 hex characters)", EXIT_USAGE)
    return raw


# --- submitting -------------------------------------------------------------------------

DEFAULT_WAIT_S = 30.0


def timeout_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=DEFAULT_WAIT_S, show_default=True,
        help="Seconds to wait for the transaction to be committed.",
    )(command)


def submit_final(node_client: Any, raw_tx: bytes, timeout_s: float) -> Any:
    """Submit and wait until the transaction is in a committed block (BFT commits are final).
    A rejection raises node.client.connection.Rejected (exit 1); still pending at the deadline is exit 1
    too, with the txid so the user can look it up instead of paying twice."""
    from proto import node_pb2

    outcome = node_client.submit_and_wait(raw_tx, timeout=timeout_s)
    if outcome.status != node_pb2.TX_STATUS_COMMITTED:
        fail(
            f"transaction {outcome.txid.hex()} is not committed after {timeout_s:g}s (still pending); "
            f"check it with `cbdc chain tx {outcome.txid.hex()}` before submitting again",
            EXIT_REJECTED,
        )
    return outcome


def outcome_doc(outcome: Any) -> dict[str, Any]:
    """JSON fields of a committed TransactionOutcome."""
    inc = outcome.inclusion
    return {
        "txid": outcome.txid.hex(),
        "status": "committed",
        "height": inc.height,
        "index": inc.index,
        "block_hash": inc.block_hash.hex(),
        "time_ms": inc.time_ms,
    }


def random_nonce() -> int:
    """A body nonce: two otherwise identical payments must have different txids."""
    import secrets

    return secrets.randbits(63)
