"""Who may call what on the public API: signed requests, roles, and one rule per RPC.

The e-CNY principle, "anonymous for small amounts, traceable by law": a wallet reads its
own data, its institution reads the wallets it registered, auditors and the central bank
read everything, and the public reads only the chain's status.

A caller proves a key by signing its request (`sign_request`): four metadata entries carry
the key, a timestamp, a random nonce and an ed25519 signature over the chain id, the full
method name, the timestamp, the nonce and the SHA-256 of the serialized request. The node
accepts a signature within `window` of its clock, once: the (key, nonce) pair is remembered
for the window (`ReplayGuard`), so a captured request cannot be replayed, and a request
signed for one method, message or chain is worth nothing for another.

Why signatures and not client certificates on the API: grpcio's server either requires a
certificate from every client or asks none, and the public (anyone with TLS) must be able to
submit; one mechanism then serves wallets, institutions and auditors alike, with the very
keys the ledger already knows them by (genesis institutions, issuers, auditors; wallet
addresses). Certificates do bind members on the peer port (node.net.tls).

`AuthInterceptor` applies `ACCESS` to every call of the Node and Sync services before the
handler runs; a method missing from the table is refused (fail closed).
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
import nacl.signing

from node.ledger.crypto import KEY_SIZE, SIGNATURE_SIZE, verify
from node.ledger.genesis import Genesis
from node.ledger.txcodec import decode_tx
from node.logs import get_logger
from node.net.grpc_status import NodeCode, NodeError

if TYPE_CHECKING:  # clients import this module to sign; they need no ledger service
    from node.ledger_service import LedgerService

log = get_logger("auth")

KEY_HEADER = "cbdc-auth-key"
TIME_HEADER = "cbdc-auth-time-ms"
NONCE_HEADER = "cbdc-auth-nonce"
SIG_HEADER = "cbdc-auth-signature"
NONCE_SIZE = 16
_DOMAIN = b"cbdc/api-request/v1\x00"
# Remembered nonces: enough for ~1,600 signed reads a second over a 60 s window. Beyond it
# the oldest are forgotten early, and requests that old are refused as stale instead.
_MAX_REMEMBERED = 100_000


class Rule(StrEnum):
    PUBLIC = "public"     # anyone with TLS
    ADDRESS = "address"   # the wallet at request.address, its institution, or an auditor
    TXID = "txid"         # a party of the transaction request.txid, their institution, or an auditor
    AUDITOR = "auditor"   # auditors and the central bank's issuers only


NODE = "/cbdc.node.v1.Node/"
SYNC = "/cbdc.node.v1.Sync/"
# One rule per RPC. A new RPC must be added here or every call to it is refused.
ACCESS: dict[str, Rule] = {
    NODE + "SubmitTransaction": Rule.PUBLIC,
    NODE + "SubmitTransactions": Rule.PUBLIC,
    NODE + "SubmitBatch": Rule.PUBLIC,
    NODE + "GetStatus": Rule.PUBLIC,
    NODE + "GetSupply": Rule.PUBLIC,       # one aggregate, about no one
    NODE + "GetGovernance": Rule.PUBLIC,   # the chain's roles and policy, about no wallet
    NODE + "WaitTransaction": Rule.TXID,
    NODE + "GetTransaction": Rule.TXID,
    NODE + "GetUtxos": Rule.ADDRESS,
    NODE + "GetBalance": Rule.ADDRESS,
    NODE + "GetWallet": Rule.ADDRESS,
    NODE + "GetBlock": Rule.AUDITOR,
    NODE + "WatchBlocks": Rule.AUDITOR,
    SYNC + "GetBlocks": Rule.AUDITOR,
    SYNC + "GetSnapshot": Rule.AUDITOR,     # the whole state, as every block is
    SYNC + "GetTip": Rule.PUBLIC,          # the chain status, as GetStatus
}


# Refusals are NodeErrors (node.net.grpc_status) with these machine codes: UNAUTHENTICATED
# when the call is unsigned, BAD_REQUEST_SIGNATURE / STALE_REQUEST / REPLAYED_REQUEST when
# the signature does not hold (all with status UNAUTHENTICATED); PERMISSION_DENIED for a
# proven key that may not read this.


# --- signing (clients) --------------------------------------------------------------------


def request_digest(request: Any) -> bytes:
    return hashlib.sha256(request.SerializeToString(deterministic=True)).digest()


def signed_message(chain_id: str, method: str, digest: bytes, time_ms: int, nonce: bytes) -> bytes:
    return b"\x00".join(
        (_DOMAIN + chain_id.encode(), method.encode(), str(time_ms).encode(), nonce, digest)
    )


def sign_request(
    seed: bytes,
    chain_id: str,
    method: str,
    request: Any,
    *,
    time_ms: int | None = None,
    nonce: bytes | None = None,
) -> list[tuple[str, str]]:
    """The metadata proving the key with this seed for one call of `method` with `request`."""
    signer = nacl.signing.SigningKey(seed)
    time_ms = int(time.time() * 1000) if time_ms is None else time_ms
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    message = signed_message(chain_id, method, request_digest(request), time_ms, nonce)
    return [
        (KEY_HEADER, bytes(signer.verify_key).hex()),
        (TIME_HEADER, str(time_ms)),
        (NONCE_HEADER, nonce.hex()),
        (SIG_HEADER, signer.sign(message).signature.hex()),
    ]


# --- checking (the node) ------------------------------------------------------------------


class ReplayGuard:
    """Accepts each (key, nonce) once within `window_ms` of the node's clock.

    A nonce is remembered until a request signed at its time could no longer pass the
    window check. At most `capacity` are remembered: when more arrive, the oldest are
    forgotten early and from then on requests signed at or before the latest forgotten
    one's time are refused as stale, so a forgotten nonce can never be replayed."""

    def __init__(
        self, window_ms: int, clock: Callable[[], float] = time.time, capacity: int = _MAX_REMEMBERED
    ) -> None:
        self.window_ms = window_ms
        self.capacity = capacity
        self._clock = clock
        # (key, nonce) -> (forget after, signed at), in arrival order
        self._seen: OrderedDict[tuple[bytes, bytes], tuple[int, int]] = OrderedDict()
        self._forgotten_upto = -1  # signed-at time of the latest nonce forgotten early

    def now_ms(self) -> int:
        return int(self._clock() * 1000)

    def check(self, key: bytes, nonce: bytes, time_ms: int) -> None:
        now = self.now_ms()
        if abs(now - time_ms) > self.window_ms:
            raise NodeError(
                NodeCode.STALE_REQUEST,
                f"the request was signed at {time_ms} ms, {abs(now - time_ms) / 1000:.0f} s from this "
                f"node's clock; sign it again (accepted within {self.window_ms // 1000} s)",
            )
        if time_ms <= self._forgotten_upto:
            raise NodeError(
                NodeCode.STALE_REQUEST, "this node is under a flood of signed requests; sign this one again"
            )
        while self._seen:
            oldest, (forget_after, signed_at) = next(iter(self._seen.items()))
            if forget_after > now and len(self._seen) < self.capacity:
                break
            if forget_after > now:  # forgotten early: its time and older are refused from now on
                self._forgotten_upto = max(self._forgotten_upto, signed_at)
            del self._seen[oldest]
        if (key, nonce) in self._seen:
            raise NodeError(NodeCode.REPLAYED_REQUEST, "this signed request was already used; sign a new one")
        if time_ms <= self._forgotten_upto:  # made stale by the eviction just above
            raise NodeError(
                NodeCode.STALE_REQUEST, "this node is under a flood of signed requests; sign this one again"
            )
        # time_ms + window is when the window check starts refusing it anyway.
        self._seen[(key, nonce)] = (time_ms + self.window_ms + 1, time_ms)


def _header(metadata: dict[str, str], name: str) -> str:
    value = metadata.get(name)
    if value is None:
        raise NodeError(NodeCode.BAD_REQUEST_SIGNATURE, f"the signed request lacks its {name} header")
    return value


def authenticate(
    metadata: Iterable[tuple[str, Any]], chain_id: str, method: str, request: Any, guard: ReplayGuard
) -> bytes | None:
    """The key that signed this call, None if it is unsigned; NodeError if the signature is
    malformed, wrong, stale or replayed."""
    headers = {k: v for k, v in metadata if isinstance(v, str)}
    if KEY_HEADER not in headers:
        return None
    try:
        key = bytes.fromhex(_header(headers, KEY_HEADER))
        time_ms = int(_header(headers, TIME_HEADER))
        nonce = bytes.fromhex(_header(headers, NONCE_HEADER))
        signature = bytes.fromhex(_header(headers, SIG_HEADER))
    except ValueError:
        raise NodeError(
            NodeCode.BAD_REQUEST_SIGNATURE, "the signed-request headers are not hex/decimal"
        ) from None
    if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE or len(signature) != SIGNATURE_SIZE:
        raise NodeError(
            NodeCode.BAD_REQUEST_SIGNATURE,
            f"expected a {KEY_SIZE}-byte key, {NONCE_SIZE}-byte nonce and {SIGNATURE_SIZE}-byte signature",
        )
    message = signed_message(chain_id, method, request_digest(request), time_ms, nonce)
    if not verify(key, message, signature):
        raise NodeError(
            NodeCode.BAD_REQUEST_SIGNATURE,
            f"the signature does not prove key {key.hex()} for this {method.rsplit('/', 1)[-1]} request "
            f"on chain {chain_id}",
        )
    guard.check(key, nonce, time_ms)  # after the signature: strangers cannot fill the cache
    return key


@dataclass
class Authorizer:
    """Decides each call from the ledger's own records (genesis roles, wallets, transactions)."""

    chain: LedgerService
    guard: ReplayGuard
    open_reads: bool = False

    @property
    def genesis(self) -> Genesis:
        return self.chain.genesis

    def is_auditor(self, key: bytes) -> bool:
        return key in self.genesis.auditors or self.genesis.is_issuer(key)

    def check(self, method: str, request: Any, metadata: Iterable[tuple[str, Any]]) -> None:
        """Return if the call may proceed; raise NodeError saying why not."""
        rule = ACCESS.get(method)
        if rule is None:
            raise NodeError(NodeCode.PERMISSION_DENIED, f"{method} is not open to API clients")
        if rule is Rule.PUBLIC or self.open_reads:
            return
        key = authenticate(metadata, self.genesis.chain_id, method, request, self.guard)
        if key is None:
            raise NodeError(
                NodeCode.UNAUTHENTICATED,
                f"{method.rsplit('/', 1)[-1]} reads private data: sign the request with the wallet's, "
                "its institution's or an auditor's key",
            )
        if self.is_auditor(key):
            return
        if rule is Rule.AUDITOR:
            raise NodeError(NodeCode.PERMISSION_DENIED, f"only auditors may call {method.rsplit('/', 1)[-1]}")
        if rule is Rule.ADDRESS:
            if self._may_read_wallet(key, bytes(request.address)):
                return
            raise NodeError(
                NodeCode.PERMISSION_DENIED,
                f"key {key.hex()} is neither this wallet nor the institution that registered it",
            )
        parties = self._parties(bytes(request.txid))
        if parties is None:
            raise NodeError(
                NodeCode.PERMISSION_DENIED,
                "this node holds no such transaction to check you are a party of it; only auditors "
                "may ask about unknown transactions",
            )
        if any(self._may_read_wallet(key, party) for party in parties):
            return
        raise NodeError(NodeCode.PERMISSION_DENIED, f"key {key.hex()} is not a party of this transaction")

    def _may_read_wallet(self, key: bytes, address: bytes) -> bool:
        if address == key:
            return True
        if not self.genesis.is_institution(key):
            return False
        wallet = self.chain.store.wallet(address)
        return wallet is not None and wallet.institution == key

    def _parties(self, txid: bytes) -> set[bytes] | None:
        """Every key a transaction names (signers, output owners, a registered wallet)."""
        if len(txid) != 32:
            return None
        found = self.chain.store.get_tx(txid)
        raw = found[0] if found is not None else None
        if raw is None:
            pending = self.chain.mempool.get(txid)
            raw = pending.raw if pending is not None else None
        if raw is None:
            return None
        tx = decode_tx(raw, self.genesis)
        parties = set(tx.signers) | {o.owner for o in tx.outputs}
        if tx.kind == "register_wallet":
            parties.add(bytes(tx.payload.address))
        return parties


class AuthInterceptor(grpc.aio.ServerInterceptor):
    """Applies the Authorizer to every unary-request call of the Node and Sync services (the
    streaming-request ones, submissions, are public); other services (health, reflection)
    are not data and pass."""

    def __init__(self, authorizer: Authorizer) -> None:
        self.authorizer = authorizer

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        method = details.method
        if handler is None or not method.startswith((NODE, SYNC)):
            return handler
        if handler.request_streaming:
            # Streamed requests are signed per call, not per message: only public ones
            # (submissions) are served; any other is refused rather than guessed at.
            if ACCESS.get(method) is Rule.PUBLIC:
                return handler
            if handler.response_streaming:
                return handler._replace(stream_stream=_refuse_stream(method))  # type: ignore[attr-defined]
            return handler._replace(stream_unary=_refuse(method))  # type: ignore[attr-defined]
        check = self.authorizer.check
        if handler.response_streaming:
            inner_stream = handler.unary_stream

            async def stream(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> AsyncIterator[Any]:
                await _authorize(check, method, request, context)
                async for item in inner_stream(request, context):
                    yield item

            return handler._replace(unary_stream=stream)  # type: ignore[attr-defined]
        inner = handler.unary_unary

        async def unary(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> Any:
            await _authorize(check, method, request, context)
            return await inner(request, context)

        return handler._replace(unary_unary=unary)  # type: ignore[attr-defined]


async def _authorize(check: Callable[..., None], method: str, request: Any, context: Any) -> None:
    try:
        check(method, request, context.invocation_metadata() or ())
    except NodeError as err:  # the RejectionInterceptor outside turns it into its status
        log.info(
            "api call refused", method=method, code=err.code.value, reason=err.message, remote=context.peer()
        )
        raise


def _denied(method: str) -> NodeError:
    return NodeError(NodeCode.PERMISSION_DENIED, f"{method} has no access rule for streamed requests")


def _refuse(method: str) -> Callable[..., Awaitable[Any]]:
    async def refuse(requests: Any, context: Any) -> Any:
        raise _denied(method)

    return refuse


def _refuse_stream(method: str) -> Callable[..., AsyncIterator[Any]]:
    async def refuse(requests: Any, context: Any) -> AsyncIterator[Any]:
        raise _denied(method)
        yield  # an async generator, as the handler it replaces

    return refuse


# Methods the client signs with (the keys of ACCESS that need a key).
SIGNED_METHODS = frozenset(m for m, rule in ACCESS.items() if rule is not Rule.PUBLIC)

__all__ = [
    "ACCESS",
    "SIGNED_METHODS",
    "AuthInterceptor",
    "Authorizer",
    "ReplayGuard",
    "Rule",
    "authenticate",
    "sign_request",
]
