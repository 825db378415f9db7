"""TLS for every gRPC channel: certificates bound to the validator key, and grpcio credentials.

The binding. A node's consensus key is an ed25519 key, but grpcio's TLS stack (BoringSSL)
does not offer ed25519 handshake signatures, so the key cannot be the TLS key itself.
Instead it is the node's *certificate authority of one*:

  identity certificate  self-signed by the consensus key; CA, path length 0, and a name
                        constraint: it may only certify `key_name(its key)` and API_NAME.
  node certificate      an ECDSA P-256 leaf (the key TLS really uses), signed by the
                        consensus key, valid for `key_name(key)` and API_NAME.

The trust bundle (`members.crt`) holds the identity certificates of the consortium's members
(validators, observers, auditors). Because each identity may only certify its own key's name,
a dialler that sets the TLS target name to `key_name(K)` accepts exactly the holder of K:
another member's certificate fails the TLS check itself (BoringSSL enforces the constraint).
The dialled side reads the client's leaf from the connection, takes the key from its name
and checks the leaf's signature with it (`peer_key`), then compares with the key the peer
handshake proved. So the TLS peer and the consensus identity cannot differ, and a leaf can be
rotated without touching genesis: only the consensus key signs it.

Public API clients (wallets, the CLI) need no certificate of their own: they check the node
against the bundle under the name API_NAME, which every member may hold.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# The TLS name every member's node certificate carries for the public API.
API_NAME = "api.cbdc"
_KEY_DOMAIN = "key.cbdc"
IDENTITY_DAYS = 20 * 365
NODE_DAYS = 2 * 365
# Certificates start a little in the past: a peer whose clock is slightly behind must not
# see a certificate that is "not yet valid".
_BACKDATE = datetime.timedelta(hours=1)

IDENTITY_FILE = "identity.crt"
NODE_CERT_FILE = "node.crt"
NODE_KEY_FILE = "node.key"
MEMBERS_FILE = "members.crt"


class TlsError(ValueError):
    """TLS material is missing, unreadable or does not belong together; the message says which."""


def key_name(public_key: bytes) -> str:
    """The TLS name bound to a 32-byte ed25519 key: its hex in two DNS labels (a label holds
    at most 63 characters), e.g. `0a1b...(32).2c3d...(32).key.cbdc`."""
    if len(public_key) != 32:
        raise ValueError("an ed25519 public key is 32 bytes")
    h = public_key.hex()
    return f"{h[:32]}.{h[32:]}.{_KEY_DOMAIN}"


def key_from_name(name: str) -> bytes | None:
    """The inverse of key_name; None for any other name."""
    parts = name.split(".")
    if len(parts) != 4 or ".".join(parts[2:]) != _KEY_DOMAIN:
        return None
    try:
        raw = bytes.fromhex(parts[0] + parts[1])
    except ValueError:
        return None
    return raw if len(raw) == 32 and key_name(raw) == name else None


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _identity_name(public_key: bytes) -> x509.Name:
    # The serial-number attribute holds the whole key: distinct members have distinct
    # subjects, so a verifier never confuses one member's identity with another's.
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "cbdc consortium member"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, public_key.hex()),
        ]
    )


def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def identity_certificate(seed: bytes, *, days: int = IDENTITY_DAYS) -> bytes:
    """The PEM identity certificate of the consensus key with this 32-byte seed."""
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = signer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    name = _identity_name(public)
    now = _now()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(signer.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - _BACKDATE)
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True, crl_sign=True,
                encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.NameConstraints(
                permitted_subtrees=[x509.DNSName(key_name(public)), x509.DNSName(API_NAME)],
                excluded_subtrees=None,
            ),
            critical=True,
        )
        .sign(signer, None)
    )
    return _pem(cert)


def node_certificate(
    seed: bytes,
    identity_pem: bytes,
    *,
    not_before: datetime.datetime | None = None,
    not_after: datetime.datetime | None = None,
) -> tuple[bytes, bytes]:
    """A fresh ECDSA P-256 TLS key and its certificate signed by the consensus key (`seed`).
    Returns (private key PEM, certificate chain PEM = leaf + identity)."""
    signer = ed25519.Ed25519PrivateKey.from_private_bytes(seed)
    public = signer.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    identity = x509.load_pem_x509_certificate(identity_pem)
    if identity.public_key() != signer.public_key():
        raise TlsError("the identity certificate is not the one of this consensus key")
    tls_key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cbdc node")]))
        .issuer_name(identity.subject)
        .public_key(tls_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - _BACKDATE)
        .not_valid_after(not_after or now + datetime.timedelta(days=NODE_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.DNSName(key_name(public)), x509.DNSName(API_NAME)]),
            critical=False,
        )
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        .sign(signer, None)
    )
    key_pem = tls_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return key_pem, _pem(leaf) + identity_pem


def peer_key(leaf_pem: bytes) -> bytes | None:
    """The consensus key a presented TLS leaf is bound to: the key named in its subject
    alternative name, provided that key signed the leaf. None when it is not such a leaf."""
    try:
        leaf = x509.load_pem_x509_certificate(leaf_pem)
        names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, x509.ExtensionNotFound):
        return None
    for name in names.get_values_for_type(x509.DNSName):
        key = key_from_name(name)
        if key is None:
            continue
        try:
            ed25519.Ed25519PublicKey.from_public_bytes(key).verify(leaf.signature, leaf.tbs_certificate_bytes)
        except InvalidSignature:
            return None
        return key
    return None


def context_peer_key(context: Any) -> bytes | None:
    """The bound consensus key of the client on a mutual-TLS server call, else None."""
    auth = context.auth_context() or {}
    certs = auth.get("x509_pem_cert") or []
    return peer_key(certs[0]) if certs else None


# --- files --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TlsMaterial:
    """What a node (or a member client) holds: its key and chain, and the members' bundle."""

    key_pem: bytes
    chain_pem: bytes   # node certificate + identity certificate
    members_pem: bytes

    @classmethod
    def load(cls, key: Path, cert: Path, members: Path) -> TlsMaterial:
        return cls(_read(key, "TLS key"), _read(cert, "TLS certificate"), _read(members, "members bundle"))

    def server_credentials(self, *, require_client_auth: bool) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials(
            [(self.key_pem, self.chain_pem)],
            root_certificates=self.members_pem,
            require_client_auth=require_client_auth,
        )

    def channel_credentials(self) -> grpc.ChannelCredentials:
        """Mutual TLS: we present our chain and check the server against the bundle."""
        return grpc.ssl_channel_credentials(self.members_pem, self.key_pem, self.chain_pem)


def _read(path: Path, what: str) -> bytes:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise TlsError(f"{what} {path} does not exist (`cbdc node init` creates it)") from None
    except OSError as exc:
        raise TlsError(f"{what} {path}: cannot read ({exc.strerror})") from None
    if b"-----BEGIN" not in data:
        raise TlsError(f"{what} {path} is not PEM")
    return data


def client_credentials(ca_pem: bytes, key_pem: bytes | None = None, chain_pem: bytes | None = None):
    """Credentials of an API client: the bundle it trusts, and optionally its own chain."""
    return grpc.ssl_channel_credentials(ca_pem, key_pem, chain_pem)


def target_option(name: str) -> list[tuple[str, Any]]:
    """The channel option that makes TLS check the server under `name` instead of its address
    (key_name(K) to accept only the holder of K, API_NAME for any member's API)."""
    return [("grpc.ssl_target_name_override", name)]


def write_private(path: Path, data: bytes) -> None:
    """Write a private key readable by its owner only, atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    tmp.replace(path)


def init_node_tls(directory: Path, seed: bytes) -> list[str]:
    """Create what a member needs in `directory` (kept if present): the identity certificate,
    a node key and certificate, and a members bundle holding this identity. Returns the
    names of the files created."""
    directory.mkdir(parents=True, exist_ok=True)
    created: list[str] = []
    identity_path = directory / IDENTITY_FILE
    if not identity_path.exists():
        identity_path.write_bytes(identity_certificate(seed))
        created.append(IDENTITY_FILE)
    identity = identity_path.read_bytes()
    if not (directory / NODE_CERT_FILE).exists() or not (directory / NODE_KEY_FILE).exists():
        key_pem, chain_pem = node_certificate(seed, identity)
        write_private(directory / NODE_KEY_FILE, key_pem)
        (directory / NODE_CERT_FILE).write_bytes(chain_pem)
        created += [NODE_KEY_FILE, NODE_CERT_FILE]
    if not (directory / MEMBERS_FILE).exists():
        (directory / MEMBERS_FILE).write_bytes(identity)
        created.append(MEMBERS_FILE)
    return created


def renew_node_tls(directory: Path, seed: bytes) -> list[str]:
    """Make `directory`'s TLS material that of the key with this seed: a new node key and
    certificate always (a leaf nearing its end, or a key rotated by governance), a new
    identity certificate only when the present one is another key's, and that identity
    added to the members bundle if it is not there yet. Returns the names of the files
    written. The other members need the identity only when it is new."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[str] = []
    public = bytes(
        ed25519.Ed25519PrivateKey.from_private_bytes(seed).public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
    )
    identity_path = directory / IDENTITY_FILE
    identity = identity_path.read_bytes() if identity_path.exists() else b""
    if not identity or _identity_key(identity) != public:
        identity = identity_certificate(seed)
        identity_path.write_bytes(identity)
        written.append(IDENTITY_FILE)
    key_pem, chain_pem = node_certificate(seed, identity)
    write_private(directory / NODE_KEY_FILE, key_pem)
    (directory / NODE_CERT_FILE).write_bytes(chain_pem)
    written += [NODE_KEY_FILE, NODE_CERT_FILE]
    members_path = directory / MEMBERS_FILE
    members = members_path.read_bytes() if members_path.exists() else b""
    if identity.strip() not in members:
        separator = b"\n" if members and not members.endswith(b"\n") else b""
        members_path.write_bytes(members + separator + identity)
        written.append(MEMBERS_FILE)
    return written


def _identity_key(identity_pem: bytes) -> bytes | None:
    """The ed25519 key an identity certificate is of (None: not an ed25519 identity)."""
    try:
        key = x509.load_pem_x509_certificate(identity_pem).public_key()
    except ValueError:
        return None
    if not isinstance(key, ed25519.Ed25519PublicKey):
        return None
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
