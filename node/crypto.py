"""Hashing and ed25519 signing with the domain separation every signed object uses.

Signatures never cover re-encoded messages: callers pass the bytes exactly as received.
"""

from __future__ import annotations

import hashlib

import nacl.exceptions
import nacl.signing

HASH_SIZE = 32
KEY_SIZE = 32
SIGNATURE_SIZE = 64
TX_DOMAIN = b"cbdc/tx/v1"


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def tx_sign_digest(chain_id: str, body: bytes) -> bytes:
    """What a transaction signature covers: the body bound to its chain and to the tx domain."""
    return sha256(TX_DOMAIN + b"\x00" + chain_id.encode() + b"\x00" + body)


def sign(secret_seed: bytes, message: bytes) -> bytes:
    """Detached ed25519 signature by the key with this 32-byte seed."""
    return nacl.signing.SigningKey(secret_seed).sign(message).signature


def public_key(secret_seed: bytes) -> bytes:
    return bytes(nacl.signing.SigningKey(secret_seed).verify_key)


def verify(public: bytes, message: bytes, signature: bytes) -> bool:
    """True when `signature` is a valid ed25519 signature of `message` by `public`.

    Never raises for bad input: wrong sizes and invalid points are simply not valid.
    """
    if len(public) != KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        return False
    try:
        nacl.signing.VerifyKey(public).verify(message, signature)
    except (nacl.exceptions.BadSignatureError, nacl.exceptions.ValueError, nacl.exceptions.TypeError):
        return False
    return True
