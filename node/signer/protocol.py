"""The node <-> signer wire: length-prefixed JSON frames over a Unix socket.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON; bytes travel as
hex. One request, one answer, in order. Requests:

- {"op": "hello"} -> {"public_key", "chain_id", "state"}: the signer's key, the chain it
  signs for, and its sign-state (SignState bytes; "" when it never signed).
- {"op": "sign_vote", "chain_id", "height", "round", "vote_type", "block_hash", "locks"}
- {"op": "sign_proposal", "chain_id", "height", "round", "pol_round", "block_hash", "locks"}
  -> {"message" (or null: refused), "state", "repeat", "conflict"}; `locks` is the state
  machine's [locked_round, locked_hash, valid_round, valid_hash], kept with the sign-state.
- {"op": "sign_handshake", "chain_id", "nonce", "verifier"} -> {"signature"}: the proof of
  key for a peer handshake; the signer builds the message itself (handshake domain), so it
  can never be made to sign a vote or proposal digest this way.
Any request can be answered {"error": "..."} instead.

JSON rather than protobuf: a handful of messages between two processes of one operator,
readable in a packet capture, and no field numbers to coordinate.
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

MAX_FRAME = 64 * 1024
_HEADER = struct.Struct(">I")


class SignerProtocolError(Exception):
    """The other side sent something that is not a frame of this protocol."""


def encode_frame(doc: dict[str, Any]) -> bytes:
    body = json.dumps(doc, separators=(",", ":")).encode()
    if len(body) > MAX_FRAME:
        raise SignerProtocolError(f"frame of {len(body)} bytes is over {MAX_FRAME}")
    return _HEADER.pack(len(body)) + body


def decode_body(body: bytes) -> dict[str, Any]:
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SignerProtocolError(f"frame is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise SignerProtocolError("frame must hold a JSON object")
    return doc


def frame_length(header: bytes) -> int:
    (length,) = _HEADER.unpack(header)
    if length > MAX_FRAME:
        raise SignerProtocolError(f"frame of {length} bytes is over {MAX_FRAME}")
    return length


def read_frame(sock: socket.socket) -> dict[str, Any]:
    """One frame from a blocking socket (its timeout applies); EOFError when it closed."""
    length = frame_length(_read_exactly(sock, _HEADER.size))
    return decode_body(_read_exactly(sock, length))


def _read_exactly(sock: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError("the signer connection closed")
        data += chunk
    return bytes(data)


def hex_field(doc: dict[str, Any], name: str, size: int | None = None) -> bytes:
    value = doc.get(name)
    if not isinstance(value, str):
        raise SignerProtocolError(f"{name} must be a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise SignerProtocolError(f"{name} is not hex") from None
    if size is not None and len(raw) != size:
        raise SignerProtocolError(f"{name} must be {size} bytes, got {len(raw)}")
    return raw


def int_field(doc: dict[str, Any], name: str, low: int = 0) -> int:
    value = doc.get(name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low or value >= 2**63:
        raise SignerProtocolError(f"{name} must be an integer >= {low}")
    return value
