"""The node's verifier processes (node.verifier_process), driven from the event loop.

Admission hands a round's signature checks to them (node.admission_queue): each process gets
one request per round (a chunk of it when there are several processes) and answers with a
byte per transaction. On the loop that is one socket write and one readable callback per
request, whatever the round's size; the checks themselves run beside the interpreter, with
no GIL hand-off per verification as on the thread pool.

A process that dies (killed, out of memory) fails the requests it had, and the caller
verifies those another way (admission falls back to its threads); it is started again at
the next round, at most once per _RESPAWN_S. The processes end with the node: it closes
their sockets, and a node killed outright closes them too.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import socket
import struct
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from node import verifier_process as wire
from node.ledger.crypto import tx_sign_digest
from node.ledger.errors import LedgerError
from node.ledger.txcodec import DecodedTx, signature_failure, verify_signatures

log = logging.getLogger("cbdc.node")

_PROGRAM = Path(wire.__file__)
# A round is split over the processes in chunks of at least this many transactions: below
# it a second request costs the loop more than the parallelism gives back.
_MIN_CHUNK = 16
_RESPAWN_S = 10.0
_ANSWER_HEAD = struct.Struct("<I")


class VerifiersDown(Exception):
    """No verifier process could take the request: verify another way."""


class _Process:
    """One verifier process and the loop's end of its socket: requests answered in order."""

    def __init__(self) -> None:
        ours, theirs = socket.socketpair()
        try:
            # -P: the program's folder (node/) is not put on sys.path, where modules named
            # like the standard library's (trace, logs) would shadow it.
            self.popen = subprocess.Popen(
                [sys.executable, "-P", str(_PROGRAM), str(theirs.fileno())],
                pass_fds=(theirs.fileno(),),
                stdin=subprocess.DEVNULL,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        ours.setblocking(False)
        self.sock = ours
        self.waiting: collections.deque[tuple[asyncio.Future[bytes], int]] = collections.deque()
        self._received = bytearray()
        self._sending = asyncio.Lock()
        self.alive = True
        asyncio.get_running_loop().add_reader(ours.fileno(), self._readable)

    async def ask(self, request: bytes, count: int) -> bytes:
        """The verdict bytes for a request of `count` transactions."""
        if not self.alive:
            raise VerifiersDown("the verifier process is gone")
        answered: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
        self.waiting.append((answered, count))
        async with self._sending:  # whole requests, one after the other
            try:
                await asyncio.get_running_loop().sock_sendall(self.sock, request)
            except OSError as err:
                self._gone(f"writing to it failed: {err}")
        return await answered

    def _readable(self) -> None:
        try:
            data = self.sock.recv(1 << 20)
        except BlockingIOError:
            return
        except OSError as err:
            self._gone(f"reading from it failed: {err}")
            return
        if not data:
            self._gone("it closed its socket")
            return
        received = self._received
        received += data
        while len(received) >= _ANSWER_HEAD.size and self.waiting:
            (count,) = _ANSWER_HEAD.unpack_from(received)
            end = _ANSWER_HEAD.size + count
            if len(received) < end:
                break
            answered, expected = self.waiting.popleft()
            verdicts = bytes(received[_ANSWER_HEAD.size : end])
            del received[:end]
            if count != expected:
                self._gone(f"it answered {count} verdicts to a request of {expected}")
                return
            if not answered.done():
                answered.set_result(verdicts)

    def _gone(self, why: str) -> None:
        if not self.alive:
            return
        self.alive = False
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
        self.sock.close()
        code = self.popen.poll()
        log.error(
            "signature verifier process %d stopped (%s; exit code %s): its requests are verified "
            "on threads, and it is started again",
            self.popen.pid,
            why,
            "still running" if code is None else code,
        )
        if code is None:
            self.popen.kill()
        while self.waiting:
            answered, _ = self.waiting.popleft()
            if not answered.done():
                answered.set_exception(VerifiersDown(why))

    async def close(self) -> None:
        if self.alive:
            self.alive = False
            with contextlib.suppress(ValueError, OSError):
                asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()  # the process reads end-of-file and exits
        deadline = time.monotonic() + 2.0
        while self.popen.poll() is None and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        if self.popen.poll() is None:
            self.popen.kill()
            self.popen.wait()


class Verifiers:
    """`count` verifier processes; start() on the running loop, close() when the node stops."""

    def __init__(self, count: int) -> None:
        if count < 1:
            raise ValueError("at least one verifier process")
        self.count = count
        self._processes: list[_Process] = []
        self._started_at = 0.0
        self.restarts = 0

    def start(self) -> None:
        self._processes = [_Process() for _ in range(self.count)]
        self._started_at = time.monotonic()

    def _live(self) -> list[_Process]:
        if any(not p.alive for p in self._processes) and time.monotonic() - self._started_at >= _RESPAWN_S:
            self._started_at = time.monotonic()
            for i, process in enumerate(self._processes):
                if not process.alive:
                    with contextlib.suppress(OSError):
                        self._processes[i] = _Process()
                        self.restarts += 1
        return [p for p in self._processes if p.alive]

    async def verify(self, txs: Sequence[DecodedTx], chain_id: str) -> list[LedgerError | None]:
        """The signature error (or None) of each transaction, checked in the processes.
        Raises VerifiersDown when none is running or one died with part of the work."""
        live = self._live()
        if not live:
            raise VerifiersDown("no verifier process is running")
        errors: list[LedgerError | None] = [None] * len(txs)
        sendable = []
        for i, tx in enumerate(txs):
            if len(tx.signatures) <= wire.MAX_SIGNATURES:
                sendable.append(i)
            else:  # more than a verdict byte can name: checked here (no such kind exists today)
                try:
                    verify_signatures(tx, chain_id)
                except LedgerError as err:
                    errors[i] = err
        parts = max(1, min(len(live), len(sendable) // _MIN_CHUNK))
        size = max(1, -(-len(sendable) // parts))
        chunks = [sendable[start : start + size] for start in range(0, len(sendable), size)]
        asks = []
        for process, chunk in zip(live[: len(chunks)], chunks, strict=True):
            picked = [txs[i] for i in chunk]
            items = [(tx_sign_digest(chain_id, tx.body), tx.signers, tx.signatures) for tx in picked]
            asks.append(process.ask(wire.encode_request(items), len(chunk)))
        for chunk, verdicts in zip(chunks, await asyncio.gather(*asks), strict=True):
            for i, verdict in zip(chunk, verdicts, strict=True):
                if verdict != wire.ALL_VALID:
                    errors[i] = signature_failure(txs[i], verdict)
        return errors

    async def close(self) -> None:
        for process in self._processes:
            await process.close()
        self._processes = []

    def pids(self) -> list[int]:
        return [p.popen.pid for p in self._processes if p.alive]
