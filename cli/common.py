"""What every command shares: exit codes, one-line failures, amounts and addresses."""

from __future__ import annotations

import signal
from typing import NoReturn

import click

# Exit codes (documented in the README): 0 ok, 1 rejected by the chain, 2 usage error,
# 3 node unreachable.
EXIT_REJECTED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3


def fail(message: str, code: int = EXIT_REJECTED) -> NoReturn:
    """Print one line to stderr and exit with `code` (no traceback, ever)."""
    click.echo(f"error: {message}", err=True)
    raise SystemExit(code)


def unwind_on_sigterm() -> None:
    """Make SIGTERM unwind like Ctrl-C (KeyboardInterrupt) in a command that starts node
    processes, so its finally blocks stop them. The nodes run in sessions of their own and
    would otherwise outlive a supervisor stopped by `timeout`, systemd or `kill`."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
