"""ed25519 key pairs and key files.

A key file is JSON: {"type": "ed25519", "public_key": hex, "address": bech32m, "secret_seed": hex}.
It is created with mode 0600 from the first byte (never chmod-ed after the fact, so the secret
is never readable by others even for a moment) and replaced atomically, so a crash never leaves
a half-written key behind.
"""

from __future__ import annotations

import json
import os
import stat
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path

import nacl.bindings
import nacl.signing

from node.ledger.address import AddressError, decode_address, encode_address
from node.ledger.crypto import KEY_SIZE, verify

KEY_TYPE = "ed25519"


class KeyFileError(Exception):
    """A key file that is missing, unreadable or malformed; the message names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"key file {os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


class KeyFilePermissionWarning(UserWarning):
    """A key file that group or other users can read."""


@dataclass(frozen=True, slots=True)
class KeyPair:
    seed: bytes     # 32-byte ed25519 secret seed
    public: bytes   # 32-byte ed25519 public key

    def __post_init__(self) -> None:
        if len(self.seed) != KEY_SIZE or len(self.public) != KEY_SIZE:
            raise ValueError("an ed25519 seed and public key are 32 bytes each")

    def __repr__(self) -> str:  # never print the secret into logs or tracebacks
        return f"KeyPair(address={self.address})"

    @classmethod
    def generate(cls) -> KeyPair:
        sk = nacl.signing.SigningKey.generate()
        return cls(bytes(sk), bytes(sk.verify_key))

    @classmethod
    def from_seed(cls, seed: bytes) -> KeyPair:
        if len(seed) != KEY_SIZE:
            raise ValueError(f"an ed25519 seed is {KEY_SIZE} bytes, got {len(seed)}")
        return cls(bytes(seed), bytes(nacl.signing.SigningKey(seed).verify_key))

    @property
    def address(self) -> str:
        return encode_address(self.public)

    def sign(self, message: bytes) -> bytes:
        """Detached 64-byte ed25519 signature."""
        # crypto_sign with the 64-byte secret key (seed || public) skips building a
        # SigningKey (a scalar multiplication) on every call.
        return nacl.bindings.crypto_sign(message, self.seed + self.public)[:64]

    def to_dict(self) -> dict[str, str]:
        return {
            "type": KEY_TYPE,
            "public_key": self.public.hex(),
            "address": self.address,
            "secret_seed": self.seed.hex(),
        }


def save_key(path: str | os.PathLike[str], key: KeyPair, *, overwrite: bool = False) -> Path:
    """Write `key` to `path` with mode 0600, atomically (temp file + fsync + rename).

    Refuses to replace an existing file unless `overwrite`: losing a key loses its money.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise KeyFileError(target, "already exists; refusing to overwrite a key")
    data = (json.dumps(key.to_dict(), indent=2) + "\n").encode()
    directory = target.parent if str(target.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=directory)
    try:
        os.fchmod(fd, 0o600)  # mkstemp already creates 0600; be explicit about the intent
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(directory)
    return target


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def permission_warning(path: str | os.PathLike[str]) -> str | None:
    """A sentence to show when group or other users may read the key file, else None."""
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return (
            f"key file {os.fspath(path)} is accessible by other users "
            f"(mode {stat.S_IMODE(mode):04o}); run: chmod 600 {os.fspath(path)}"
        )
    return None


def load_key(path: str | os.PathLike[str]) -> KeyPair:
    """Read a key file. Warns (KeyFilePermissionWarning) when others can read it; raises
    KeyFileError naming the file and the problem when it is missing or malformed."""
    key, warning = load_key_checked(path)
    if warning is not None:
        warnings.warn(warning, KeyFilePermissionWarning, stacklevel=2)
    return key


def load_key_checked(path: str | os.PathLike[str]) -> tuple[KeyPair, str | None]:
    """Like load_key, but returns the permission warning (or None) instead of emitting it,
    for callers such as the CLI that print it themselves."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise KeyFileError(path, "does not exist") from None
    except IsADirectoryError:
        raise KeyFileError(path, "is a directory, not a key file") from None
    except PermissionError:
        raise KeyFileError(path, "is not readable by this user") from None
    except UnicodeDecodeError:
        raise KeyFileError(path, "is not a text (JSON) file") from None
    return parse_key(text, path), permission_warning(path)


def parse_key(text: str, path: str | os.PathLike[str] = "<key>") -> KeyPair:
    """Parse and cross-check the JSON of a key file (seed, public key and address must agree)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise KeyFileError(path, f"is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise KeyFileError(path, "must hold a JSON object")
    if doc.get("type") != KEY_TYPE:
        raise KeyFileError(path, f"type must be {KEY_TYPE!r}, got {doc.get('type')!r}")
    seed = _hex_field(doc, "secret_seed", path)
    key = KeyPair.from_seed(seed)
    if "public_key" in doc and _hex_field(doc, "public_key", path) != key.public:
        raise KeyFileError(path, "public_key does not belong to secret_seed (file edited or corrupted)")
    if "address" in doc:
        try:
            address_key = decode_address(doc["address"])
        except AddressError as e:
            raise KeyFileError(path, f"address: {e}") from None
        if address_key != key.public:
            raise KeyFileError(path, "address does not belong to secret_seed (file edited or corrupted)")
    # A last self-check: a key that cannot verify its own signature must never be used.
    if not verify(key.public, b"cbdc/keycheck", key.sign(b"cbdc/keycheck")):
        raise KeyFileError(path, "key pair fails a signature self-check")
    return key


def _hex_field(doc: dict, name: str, path: str | os.PathLike[str]) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise KeyFileError(path, f"{name} is missing (expected {KEY_SIZE * 2} hex characters)")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(path, f"{name} is not hex") from None
    if len(raw) != KEY_SIZE:
        raise KeyFileError(
            path, f"{name} must be {KEY_SIZE} bytes ({KEY_SIZE * 2} hex characters), got {len(raw)}"
        )
    return raw
