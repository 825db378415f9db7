"""Hashing and ed25519 signing with the domain separation every signed object uses.

Signatures never cover re-encoded messages: callers pass the bytes exactly as received.
"""

from __future__ import annotations

import nacl.signing
from consensus.crypto import HASH_SIZE, KEY_SIZE, SIGNATURE_SIZE, sha256, verify

TX_DOMAIN = b"cbdc/tx/v1"


def tx_sign_digest(chain_id: str, body: bytes) -> bytes:
    """What a transaction signature covers: the body bound to its chain and to the tx domain."""
    return sha256(TX_DOMAIN + b"\x00" + chain_id.encode() + b"\x00" + body)


def sign(secret_seed: bytes, message: bytes) -> bytes:
    """Detached ed25519 signature by the key with this 32-byte seed."""
    return nacl.signing.SigningKey(secret_seed).sign(message).signature


def public_key(secret_seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(secret_seed).verify_key)


__all__ = [
    "HASH_SIZE", "KEY_SIZE", "SIGNATURE_SIZE", "TX_DOMAIN",
    "public_key", "sha256", "sign", "tx_sign_digest", "verify",
]
