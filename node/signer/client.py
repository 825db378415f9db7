"""The node's side of the remote signer: `RemoteSigner` stands where consensus.signer.Signer
stands in-process, so the state machine does not know the difference.

The seam. The consensus machine is pure and signs synchronously (consensus/machine.py calls
`signer.sign_vote(...)` and uses the answer in the same step). Rather than make signing an
asynchronous effect of the machine (a redesign of the pure core and its simulator),
RemoteSigner answers synchronously: one blocking request over a Unix socket on the event
loop thread, bounded by a timeout. That costs the loop one local round trip plus the
signer's fsync per signature (the in-process signer's fsync runs on a disk thread), about a
millisecond on local disks, three or four times a height. A signer that does not answer in
time is a refusal (nothing is sent, the machine counts `sign_refused`, the round goes on
without our vote): never a signature the signer did not persist first.

The signer's sign-state is authoritative; the node still writes its own copy when the
machine asks (PersistSignState), which costs little and keeps the node's files as they are.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import nacl.signing
from consensus.messages import VoteType
from consensus.signer import SignOutcome, SignState, SignStateError

from node.net.peers.handshake import HANDSHAKE_DOMAIN
from node.signer.protocol import SignerProtocolError, encode_frame, read_frame

log = logging.getLogger("cbdc.signer.client")


class SignerUnavailable(Exception):
    """The remote signer could not be reached or did not answer sensibly."""


class RemoteSigner:
    """A consensus.signer.Signer look-alike whose key lives in the `cbdc signer` process."""

    def __init__(self, socket_path: Path, *, timeout_s: float = 2.0, connect_wait_s: float = 10.0) -> None:
        self.socket_path = socket_path
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()
        self.withholding = False  # the double-sign guard's switch, as on Signer
        self.failures = 0
        hello = self._hello(connect_wait_s)
        try:
            self.public_key = bytes.fromhex(hello["public_key"])
            self.chain_id = str(hello["chain_id"])
            raw_state = bytes.fromhex(hello["state"])
        except (KeyError, TypeError, ValueError):
            raise SignerUnavailable(f"the signer at {socket_path} answered hello with {hello!r}") from None
        if len(self.public_key) != 32:
            raise SignerUnavailable(f"the signer at {socket_path} has no 32-byte public key")
        try:
            # What the signer last signed (None: never): the double-sign guard looks at it.
            self.loaded_state = SignState.decode(raw_state) if raw_state else None
        except SignStateError as exc:
            raise SignerUnavailable(f"the signer's sign-state: {exc}") from None
        self.state = self.loaded_state or SignState()

    # --- what the state machine calls ----------------------------------------------------
    def update_locks(
        self, locked_round: int, locked_hash: bytes, valid_round: int, valid_hash: bytes
    ) -> None:
        self.state = replace(
            self.state, locked_round=locked_round, locked_hash=locked_hash,
            valid_round=valid_round, valid_hash=valid_hash,
        )

    def sign_vote(
        self, chain_id: str, height: int, round_: int, vote_type: VoteType, block_hash: bytes
    ) -> SignOutcome:
        return self._sign({
            "op": "sign_vote", "chain_id": chain_id, "height": height, "round": round_,
            "vote_type": int(vote_type), "block_hash": block_hash.hex(),
        })

    def sign_proposal(
        self, chain_id: str, height: int, round_: int, pol_round: int, block_hash: bytes
    ) -> SignOutcome:
        return self._sign({
            "op": "sign_proposal", "chain_id": chain_id, "height": height, "round": round_,
            "pol_round": pol_round, "block_hash": block_hash.hex(),
        })

    def _sign(self, request: dict[str, Any]) -> SignOutcome:
        if self.withholding:
            return SignOutcome(None, self.state)
        st = self.state
        request["locks"] = [st.locked_round, st.locked_hash.hex(), st.valid_round, st.valid_hash.hex()]
        try:
            reply = self._request(request)
            message = bytes.fromhex(reply["message"]) if reply.get("message") else None
            state = SignState.decode(bytes.fromhex(reply["state"]))
        except (SignerUnavailable, KeyError, TypeError, ValueError, SignStateError) as exc:
            self.failures += 1
            log.error("remote signer: %s; not signing %s at height %d round %d",
                      exc, request["op"], request["height"], request["round"])
            return SignOutcome(None, self.state)
        self.state = state
        return SignOutcome(message, state, bool(reply.get("repeat")), bool(reply.get("conflict")))

    # --- the peer handshake --------------------------------------------------------------
    def handshake_key(self) -> HandshakeKey:
        """What node.net.peers.handshake.Identity signs its proofs of key with."""
        return HandshakeKey(self)

    def sign_handshake(self, message: bytes) -> bytes:
        """The signature of a handshake message (the signer rebuilds it from its parts)."""
        prefix = HANDSHAKE_DOMAIN + b"\x00" + self.chain_id.encode() + b"\x00"
        rest = message[len(prefix):]
        if not message.startswith(prefix) or len(rest) != 96 or rest[32:64] != self.public_key:
            raise SignerUnavailable("refusing to ask the signer for anything but a handshake of its key")
        reply = self._request({
            "op": "sign_handshake", "chain_id": self.chain_id, "nonce": rest[:32].hex(),
            "verifier": rest[64:].hex(),
        })
        return bytes.fromhex(reply["signature"])

    # --- the socket ----------------------------------------------------------------------
    def _hello(self, wait_s: float) -> dict[str, Any]:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                return self._request({"op": "hello"})
            except SignerUnavailable:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def _request(self, request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            for attempt in (1, 2):  # one reconnect: the signer may have restarted
                try:
                    sock = self._connected()
                    sock.sendall(encode_frame(request))
                    reply = read_frame(sock)
                    break
                except (OSError, EOFError, SignerProtocolError) as exc:
                    self.close()
                    if attempt == 2:
                        raise SignerUnavailable(
                            f"no answer from the signer at {self.socket_path} ({exc})"
                        ) from None
            if "error" in reply:
                raise SignerUnavailable(f"the signer refused: {reply['error']}")
            return reply

    def _connected(self) -> socket.socket:
        if self._sock is None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(self.timeout_s)
            try:
                sock.connect(str(self.socket_path))
            except OSError:
                sock.close()
                raise
            self._sock = sock
        return self._sock

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None


@dataclass(frozen=True)
class _Signed:
    signature: bytes


class HandshakeKey:
    """Duck-types the nacl SigningKey the peer handshake uses (`verify_key`, `sign`)."""

    def __init__(self, remote: RemoteSigner) -> None:
        self._remote = remote
        self.verify_key = nacl.signing.VerifyKey(remote.public_key)

    def sign(self, message: bytes) -> _Signed:
        return _Signed(self._remote.sign_handshake(message))
