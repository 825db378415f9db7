"""The signer process (`cbdc signer`): holds the consensus key and its sign-state, and signs
for one node over a Unix socket.

It refuses what would let the key contradict itself: anything below the last signed
(height, round, step) (a regression), and for the same step it hands back what it already
signed (consensus.signer.Signer, the same rules the node applies in-process). The
sign-state is fsynced before a signature leaves, exactly as the node does it. It signs only
for the chain it was started for, and only for a caller running as the same Unix user
(SO_PEERCRED) on a socket only that user can open (mode 0600).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import nacl.signing
from consensus.messages import VoteType
from consensus.signer import Signer, SignOutcome

from node.consensus_disk import SignStateFile
from node.net.peers.handshake import handshake_message
from node.signer.protocol import (
    SignerProtocolError,
    decode_body,
    encode_frame,
    frame_length,
    hex_field,
    int_field,
)

log = logging.getLogger("cbdc.signer")

_PEERCRED = struct.Struct("3i")  # pid, uid, gid


@dataclass
class SignerService:
    """The signing rules of the signer process, without the socket (tests drive it directly)."""

    key: nacl.signing.SigningKey
    chain_id: str
    state_file: SignStateFile
    signer: Signer = field(init=False)
    signed: int = 0
    refused: int = 0

    def __post_init__(self) -> None:
        self.signer = Signer(self.key, self.state_file.load())

    @property
    def public_key(self) -> bytes:
        return self.signer.public_key

    def handle(self, doc: dict[str, Any]) -> dict[str, Any]:
        """One request, one answer; bad requests get {"error": ...}, never an exception."""
        try:
            op = doc.get("op")
            if op == "hello":
                saved = self.state_file.load()
                return {
                    "public_key": self.public_key.hex(),
                    "chain_id": self.chain_id,
                    "state": saved.encode().hex() if saved is not None else "",
                }
            if op in ("sign_vote", "sign_proposal"):
                return self._sign(op, doc)
            if op == "sign_handshake":
                return self._sign_handshake(doc)
            raise SignerProtocolError(f"unknown op {op!r}")
        except SignerProtocolError as exc:
            return {"error": str(exc)}

    def _check_chain(self, doc: dict[str, Any]) -> None:
        if doc.get("chain_id") != self.chain_id:
            raise SignerProtocolError(
                f"this signer signs only for chain {self.chain_id!r}, not {doc.get('chain_id')!r}"
            )

    def _sign(self, op: str, doc: dict[str, Any]) -> dict[str, Any]:
        self._check_chain(doc)
        height, round_ = int_field(doc, "height", 1), int_field(doc, "round")
        block_hash = hex_field(doc, "block_hash")
        if len(block_hash) not in (0, 32):
            raise SignerProtocolError("block_hash must be empty (nil) or 32 bytes")
        locks = doc.get("locks")
        if not (isinstance(locks, list) and len(locks) == 4):
            raise SignerProtocolError("locks must be [locked_round, locked_hash, valid_round, valid_hash]")
        locked_round, valid_round = _round_or_none(locks[0]), _round_or_none(locks[2])
        locked_hash, valid_hash = hex_field({"h": locks[1]}, "h"), hex_field({"h": locks[3]}, "h")
        self.signer.update_locks(locked_round, locked_hash, valid_round, valid_hash)
        if op == "sign_vote":
            try:
                vote_type = VoteType(int_field(doc, "vote_type", 1))
            except ValueError:
                raise SignerProtocolError("vote_type is not a vote type") from None
            outcome = self.signer.sign_vote(self.chain_id, height, round_, vote_type, block_hash)
        else:
            pol_round = int_field(doc, "pol_round", -1)
            outcome = self.signer.sign_proposal(self.chain_id, height, round_, pol_round, block_hash)
        return self._answer(op, height, round_, outcome)

    def _answer(self, op: str, height: int, round_: int, outcome: SignOutcome) -> dict[str, Any]:
        if outcome.message is None:
            self.refused += 1
            last = outcome.state.position()
            log.warning(
                "refused %s at height=%d round=%d: below the last signed %s", op, height, round_, last
            )
        else:
            # Durable before the signature leaves: a crash after this cannot forget it.
            self.state_file.save(outcome.state.encode())
            self.signed += 1
            if outcome.conflict:
                log.warning("asked to sign a different %s at height=%d round=%d: sent the one signed before",
                            op, height, round_)
        return {
            "message": outcome.message.hex() if outcome.message is not None else None,
            "state": outcome.state.encode().hex(),
            "repeat": outcome.repeat,
            "conflict": outcome.conflict,
        }

    def _sign_handshake(self, doc: dict[str, Any]) -> dict[str, Any]:
        self._check_chain(doc)
        nonce, verifier = hex_field(doc, "nonce", 32), hex_field(doc, "verifier", 32)
        message = handshake_message(self.chain_id, nonce, self.public_key, verifier)
        return {"signature": self.key.sign(message).signature.hex()}


def _round_or_none(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < -1 or value >= 2**31:
        raise SignerProtocolError("lock rounds must be integers >= -1")
    return value


class SignerServer:
    """SignerService on a Unix socket; one request at a time per connection."""

    def __init__(self, service: SignerService, socket_path: Path) -> None:
        self.service = service
        self.socket_path = socket_path
        self._server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self.socket_path.exists():
            if _someone_listens(self.socket_path):
                raise OSError(f"another signer already listens on {self.socket_path}")
            self.socket_path.unlink()  # a stale socket of a signer that died
        old = os.umask(0o177)  # the socket is created 0600: only this user can connect
        try:
            self._server = await asyncio.start_unix_server(self._serve, path=str(self.socket_path))
        finally:
            os.umask(old)
        log.info(
            "signer listening on %s chain=%s key=%s height=%d",
            self.socket_path, self.service.chain_id, self.service.public_key.hex(),
            self.service.signer.state.height,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            _pid, uid, _gid = _PEERCRED.unpack(
                sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
            )
            if uid != os.getuid():
                log.warning("refused a connection from uid %d (this signer runs as uid %d)", uid, os.getuid())
                return
            while True:
                try:
                    header = await reader.readexactly(4)
                except asyncio.IncompleteReadError:
                    return  # the node closed the connection
                body = await reader.readexactly(frame_length(header))
                writer.write(encode_frame(self.service.handle(decode_body(body))))
                await writer.drain()
        except (SignerProtocolError, asyncio.IncompleteReadError, ConnectionError) as exc:
            log.warning("dropped a signer connection: %s", exc)
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()


def _someone_listens(path: Path) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(str(path))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def run_signer(service: SignerService, socket_path: Path) -> None:
    """Serve until SIGINT or SIGTERM."""
    import signal

    server = SignerServer(service, socket_path)
    await server.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await server.stop()
        log.info("signer stopped: signed=%d refused=%d", service.signed, service.refused)
