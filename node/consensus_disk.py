"""The two files that keep a validator from equivocating across crashes: the sign-state
(what it signed last, replaced atomically and fsynced before any signature leaves) and the
consensus write-ahead log (what it received and said in the current height).

The record formats and replay semantics are consensus/'s (consensus.signer, consensus.wal);
this module only does the durable file I/O.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from consensus.signer import SignState
from consensus.wal import WalContents, WalEntry, decode_records, encode_record

log = logging.getLogger("cbdc.consensus.files")


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class SignStateFile:
    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> SignState | None:
        """The last persisted sign-state, or None for a validator that never signed."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return None
        return SignState.decode(data)

    def save(self, data: bytes) -> None:
        """Replace the sign-state durably: write a temp file, fsync, rename, fsync the dir.
        A crash at any point leaves the old state or the new one, never a torn file."""
        tmp = self.path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        _fsync_dir(self.path.parent)


class WalFile:
    """Append-only consensus WAL for the current height."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def load(self) -> WalContents:
        """Read the log; drop a torn tail (with a warning) so appends continue cleanly.

        Raises consensus.wal.WalCorruption when a record before the tail is damaged: the
        operator must look, because guessing could make this validator contradict itself.
        """
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            data = b""
        contents = decode_records(data)
        if contents.warning:
            log.warning("consensus WAL %s: %s", self.path, contents.warning)
        if contents.valid_length < len(data):
            with open(self.path, "r+b") as f:
                f.truncate(contents.valid_length)
                os.fsync(f.fileno())
        return contents

    def open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    def append(self, entry: WalEntry) -> None:
        """Append one record, unsynced: the WAL serves liveness after a restart; the
        fsynced sign-state is what guarantees safety."""
        assert self._fd is not None, "WalFile.open() first"
        os.write(self._fd, encode_record(entry))

    def reset(self) -> None:
        """Start the next height with an empty log (the block store now holds the past).
        Unsynced: if a crash undoes the truncation, replay skips records of heights the
        block store already has."""
        assert self._fd is not None, "WalFile.open() first"
        os.ftruncate(self._fd, 0)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
