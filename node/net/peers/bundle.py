"""Bundle framing: several queued messages in one write, and back to one by one.

Writing is where the Python cost of a stream goes (each grpc.aio write is tens of µs), so a
writer that finds several messages queued sends them as one Bundle: a PeerMessage whose
only content is the serialized messages, in order. The receiver unpacks a bundle and hands
each message on exactly as if it had come alone. Messages queue up while a write is in
flight, so this batches under load and adds no delay when idle.

Pure: no gRPC, no event loop (node/net/peers/ruff.toml keeps them out), so every framing
case is a table test (tests/transport/test_bundle_framing.py). `take` decides what the
writer sends next; `unpack` says what a received bundle holds, or refuses it with a
FramingError, which ends the sender's stream.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from proto import node_pb2

# Message kinds the dialled side accepts after the handshake, alone or in a bundle (and
# Goodbye, and a bundle itself, only alone); anything else is a protocol violation (the
# handshake kinds) and is dropped as "unexpected".
PAYLOAD_KINDS = frozenset({"proposal", "vote", "tx_batch", "evidence", "status", "commit"})

# The count cap is part of the protocol: a receiver ends the stream of a peer that sends
# more per bundle, which bounds the per-entry work of a bundle of millions of empty entries
# (the bytes limit alone would allow 8 million in 16 MiB). 256 already makes the per-write
# cost negligible per message, so a larger cap would buy nothing.
BUNDLE_MAX_MESSAGES = 256
# Bytes per bundle, below max_message_bytes: a write's fixed cost is already small against
# copying 1 MiB, while a bundle lost on a failing stream (or refused by a peer configured
# with a smaller limit) takes everything in it, and nothing in a bundle can be handled
# before all of it has arrived.
BUNDLE_MAX_BYTES = 1024 * 1024
# Wire framing, upper bounds: the PeerMessage.bundle tag (2 bytes) and length (varint, at
# most 5), and per entry the Bundle.messages tag (1) and length (at most 5).
BUNDLE_FRAMING = 7
ENTRY_FRAMING = 6

# What a send queue holds: a message serialized once, and its kind (for the sent counters).
Queued = tuple[bytes, str]


def kind_of(msg: node_pb2.PeerMessage) -> str:
    """The PeerMessage kind that is set, or "empty" (what b"" parses as)."""
    return msg.WhichOneof("kind") or "empty"


class FramingError(Exception):
    """A peer's bytes break the stream's framing: the stream is ended. `reason` is the
    metrics drop reason and the first word of the status details the peer is told."""

    reason = "malformed"

    def __init__(self, message: str) -> None:
        super().__init__(f"{self.reason}: {message}")
        self.message = message


def bundle_budget(max_message_bytes: int) -> int:
    """Bytes the entries of one bundle (with their framing) may take, on a stream whose
    messages are capped at `max_message_bytes`."""
    return min(max_message_bytes, BUNDLE_MAX_BYTES) - BUNDLE_FRAMING


@dataclass(frozen=True)
class Write:
    """One write the writer sends: a lone message or a bundle, and what it carries."""

    data: bytes
    kinds: dict[str, int]  # how many messages of each kind travel in it
    bundled: bool


def take(queue: deque[Queued], budget: int) -> Write:
    """The next write: the head of `queue` and as many of the messages behind it as fit in
    one bundle of `budget` bytes (bundle_budget), in order; popped from `queue`, which must
    not be empty. A message goes alone when nothing follows it, when it is too big to share
    a write, or when it is not a payload kind (nothing else is queued today; anything that
    were would go alone, where the receiver expects it)."""
    data, kind = queue.popleft()
    if not queue or kind not in PAYLOAD_KINDS or len(data) + ENTRY_FRAMING > budget:
        return Write(data, {kind: 1}, bundled=False)
    parts = [data]
    kinds = {kind: 1}
    size = len(data) + ENTRY_FRAMING
    while queue and len(parts) < BUNDLE_MAX_MESSAGES:
        data, kind = queue[0]
        size += len(data) + ENTRY_FRAMING
        if size > budget or kind not in PAYLOAD_KINDS:
            break
        queue.popleft()
        parts.append(data)
        kinds[kind] = kinds.get(kind, 0) + 1
    if len(parts) == 1:  # the next one did not fit: no envelope for a single message
        return Write(parts[0], kinds, bundled=False)
    # Built by the message class: upb copies and frames the parts in C, a few times cheaper
    # than joining varint-framed pieces in Python.
    bundle = node_pb2.PeerMessage(bundle=node_pb2.Bundle(messages=parts))
    return Write(bundle.SerializeToString(), kinds, bundled=True)


@dataclass(frozen=True)
class Entry:
    """A payload message of a received bundle, to hand on as if it had come alone."""

    index: int  # its place in the bundle
    kind: str
    message: node_pb2.PeerMessage


@dataclass
class Unpacked:
    """A received bundle. Iterating gives its payload entries in order, decoding each only
    when it is reached; an entry that does not decode raises FramingError there (the ones
    before it have been handed on, as they would have been had they come alone). Kinds
    that may not travel in a bundle (handshake, goodbye, another bundle: never nested, so
    a bundle in a bundle is not unpacked) are skipped and listed in `unexpected`, as is an
    empty bundle (never written by a sender, harmless: visible, like an empty message)."""

    messages: Sequence[bytes]
    unexpected: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Entry]:
        for index, data in enumerate(self.messages):
            try:
                msg = node_pb2.PeerMessage.FromString(data)
            except DecodeError as exc:
                raise FramingError(f"message {index} of a bundle does not decode: {exc}") from None
            kind = kind_of(msg)
            if kind in PAYLOAD_KINDS:
                yield Entry(index, kind, msg)
            else:
                self.unexpected.append(kind)
        if not self.messages:
            self.unexpected.append("empty bundle")


def unpack(messages: Sequence[bytes]) -> Unpacked:
    """A received bundle's entries, to iterate. More than BUNDLE_MAX_MESSAGES is refused at
    once (FramingError), before any entry is looked at: len() of a repeated field is O(1)."""
    count = len(messages)
    if count > BUNDLE_MAX_MESSAGES:
        raise FramingError(f"a bundle of {count} messages, more than the {BUNDLE_MAX_MESSAGES} allowed")
    return Unpacked(messages)
