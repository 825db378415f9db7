"""What every command shares: exit codes, one-line failures, reading the files a person names."""

from __future__ import annotations

import json
import os
import signal
import tempfile
from pathlib import Path
from typing import Any, NoReturn

import click

# Exit codes (documented in the README): 0 ok, 1 rejected by the chain, 2 usage error,
# 3 node unreachable, 4 not found (a lookup of a transaction, block or wallet the chain does
# not have: a script tells "no such thing" apart from a refused payment).
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3
EXIT_NOT_FOUND = 4

# The `error.code` of a failure under --json when the chain gave no code of its own.
_EXIT_NAMES = {EXIT_REJECTED: "rejected", EXIT_USAGE: "usage", EXIT_UNREACHABLE: "unreachable",
               EXIT_NOT_FOUND: "not_found"}
_JSON_ERRORS = "cbdc.json_errors"  # set in the click context by a command run with --json


def errors_as_json(enabled: bool = True) -> None:
    """From now on `fail` prints its error as JSON (the running command has --json)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None:
        ctx.meta[_JSON_ERRORS] = enabled


def fail(message: str, code: int = EXIT_REJECTED, reason: str | None = None) -> NoReturn:
    """Print one line to stderr and exit with `code` (no traceback, ever).

    Under --json that line is a JSON object, {"error": {"code": ..., "message": ...,
    "exit_code": N}}: `code` is the chain's machine code (`reason`, e.g. "insufficient_funds")
    or else the exit code's name (usage, unreachable, rejected, not_found)."""
    ctx = click.get_current_context(silent=True)
    if ctx is not None and ctx.meta.get(_JSON_ERRORS):
        error = {"code": reason or _EXIT_NAMES.get(code, "error"), "message": message, "exit_code": code}
        click.echo(json.dumps({"error": error}, ensure_ascii=False, separators=(",", ":")), err=True)
    else:
        click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def read_json_file(path: Path, what: str, unreadable: str = "a readable JSON file") -> Any:
    """The JSON document in a file named on the command line (a draft, a proof); a usage
    error naming `what` and the file when it is missing or not JSON ("draft d.json is not
    a readable JSON file (...)"). Whether the document is the right kind is the caller's."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        fail(f"{what} {path} does not exist", EXIT_USAGE)
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        fail(f"{what} {path} is not {unreadable} ({err})", EXIT_USAGE)


def unwind_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C (KeyboardInterrupt) in a command that starts node
    processes, so its finally blocks stop them. The nodes run in sessions of their own and
    would otherwise outlive a supervisor stopped by `timeout`, systemd or `kill`."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)


def write_json_atomically(path: Path, doc: Any, *, ensure_ascii: bool = True) -> None:
    """Write `doc` as indented JSON by atomic replace: a crash mid-write never leaves half a
    file (a draft being signed, a genesis being built)."""
    data = json.dumps(doc, indent=2, ensure_ascii=ensure_ascii) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent if str(path.parent) else ".")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
