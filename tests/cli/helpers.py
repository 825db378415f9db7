"""Running the `cbdc` command in-process and checking its one-line failures."""

from __future__ import annotations

import json
import socket
from typing import Any

from click.testing import CliRunner, Result

from cli.main import cli


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    """`cbdc ARGS...` through click's runner (stdout and stderr kept apart)."""
    return CliRunner().invoke(cli, list(args), env=env, catch_exceptions=True)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 0, f"cbdc {' '.join(args)} -> {result.exit_code}\n{result.output}"
    return result


def ok_json(*args: str, env: dict[str, str] | None = None) -> Any:
    return json.loads(ok(*args, "--json", env=env).stdout)


def assert_error(result: Result, code: int, *needles: str, log_lines: bool = False) -> str:
    """Exit `code`, no traceback, exactly one line `error: ...` on stderr naming the problem.

    `log_lines`: the command is `node start`, whose stderr is the node's log: its log records
    (`ts=... level=...`, e.g. the warning about an unencrypted key) may precede the error."""
    assert isinstance(result.exception, SystemExit | None), f"unexpected exception: {result.exception!r}"
    assert result.exit_code == code, f"exit {result.exit_code}, expected {code}\n{result.output}"
    assert "Traceback" not in result.output
    lines = result.stderr.strip().splitlines()
    if log_lines:
        lines = [line for line in lines if not line.startswith("ts=")]
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    return lines[0]


def free_port() -> int:
    """A loopback port nobody listens on (bound and released)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def mistype(address: str) -> str:
    """The address with one character changed (the checksum catches it)."""
    i = len(address) // 2
    return address[:i] + ("q" if address[i] != "q" else "p") + address[i + 1 :]
