"""`cbdc audit trace|flows`: follow money for supervisors (node/trace.py does the work).

Same sources as `audit verify`: a stopped node's home, a copy of its ledger directory, or a
running node's Sync API. The blocks are read as given; `audit verify` proves them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail
from cli.connect import client
from cli.format import Lines, format_yuan, render
from cli.options import query_options


def source_options(command: Any) -> Any:
    for option in reversed([
        click.option("--home", type=click.Path(file_okay=False, path_type=Path),
                     help="A STOPPED node's home (reads its config.toml, genesis and data/ledger)."),
        click.option("--store", type=click.Path(file_okay=False, path_type=Path),
                     help="A ledger directory (e.g. a copy of HOME/data/ledger); needs --genesis or --home."),
        click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
                     help="The genesis file (default: the one in --home)."),
    ]):
        command = option(command)
    return command


def _index(home: Path | None, store: Path | None, genesis_file: Path | None, node_address: str | None):
    """The trace index over every committed block of the chosen source."""
    from node.audit import AuditError, home_paths, load_genesis, open_store
    from node.trace import build_index

    try:
        ledger = None
        if home is not None:
            genesis_path, ledger = home_paths(home)
            genesis = load_genesis(genesis_file or genesis_path)
        elif genesis_file is None:
            fail("give --home DIR, or --genesis FILE with --store DIR or a node (--node)", EXIT_USAGE)
        else:
            genesis = load_genesis(genesis_file)
        if store is not None:
            ledger = store
        if ledger is not None:
            source = open_store(ledger, genesis)
            try:
                def stored() -> Iterator[tuple[int, bytes]]:
                    for height in range(1, source.height + 1):
                        raw = source.get_block(height=height)
                        if raw is not None:
                            yield height, raw

                return build_index(stored(), genesis)
            finally:
                source.close()
        with client(node_address, timeout=30.0) as node_client:
            total = node_client.status().height
            blocks = ((m.height, m.committed_block) for m in node_client.blocks(1, total)) if total else ()
            return build_index(blocks, genesis)
    except AuditError as err:
        fail(str(err), EXIT_USAGE)


@click.command()
@click.argument("target", metavar="OUTPOINT|TXID")
@source_options
@query_options
def trace(target: str, home: Path | None, store: Path | None, genesis_file: Path | None,
          node_address: str | None, as_json: bool) -> None:
    """Provenance of a coin: every transaction back to the issuance it came from, and every
    transaction forward to where the money is now (TXID:INDEX for one output, or TXID).

    Example: cbdc audit trace 3f2a...:0 --store copy/ --genesis genesis.json
    """
    from node.trace import TraceError, parse_target
    from node.trace import trace as trace_doc

    try:
        txid, output = parse_target(target)
    except ValueError:
        fail(f"{target!r} is not TXID or TXID:INDEX (64 hex characters, then :N)", EXIT_USAGE)
    index = _index(home, store, genesis_file, node_address)
    try:
        doc = trace_doc(index, txid, output)
    except TraceError as err:
        fail(str(err), EXIT_REJECTED)
    lines = [f"trace of {target} (chain read to height {doc['height_read']})", "", "back to issuance:"]
    lines += [_hop(t) for t in doc["back"]] or ["  (none: this is where the money was created)"]
    lines += ["", "this transaction:", _hop(doc["start"]), "", "forward:"]
    lines += [_hop(t) for t in doc["forward"]] or ["  (not spent since)"]
    lines += ["", "where it is now:"]
    lines += [f"  {_yuan(c['amount_fen'])} yuan  {_who(c)}  [{c['outpoint']}]" for c in doc["unspent"]]
    render(doc, as_json, Lines(lines))


def _yuan(fen: int) -> str:
    return format_yuan(fen, grouping=True)


def _who(coin: dict[str, Any]) -> str:
    text = coin["to"]
    if coin.get("purpose"):
        text += f" (earmarked {coin['purpose']})"
    elif coin.get("lock"):
        text += f" (locked: {coin.get('memo') or coin['lock'][:20]})"
    return text


def _hop(tx: dict[str, Any]) -> str:
    outs = ", ".join(f"{_yuan(c['amount_fen'])} -> {_who(c)}" for c in tx["outputs"])
    return f"  h{tx['height']} {tx['kind']:<20} {tx['txid'][:16]}  {outs}"


@click.command()
@click.option("--purpose", required=True, help="The purpose name, e.g. relocation-fund.")
@source_options
@query_options
def flows(purpose: str, home: Path | None, store: Path | None, genesis_file: Path | None,
          node_address: str | None, as_json: bool) -> None:
    """Totals of a purpose: earmarked by each institution, paid on to each recipient class,
    held now (per class and per recipient), returned to the institution and settled out by
    merchants.

    Example: cbdc audit flows --purpose carbon-airdrop --home "$(cbdc devnet dir)/nodes/shenzhen"
    """
    from node.trace import TraceError
    from node.trace import flows as flows_doc

    index = _index(home, store, genesis_file, node_address)
    try:
        doc = flows_doc(index, purpose)
    except TraceError as err:
        fail(str(err), EXIT_REJECTED)

    def table(title: str, rows: dict[str, int]) -> list[str]:
        return [title] + ([f"  {_yuan(v):>14} yuan  {k}" for k, v in rows.items()] or ["  (none)"])

    totals = doc["totals_fen"]
    lines = [f"purpose {purpose} of {doc['institution']} (chain read to height {doc['height_read']})"]
    lines += table("earmarked by:", doc["earmarked_fen"])
    lines += table("paid on to:", doc["paid_to_class_fen"])
    lines += table("held now by class:", doc["held_by_class_fen"])
    lines += table("held now by recipient:", doc["held_by_recipient_fen"])
    lines += [f"returned to the institution: {_yuan(doc['returned_fen'])} yuan"]
    lines += table("settled out by merchants to:", doc["settled_fen"])
    lines += [f"totals: earmarked {_yuan(totals['earmarked'])} = held {_yuan(totals['held'])} + returned "
              f"{_yuan(totals['returned'])} + settled {_yuan(totals['settled'])} yuan"]
    render(doc, as_json, Lines(lines))
