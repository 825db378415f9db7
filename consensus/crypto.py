"""The primitives every signed object of the chain shares: sizes, SHA-256, ed25519 checks.

The lowest floor that needs them is consensus (votes, proposals), so they live here and the
ledger (node.ledger.crypto) builds its transaction signing on top: one definition each.
"""

from __future__ import annotations

import hashlib

import nacl.exceptions
import nacl.signing

HASH_SIZE = 32
KEY_SIZE = 32
SIGNATURE_SIZE = 64


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


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
