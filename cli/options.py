"""The option stacks commands share, so that each command lists only the options that are its own.

Two stacks cover almost every command that talks to a node:

- `query_options`: --node, --json and the error handling (a read: `chain status`, `balance`);
- `submit_options`: --timeout in front of those (a transaction waited for until committed).

Options listed above a stack come first in --help, as they did when each command spelled the
stack out. The single options (`--key`, `--to`, `--amount`) keep each command's own help text.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.connect import handle_errors, json_option, node_option, timeout_option

Decorator = Callable[[Callable[..., Any]], Callable[..., Any]]


def query_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--node, --json, and every expected failure as one line with its exit code."""
    return node_option(json_option(handle_errors(command)))


def submit_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--timeout (for the commit), then what `query_options` gives."""
    return timeout_option(query_options(command))


def key_file_option(help: str, flag: str = "--key", dest: str = "key_file") -> Decorator:
    """A required key file (`--key KEYFILE`, or e.g. `--from KEYFILE`)."""
    return click.option(flag, dest, required=True, metavar="KEYFILE", type=click.Path(path_type=Path),
                        help=help)


def to_option(help: str) -> Decorator:
    """The required receiving address, `--to ADDRESS`."""
    return click.option("--to", "to", required=True, metavar="ADDRESS", help=help)


def amount_option(help: str) -> Decorator:
    """A required amount in yuan, `--amount YUAN` (parsed exactly by cli.connect.amount_fen)."""
    return click.option("--amount", required=True, metavar="YUAN", help=help)
