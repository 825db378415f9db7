"""A small synchronous client of the public API, for the CLI, the devnet tools and tests.

Every failure becomes one of two exceptions: `Unreachable` (no node answered: exit code 3
in the CLI) or `Rejected` (the node answered no, with the ledger's machine code).

Read-your-writes: the client remembers the highest committed height it has seen (query
answers, committed outcomes; or given: `seen_height=`) and sends it with submissions and
state queries, so a node that is behind waits until it holds that height instead of
answering from older state. Hand a client's `seen_height` to a client of another node to
carry it across (the CLI takes it from $CBDC_SEEN_HEIGHT).

`ClientTls` says how to check the node (the members bundle, checked under the API name every
member's certificate carries); without it the channel is plaintext, for nodes configured
with `[tls] insecure = true`. `signer` is the key (a wallet's, an institution's or an
auditor's) whose signature the node's roles ask for on private reads (node.net.auth).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import grpc
from proto import node_pb2, node_pb2_grpc

from node.net.auth import NODE, SIGNED_METHODS, SYNC, sign_request
from node.net.grpc_server import channel_options
from node.net.grpc_status import parse_rpc_error
from node.net.tls import API_NAME


@dataclass(frozen=True)
class ClientTls:
    """TLS towards a node: `ca_pem` the certificates to trust (a members bundle), optionally
    our own certificate chain and key (members only), and the name to check the node under."""

    ca_pem: bytes | None  # None: the system's public roots
    cert_pem: bytes | None = None
    key_pem: bytes | None = None
    server_name: str | None = API_NAME  # None: the host part of the address

    def credentials(self) -> grpc.ChannelCredentials:
        return grpc.ssl_channel_credentials(self.ca_pem, self.key_pem, self.cert_pem)

_UNREACHABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


class Unreachable(Exception):
    """No node answered at the address (down, wrong address, or too slow)."""


class Rejected(Exception):
    """The node refused: `code` is the machine code (e.g. insufficient_funds)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


def _translate(err: grpc.RpcError, address: str) -> Exception:
    code, message = parse_rpc_error(err)
    if err.code() in _UNREACHABLE and code in ("unavailable", "deadline_exceeded"):
        details = message.lower()
        if "handshake" in details or "ssl" in details or "tls" in details:
            return Unreachable(
                f"TLS handshake with {address} failed: check the CA (the network's members bundle) "
                "and that the node speaks TLS"
            )
        return Unreachable(f"no answer from a node at {address} ({err.code().name.lower()})")
    return Rejected(code, message)


class NodeClient:
    def __init__(
        self,
        address: str,
        timeout: float = 10.0,
        max_message_bytes: int = 64 * 1024 * 1024,
        seen_height: int = 0,
        *,
        tls: ClientTls | None = None,
        signer: Any | None = None,
    ) -> None:
        """`signer`: a KeyPair (anything with `.seed`) that signs the private reads."""
        self.address = address
        self.timeout = timeout
        self.seen_height = seen_height
        self.tls = tls
        self.signer = signer
        self._chain_id: str | None = None
        options = channel_options(max_message_bytes)
        if tls is None:
            self._channel = grpc.insecure_channel(address, options=options)
        else:
            if tls.server_name:
                options.append(("grpc.ssl_target_name_override", tls.server_name))
            self._channel = grpc.secure_channel(address, tls.credentials(), options=options)
        self._stub = node_pb2_grpc.NodeStub(self._channel)
        self._sync = node_pb2_grpc.SyncStub(self._channel)

    def _metadata(self, method: str, request: Any) -> list[tuple[str, str]] | None:
        """The signed-request headers for `method` ("/cbdc.node.v1.Node/GetBalance"), when
        it reads private data and we have a key."""
        if self.signer is None or method not in SIGNED_METHODS:
            return None
        if self._chain_id is None:
            self._chain_id = self.status().chain_id
        return sign_request(self.signer.seed, self._chain_id, method, request)

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> NodeClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def saw(self, height: int) -> int:
        """Record a committed height seen; returns the highest seen so far."""
        self.seen_height = max(self.seen_height, height)
        return self.seen_height

    def _call(self, name: str, request, timeout: float | None = None):
        """Node.`name`(request), signed when the call needs it."""
        metadata = self._metadata(NODE + name, request)
        try:
            return getattr(self._stub, name)(request, timeout=timeout or self.timeout, metadata=metadata)
        except grpc.RpcError as err:
            raise _translate(err, self.address) from None

    # --- transactions --------------------------------------------------------------------
    def submit(self, raw_tx: bytes) -> bytes:
        request = node_pb2.SubmitTransactionRequest(tx=raw_tx, seen_height=self.seen_height)
        return self._call("SubmitTransaction", request).txid

    def submit_many(self, raw_txs: list[bytes]) -> list[node_pb2.SubmitTransactionResult]:
        seen = self.seen_height
        requests = (node_pb2.SubmitTransactionRequest(tx=raw, seen_height=seen) for raw in raw_txs)
        try:
            return list(self._stub.SubmitTransactions(requests, timeout=max(self.timeout, 60.0)))
        except grpc.RpcError as err:
            raise _translate(err, self.address) from None

    def submit_batch(self, raw_txs: list[bytes]) -> list[node_pb2.SubmitTransactionResult]:
        """One SubmitBatch call: a result per transaction, in order (rejections included)."""
        request = node_pb2.SubmitBatchRequest(txs=raw_txs, seen_height=self.seen_height)
        return list(self._call("SubmitBatch", request, timeout=max(self.timeout, 60.0)).results)

    def wait(self, txid: bytes, timeout: float = 30.0) -> node_pb2.TransactionOutcome:
        """The transaction's outcome, waiting up to `timeout` seconds for it to be decided;
        0 asks for it now. (On the wire timeout_ms 0 means "until the call's deadline", so
        "now" is sent as the shortest explicit wait, 1 ms.)"""
        request = node_pb2.WaitTransactionRequest(txid=txid, timeout_ms=max(1, int(timeout * 1000)))
        outcome = self._call("WaitTransaction", request, timeout=timeout + 5)
        if outcome.status == node_pb2.TX_STATUS_COMMITTED:
            self.saw(outcome.inclusion.height)
        return outcome

    def submit_and_wait(self, raw_tx: bytes, timeout: float = 30.0) -> node_pb2.TransactionOutcome:
        """Submit, then wait for the outcome; a rejection at either step raises Rejected."""
        txid = self.submit(raw_tx)
        outcome = self.wait(txid, timeout)
        if outcome.status == node_pb2.TX_STATUS_REJECTED:
            raise Rejected(outcome.rejection.code, outcome.rejection.message)
        return outcome

    def transaction(self, txid: bytes) -> node_pb2.GetTransactionResponse:
        return self._call("GetTransaction", node_pb2.GetTransactionRequest(txid=txid))

    # --- chain ---------------------------------------------------------------------------
    def status(self) -> node_pb2.NodeStatus:
        return self._call("GetStatus", node_pb2.GetStatusRequest())

    def block(self, height: int | None = None, block_hash: bytes | None = None) -> node_pb2.CommittedBlockMsg:
        request = node_pb2.GetBlockRequest(hash=block_hash) if block_hash else node_pb2.GetBlockRequest()
        if height is not None:
            request.height = height
        return self._call("GetBlock", request)

    def blocks(self, from_height: int = 1, to_height: int = 0) -> Iterator[node_pb2.CommittedBlockMsg]:
        """Committed blocks in order (via the Sync service, in pages)."""
        height = from_height
        while True:
            request = node_pb2.GetBlocksRequest(from_height=height, to_height=to_height)
            got = 0
            try:
                metadata = self._metadata(SYNC + "GetBlocks", request)
                for msg in self._sync.GetBlocks(request, timeout=max(self.timeout, 120.0), metadata=metadata):
                    yield msg
                    got += 1
                    height = msg.height + 1
            except grpc.RpcError as err:
                code, _ = parse_rpc_error(err)
                if code == "not_found":
                    return
                raise _translate(err, self.address) from None
            if got == 0 or (to_height and height > to_height):
                return

    def snapshot(self, idle_timeout: float = 3600.0) -> Iterator[node_pb2.SnapshotChunk]:
        """The node's state snapshot as it streams it (Sync.GetSnapshot: auditors and
        members); nothing is verified here, node.ledger.snapshot.restore_snapshot does that."""
        request = node_pb2.GetSnapshotRequest()
        metadata = self._metadata(SYNC + "GetSnapshot", request)
        try:
            yield from self._sync.GetSnapshot(request, timeout=idle_timeout, metadata=metadata)
        except grpc.RpcError as err:
            raise _translate(err, self.address) from None

    def watch(self, from_height: int = 0) -> Iterator[node_pb2.CommittedBlockMsg]:
        request = node_pb2.WatchBlocksRequest(from_height=from_height)
        metadata = self._metadata(NODE + "WatchBlocks", request)
        try:
            yield from self._stub.WatchBlocks(request, metadata=metadata)
        except grpc.RpcError as err:
            raise _translate(err, self.address) from None

    # --- state ---------------------------------------------------------------------------
    def utxos(self, address: bytes) -> list[node_pb2.Utxo]:
        result: list[node_pb2.Utxo] = []
        token = b""
        while True:
            request = node_pb2.GetUtxosRequest(
                address=address, page_token=token, seen_height=self.seen_height
            )
            page = self._call("GetUtxos", request)
            self.saw(page.height)
            result.extend(page.utxos)
            token = page.next_page_token
            if not token:
                return result

    def balance(self, address: bytes) -> node_pb2.GetBalanceResponse:
        request = node_pb2.GetBalanceRequest(address=address, seen_height=self.seen_height)
        reply = self._call("GetBalance", request)
        self.saw(reply.height)
        return reply

    def wallet(self, address: bytes) -> node_pb2.WalletInfo:
        request = node_pb2.GetWalletRequest(address=address, seen_height=self.seen_height)
        reply = self._call("GetWallet", request)
        self.saw(reply.height)
        return reply

    def supply(self) -> node_pb2.SupplyInfo:
        return self._call("GetSupply", node_pb2.GetSupplyRequest())

    def governance(self) -> node_pb2.GovernanceInfo:
        return self._call("GetGovernance", node_pb2.GetGovernanceRequest())
