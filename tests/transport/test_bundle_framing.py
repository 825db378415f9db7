"""Bundle framing without a network: node.net.peers.bundle is pure, so every case is a row.

`take` (the writer's side): a queue, a byte budget, and the writes that drain it - which
queued messages each carries, enveloped in a Bundle when there are several. `unpack` (the
receiver's side): a bundle's entries, and what is handed on, what is skipped as
unexpected, or the FramingError that ends the stream. A hypothesis property ties the two:
what is taken and then unpacked is what was queued, in order, each write within the limit.
"""

from __future__ import annotations

from collections import Counter, deque

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.net.peers.bundle import (
    BUNDLE_FRAMING,
    BUNDLE_MAX_BYTES,
    BUNDLE_MAX_MESSAGES,
    ENTRY_FRAMING,
    PAYLOAD_KINDS,
    FramingError,
    Queued,
    bundle_budget,
    kind_of,
    take,
    unpack,
)
from proto import node_pb2

# A budget small enough that sizes in the rows read at a glance.
BUDGET = 100
WIDE = bundle_budget(16 * 1024 * 1024)  # the default limit: the byte cap never binds below


def vote(size: int, tag: int = 0) -> bytes:
    """A serialized vote of exactly `size` bytes (tag and length take 2, up to 127)."""
    assert 2 <= size <= 129
    data = node_pb2.PeerMessage(vote=bytes([tag % 256]) * (size - 2)).SerializeToString()
    assert len(data) == size
    return data


def message(kind: str, tag: int = 0) -> bytes:
    """A small serialized PeerMessage of `kind`, distinct per tag."""
    t = tag.to_bytes(4, "big")
    return {
        "vote": lambda: node_pb2.PeerMessage(vote=b"v" + t),
        "tx_batch": lambda: node_pb2.PeerMessage(tx_batch=node_pb2.TxBatch(txs=[t + b"a", t + b"b"])),
        "proposal": lambda: node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=t, block=t * 3)),
        "evidence": lambda: node_pb2.PeerMessage(evidence=b"ev" + t),
        "status": lambda: node_pb2.PeerMessage(status=node_pb2.StatusAnnouncement(height=tag, block_hash=t)),
        "commit": lambda: node_pb2.PeerMessage(commit=b"c" + t),
        "goodbye": lambda: node_pb2.PeerMessage(goodbye=node_pb2.Goodbye(reason=f"bye {tag}")),
        "hello": lambda: node_pb2.PeerMessage(hello=node_pb2.Hello(protocol_version=2, nonce=t)),
        "hello_reply": lambda: node_pb2.PeerMessage(hello_reply=node_pb2.HelloReply(nonce=t)),
        "hello_proof": lambda: node_pb2.PeerMessage(hello_proof=node_pb2.HelloProof(signature=t)),
        "hello_accepted": lambda: node_pb2.PeerMessage(hello_accepted=node_pb2.HelloAccepted()),
    }[kind]().SerializeToString()


def queued(data: bytes) -> Queued:
    return data, kind_of(node_pb2.PeerMessage.FromString(data))


def envelope(*entries: bytes) -> bytes:
    return node_pb2.PeerMessage(bundle=node_pb2.Bundle(messages=entries)).SerializeToString()


# --- take: the writer's side -------------------------------------------------------------

# Each row: the queue, the budget, and the writes that drain it, as the positions in the
# queue of the messages each carries.
TAKE_CASES = [
    pytest.param([vote(10)], BUDGET, [[0]], id="one message goes alone"),
    pytest.param([vote(10), vote(10, 1)], BUDGET, [[0, 1]], id="two small ones share a bundle"),
    pytest.param(
        [message(kind, n) for n, kind in enumerate(sorted(PAYLOAD_KINDS))],
        WIDE,
        [list(range(len(PAYLOAD_KINDS)))],
        id="every payload kind travels in a bundle",
    ),
    pytest.param(
        [vote(2, n) for n in range(BUNDLE_MAX_MESSAGES)], WIDE, [list(range(256))], id="exactly the count cap"
    ),
    pytest.param(
        [vote(2, n) for n in range(BUNDLE_MAX_MESSAGES + 44)],
        WIDE,
        [list(range(256)), list(range(256, 300))],
        id="over the count cap: a full bundle, then the rest",
    ),
    pytest.param(
        [vote(40), vote(48, 1)], BUDGET, [[0, 1]], id="entries and their framing fill the budget exactly"
    ),
    pytest.param(
        [vote(40), vote(49, 1)], BUDGET, [[0], [1]], id="one byte over the budget: no envelope for one"
    ),
    pytest.param(
        [vote(BUDGET - ENTRY_FRAMING + 1), vote(10, 1), vote(10, 2)],
        BUDGET,
        [[0], [1, 2]],
        id="a head over the budget goes alone",
    ),
    pytest.param(
        [vote(10), vote(10, 1), vote(120, 2), vote(10, 3)],
        BUDGET,
        [[0, 1], [2], [3]],
        id="a message over the budget behind others ends their bundle and goes alone",
    ),
    pytest.param(
        [message("goodbye"), vote(10), vote(10, 1)],
        BUDGET,
        [[0], [1, 2]],
        id="a non-payload kind at the head goes alone",
    ),
    pytest.param(
        [vote(10), vote(10, 1), message("goodbye"), vote(10, 2)],
        BUDGET,
        [[0, 1], [2], [3]],
        id="a non-payload kind behind ends the bundle",
    ),
]


@pytest.mark.parametrize(("messages", "budget", "writes"), TAKE_CASES)
def test_take(messages: list[bytes], budget: int, writes: list[list[int]]) -> None:
    queue = deque(queued(data) for data in messages)
    for positions in writes:
        write = take(queue, budget)
        carried = [messages[i] for i in positions]
        assert write.bundled == (len(carried) > 1)
        assert write.data == (envelope(*carried) if write.bundled else carried[0])
        assert write.kinds == Counter(queued(data)[1] for data in carried)
        assert len(queue) == len(messages) - 1 - positions[-1]  # the rest stays, in order
    assert not queue


def test_budget_leaves_room_for_the_envelope_under_both_limits() -> None:
    assert bundle_budget(64 * 1024) == 64 * 1024 - BUNDLE_FRAMING
    assert bundle_budget(16 * 1024 * 1024) == BUNDLE_MAX_BYTES - BUNDLE_FRAMING


# --- unpack: the receiver's side ---------------------------------------------------------

GARBAGE = b"\xff\xff\xff\xff"
TRUNCATED = vote(12)[:5]

# Each row: the bundle's entries; the positions of those handed on, the kinds skipped as
# unexpected, and the refusal (FramingError's sentence, or its start) if there is one.
UNPACK_CASES = [
    pytest.param([], [], ["empty bundle"], None, id="empty bundle"),
    pytest.param([vote(10)], [0], [], None, id="one message"),
    pytest.param(
        [message(kind, n) for n, kind in enumerate(sorted(PAYLOAD_KINDS))],
        list(range(len(PAYLOAD_KINDS))),
        [],
        None,
        id="every payload kind, in order",
    ),
    pytest.param(
        [vote(2, n) for n in range(BUNDLE_MAX_MESSAGES)],
        list(range(256)),
        [],
        None,
        id="exactly the count cap",
    ),
    pytest.param(
        [vote(2)] * (BUNDLE_MAX_MESSAGES + 1),
        [],
        [],
        "a bundle of 257 messages, more than the 256 allowed",
        id="one over the count cap",
    ),
    pytest.param(
        [b""] * 1_000_000,
        [],
        [],
        "a bundle of 1000000 messages, more than the 256 allowed",
        id="a million empty entries",
    ),
    pytest.param([GARBAGE], [], [], "message 0 of a bundle does not decode: ", id="garbage"),
    pytest.param([TRUNCATED], [], [], "message 0 of a bundle does not decode: ", id="truncated entry"),
    pytest.param(
        [vote(10), vote(10, 1), GARBAGE, vote(10, 2)],
        [0, 1],
        [],
        "message 2 of a bundle does not decode: ",
        id="garbage after valid entries: those before are handed on",
    ),
    pytest.param(
        [message("hello"), GARBAGE],
        [],
        ["hello"],
        "message 1 of a bundle does not decode: ",
        id="what was skipped before garbage is still listed",
    ),
    pytest.param([b""], [], ["empty"], None, id="an empty entry parses as a message of no kind"),
    pytest.param(
        [message(kind) for kind in ("hello", "hello_reply", "hello_proof", "hello_accepted", "goodbye")],
        [],
        ["hello", "hello_reply", "hello_proof", "hello_accepted", "goodbye"],
        None,
        id="handshake kinds and goodbye may not travel in a bundle",
    ),
    pytest.param(
        [envelope(vote(10)), vote(10, 1)], [1], ["bundle"], None, id="a nested bundle is never unpacked"
    ),
    pytest.param(
        [vote(10), message("goodbye"), vote(10, 1), b"", message("status", 7)],
        [0, 2, 4],
        ["goodbye", "empty"],
        None,
        id="payload handed on in order around what is skipped",
    ),
]


@pytest.mark.parametrize(("entries", "handed_on", "unexpected", "refusal"), UNPACK_CASES)
def test_unpack(
    entries: list[bytes], handed_on: list[int], unexpected: list[str], refusal: str | None
) -> None:
    got: list[bytes] = []
    skipped: list[str] = []
    try:
        unpacked = unpack(entries)
        try:
            for entry in unpacked:
                assert entry.kind == kind_of(entry.message) and entry.kind in PAYLOAD_KINDS
                got.append(entries[entry.index])
                assert entry.message == node_pb2.PeerMessage.FromString(got[-1])
        finally:
            skipped = unpacked.unexpected
    except FramingError as exc:
        assert refusal is not None, f"refused: {exc}"
        assert exc.reason == "malformed" and str(exc) == f"malformed: {exc.message}"
        if refusal.endswith(": "):
            assert exc.message.startswith(refusal)
        else:
            assert exc.message == refusal
    else:
        assert refusal is None, "not refused"
    assert got == [entries[i] for i in handed_on]
    assert skipped == unexpected


# --- the two sides together --------------------------------------------------------------

PAYLOADS = ("vote", "evidence", "commit")


@st.composite
def queues(draw: st.DrawFn) -> list[bytes]:
    """Serialized messages, mostly small payloads, some big, a few that must go alone."""
    out = []
    for n in range(draw(st.integers(0, 300))):
        kind = draw(st.sampled_from((*PAYLOADS, "goodbye")) if n % 7 == 0 else st.sampled_from(PAYLOADS))
        if kind == "goodbye":
            out.append(message(kind, n))
            continue
        body = n.to_bytes(2, "big") + b"x" * draw(st.one_of(st.integers(0, 8), st.integers(0, 700)))
        out.append(node_pb2.PeerMessage(**{kind: body}).SerializeToString())
    return out


@settings(max_examples=150)
@given(queues(), st.integers(64, 2048))
def test_what_is_taken_then_unpacked_is_what_was_queued_in_order(
    messages: list[bytes], max_message_bytes: int
) -> None:
    messages = [m for m in messages if len(m) <= max_message_bytes]  # bigger ones are refused at send
    budget = bundle_budget(max_message_bytes)
    queue = deque(queued(data) for data in messages)
    received: list[bytes] = []
    sent: Counter[str] = Counter()
    while queue:
        write = take(queue, budget)
        assert len(write.data) <= max_message_bytes  # the peer's gRPC never refuses a write
        sent.update(write.kinds)
        if not write.bundled:
            received.append(write.data)
            continue
        entries = node_pb2.PeerMessage.FromString(write.data).bundle.messages
        assert 2 <= len(entries) <= BUNDLE_MAX_MESSAGES
        assert sum(len(e) + ENTRY_FRAMING for e in entries) <= budget
        unpacked = unpack(entries)
        received += [entries[entry.index] for entry in unpacked]
        assert not unpacked.unexpected
    assert received == messages
    assert sent == Counter(queued(data)[1] for data in messages)
