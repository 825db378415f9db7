"""How rejections travel over gRPC: a status code plus "<machine code>: <sentence>".

Servers map the ledger's `LedgerError` (and the node's own `NodeError`: mempool full,
message too large, still syncing, not found) to a gRPC status whose details start with the
machine code, e.g. "insufficient_funds: inputs total 100 fen but outputs need 200". Clients
parse the code back with `parse_rpc_error`, so scripts branch on a stable code rather than
on prose, and generic gRPC tools still show a readable sentence.
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Awaitable, Callable
from enum import StrEnum
from typing import Any, NoReturn

import grpc
import grpc.aio

from node.ledger.errors import Code, LedgerError


class NodeCode(StrEnum):
    """Rejections that come from the node rather than the ledger rules."""

    MEMPOOL_FULL = "mempool_full"              # count, byte or per-wallet bound reached; retry later
    MESSAGE_TOO_LARGE = "message_too_large"    # over grpc.max_message_bytes or a ledger size cap
    SYNCING = "syncing"                        # catching up; answers would be stale
    NOT_FOUND = "not_found"                    # no such transaction, block or wallet
    SHUTTING_DOWN = "shutting_down"            # the node is stopping
    PRUNED = "pruned"                          # the block's body is no longer held here
    BEHIND = "behind"                          # not yet at the height the answer depends on; retry
    # Who may read what (node.net.auth):
    UNAUTHENTICATED = "unauthenticated"        # the call reads private data: sign it
    BAD_REQUEST_SIGNATURE = "bad_request_signature"  # signed-request headers malformed or wrong
    STALE_REQUEST = "stale_request"            # signed too far from the node's clock
    REPLAYED_REQUEST = "replayed_request"      # this signed request was already used
    PERMISSION_DENIED = "permission_denied"    # a proven key, but not one allowed here


class NodeError(Exception):
    """A node-level rejection, shaped like LedgerError so both map the same way."""

    def __init__(self, code: NodeCode, message: str) -> None:
        super().__init__(f"{code.value}: {message}")
        self.code = code
        self.message = message


# Every code is listed (a test checks it), so a new ledger code cannot silently fall back
# to some default status: whoever adds it decides which class of error it is.
STATUS_FOR_CODE: dict[str, grpc.StatusCode] = {
    # The bytes themselves are wrong: resending them can never succeed.
    Code.MALFORMED: grpc.StatusCode.INVALID_ARGUMENT,
    Code.WRONG_CHAIN: grpc.StatusCode.INVALID_ARGUMENT,
    Code.BAD_SIGNATURE: grpc.StatusCode.INVALID_ARGUMENT,
    # Well-formed but the chain's state or rules refuse it (may succeed in another state).
    Code.UNKNOWN_INPUT: grpc.StatusCode.FAILED_PRECONDITION,
    Code.DOUBLE_SPEND: grpc.StatusCode.FAILED_PRECONDITION,
    Code.INSUFFICIENT_FUNDS: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNBALANCED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.ZERO_AMOUNT: grpc.StatusCode.FAILED_PRECONDITION,
    Code.AMOUNT_OVERFLOW: grpc.StatusCode.FAILED_PRECONDITION,
    Code.TIER_LIMIT_EXCEEDED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNREGISTERED_RECIPIENT: grpc.StatusCode.FAILED_PRECONDITION,
    Code.NOT_AUTHORIZED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNKNOWN_TIER: grpc.StatusCode.FAILED_PRECONDITION,
    Code.INVALID_BLOCK: grpc.StatusCode.FAILED_PRECONDITION,
    # Programmable money: a time may come (condition_not_met), a registry may change.
    Code.CONDITION_NOT_MET: grpc.StatusCode.FAILED_PRECONDITION,
    Code.DESTINATION_NOT_ALLOWED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.VOUCHER_EXPIRED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNKNOWN_PURPOSE: grpc.StatusCode.FAILED_PRECONDITION,
    Code.PURPOSE_NOT_ALLOWED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.DUPLICATE: grpc.StatusCode.ALREADY_EXISTS,
    # Governance (node.ledger.governance_rules): refusals on the state, like unknown_input.
    Code.UNKNOWN_INSTITUTION: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNKNOWN_WALLET: grpc.StatusCode.FAILED_PRECONDITION,
    Code.EFFECTIVE_HEIGHT_PASSED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.BOUND_VIOLATION: grpc.StatusCode.FAILED_PRECONDITION,
    Code.IN_USE: grpc.StatusCode.ALREADY_EXISTS,
    Code.WRONG_STATUS: grpc.StatusCode.FAILED_PRECONDITION,
    Code.NOT_EMPTY: grpc.StatusCode.FAILED_PRECONDITION,
    Code.WALLET_FROZEN: grpc.StatusCode.FAILED_PRECONDITION,
    Code.INSTITUTION_SUSPENDED: grpc.StatusCode.FAILED_PRECONDITION,
    Code.UNKNOWN_VALIDATOR: grpc.StatusCode.FAILED_PRECONDITION,
    NodeCode.MEMPOOL_FULL: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NodeCode.MESSAGE_TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    NodeCode.SYNCING: grpc.StatusCode.UNAVAILABLE,
    NodeCode.SHUTTING_DOWN: grpc.StatusCode.UNAVAILABLE,
    NodeCode.BEHIND: grpc.StatusCode.UNAVAILABLE,
    NodeCode.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    # This node no longer holds it (pruned, or started from a snapshot); an archive node does.
    NodeCode.PRUNED: grpc.StatusCode.NOT_FOUND,
    NodeCode.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    NodeCode.BAD_REQUEST_SIGNATURE: grpc.StatusCode.UNAUTHENTICATED,
    NodeCode.STALE_REQUEST: grpc.StatusCode.UNAUTHENTICATED,
    NodeCode.REPLAYED_REQUEST: grpc.StatusCode.UNAUTHENTICATED,
    NodeCode.PERMISSION_DENIED: grpc.StatusCode.PERMISSION_DENIED,
}

_KNOWN_CODES = frozenset(str(c) for c in STATUS_FOR_CODE)


def status_for(code: Code | NodeCode) -> grpc.StatusCode:
    return STATUS_FOR_CODE[code]


def status_details(code: Code | NodeCode, message: str) -> str:
    return f"{code.value}: {message}"


def to_status(exc: LedgerError | NodeError) -> tuple[grpc.StatusCode, str]:
    """(status code, details) for a rejection."""
    return status_for(exc.code), status_details(exc.code, exc.message)


async def abort(context: grpc.aio.ServicerContext[Any, Any], exc: LedgerError | NodeError) -> NoReturn:
    """End the RPC with the status for `exc`. Never returns (aio's abort raises)."""
    code, details = to_status(exc)
    await context.abort(code, details)
    raise AssertionError("unreachable: context.abort returned")  # keeps NoReturn honest


def parse_rpc_error(err: grpc.RpcError) -> tuple[str, str]:
    """(machine code, message) of a failed call, for clients.

    Details that start with one of our codes give (that code, the rest). Anything else -
    transport errors, gRPC's own limits, deadlines - gives the lower-case status name and
    the details as they are, e.g. ("unavailable", "failed to connect to all addresses").
    gRPC's own "message larger than max" is reported as message_too_large, as the node's
    own size checks are, so clients handle both alike.
    """
    status: grpc.StatusCode | None = err.code() if hasattr(err, "code") else None
    details: str = (err.details() if hasattr(err, "details") else None) or ""
    head, sep, rest = details.partition(": ")
    if sep and head in _KNOWN_CODES:
        return head, rest
    if status is grpc.StatusCode.RESOURCE_EXHAUSTED and "larger than max" in details:
        return NodeCode.MESSAGE_TOO_LARGE.value, details
    name = status.name.lower() if status is not None else "unknown"
    return name, details


# --- server side: handlers may simply raise ----------------------------------------------


class Undecodable:
    """Stands in for a request message whose bytes did not parse. Left to gRPC, such a
    request ends as UNKNOWN with a Python exception name in it and an error-level traceback
    in the server log; this lets the interceptor answer INVALID_ARGUMENT "malformed: ..."."""

    __slots__ = ("error",)

    def __init__(self, error: str) -> None:
        self.error = error


class RejectionInterceptor(grpc.aio.ServerInterceptor):
    """Turns a LedgerError/NodeError raised by any (async) handler into its status, so
    servicers raise rejections instead of threading `context` through every validation
    path (an escaping exception would otherwise reach the client as UNKNOWN), and answers
    undecodable requests with INVALID_ARGUMENT. Streaming handlers must take requests from
    the request iterator they are given, where undecodable ones raise LedgerError(MALFORMED)."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None:
            return handler
        # Generated code builds handlers with grpc.*_rpc_method_handler: a namedtuple.
        kind = ("stream" if handler.request_streaming else "unary") + "_" + (
            "stream" if handler.response_streaming else "unary"
        )
        behavior = getattr(handler, kind)
        wrapped = _wrap(behavior, handler.request_streaming, handler_call_details.method)
        if wrapped is behavior:
            return handler
        return handler._replace(  # type: ignore[attr-defined]
            request_deserializer=_tolerant(handler.request_deserializer), **{kind: wrapped}
        )


def _tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception as exc:  # DecodeError, and anything a custom deserializer raises
            return Undecodable(str(exc))

    return deserialize


def _malformed(method: str, item: Undecodable) -> LedgerError:
    return LedgerError(Code.MALFORMED, f"request to {method} does not decode: {item.error}")


async def _checked(requests: AsyncIterator[Any], method: str) -> AsyncIterator[Any]:
    async for item in requests:
        if isinstance(item, Undecodable):
            raise _malformed(method, item)
        yield item


def _wrap(behavior: Callable[..., Any], request_streaming: bool, method: str) -> Callable[..., Any]:
    def prepare(request: Any) -> Any:
        if request_streaming:
            return _checked(request, method)
        if isinstance(request, Undecodable):
            raise _malformed(method, request)
        return request

    if inspect.isasyncgenfunction(behavior):

        async def stream_wrapper(
            request: Any, context: grpc.aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            try:
                async for item in behavior(prepare(request), context):
                    yield item
            except (LedgerError, NodeError) as exc:
                await abort(context, exc)

        return stream_wrapper
    if inspect.iscoroutinefunction(behavior):

        async def wrapper(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            try:
                return await behavior(prepare(request), context)
            except (LedgerError, NodeError) as exc:
                await abort(context, exc)

        return wrapper
    # Synchronous handlers run on the server's thread pool; the node has none.
    return behavior
