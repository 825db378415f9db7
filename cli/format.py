"""Money, hashes and output: exact amount parsing, tables for people, JSON for scripts.

Money is integer fen everywhere. A person types yuan ("12.34"); it is parsed as a string of
digits, never through float (0.1 + 0.2 is not 0.3 in binary floating point, and a payment
must move exactly the amount typed). JSON output carries every amount twice under stable
names: `<name>` in fen (for arithmetic; a string of digits in JSON, see below) and
`<name>_yuan` (for display), e.g. {"balance": "1234", "balance_yuan": "12.34"}.

64-bit integers (amounts, heights, times, nonces, voting power: uint64 in the proto) are
JSON strings of decimal digits, as proto3's JSON mapping writes them: a JavaScript number
holds integers exactly only up to 2^53, and a nonce or a large amount goes beyond. 32-bit
ones (indexes, tiers, counts) stay numbers. `U64_KEYS` names the keys that carry them.
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from node.ledger.types import U64_MAX

FEN_PER_YUAN = 100
_AMOUNT = re.compile(r"(?P<whole>[0-9]+)(?:\.(?P<frac>[0-9]+))?")


class AmountError(ValueError):
    """A typed amount that is not a positive number of yuan with at most two decimals."""


def parse_amount(text: str, *, allow_zero: bool = False) -> int:
    """'12.34' -> 1234 fen, exactly. Raises AmountError with a sentence naming the problem."""
    raw = text.strip().replace("_", "")
    if raw.startswith("-"):
        raise AmountError(f"amount {text!r} is negative; give a positive number of yuan like 12.34")
    match = _AMOUNT.fullmatch(raw)
    if match is None:
        raise AmountError(f"amount {text!r} is not a number of yuan like 12.34")
    frac = match["frac"] or ""
    if len(frac) > 2:
        raise AmountError(
            f"amount {text!r} has {len(frac)} decimal places; the smallest unit is 0.01 yuan (1 fen)"
        )
    fen = int(match["whole"]) * FEN_PER_YUAN + int(frac.ljust(2, "0"))
    if fen > U64_MAX:
        raise AmountError(f"amount {text!r} is more than the largest amount, {format_yuan(U64_MAX)} yuan")
    if fen == 0 and not allow_zero:
        raise AmountError(f"amount {text!r} is zero; give a positive amount")
    return fen


def format_yuan(fen: int, *, grouping: bool = False) -> str:
    """1234 -> '12.34' (grouping: 123456789 -> '1,234,567.89'). Integer arithmetic only."""
    sign = "-" if fen < 0 else ""
    whole, cents = divmod(abs(fen), FEN_PER_YUAN)
    return f"{sign}{whole:,}.{cents:02d}" if grouping else f"{sign}{whole}.{cents:02d}"


def money(name: str, fen: int) -> dict[str, int | str]:
    """The two JSON fields of an amount: {name: fen, name_yuan: '12.34'}."""
    return {name: fen, f"{name}_yuan": format_yuan(fen)}


def yuan_cell(fen: int) -> str:
    """An amount in a human table: grouped yuan."""
    return format_yuan(fen, grouping=True)


def time_text(time_ms: int) -> str:
    """Unix milliseconds as an ISO-8601 UTC time (what a person reads in a table)."""
    if time_ms <= 0:
        return "-"
    return datetime.fromtimestamp(time_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + "Z"


def short(digest: bytes, n: int = 16) -> str:
    return digest.hex()[:n]


# --- output -----------------------------------------------------------------------------


# Keys whose integer values are uint64 in the wire format, wherever they appear in a document.
U64_KEYS = frozenset({
    "amount", "balance", "change", "issued", "redeemed", "outstanding", "total", "day_outflow",
    "year_outflow", "height", "failed_height", "nonce", "power", "total_power", "time_ms",
    "mempool_size", "mempool_bytes", "utxo_count", "base_height",
})


def proto3_json(doc: Any) -> Any:
    """`doc` with the integers under U64_KEYS as strings of digits (proto3 JSON), recursively."""
    if isinstance(doc, Mapping):
        return {
            k: str(v) if k in U64_KEYS and isinstance(v, int) and not isinstance(v, bool) else proto3_json(v)
            for k, v in doc.items()
        }
    if isinstance(doc, list | tuple):
        return [proto3_json(v) for v in doc]
    return doc


def emit_json(doc: Any) -> None:
    """One JSON document on stdout (indented; keys in the order built, which is stable)."""
    click.echo(json.dumps(proto3_json(doc), indent=2, ensure_ascii=False))


def emit_json_line(doc: Any) -> None:
    """One compact JSON object per line (streams such as `chain watch --json`)."""
    click.echo(json.dumps(proto3_json(doc), separators=(",", ":"), ensure_ascii=False))


def console() -> Console:
    # Hashes and addresses must stay on one line to be copied; when stdout is not a
    # terminal (a pipe, a test) rich would assume 80 columns and fold them.
    if sys.stdout.isatty():
        return Console(highlight=False)
    return Console(highlight=False, width=200, color_system=None)


def print_fields(rows: Iterable[tuple[str, Any]], title: str | None = None) -> None:
    """A two-column key/value table."""
    table = Table(title=title, show_header=False, box=None, pad_edge=False)
    table.add_column("field", style="bold", no_wrap=True)
    table.add_column("value", no_wrap=True, overflow="fold")
    for key, value in rows:
        table.add_row(key, str(value))
    console().print(table)


def print_table(
    columns: Sequence[str],
    rows: Iterable[Sequence[Any]],
    title: str | None = None,
    right: Iterable[str] = (),
) -> None:
    """A table with a header row; columns named in `right` are right-aligned (amounts)."""
    align_right = set(right)
    table = Table(title=title, title_justify="left")
    for name in columns:
        table.add_column(name, no_wrap=True, justify="right" if name in align_right else "left")
    for row in rows:
        table.add_row(*(str(cell) for cell in row))
    console().print(table)


def merge(*parts: Mapping[str, Any]) -> dict[str, Any]:
    """Concatenate JSON fragments in order (readable construction of money fields)."""
    out: dict[str, Any] = {}
    for part in parts:
        out.update(part)
    return out


# --- one document, two readers ------------------------------------------------------------


@dataclass(frozen=True)
class Fields:
    """A two-column key/value table (`print_fields`)."""

    rows: Sequence[tuple[str, Any]]
    title: str | None = None

    def print(self) -> None:
        print_fields(self.rows, self.title)


@dataclass(frozen=True)
class Grid:
    """A table with a header row (`print_table`); `right` names the right-aligned columns."""

    columns: Sequence[str]
    rows: Sequence[Sequence[Any]]
    title: str | None = None
    right: Sequence[str] = ()

    def print(self) -> None:
        print_table(self.columns, self.rows, self.title, self.right)


@dataclass(frozen=True)
class Lines:
    """Plain lines of text (a verdict, or what was committed where)."""

    lines: Sequence[str]

    def print(self) -> None:
        for line in self.lines:
            click.echo(line)


View = Fields | Grid | Lines


def render(doc: Any, as_json: bool, *views: View) -> None:
    """What every command prints: `doc` as one JSON document with --json (for scripts), else
    the views of it, in order (for people). A command fetches once and builds both from that,
    so the two outputs cannot tell different stories."""
    if as_json:
        emit_json(doc)
        return
    for view in views:
        view.print()


def committed(what: str, doc: Mapping[str, Any], *, with_block_hash: bool = False) -> Lines:
    """The two lines after a transaction is committed: what it did and where, then its txid
    (`doc` holds the fields of cli.connect.outcome_doc)."""
    where = f"block {doc['height']}" + (f" ({doc['block_hash'][:16]})" if with_block_hash else "")
    return Lines([f"{what}: committed in {where}", f"txid {doc['txid']}"])
