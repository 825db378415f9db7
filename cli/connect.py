"""What the operator, wallet and auditor commands share: finding a node and how to trust it,
reading keys and addresses, and turning every expected failure into one line and the right
exit code.

How the CLI checks a node (first that applies): `cbdc --ca FILE` / $CBDC_CA, the members
bundle to trust (with `--cert/--key` / $CBDC_CERT and $CBDC_TLS_KEY, a client certificate);
`cbdc --insecure` / $CBDC_INSECURE=1 for a plaintext node; a node of the local devnet
(--dir, $CBDC_DEVNET_DIR, else the per-user devnet directory): that devnet's bundle;
otherwise TLS against the system's public roots. Private reads are signed by the key a
command is given, else `cbdc --read-key FILE` / $CBDC_READ_KEY (an auditor's or an
institution's key), else a local devnet's auditor key.

Exit codes (cli.common): 0 ok, 1 rejected by the chain, 2 usage error (bad amount, address,
key file), 3 node unreachable, 4 not found. Nothing a person can type produces a traceback.
Under --json a failure is one JSON object on stderr (cli.common.fail).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

import click

from cli.common import EXIT_NOT_FOUND, EXIT_REJECTED, EXIT_UNREACHABLE, EXIT_USAGE, errors_as_json, fail
from cli.format import AmountError, parse_amount

ENV_NODE = "CBDC_NODE"
# Read-your-writes across commands and nodes: the committed height a previous command
# reported (e.g. `cbdc pay --json | jq .height`); the node waits until it holds it.
ENV_SEEN_HEIGHT = "CBDC_SEEN_HEIGHT"
ENV_CA = "CBDC_CA"
ENV_CERT = "CBDC_CERT"
ENV_TLS_KEY = "CBDC_TLS_KEY"
ENV_INSECURE = "CBDC_INSECURE"
ENV_READ_KEY = "CBDC_READ_KEY"
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

        if kwargs.get("as_json"):
            errors_as_json()
        try:
            return command(*args, **kwargs)
        except (AddressError, AmountError, KeyFileError, NoNode, BadTlsFile) as err:
            fail(str(err), EXIT_USAGE)
        except Exception as err:  # client errors: imported lazily, matched by type below
            from node.client.connection import Rejected, Unreachable

            if isinstance(err, Unreachable):
                fail(str(err), EXIT_UNREACHABLE)
            if isinstance(err, Rejected) and err.code == "not_found":
                fail(f"not found: {err.message}", EXIT_NOT_FOUND, reason=err.code)
            if isinstance(err, Rejected):
                fail(f"rejected: {err.code}: {err.message}", EXIT_REJECTED, reason=err.code)
            raise

    return wrapper


# --- the node ---------------------------------------------------------------------------


_DEVNET_DIR_KEY = "cbdc.devnet_dir"  # where --dir leaves its value for resolve_node
_DEVNET_USED_KEY = "cbdc.devnet_used"  # the devnet directory resolve_node found the node in


def _remember_devnet_dir(ctx: click.Context, param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.meta[_DEVNET_DIR_KEY] = value


def node_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """`--node HOST:PORT`, else `--dir DEVNET`, else $CBDC_NODE, else the local devnet in
    $CBDC_DEVNET_DIR or the default devnet directory."""
    command = click.option(
        "--dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=None,
        expose_value=False,
        callback=_remember_devnet_dir,
        help="Use the first running node of the devnet in this directory (as `cbdc devnet up --dir`).",
    )(command)
    return click.option(
        "--node",
        "node_address",
        metavar="HOST:PORT",
        default=None,
        help=f"Node API address. Default: --dir, else ${ENV_NODE}, else the first running node of the "
        "devnet in $CBDC_DEVNET_DIR or the default devnet directory.",
    )(command)


def json_option(command: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON (stable field names).")(command)


def resolve_node(address: str | None) -> str:
    """The API address to talk to; NoNode with what to do when there is none."""
    if address:
        return address
    ctx = click.get_current_context(silent=True)
    given_dir = ctx.find_root().meta.get(_DEVNET_DIR_KEY) if ctx is not None else None
    env = os.environ.get(ENV_NODE, "").strip()
    if env and given_dir is None:
        return env
    from devnet.network import default_dir
    from devnet.processes import DevnetError, DevnetRecord, is_running

    directory = given_dir if given_dir is not None else default_dir()
    try:
        record = DevnetRecord.load(directory)
    except DevnetError as err:
        raise NoNode(str(err)) from None
    if record is None or not record.nodes:
        if given_dir is not None:
            raise NoNode(f"--dir {directory}: no devnet there (`cbdc devnet up --dir {directory}` makes one)")
        raise NoNode(
            f"no node given: pass --node HOST:PORT, set ${ENV_NODE}, or start a devnet (`cbdc devnet up`)"
        )
    if ctx is not None:
        ctx.find_root().meta[_DEVNET_USED_KEY] = directory
    running = [n for n in record.nodes if is_running(n)]
    return (running or record.nodes)[0].api


def genesis_hint() -> str:
    """A genesis path to print in advice ("check it with --genesis ..."): the devnet's, when
    the node was found through a devnet directory, else ./genesis.json if there is one, else
    a placeholder that says what to put there (never a path that does not exist)."""
    ctx = click.get_current_context(silent=True)
    directory = ctx.find_root().meta.get(_DEVNET_USED_KEY) if ctx is not None else None
    if directory is not None and (Path(directory) / "genesis.json").exists():
        return str(Path(directory) / "genesis.json")
    if Path("genesis.json").exists():
        return "genesis.json"
    return "<the chain's genesis.json>"


def seen_height_from_env() -> int:
    """$CBDC_SEEN_HEIGHT as a height (0 when unset); a usage error when it is not one."""
    text = os.environ.get(ENV_SEEN_HEIGHT, "").strip()
    if not text:
        return 0
    if not text.isdigit():
        fail(f"${ENV_SEEN_HEIGHT} must be a block height (a whole number), got {text!r}", EXIT_USAGE)
    return int(text)


def devnet_dir() -> Path:
    """The local devnet's directory: the one the node was found through (--dir), else
    $CBDC_DEVNET_DIR, else the per-user default (devnet.network.default_dir)."""
    ctx = click.get_current_context(silent=True)
    used = ctx.find_root().meta.get(_DEVNET_USED_KEY) if ctx is not None else None
    if used is not None:
        return Path(used)
    given = ctx.find_root().meta.get(_DEVNET_DIR_KEY) if ctx is not None else None
    if given is not None:
        return Path(given)
    from devnet.network import default_dir

    return default_dir()


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
    KeyPair) signs the private reads; without one, `--read-key` / $CBDC_READ_KEY does, else
    a local devnet's auditor key. It
    sends the height in $CBDC_SEEN_HEIGHT (and any higher one it sees) with its submissions
    and queries, so a node behind that height waits for it rather than answer from old state."""
    from node.client.connection import NodeClient

    resolved = resolve_node(address)
    tls, default_signer = resolve_security(resolved)
    read_key = _option("read_key", ENV_READ_KEY)
    if signer is None and read_key:
        signer = load_key(read_key)
    return NodeClient(
        resolved,
        timeout=timeout,
        seen_height=seen_height_from_env(),
        tls=tls,
        signer=signer or default_signer,
    )


# --- keys, addresses, amounts -----------------------------------------------------------


def load_key(path: str | Path, passphrase: bytes | None = None):
    """A KeyPair from a key file; prints the permission warning (if any) to stderr.
    An encrypted file is opened with `passphrase`, else the one in the environment
    ($CBDC_KEY_PASSPHRASE_FILE, $CBDC_KEY_PASSPHRASE), else one typed at a prompt.
    A missing or malformed file raises KeyFileError (exit 2 through handle_errors)."""
    from node.ledger.keys import is_encrypted, parse_key, permission_warning, read_key_text

    text = read_key_text(path)
    if is_encrypted(text) and passphrase is None:
        passphrase = ask_passphrase(path)
    key = parse_key(text, path, passphrase)
    warning = permission_warning(path)
    if warning:
        click.echo(f"warning: {warning}", err=True)
    return key


def ask_passphrase(path: str | Path, *, confirm: bool = False) -> bytes | None:
    """The passphrase for key file `path`: from the environment, else typed at a prompt
    (hidden; twice when `confirm`), else None when there is no terminal to ask on (the
    caller then refuses with what to set)."""
    import sys

    from node.ledger.keys import passphrase_from_environment

    given = passphrase_from_environment()
    if given is not None:
        return given
    if not sys.stdin.isatty():
        return None
    typed = click.prompt(
        f"passphrase for {path}", hide_input=True, confirmation_prompt=confirm, err=True
    )
    return typed.encode() if typed else None


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
