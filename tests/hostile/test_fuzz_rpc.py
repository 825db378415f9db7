"""Fuzzing every public RPC (Node and Sync services) of a real node over real gRPC.

The node is node.service.Node in-process (one validator, so it commits on its own) with a
little history: an issue, registered wallets, transfers. Requests are generated from the
proto descriptors - every field of every request type, with values around the ones that
matter (real addresses, txids, block hashes, heights near the tip, integer edges) - and as
raw or mutated bytes. Every answer must be OK with a well-formed response, or a clean
refusal: a status other than UNKNOWN/INTERNAL whose details start with a machine code.
The node must keep answering, and must log no error while being fuzzed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node import ledger_service
from node.client.connection import NodeClient
from node.client.txbuild import build_issue, build_register, build_transfer
from node.config import write_default_config
from node.ledger.blocks import decode_committed_block
from node.ledger.errors import Code
from node.ledger.genesis import make_genesis
from node.ledger.keys import save_key
from node.ledger.types import OutPoint
from node.net.grpc_status import NodeCode, parse_rpc_error
from proto import node_pb2, node_pb2_grpc

from .inproc import InProcessNode
from .test_fuzz_ledger import structured_txs
from .world import BANKS, CHAIN_ID, ISSUERS, VALIDATORS, WALLETS, mostly, mutate

FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
MACHINE_CODES = {c.value for c in Code} | {c.value for c in NodeCode} | {"out_of_range"}
NEVER = {grpc.StatusCode.UNKNOWN, grpc.StatusCode.INTERNAL, grpc.StatusCode.UNIMPLEMENTED,
         grpc.StatusCode.DATA_LOSS}

METHODS: list[MethodDescriptor] = [
    m for s in ("Node", "Sync") for m in node_pb2.DESCRIPTOR.services_by_name[s].methods
]
# Methods that wait by design (for a transaction's outcome, for new blocks): the test's
# short deadline ends them, so DEADLINE_EXCEEDED is an expected outcome for them only.
WAITING = {"WaitTransaction", "WatchBlocks"}


@dataclass
class Live:
    node: InProcessNode
    channel: grpc.Channel
    errors: list[logging.LogRecord]
    txids: list[bytes] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    tip: int = 0
    page_token: bytes = b""
    valid_tx: bytes = b""


class _ErrorLog(logging.Handler):
    def __init__(self, sink: list[logging.LogRecord]) -> None:
        super().__init__(level=logging.ERROR)
        self.sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self.sink.append(record)


def _home(directory: Path) -> Path:
    genesis = make_genesis(
        issuers=ISSUERS, institutions=BANKS, validators=[VALIDATORS[0]], issue_threshold=2,
        chain_id=CHAIN_ID, genesis_time_ms=int(time.time() * 1000) - 60_000,
    )
    genesis.save(directory / "genesis.json")
    save_key(directory / "validator.key", VALIDATORS[0])
    write_default_config(
        directory,
        p2p={"listen": "127.0.0.1:0"},
        consensus={"timeout_propose_ms": 500, "timeout_prevote_ms": 200, "timeout_precommit_ms": 200,
                   "heartbeat_interval_s": 0},
        # Plaintext and open reads, so that fuzzed requests reach the handlers themselves
        # (tests/security covers TLS and the roles in front of them).
        api={"listen": "127.0.0.1:0", "open_reads": True},
        tls={"insecure": True},
    )
    return directory


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    errors: list[logging.LogRecord] = []
    handler = _ErrorLog(errors)
    logging.getLogger().addHandler(handler)
    # A fuzzed seen_height just past the tip makes a read wait for a height this lone,
    # idle validator never makes: 5 s each, two thirds of this file's time. The answer
    # (Behind, retryable) is the same after 0.2 s; tests/keys/test_read_your_writes.py
    # covers the wait itself.
    patch = pytest.MonkeyPatch()
    patch.setattr(ledger_service, "READ_YOUR_WRITES_WAIT_S", 0.2)
    node = InProcessNode(_home(tmp_path_factory.mktemp("rpc-node")))
    channel = grpc.insecure_channel(node.api)
    try:
        live = Live(node, channel, errors)
        with NodeClient(node.api, timeout=30) as client:
            issue = build_issue(CHAIN_ID, [(BANKS[0].public, 10_000_000)], ISSUERS[:2], nonce=1)
            live.txids.append(client.submit_and_wait(issue).txid)
            for n, w in enumerate(WALLETS[:2]):
                live.txids.append(client.submit_and_wait(build_register(CHAIN_ID, BANKS[0], w.public, 2,
                                                                        nonce=2 + n)).txid)
            pay = build_transfer(CHAIN_ID, BANKS[0], [OutPoint(live.txids[0], 0)],
                                 [(WALLETS[0].public, 500)] * 3 + [(BANKS[0].public, 10_000_000 - 1_500)],
                                 nonce=9)
            live.txids.append(client.submit_and_wait(pay).txid)
            live.valid_tx = build_transfer(CHAIN_ID, WALLETS[0], [OutPoint(live.txids[-1], 0)],
                                           [(WALLETS[1].public, 500)], nonce=10)
            live.tip = client.status().height
            live.hashes = [client.block(h).block_hash for h in range(1, live.tip + 1)]
            page = node_pb2_grpc.NodeStub(channel).GetUtxos(
                node_pb2.GetUtxosRequest(address=WALLETS[0].public, limit=1), timeout=10
            )
            live.page_token = page.next_page_token
        assert live.tip >= 4 and live.page_token
        errors.clear()  # only what the fuzzing provokes counts
        yield live
    finally:
        channel.close()
        node.stop()
        logging.getLogger().removeHandler(handler)
        patch.undo()


# --- requests generated from the descriptors ---------------------------------------------------


def interesting_bytes(live: Live) -> list[bytes]:
    keys = [k.public for k in (*WALLETS, *BANKS, *ISSUERS, *VALIDATORS)]
    return [*keys, *live.txids, *live.hashes, live.page_token, live.valid_tx,
            b"", b"\x00" * 32, b"\xff" * 36, b"\x00" * 36, b"\x00" * 31, b"\x00" * 33]


def interesting_ints(live: Live, bits: int) -> st.SearchStrategy[int]:
    top = 2**bits - 1
    return st.one_of(
        st.integers(0, live.tip + 2),
        st.sampled_from([top, top - 1, 2**(bits - 1), 2**(bits - 1) - 1, 1000, 1001]),
        st.integers(0, top),
    )


def value_strategy(f: FieldDescriptor, live: Live) -> st.SearchStrategy:
    t = f.type
    if t == FieldDescriptor.TYPE_BYTES:
        known = st.sampled_from(interesting_bytes(live))
        if f.name == "tx":  # transactions: structured (mostly invalid, some valid) ones too
            return st.one_of(known, structured_txs(), st.binary(max_size=80))
        return st.one_of(known, st.binary(max_size=80))
    if t in (FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64):
        return interesting_ints(live, 64)
    if t in (FieldDescriptor.TYPE_UINT32, FieldDescriptor.TYPE_FIXED32):
        return interesting_ints(live, 32)
    if t in (FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_SINT64, FieldDescriptor.TYPE_SFIXED64):
        return st.integers(-(2**63), 2**63 - 1)
    if t in (FieldDescriptor.TYPE_INT32, FieldDescriptor.TYPE_SINT32, FieldDescriptor.TYPE_SFIXED32,
             FieldDescriptor.TYPE_ENUM):  # proto3 enums are open: unknown numbers must be handled
        return st.integers(-(2**31), 2**31 - 1)
    if t == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if t == FieldDescriptor.TYPE_STRING:
        return st.text(max_size=20)
    if t == FieldDescriptor.TYPE_MESSAGE:
        return message_strategy(f.message_type, live)
    raise AssertionError(f"no strategy for field type {t} of {f.full_name}")


def message_strategy(descriptor: Descriptor, live: Live) -> st.SearchStrategy:
    """Messages of `descriptor` with any subset of fields set (a oneof keeps the last one set)."""
    cls = message_factory.GetMessageClass(descriptor)

    @st.composite
    def build(draw):
        msg = cls()
        for f in descriptor.fields:
            if not draw(st.booleans()):
                continue
            if f.is_repeated:
                getattr(msg, f.name).extend(draw(st.lists(value_strategy(f, live), max_size=3)))
            elif f.type == FieldDescriptor.TYPE_MESSAGE:
                getattr(msg, f.name).CopyFrom(draw(value_strategy(f, live)))
            else:
                setattr(msg, f.name, draw(value_strategy(f, live)))
        return msg

    return build()


def request_bytes(method: MethodDescriptor, live: Live) -> st.SearchStrategy[bytes]:
    """A request as bytes: a generated message, a mutation of one, or random bytes."""
    structured = message_strategy(method.input_type, live).map(lambda m: m.SerializeToString())
    return mostly(
        structured,
        st.one_of(
            st.tuples(structured, st.data()).map(lambda a: mutate(a[1], a[0], max_ops=2) if a[0] else a[0]),
            st.binary(max_size=64),
        ),
    )


# --- calling and judging -------------------------------------------------------------------------


def call(live: Live, method: MethodDescriptor, payloads: list[bytes]) -> tuple[grpc.StatusCode, str, list]:
    """One call with raw request bytes; returns (status, details, parsed responses)."""
    path = f"/{method.containing_service.full_name}/{method.name}"
    parse = message_factory.GetMessageClass(method.output_type).FromString
    deadline = 0.3 if method.name in WAITING else 10.0
    responses: list = []
    try:
        if method.client_streaming:
            stream = live.channel.stream_stream(path)(iter(payloads), timeout=deadline)
            responses = [parse(r) for r in stream]
        elif method.server_streaming:
            stream = live.channel.unary_stream(path)(payloads[0], timeout=deadline)
            for r in stream:
                responses.append(parse(r))
                if method.name == "WatchBlocks" and len(responses) == 2:
                    stream.cancel()  # it would follow the chain for ever
                    break
        else:
            responses = [parse(live.channel.unary_unary(path)(payloads[0], timeout=deadline))]
    except grpc.RpcError as err:
        return err.code(), err.details() or "", responses
    return grpc.StatusCode.OK, "", responses


def judge(
    live: Live, method: MethodDescriptor, status: grpc.StatusCode, details: str, responses: list
) -> None:
    where = f"{method.name}: {status.name} {details!r}"
    assert status not in NEVER, where
    if status in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED):
        assert method.name in WAITING, where
    elif status is not grpc.StatusCode.OK:
        code, _ = parse_rpc_error(_Err(status, details))
        assert code in MACHINE_CODES, f"{where}: details do not start with a machine code"
    for r in responses:  # answers are truthful, not merely well-formed
        if isinstance(r, node_pb2.CommittedBlockMsg):
            committed = decode_committed_block(r.committed_block)
            assert committed.height == r.height and committed.block_hash == r.block_hash, where
        elif isinstance(r, node_pb2.GetUtxosResponse):
            assert len(r.utxos) <= 1000 and all(u.amount > 0 for u in r.utxos), where
        elif isinstance(r, node_pb2.NodeStatus | node_pb2.Tip):
            assert r.chain_id == CHAIN_ID and r.height >= live.tip, where
    if method.name == "GetBlocks" and responses:
        heights = [r.height for r in responses]
        assert heights == list(range(heights[0], heights[0] + len(heights))), where


@dataclass
class _Err:
    status: grpc.StatusCode
    text: str

    def code(self) -> grpc.StatusCode:
        return self.status

    def details(self) -> str:
        return self.text


def still_serving(live: Live) -> None:
    with NodeClient(live.node.api, timeout=5) as client:
        assert client.status().height >= live.tip
    assert [r.getMessage() for r in live.errors] == []


QUICK = [m for m in METHODS if m.name not in WAITING]
SLOW = [m for m in METHODS if m.name in WAITING]


@pytest.mark.parametrize("method", QUICK, ids=lambda m: m.name)
def test_every_request_gets_an_answer_or_a_clean_refusal(live: Live, method: MethodDescriptor) -> None:
    # A request type without fields has one structured form: fewer cases say as much.
    @settings(max_examples=180 if method.input_type.fields else 60, suppress_health_check=FIXTURE_OK)
    @given(st.data())
    def fuzz(data) -> None:
        n = data.draw(st.integers(1, 3)) if method.client_streaming else 1
        payloads = [data.draw(request_bytes(method, live)) for _ in range(n)]
        judge(live, method, *call(live, method, payloads))

    fuzz()
    still_serving(live)


@pytest.mark.parametrize("method", SLOW, ids=lambda m: m.name)
def test_waiting_requests_end_cleanly(live: Live, method: MethodDescriptor) -> None:
    @settings(max_examples=20, suppress_health_check=FIXTURE_OK)
    @given(st.data())
    def fuzz(data) -> None:
        judge(live, method, *call(live, method, [data.draw(request_bytes(method, live))]))

    fuzz()
    still_serving(live)
