"""The peer handshake: who may open a stream, and the two halves that prove it.

Each side signs the other's fresh random nonce together with the chain id and both keys,
with its validator key (see proto/node.proto). Both sides also send the hash of their
genesis: a node built from another genesis (a changed tier table under the same chain id)
would propose blocks the others refuse without saying why, so it is refused here, with
both hashes in the message. A peer that sends no hash (a build before this field) is
checked by chain id only. The dialled side (`accept`) takes only keys
of its configured peers; the dialler (`dial`) takes only the key configured for the
address it dialled. Either half raises HandshakeError, whose `reason` is the metrics drop
reason and the first word of what the other side is told.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
import nacl.signing
from proto import node_pb2

from node.ledger.crypto import KEY_SIZE, verify
from node.ledger.errors import LedgerError
from node.net.grpc_server import PEER_SERVICE
from node.net.peers.bundle import kind_of

# 2: PeerMessage.bundle and PeerMessage.commit. A version-1 node would drop bundles as
# unexpected without a word, so the two refuse each other at the handshake instead.
PROTOCOL_VERSION = 2
HANDSHAKE_DOMAIN = b"cbdc/peer-handshake/v1"
NONCE_SIZE = 32
CONNECT_METHOD = f"/{PEER_SERVICE}/Connect"


def handshake_message(chain_id: str, nonce: bytes, signer: bytes, verifier: bytes) -> bytes:
    """What a handshake signature covers. Binding both keys stops a signature made for one
    peer from being replayed to another; the domain keeps it apart from votes and txs."""
    return HANDSHAKE_DOMAIN + b"\x00" + chain_id.encode() + b"\x00" + nonce + signer + verifier


class HandshakeError(Exception):
    """The other side is not the validator we expect; `reason` is a metrics drop reason."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclass(frozen=True)
class Identity:
    """This node as the handshake presents it: its chain and its validator key."""

    chain_id: str
    signer: nacl.signing.SigningKey
    genesis_hash: bytes = b""  # Genesis.hash(); empty: not checked (transport tests)

    @property
    def public_key(self) -> bytes:
        return bytes(self.signer.verify_key)

    def sign(self, nonce: bytes, verifier: bytes) -> bytes:
        """Our proof of key for the peer `verifier`, over the nonce it sent us."""
        return self.signer.sign(handshake_message(self.chain_id, nonce, self.public_key, verifier)).signature

    def check_hello(
        self, chain_id: str, version: int, key: bytes, nonce: bytes, genesis_hash: bytes = b""
    ) -> None:
        """The fields both Hello and HelloReply carry; the signature is checked by the caller."""
        if version != PROTOCOL_VERSION:
            raise HandshakeError(
                "bad_handshake", f"protocol version {version}, this node speaks {PROTOCOL_VERSION}"
            )
        if chain_id != self.chain_id:
            raise HandshakeError("wrong_chain", f"this node is on chain {self.chain_id!r}, not {chain_id!r}")
        if self.genesis_hash and genesis_hash and genesis_hash != self.genesis_hash:
            raise HandshakeError(
                "wrong_genesis",
                f"this node's genesis hash is {self.genesis_hash.hex()}, the peer's is "
                f"{genesis_hash.hex()}: same chain id {chain_id!r}, different genesis files; "
                "every node must run the genesis.json the network was started from",
            )
        if len(key) != KEY_SIZE or len(nonce) != NONCE_SIZE:
            raise HandshakeError("bad_handshake", "key and nonce must be 32 bytes")


async def accept(
    me: Identity,
    requests: AsyncIterator[Any],
    context: grpc.aio.ServicerContext[Any, Any],
    is_peer: Callable[[bytes], bool],
) -> bytes:
    """The dialled half: Hello in, HelloReply out, HelloProof in, HelloAccepted out.
    Returns the proven key of the dialler."""
    first = await _next(requests)
    if first is None:
        raise HandshakeError("bad_handshake", "the dialler closed the stream before Hello")
    if kind_of(first) != "hello":
        raise HandshakeError("bad_handshake", f"expected Hello first, got {kind_of(first)}")
    hello = first.hello
    me.check_hello(hello.chain_id, hello.protocol_version, hello.public_key, hello.nonce, hello.genesis_hash)
    key = bytes(hello.public_key)
    if not is_peer(key):
        raise HandshakeError("unknown_peer", f"validator key {key.hex()} is not a peer of this node")
    nonce = os.urandom(NONCE_SIZE)
    await context.write(
        node_pb2.PeerMessage(
            hello_reply=node_pb2.HelloReply(
                protocol_version=PROTOCOL_VERSION,
                chain_id=me.chain_id,
                public_key=me.public_key,
                nonce=nonce,
                signature=me.sign(bytes(hello.nonce), key),
                genesis_hash=me.genesis_hash,
            )
        )
    )
    proof = await _next(requests)
    if proof is None:
        # The dialler refused our reply (it expected another key or chain) and hung up.
        raise HandshakeError("bad_handshake", f"{key.hex()} closed the stream instead of proving its key")
    if kind_of(proof) != "hello_proof":
        raise HandshakeError("bad_handshake", f"expected HelloProof, got {kind_of(proof)}")
    # One verification per connection: cheap enough to do inline on the loop.
    signed = handshake_message(me.chain_id, nonce, key, me.public_key)
    if not verify(key, signed, proof.hello_proof.signature):
        raise HandshakeError("bad_handshake", f"signature does not prove key {key.hex()}")
    await context.write(node_pb2.PeerMessage(hello_accepted=node_pb2.HelloAccepted()))
    return key


async def dial(me: Identity, call: Any, key: bytes, address: str) -> None:
    """The dialler half, on a fresh Connect call to `address`, which must prove `key`."""
    nonce = os.urandom(NONCE_SIZE)
    hello = node_pb2.Hello(
        protocol_version=PROTOCOL_VERSION, chain_id=me.chain_id, public_key=me.public_key, nonce=nonce,
        genesis_hash=me.genesis_hash,
    )
    await call.write(node_pb2.PeerMessage(hello=hello).SerializeToString())
    reply = await call.read()
    if reply is grpc.aio.EOF or kind_of(reply) != "hello_reply":
        raise HandshakeError("bad_handshake", "expected HelloReply")
    r = reply.hello_reply
    me.check_hello(r.chain_id, r.protocol_version, r.public_key, r.nonce, r.genesis_hash)
    answered = bytes(r.public_key)
    if answered != key:
        raise HandshakeError("unknown_peer", f"{address} answered as {answered.hex()}, expected {key.hex()}")
    signed = handshake_message(me.chain_id, nonce, key, me.public_key)
    if not verify(key, signed, r.signature):
        raise HandshakeError("bad_handshake", f"signature does not prove key {key.hex()}")
    proof = node_pb2.HelloProof(signature=me.sign(bytes(r.nonce), key))
    await call.write(node_pb2.PeerMessage(hello_proof=proof).SerializeToString())
    accepted = await call.read()
    if accepted is grpc.aio.EOF or kind_of(accepted) != "hello_accepted":
        raise HandshakeError("bad_handshake", "expected HelloAccepted")


async def _next(requests: AsyncIterator[Any]) -> Any:
    """The next request, or None at the end of the stream; garbage is a failed handshake
    (the RejectionInterceptor raises LedgerError(MALFORMED) for bytes that do not decode)."""
    try:
        return await anext(requests, None)
    except LedgerError as exc:
        raise HandshakeError("bad_handshake", exc.message) from None
