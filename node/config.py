"""The node's configuration: `<home>/config.toml`, read with tomllib.

Every option is a dataclass field whose metadata carries its comment and bounds, so the
commented file `write_default_config` renders, the defaults and the validation in
`load_config` cannot drift apart. Paths in the file are relative to the home directory
(absolute paths are kept as written). Unknown keys are errors: a misspelt option silently
falling back to its default is worse than refusing to start.
"""

from __future__ import annotations

import dataclasses
import re
import tomllib
import typing
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from consensus.config import ConsensusConfig

from node.ledger.address import AddressError, decode_address
from node.ledger.crypto import KEY_SIZE
from node.logs import parse_module_levels

CONFIG_FILE = "config.toml"
MiB = 1024 * 1024
# Room a Proposal envelope needs around a block (proposal bytes, framing): a block at
# block.max_bytes must still fit in one gRPC message.
ENVELOPE_ROOM = 64 * 1024

LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("text", "json")


class ConfigError(ValueError):
    """The config file is missing, unreadable or has a wrong value; the message names the key."""


def _opt(default: Any, doc: str, **bounds: Any) -> Any:
    return field(default=default, metadata={"doc": doc, **bounds})


@dataclass(frozen=True, slots=True)
class PeerConfig:
    """A validator to dial, and the key it must prove it holds in the handshake."""

    address: str          # host:port of its peer listener
    validator_key: bytes  # 32-byte ed25519 public key (hex in the file)


@dataclass(frozen=True)
class P2PConfig:
    listen: str = _opt("127.0.0.1:26656", "Address the Peer service listens on (host:port).", kind="address")
    send_queue_size: int = _opt(
        1024,
        "Messages queued per peer before the oldest are dropped: a slow peer never blocks consensus.",
        min=1,
    )
    reconnect_min_ms: int = _opt(100, "First reconnect delay after a peer connection fails (ms).", min=1)
    reconnect_max_ms: int = _opt(
        10_000, "Reconnect delays double up to this bound, with random jitter (ms).", min=1
    )
    peers: tuple[PeerConfig, ...] = ()


@dataclass(frozen=True)
class ApiConfig:
    listen: str = _opt(
        "127.0.0.1:26657", "Address the public Node/Sync API listens on (host:port).", kind="address"
    )
    open_reads: bool = _opt(
        False,
        "Serve every read (balances, transactions, blocks) to anyone, without the signed-request "
        "roles. For tests and local development only; the node logs a warning.",
    )
    request_window_s: int = _opt(
        60,
        "A signed API request is accepted within this many seconds of its timestamp, once "
        "(its nonce is remembered for the window): the replay protection.",
        min=1,
        max=3600,
    )


@dataclass(frozen=True)
class TlsConfig:
    insecure: bool = _opt(
        False,
        "Plaintext on every channel (peers, sync, API, metrics). Never on a real network; the "
        "node logs a warning.",
    )
    ca: str = _opt(
        "tls/members.crt",
        "The members bundle: identity certificates of the consortium's validators, observers "
        "and auditors. Peers and API clients are checked against it.",
        kind="path",
    )
    cert: str = _opt(
        "tls/node.crt", "This node's TLS certificate chain (signed by its validator key).", kind="path"
    )
    key: str = _opt("tls/node.key", "This node's TLS private key (ECDSA P-256).", kind="path")


@dataclass(frozen=True)
class GrpcConfig:
    max_message_bytes: int = _opt(
        16 * MiB,
        "Largest gRPC message sent or received, on every channel and server; larger ones are "
        "rejected with RESOURCE_EXHAUSTED.",
        min=64 * 1024,
        max=2**31 - 1,
    )


@dataclass(frozen=True)
class ConsensusSection:
    """[consensus] of config.toml; machine_config() is what the consensus machine runs with."""

    timeout_propose_ms: int = _opt(3000, "Wait for a proposal in round 0 (ms).", min=1)
    timeout_propose_delta_ms: int = _opt(500, "Added to the propose timeout per round (ms).", min=0)
    timeout_prevote_ms: int = _opt(1000, "Wait for more prevotes after +2/3 of any (ms).", min=1)
    timeout_prevote_delta_ms: int = _opt(500, "Added to the prevote timeout per round (ms).", min=0)
    timeout_precommit_ms: int = _opt(1000, "Wait for more precommits after +2/3 of any (ms).", min=1)
    timeout_precommit_delta_ms: int = _opt(500, "Added to the precommit timeout per round (ms).", min=0)
    timeout_commit_ms: int = _opt(
        100,
        "After a commit, wait this long before starting the next height (unless a validator "
        "already has, or timeout_commit_txs are pending), so transactions arriving meanwhile "
        "share one block: every height costs each validator a fixed ~10 ms of CPU (votes, "
        "signatures, fsyncs, a synced batch), so fewer, larger blocks cost less per "
        "transaction, at up to this much added latency (ms; 0 = start at once).",
        min=0,
    )
    timeout_commit_txs: int = _opt(
        200,
        "End timeout_commit early once this many transactions are pending: a block that "
        "full already shares a height's fixed cost well (0 = always wait the whole timeout).",
        min=0,
    )
    create_empty_blocks: bool = _opt(
        False, "Propose blocks without transactions. When false, blocks are made only when there is work."
    )
    heartbeat_interval_s: int = _opt(
        60,
        "With create_empty_blocks = false, still commit an empty block after this many idle "
        "seconds, so the chain visibly advances (0 = never).",
        min=0,
    )
    double_sign_check_height: int = _opt(
        3,
        "Heights a validator watches decided without it before it signs, when its sign-state "
        "cannot vouch for what its key signed: the sign-state is missing beside stored blocks, "
        "or stored or synced certificates carry precommits of its key that the sign-state does "
        "not remember (a restored backup, or a second process with the same key). While it "
        "watches, a certificate carrying its key restarts the count (0 = off).",
        min=0,
    )

    def machine_config(self) -> ConsensusConfig:
        """The machine's tunables with these timeouts (the arithmetic per round is there)."""
        return replace(
            ConsensusConfig(),
            propose_ms=self.timeout_propose_ms,
            propose_delta_ms=self.timeout_propose_delta_ms,
            prevote_ms=self.timeout_prevote_ms,
            prevote_delta_ms=self.timeout_prevote_delta_ms,
            precommit_ms=self.timeout_precommit_ms,
            precommit_delta_ms=self.timeout_precommit_delta_ms,
        )


@dataclass(frozen=True)
class MempoolConfig:
    max_txs: int = _opt(50_000, "Most pending transactions held.", min=1)
    max_bytes: int = _opt(64 * MiB, "Most bytes of pending transactions held.", min=1)
    max_per_wallet: int = _opt(1000, "Most pending transactions signed by one key.", min=1)
    max_admitting: int = _opt(
        20_000,
        "Most transactions of client batches and gossip queued for admission or having their "
        "signatures verified at once; beyond it (or a full mempool) a SubmitBatch call is "
        "refused whole with RESOURCE_EXHAUSTED (mempool_full) instead of queued.",
        min=1,
    )
    max_backlog_ms: int = _opt(
        2000,
        "SubmitBatch admits while the mempool holds less than this many milliseconds of the node's "
        "recent commits (at least 2,000 transactions); beyond, the excess is refused with "
        "mempool_full, so an overload is refused instead of slowing every block. 0: only the "
        "mempool's own bounds.",
        min=0,
    )


@dataclass(frozen=True)
class BlockConfig:
    max_txs: int = _opt(10_000, "Most transactions a proposer puts in one block.", min=1)
    max_bytes: int = _opt(
        4 * MiB,
        "Most bytes of transactions in one block; must leave 64 KiB room under grpc.max_message_bytes.",
        min=1024,
    )


@dataclass(frozen=True)
class LogConfig:
    level: str = _opt("info", "One of: debug, info, warning, error.", choices=LOG_LEVELS)
    format: str = _opt(
        "text", "text (key=value pairs) or json (one JSON object per line).", choices=LOG_FORMATS
    )
    modules: str = _opt(
        "",
        'Per-module levels over `level`, e.g. "peers=debug,sync=warning" (modules: node, consensus, '
        "peers, sync, chain). The node re-reads level and modules from this file on SIGHUP.",
    )


@dataclass(frozen=True)
class MetricsConfig:
    address: str = _opt(
        "", 'Prometheus metrics on http://host:port/metrics; "" turns them off.', kind="address", empty=True
    )


# A pruning node keeps at least this many recent blocks, so validators a few heights behind
# still catch up from it by commit push or block sync.
MIN_RETAIN_BLOCKS = 16


@dataclass(frozen=True)
class StorageConfig:
    retain_blocks: int = _opt(
        0,
        "0 keeps every block (an archive node). N > 0 keeps only the most recent N block bodies "
        f"(at least {MIN_RETAIN_BLOCKS}) and deletes older ones as blocks commit. A pruned node "
        "still holds the whole state, every transaction's location and every block hash; it "
        "answers requests for older blocks and their transactions with the code \"pruned\".",
        min=0,
    )


@dataclass(frozen=True)
class StateSyncConfig:
    enable: bool = _opt(
        False,
        "When the data directory holds no ledger yet, start from a state snapshot fetched from "
        "the first [[p2p.peers]] entry that serves one, instead of replaying every block since "
        "genesis. The snapshot is checked against the genesis validators (its hand-offs to the "
        "validator set that certified its block) and its recomputed state root before it is used; "
        "the node then syncs on.",
    )


@dataclass(frozen=True)
class HealthConfig:
    max_lag_blocks: int = _opt(
        2,
        "Readiness (gRPC health, /healthz) fails when a peer announced a tip more than this "
        "many blocks beyond ours.",
        min=0,
    )
    interval_ms: int = _opt(1000, "How often readiness is re-evaluated (ms).", min=50)


@dataclass(frozen=True)
class SignerConfig:
    socket: str = _opt(
        "",
        'Unix socket of a `cbdc signer` holding this validator\'s consensus key and sign-state; '
        '"" signs in this process with validator_key. Relative paths are below the home.',
    )
    timeout_ms: int = _opt(
        2000, "A signature the signer has not returned by then is not sent (the round goes on).", min=10
    )


@dataclass(frozen=True)
class NodeConfig:
    home: Path
    genesis: str = _opt("genesis.json", "The chain's genesis file.", kind="path")
    validator_key: str = _opt("validator.key", "This node's validator signing key.", kind="path")
    data_dir: str = _opt("data", "Directory of the block store and the consensus WAL.", kind="path")
    p2p: P2PConfig = field(default_factory=P2PConfig)
    api: ApiConfig = field(default_factory=ApiConfig)
    grpc: GrpcConfig = field(default_factory=GrpcConfig)
    consensus: ConsensusSection = field(default_factory=ConsensusSection)
    mempool: MempoolConfig = field(default_factory=MempoolConfig)
    block: BlockConfig = field(default_factory=BlockConfig)
    log: LogConfig = field(default_factory=LogConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    storage: StorageConfig = field(default_factory=StorageConfig)
    statesync: StateSyncConfig = field(default_factory=StateSyncConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    signer: SignerConfig = field(default_factory=SignerConfig)
    tls: TlsConfig = field(default_factory=TlsConfig)

    @property
    def config_path(self) -> Path:
        return self.home / CONFIG_FILE

    @property
    def genesis_path(self) -> Path:
        return self.home / self.genesis

    @property
    def validator_key_path(self) -> Path:
        return self.home / self.validator_key

    @property
    def signer_socket_path(self) -> Path | None:
        return self.home / self.signer.socket if self.signer.socket else None

    @property
    def data_path(self) -> Path:
        return self.home / self.data_dir

    def tls_paths(self) -> tuple[Path, Path, Path]:
        """(key, cert, ca) of [tls], resolved against the home directory."""
        return self.home / self.tls.key, self.home / self.tls.cert, self.home / self.tls.ca


_SECTION_DOCS = {
    "p2p": "Validator-to-validator transport.",
    "api": "Public gRPC API (Node and Sync services, health, reflection).",
    "grpc": "Limits shared by every gRPC channel and server of this node.",
    "consensus": "Tendermint timeouts: round r waits base + r * delta.",
    "mempool": "Pending transactions. When full, submissions get RESOURCE_EXHAUSTED.",
    "block": "What a proposer may put in one block.",
    "log": "One line per event.",
    "metrics": "Prometheus exposition.",
    "storage": "What the ledger store keeps (pruning).",
    "statesync": "Starting a new node from a peer's state snapshot.",
    "health": "Readiness: the gRPC health service and /healthz on the metrics port.",
    "signer": "A remote signer (`cbdc signer`) instead of the key in this process.",
    "tls": "Transport security (TLS 1.3) of every channel; see the README's security section.",
}


# --- writing -----------------------------------------------------------------------------


def write_default_config(home: Path | str, **overrides: Any) -> NodeConfig:
    """Write `<home>/config.toml` with every option, its comment and its value, and return
    the config it holds. `overrides` name NodeConfig fields; a section may be given as its
    dataclass or as a dict of just the keys to change, e.g.
    `write_default_config(home, p2p={"listen": "127.0.0.1:0", "peers": [PeerConfig(...)]})`.
    An existing file is replaced."""
    home = Path(home)
    config = _with_overrides(NodeConfig(home=home), overrides)
    _validate(config)
    home.mkdir(parents=True, exist_ok=True)
    tmp = config.config_path.with_suffix(".toml.tmp")
    tmp.write_text(render_config(config))
    tmp.replace(config.config_path)  # never leave a half-written config behind
    return config


def _with_overrides(config: NodeConfig, overrides: dict[str, Any]) -> NodeConfig:
    names = {f.name for f in dataclasses.fields(NodeConfig)} - {"home"}
    changes: dict[str, Any] = {}
    for name, value in overrides.items():
        if name not in names:
            raise ConfigError(f"unknown config option {name!r}; options: {', '.join(sorted(names))}")
        current = getattr(config, name)
        if dataclasses.is_dataclass(current) and isinstance(value, dict):
            _reject_unknown(value, (f.name for f in dataclasses.fields(current)), f"{name}.")
            if "peers" in value:
                value = {**value, "peers": tuple(value["peers"])}
            value = dataclasses.replace(current, **value)
        changes[name] = value
    return dataclasses.replace(config, **changes)


def render_config(config: NodeConfig) -> str:
    lines = [
        "# cbdc node configuration.",
        "# Every option is listed with its value; delete a line to get the built-in default back.",
        "# Relative paths are relative to the directory holding this file.",
        "",
    ]
    for f in dataclasses.fields(NodeConfig):
        if f.name != "home" and not dataclasses.is_dataclass(getattr(config, f.name)):
            lines += _render_option(f, getattr(config, f.name))
    for f in dataclasses.fields(NodeConfig):
        section = getattr(config, f.name)
        if not dataclasses.is_dataclass(section):
            continue
        lines += ["", f"# {_SECTION_DOCS[f.name]}", f"[{f.name}]"]
        for sf in dataclasses.fields(section):
            if sf.name != "peers":
                lines += _render_option(sf, getattr(section, sf.name))
        if isinstance(section, P2PConfig):
            lines += _render_peers(section.peers)
    return "\n".join(lines) + "\n"


def _render_option(f: dataclasses.Field[Any], value: Any) -> list[str]:
    return [*(f"# {line}" for line in _wrap(f.metadata["doc"])), f"{f.name} = {_toml_value(value)}"]


def _render_peers(peers: tuple[PeerConfig, ...]) -> list[str]:
    lines = [
        "",
        "# Validators to dial: one [[p2p.peers]] table each. The handshake refuses a peer that",
        "# cannot sign with validator_key (its ed25519 public key: the cbdc1... form that",
        "# `cbdc node init` prints, or 64 hex digits).",
    ]
    if not peers:
        return [
            *lines,
            "# [[p2p.peers]]",
            '# address = "127.0.0.1:26666"',
            f'# validator_key = "{"00" * KEY_SIZE}"',
        ]
    for peer in peers:
        lines += [
            "[[p2p.peers]]",
            f"address = {_toml_value(peer.address)}",
            f"validator_key = {_toml_value(peer.validator_key.hex())}",
        ]
    return lines


def _wrap(text: str, width: int = 88) -> list[str]:
    out: list[str] = []
    line = ""
    for word in text.split():
        if line and len(line) + 1 + len(word) > width:
            out.append(line)
            line = word
        else:
            line = f"{line} {word}" if line else word
    return [*out, line] if line else out


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return _toml_string(value)
    raise TypeError(f"cannot render {type(value).__name__} as TOML")


def _toml_string(text: str) -> str:
    # A TOML basic string: escape quote and backslash, and every control character
    # (TOML forbids raw ones, DEL included).
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


# --- reading -----------------------------------------------------------------------------


def load_config(home: Path | str) -> NodeConfig:
    """Read and validate `<home>/config.toml`. Raises ConfigError naming the file and key."""
    home = Path(home)
    path = home / CONFIG_FILE
    try:
        with path.open("rb") as fh:
            raw = tomllib.load(fh)
    except FileNotFoundError:
        raise ConfigError(f"{path}: no config file (`cbdc node init --home {home}` writes one)") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        config = _parse(home, raw)
        _validate(config)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return config


_RETIRED_OPTIONS = ("node_key",)


def _parse(home: Path, raw: dict[str, Any]) -> NodeConfig:
    """Shape only (known keys, tables where tables belong); _validate checks the values."""
    top = {f.name: f for f in dataclasses.fields(NodeConfig) if f.name != "home"}
    # Written by earlier versions and never used (a validator proves itself to peers with its
    # validator key): accepted and ignored, so their config files still load.
    raw = {k: v for k, v in raw.items() if k not in _RETIRED_OPTIONS}
    _reject_unknown(raw, top.keys(), "")
    values: dict[str, Any] = {}
    for name, value in raw.items():
        section = top[name].default_factory
        if section is dataclasses.MISSING:
            values[name] = value
            continue
        if not isinstance(value, dict):
            raise ConfigError(f"{name}: expected a [{name}] table, got {_show(value)}")
        _reject_unknown(value, (f.name for f in dataclasses.fields(section)), f"{name}.")
        if "peers" in value:
            value = {**value, "peers": _parse_peers(value["peers"])}
        values[name] = section(**value)
    return NodeConfig(home=home, **values)


def _parse_peers(value: Any) -> tuple[PeerConfig, ...]:
    if not isinstance(value, list):
        raise ConfigError(f"p2p.peers: expected [[p2p.peers]] tables, got {_show(value)}")
    peers = []
    for i, entry in enumerate(value):
        where = f"p2p.peers[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where}: expected a table with address and validator_key")
        _reject_unknown(entry, ("address", "validator_key"), f"{where}.")
        for key in ("address", "validator_key"):
            if key not in entry:
                raise ConfigError(f"{where}.{key}: missing")
        key = _peer_key(f"{where}.validator_key", entry["validator_key"])
        peers.append(PeerConfig(address=entry["address"], validator_key=key))
    return tuple(peers)


def _peer_key(where: str, text: Any) -> bytes:
    """A validator's public key in either form people meet it in: the `cbdc1...` address that
    `cbdc node init` prints and genesis.json holds, or 64 hex digits."""
    if isinstance(text, str) and text.strip().lower().startswith("cbdc1"):
        try:
            return decode_address(text.strip())
        except AddressError as err:
            raise ConfigError(f"{where}: {text!r} is not a valid cbdc1 key: {err}") from None
    try:
        key = bytes.fromhex(text) if isinstance(text, str) else b""
    except ValueError:
        key = b""
    if len(key) != KEY_SIZE:
        raise ConfigError(
            f"{where}: expected {2 * KEY_SIZE} hex digits (an ed25519 public key) or its cbdc1... form, "
            f"got {_show(text)}"
        )
    return key


def _reject_unknown(table: dict[str, Any], known: typing.Iterable[str], prefix: str) -> None:
    known = sorted(known)
    unknown = sorted(set(table) - set(known))
    if unknown:
        raise ConfigError(f"{prefix}{unknown[0]}: unknown option (known here: {', '.join(known)})")


def _validate(config: NodeConfig) -> None:
    """Type, range and form checks, shared by load_config and write_default_config."""
    hints = typing.get_type_hints(NodeConfig)
    for f in dataclasses.fields(NodeConfig):
        if f.name == "home":
            continue
        value = getattr(config, f.name)
        if not dataclasses.is_dataclass(hints[f.name]):
            _check_option(f.name, f, hints[f.name], value)
            continue
        if not isinstance(value, hints[f.name]):
            raise ConfigError(f"{f.name}: expected {hints[f.name].__name__}, got {_show(value)}")
        section_hints = typing.get_type_hints(type(value))
        for sf in dataclasses.fields(value):
            if sf.name != "peers":
                _check_option(f"{f.name}.{sf.name}", sf, section_hints[sf.name], getattr(value, sf.name))
    _validate_peers(config.p2p.peers)
    try:
        parse_module_levels(config.log.modules)
    except ValueError as exc:
        raise ConfigError(f"log.modules: {exc}") from None
    if config.p2p.reconnect_max_ms < config.p2p.reconnect_min_ms:
        raise ConfigError(
            f"p2p.reconnect_max_ms: {config.p2p.reconnect_max_ms} is below "
            f"p2p.reconnect_min_ms = {config.p2p.reconnect_min_ms}"
        )
    retain = config.storage.retain_blocks
    if 0 < retain < MIN_RETAIN_BLOCKS:
        raise ConfigError(
            f"storage.retain_blocks: {retain} is too few; keep 0 (every block) or at least "
            f"{MIN_RETAIN_BLOCKS}, so peers a few blocks behind can still catch up from this node"
        )
    room = config.grpc.max_message_bytes - ENVELOPE_ROOM
    if config.block.max_bytes > room:
        raise ConfigError(
            f"block.max_bytes: {config.block.max_bytes} does not fit in one gRPC message with its "
            f"envelope; at most {room} with grpc.max_message_bytes = {config.grpc.max_message_bytes}"
        )


def _validate_peers(peers: Any) -> None:
    if not isinstance(peers, tuple) or not all(isinstance(p, PeerConfig) for p in peers):
        raise ConfigError(f"p2p.peers: expected a tuple of PeerConfig, got {_show(peers)}")
    seen: dict[bytes, int] = {}
    for i, peer in enumerate(peers):
        where = f"p2p.peers[{i}]"
        if not isinstance(peer.address, str):
            raise ConfigError(f"{where}.address: expected a string, got {_show(peer.address)}")
        _check_address(f"{where}.address", peer.address, allow_port_zero=False)
        if not isinstance(peer.validator_key, bytes) or len(peer.validator_key) != KEY_SIZE:
            raise ConfigError(f"{where}.validator_key: expected a {KEY_SIZE}-byte ed25519 public key")
        if peer.validator_key in seen:
            raise ConfigError(
                f"{where}.validator_key: {peer.validator_key.hex()} is already "
                f"p2p.peers[{seen[peer.validator_key]}]"
            )
        seen[peer.validator_key] = i


def _check_option(key: str, f: dataclasses.Field[Any], kind: Any, value: Any) -> None:
    # bool is a subclass of int in Python but never a valid integer option.
    if kind is bool and not isinstance(value, bool):
        raise ConfigError(f"{key}: expected true or false, got {_show(value)}")
    if kind is int and (isinstance(value, bool) or not isinstance(value, int)):
        raise ConfigError(f"{key}: expected an integer, got {_show(value)}")
    if kind is str and not isinstance(value, str):
        raise ConfigError(f"{key}: expected a string, got {_show(value)}")
    _check_bounds(key, f, value)


def _check_bounds(key: str, f: dataclasses.Field[Any], value: Any) -> None:
    meta = f.metadata
    if "min" in meta and value < meta["min"]:
        raise ConfigError(f"{key}: must be at least {meta['min']}, got {value}")
    if "max" in meta and value > meta["max"]:
        raise ConfigError(f"{key}: must be at most {meta['max']}, got {value}")
    if "choices" in meta and value not in meta["choices"]:
        raise ConfigError(f"{key}: must be one of {', '.join(meta['choices'])}, got {_show(value)}")
    kind = meta.get("kind")
    if kind == "address" and not (meta.get("empty") and value == ""):
        _check_address(key, value, allow_port_zero=True)
    if kind == "path" and (not value or "\x00" in value):
        raise ConfigError(f"{key}: expected a file path, got {_show(value)}")


_HOST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[A-Za-z0-9._-]+)):(?P<port>\d{1,5})$")


def split_address(address: str) -> tuple[str, int]:
    """"host:port" or "[v6]:port" -> (host, port). Raises ValueError when malformed."""
    m = _HOST_PORT.match(address)
    if not m or int(m["port"]) > 65535:
        raise ValueError(f"expected host:port, got {address!r}")
    return (m["v6"] or m["host"]), int(m["port"])


def _check_address(key: str, value: str, *, allow_port_zero: bool) -> None:
    try:
        _, port = split_address(value)
    except ValueError:
        raise ConfigError(f"{key}: expected host:port (e.g. 127.0.0.1:26656), got {_show(value)}") from None
    if port == 0 and not allow_port_zero:
        raise ConfigError(f"{key}: port 0 cannot be dialled, got {_show(value)}")


def _show(value: Any) -> str:
    return repr(value) if isinstance(value, str) else f"{value!r} ({type(value).__name__})"
