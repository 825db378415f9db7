"""A signature verifier process: admission's ed25519 checks, off the node's interpreter.

Why a process and not the thread pool: libsodium releases the GIL inside a verification,
but every call returns to Python and must take the GIL back from the event loop, which
holds it most of the time; so verifying on threads costs the loop GIL hand-offs per
transaction, and small rounds are cheaper verified on the loop itself (node.admission_queue,
_INLINE_BELOW), where each costs the main thread a whole verification. A process verifies a
whole round for the price of one write and one read on the loop (node.verifiers).

Run by path (`python .../verifier_process.py FD`), it imports nothing of the node, only the
standard library and PyNaCl's bindings: it starts in tens of milliseconds, and its check is
the libsodium call consensus.crypto.verify makes (crypto_sign_open of signature + message
under the key). It ignores SIGINT (Ctrl-C reaches the whole process group; the node stops it)
and exits when the node closes its end of the socket, or dies.

Frames on the socket pair (little-endian):
  request  u32 length of the rest, u32 count, then per transaction: u8 n, the 32-byte digest
           the signatures cover, n x (32-byte key, 64-byte signature)
  answer   u32 count, then a byte per transaction: ALL_VALID, or the index of its first
           signature that does not verify
"""

from __future__ import annotations

import signal
import socket
import struct
import sys
from collections.abc import Sequence

from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

ALL_VALID = 255
MAX_SIGNATURES = ALL_VALID - 1  # a transaction with more goes the ordinary way
DIGEST, KEY, SIGNATURE = 32, 32, 64
_HEAD = struct.Struct("<II")
_COUNT = struct.Struct("<I")


def encode_request(items: Sequence[tuple[bytes, Sequence[bytes], Sequence[bytes]]]) -> bytes:
    """One request for (digest, keys, signatures) per transaction; sizes as in the module."""
    parts = []
    for digest, keys, signatures in items:
        parts.append(bytes((len(keys),)) + digest)
        parts.extend(key + sig for key, sig in zip(keys, signatures, strict=True))
    body = b"".join(parts)
    return _HEAD.pack(len(body) + _COUNT.size, len(items)) + body


def answer(body: bytes, count: int) -> bytes:
    """The answer to a request's body (what follows the count): verdict bytes, in order."""
    verdicts = bytearray(count)
    at = 0
    for t in range(count):
        n = body[at]
        message = body[at + 1 : at + 1 + DIGEST]
        at += 1 + DIGEST
        verdict = ALL_VALID
        for i in range(n):
            key, signature = body[at : at + KEY], body[at + KEY : at + KEY + SIGNATURE]
            if verdict == ALL_VALID and not _verifies(key, message, signature):
                verdict = i  # the first failure is the one named, as verify_signatures does
            at += KEY + SIGNATURE
        verdicts[t] = verdict
    return _COUNT.pack(count) + bytes(verdicts)


def _verifies(key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        crypto_sign_open(signature + message, key)
    except (CryptoError, ValueError, TypeError):
        return False
    return True


def _read_exactly(stream, size: int) -> bytes | None:  # type: ignore[no-untyped-def]
    data = stream.read(size)
    return data if data is not None and len(data) == size else None


def serve(sock: socket.socket) -> None:
    """Answer requests until the other end closes."""
    stream = sock.makefile("rb")
    while True:
        head = _read_exactly(stream, _HEAD.size)
        if head is None:
            return
        length, count = _HEAD.unpack(head)
        body = _read_exactly(stream, length - _COUNT.size)
        if body is None:
            return
        sock.sendall(answer(body, count))


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        serve(socket.socket(fileno=int(sys.argv[1])))
    except (BrokenPipeError, ConnectionResetError):
        pass  # the node went away mid-answer
