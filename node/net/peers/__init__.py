"""The validator-to-validator transport: authenticated gRPC streams on grpc.aio.

Modules, one concern each:
- handshake: the Hello/HelloReply/HelloProof exchange that proves both validator keys
  (HandshakeError; the dialled half `accept`, the dialler half `dial`).
- bundle: framing of several queued messages in one write and back (pure: no gRPC, no
  event loop; FramingError for what a peer may not send).
- streams: OutboundStream (dial, handshake, drain the send queue, redial with backoff)
  and InboundStream (read a peer's stream, in order).
- network: PeerNetwork, the peer set and the API the node uses (send, broadcast, status).
"""

from node.net.peers.bundle import BUNDLE_MAX_BYTES, BUNDLE_MAX_MESSAGES, FramingError
from node.net.peers.handshake import (
    CONNECT_METHOD,
    PROTOCOL_VERSION,
    HandshakeError,
    handshake_message,
)
from node.net.peers.network import ConnectedHandler, MessageHandler, PeerNetwork, PeerState, peer_channel

__all__ = [
    "BUNDLE_MAX_BYTES",
    "BUNDLE_MAX_MESSAGES",
    "CONNECT_METHOD",
    "PROTOCOL_VERSION",
    "ConnectedHandler",
    "FramingError",
    "HandshakeError",
    "MessageHandler",
    "PeerNetwork",
    "PeerState",
    "handshake_message",
    "peer_channel",
]
