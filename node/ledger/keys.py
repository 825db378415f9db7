"""ed25519 key pairs and key files.

A key file is JSON: {"type": "ed25519", "public_key": hex, "address": bech32m, "secret_seed": hex}.
An encrypted key file has "encrypted" instead of "secret_seed": the seed sealed with a key
derived from a passphrase by argon2id (salt and cost parameters stored beside it) in a
NaCl secretbox (XSalsa20-Poly1305), so a stolen file without its passphrase gives nothing,
and a wrong passphrase or a flipped byte is detected rather than yielding another key.
The public key and address stay in clear so `cbdc keys show` needs no passphrase.

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
import nacl.exceptions
import nacl.pwhash.argon2id as argon2id
import nacl.secret
import nacl.signing
import nacl.utils

from node.ledger.address import AddressError, decode_address, encode_address
from node.ledger.crypto import KEY_SIZE, verify

KEY_TYPE = "ed25519"
KDF = "argon2id"
CIPHER = "xsalsa20poly1305"
# argon2id "interactive" costs (2 passes, 64 MiB): a second or less to open a key, and
# a guessing attacker pays as much per guess. A file may name other costs, but never above
# "sensitive" (1 GiB): a crafted file must not make the node allocate without bound.
KDF_OPSLIMIT = argon2id.OPSLIMIT_INTERACTIVE
KDF_MEMLIMIT = argon2id.MEMLIMIT_INTERACTIVE
_MAX_OPSLIMIT = argon2id.OPSLIMIT_SENSITIVE
_MAX_MEMLIMIT = argon2id.MEMLIMIT_SENSITIVE
# Where services find the passphrase of their key files (a prompt needs a terminal).
ENV_PASSPHRASE = "CBDC_KEY_PASSPHRASE"
ENV_PASSPHRASE_FILE = "CBDC_KEY_PASSPHRASE_FILE"


class KeyFileError(Exception):
    """A key file that is missing, unreadable or malformed; the message names the file."""

    def __init__(self, path: str | os.PathLike[str], problem: str) -> None:
        super().__init__(f"key file {os.fspath(path)}: {problem}")
        self.path = os.fspath(path)
        self.problem = problem


class PassphraseRequired(KeyFileError):
    """The key file is encrypted and no passphrase was given."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        super().__init__(
            path,
            f"is encrypted; give its passphrase (a prompt, --passphrase-file, or ${ENV_PASSPHRASE} "
            f"/ ${ENV_PASSPHRASE_FILE} for services)",
        )


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


def encrypt_seed(
    seed: bytes, passphrase: bytes, *, opslimit: int = KDF_OPSLIMIT, memlimit: int = KDF_MEMLIMIT
) -> dict[str, object]:
    """The "encrypted" member of a key file: `seed` sealed under argon2id(passphrase)."""
    if not passphrase:
        raise ValueError("an empty passphrase protects nothing")
    salt = nacl.utils.random(argon2id.SALTBYTES)
    box = nacl.secret.SecretBox(_derive(passphrase, salt, opslimit, memlimit))
    sealed = box.encrypt(seed)  # nonce || ciphertext || tag
    return {
        "kdf": KDF,
        "opslimit": opslimit,
        "memlimit": memlimit,
        "salt": salt.hex(),
        "cipher": CIPHER,
        "box": bytes(sealed).hex(),
    }


def _derive(passphrase: bytes, salt: bytes, opslimit: int, memlimit: int) -> bytes:
    size = nacl.secret.SecretBox.KEY_SIZE
    return argon2id.kdf(size, passphrase, salt, opslimit=opslimit, memlimit=memlimit)


def save_key(
    path: str | os.PathLike[str],
    key: KeyPair,
    *,
    overwrite: bool = False,
    passphrase: bytes | None = None,
) -> Path:
    """Write `key` to `path` with mode 0600, atomically (temp file + fsync + rename),
    encrypted under `passphrase` when one is given.

    Refuses to replace an existing file unless `overwrite`: losing a key loses its money.
    """
    target = Path(path)
    if target.exists() and not overwrite:
        raise KeyFileError(target, "already exists; refusing to overwrite a key")
    doc: dict[str, object] = dict(key.to_dict())
    if passphrase is not None:
        del doc["secret_seed"]
        doc["encrypted"] = encrypt_seed(key.seed, passphrase)
    data = (json.dumps(doc, indent=2) + "\n").encode()
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


def load_key(path: str | os.PathLike[str], passphrase: bytes | None = None) -> KeyPair:
    """Read a key file. Warns (KeyFilePermissionWarning) when others can read it; raises
    KeyFileError naming the file and the problem when it is missing or malformed,
    PassphraseRequired when it is encrypted and no passphrase was given."""
    key, warning = load_key_checked(path, passphrase)
    if warning is not None:
        warnings.warn(warning, KeyFilePermissionWarning, stacklevel=2)
    return key


def load_key_checked(
    path: str | os.PathLike[str], passphrase: bytes | None = None
) -> tuple[KeyPair, str | None]:
    """Like load_key, but returns the permission warning (or None) instead of emitting it,
    for callers such as the CLI that print it themselves."""
    return parse_key(read_key_text(path), path, passphrase), permission_warning(path)


def read_key_text(path: str | os.PathLike[str]) -> str:
    """The text of a key file; KeyFileError naming the file when it cannot be read."""
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
    return text


def is_encrypted(text: str) -> bool:
    """Whether key-file text holds an encrypted seed (False for anything unparsable)."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        return False
    return isinstance(doc, dict) and "encrypted" in doc


def parse_key(
    text: str, path: str | os.PathLike[str] = "<key>", passphrase: bytes | None = None
) -> KeyPair:
    """Parse and cross-check the JSON of a key file (seed, public key and address must agree),
    opening an encrypted seed with `passphrase`."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise KeyFileError(path, f"is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise KeyFileError(path, "must hold a JSON object")
    if doc.get("type") != KEY_TYPE:
        raise KeyFileError(path, f"type must be {KEY_TYPE!r}, got {doc.get('type')!r}")
    if "encrypted" in doc:
        if "secret_seed" in doc:
            raise KeyFileError(path, "holds both secret_seed and encrypted; keep one")
        if passphrase is None:
            raise PassphraseRequired(path)
        seed = _open_seed(doc["encrypted"], passphrase, path)
    else:
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


def _open_seed(sealed: object, passphrase: bytes, path: str | os.PathLike[str]) -> bytes:
    if not isinstance(sealed, dict):
        raise KeyFileError(path, "encrypted must be a JSON object")
    if sealed.get("kdf") != KDF or sealed.get("cipher") != CIPHER:
        raise KeyFileError(
            path, f"encrypted uses kdf {sealed.get('kdf')!r} / cipher {sealed.get('cipher')!r}; "
            f"this version reads {KDF!r} / {CIPHER!r}"
        )
    ops, mem = sealed.get("opslimit"), sealed.get("memlimit")
    if not (isinstance(ops, int) and argon2id.OPSLIMIT_MIN <= ops <= _MAX_OPSLIMIT):
        raise KeyFileError(path, f"encrypted.opslimit must be {argon2id.OPSLIMIT_MIN}..{_MAX_OPSLIMIT}")
    if not (isinstance(mem, int) and argon2id.MEMLIMIT_MIN <= mem <= _MAX_MEMLIMIT):
        raise KeyFileError(path, f"encrypted.memlimit must be {argon2id.MEMLIMIT_MIN}..{_MAX_MEMLIMIT}")
    salt = _hex_field(sealed, "salt", path, argon2id.SALTBYTES)
    box = _hex_field(sealed, "box", path, None)
    try:
        seed = nacl.secret.SecretBox(_derive(passphrase, salt, ops, mem)).decrypt(box)
    except nacl.exceptions.CryptoError:
        raise KeyFileError(
            path, "the passphrase does not open it (wrong passphrase, or the file was altered)"
        ) from None
    if len(seed) != KEY_SIZE:
        raise KeyFileError(path, f"the sealed seed is {len(seed)} bytes, not {KEY_SIZE}")
    return seed


def public_of(text: str, path: str | os.PathLike[str] = "<key>") -> bytes:
    """The public key an (encrypted) key file names, without opening its seed; the address,
    when present, must agree with it. Opening the seed (parse_key) is what proves the pair."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise KeyFileError(path, f"is not valid JSON ({e.msg} at line {e.lineno})") from None
    if not isinstance(doc, dict):
        raise KeyFileError(path, "must hold a JSON object")
    public = _hex_field(doc, "public_key", path)
    if "address" in doc:
        try:
            if decode_address(doc["address"]) != public:
                raise KeyFileError(path, "address does not belong to public_key (file edited or corrupted)")
        except AddressError as e:
            raise KeyFileError(path, f"address: {e}") from None
    return public


def passphrase_from_environment() -> bytes | None:
    """The passphrase a service gives through its environment: the contents of the file
    named by $CBDC_KEY_PASSPHRASE_FILE (one trailing newline dropped), else
    $CBDC_KEY_PASSPHRASE; None when neither is set."""
    file = os.environ.get(ENV_PASSPHRASE_FILE, "").strip()
    if file:
        return read_passphrase_file(file)
    value = os.environ.get(ENV_PASSPHRASE)
    return value.encode() if value else None


def read_passphrase_file(path: str | os.PathLike[str]) -> bytes:
    """A passphrase kept in a file (a systemd credential, a mounted secret): its bytes less
    one trailing newline. KeyFileError naming the file when it is missing or empty."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise KeyFileError(path, f"passphrase file cannot be read ({e.strerror})") from None
    if data.endswith(b"\r\n"):
        data = data[:-2]
    elif data.endswith(b"\n"):
        data = data[:-1]
    if not data:
        raise KeyFileError(path, "passphrase file is empty")
    return data


def _hex_field(
    doc: dict, name: str, path: str | os.PathLike[str], size: int | None = KEY_SIZE
) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        expected = f"{size * 2} hex characters" if size else "hex"
        raise KeyFileError(path, f"{name} is missing (expected {expected})")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise KeyFileError(path, f"{name} is not hex") from None
    if size is None:
        return raw
    if len(raw) != size:
        raise KeyFileError(
            path, f"{name} must be {size} bytes ({size * 2} hex characters), got {len(raw)}"
        )
    return raw
