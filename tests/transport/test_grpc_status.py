"""Ledger and node rejections <-> gRPC statuses with the machine code in the details."""

from __future__ import annotations

import grpc
import pytest

from node.ledger.errors import Code, LedgerError
from node.net.grpc_status import STATUS_FOR_CODE, NodeCode, NodeError, parse_rpc_error, status_for, to_status


class FakeRpcError(grpc.RpcError):
    """What a client sees, minus the channel (grpc.RpcError is an interface)."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details


def test_every_code_has_a_status() -> None:
    assert set(Code) | set(NodeCode) == set(STATUS_FOR_CODE)


@pytest.mark.parametrize(
    ("code", "status"),
    [
        (Code.MALFORMED, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.WRONG_CHAIN, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.BAD_SIGNATURE, grpc.StatusCode.INVALID_ARGUMENT),
        (Code.INSUFFICIENT_FUNDS, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.UNKNOWN_INPUT, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.DOUBLE_SPEND, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.TIER_LIMIT_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.UNREGISTERED_RECIPIENT, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.NOT_AUTHORIZED, grpc.StatusCode.FAILED_PRECONDITION),
        (Code.DUPLICATE, grpc.StatusCode.ALREADY_EXISTS),
        (NodeCode.MEMPOOL_FULL, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (NodeCode.MESSAGE_TOO_LARGE, grpc.StatusCode.RESOURCE_EXHAUSTED),
        (NodeCode.SYNCING, grpc.StatusCode.UNAVAILABLE),
        (NodeCode.NOT_FOUND, grpc.StatusCode.NOT_FOUND),
    ],
)
def test_status_classes(code: Code | NodeCode, status: grpc.StatusCode) -> None:
    assert status_for(code) == status


def test_details_lead_with_the_machine_code_and_parse_back() -> None:
    error = LedgerError(Code.INSUFFICIENT_FUNDS, "inputs total 100 fen but outputs need 200")
    status, details = to_status(error)
    assert (status, details) == (
        grpc.StatusCode.FAILED_PRECONDITION,
        "insufficient_funds: inputs total 100 fen but outputs need 200",
    )
    assert parse_rpc_error(FakeRpcError(status, details)) == (
        "insufficient_funds",
        "inputs total 100 fen but outputs need 200",
    )
    full = NodeError(NodeCode.MEMPOOL_FULL, "mempool is full (50000 transactions); retry later: soon")
    assert parse_rpc_error(FakeRpcError(*to_status(full))) == (
        "mempool_full",
        "mempool is full (50000 transactions); retry later: soon",
    )


def test_errors_without_our_code_parse_to_the_status_name() -> None:
    assert parse_rpc_error(
        FakeRpcError(grpc.StatusCode.UNAVAILABLE, "failed to connect to all addresses")
    ) == ("unavailable", "failed to connect to all addresses")
    assert parse_rpc_error(FakeRpcError(grpc.StatusCode.DEADLINE_EXCEEDED, "")) == ("deadline_exceeded", "")
    # A colon does not make a code: only known codes are split off.
    assert parse_rpc_error(FakeRpcError(grpc.StatusCode.INTERNAL, "oops: something")) == (
        "internal",
        "oops: something",
    )
    # gRPC's own size limit reads like the node's own.
    too_big = FakeRpcError(grpc.StatusCode.RESOURCE_EXHAUSTED, "Received message larger than max (9 vs. 4)")
    assert parse_rpc_error(too_big)[0] == "message_too_large"
