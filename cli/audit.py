"""`cbdc audit verify|prove|verify-proof`: check the chain without trusting any node.

The checks live in node/audit.py; this module picks the sources, shows progress and prints
the verdict.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail, read_json_file
from cli.connect import client, genesis_hint, handle_errors, json_option, txid_bytes
from cli.format import Lines, emit_json, format_yuan, merge, money, render
from cli.options import query_options


@click.group()
def audit() -> None:
    """Replay and verify the chain from genesis; prove and check transaction inclusion."""


def _progress_bar(enabled: bool):
    """A rich progress bar on stderr (stdout stays clean for --json), or a no-op."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    return Progress(
        TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TextColumn("blocks"),
        TimeRemainingColumn(), console=Console(stderr=True), disable=not enabled, transient=True,
    )


def _report_doc(report: Any) -> dict[str, Any]:
    tip = report.tip
    return merge(
        {"ok": report.ok, "chain_id": report.chain_id, "height": report.heights, "txs": report.txs,
         "block_hash": tip.block_hash.hex() if tip else None,
         "state_root": tip.state_root.hex() if tip else None},
        money("issued", report.issued), money("redeemed", report.redeemed),
        money("outstanding", report.issued - report.redeemed),
        {"failed_height": report.failed_height, "failure": report.failure},
    )


@audit.command()
@click.option("--home", type=click.Path(file_okay=False, path_type=Path),
              help="A STOPPED node's home (reads its config.toml, genesis and data/ledger).")
@click.option("--store", type=click.Path(file_okay=False, path_type=Path),
              help="A ledger directory (e.g. a STOPPED node's HOME/data/ledger); needs --genesis or --home.")
@click.option("--genesis", "genesis_file", type=click.Path(dir_okay=False, path_type=Path),
              help="The genesis file to trust (default: the one in --home).")
@click.option("--recompute-every", type=click.IntRange(min=0), default=0, show_default=True,
              help="Also recompute the state root from scratch every N heights (always at the tip).")
@query_options
def verify(home: Path | None, store: Path | None, genesis_file: Path | None, recompute_every: int,
           node_address: str | None, as_json: bool) -> None:
    """Replay the chain from genesis and check everything: every commit certificate against
    the genesis validator set, every transaction signature and ledger rule, every header's
    state root, and the supply identity (unspent outputs == issued - redeemed) at every
    height. Ends with one verdict line; exit 0 only when every check holds.

    \b
    Sources (the genesis file is the only thing trusted):
      --home DIR                 a stopped node's data
      --store COPY --genesis G   a copy of a node's DIR/data/ledger
      --genesis G [--node ADDR]  a running node, block by block over its Sync API
    A running node holds its LevelDB lock (one process per database): audit it with --node,
    or stop it first. Never audit a cp -r copy of a live directory: it is not
    crash-consistent. A node that prunes blocks or started from a snapshot lacks the early
    blocks a replay needs: audit an archive node.

    Example: cbdc audit verify --home "$(cbdc devnet dir)/nodes/shenzhen"
    """
    from node.audit import AuditError, load_genesis, verify_node, verify_store

    source = ""
    try:
        if home is not None:
            genesis_path, ledger = _home_paths(home)
            genesis = load_genesis(genesis_file or genesis_path)
            source = f"store {store or ledger}"
        else:
            if genesis_file is None:
                fail("give --home DIR, or --genesis FILE with --store DIR or a node (--node)", EXIT_USAGE)
            genesis = load_genesis(genesis_file)
            ledger = None
        if store is not None:
            ledger = store
            source = f"store {store}"
        with _progress_bar(not as_json and sys.stderr.isatty()) as bar:
            task = bar.add_task("replay", total=None)

            def progress(done: int, total: int) -> None:
                bar.update(task, completed=done, total=total)

            if ledger is not None:
                report = verify_store(ledger, genesis, progress=progress, recompute_every=recompute_every)
            else:
                with client(node_address, timeout=30.0) as node_client:
                    source = f"node {node_client.address}"
                    report = verify_node(node_client, genesis, progress=progress,
                                         recompute_every=recompute_every)
    except AuditError as err:
        fail(str(err), EXIT_USAGE)
    doc = merge({"source": source}, _report_doc(report))
    if report.ok:
        verdict = (
            f"PASS: {report.chain_id} verified from genesis to height {report.heights} "
            f"({report.txs} txs; certificates, signatures, state roots and supply hold at every height; "
            f"state root {doc['state_root'][:16] if doc['state_root'] else '-'}, "
            f"outstanding {format_yuan(report.issued - report.redeemed, grouping=True)} yuan)"
        )
    else:
        verdict = f"FAIL at height {report.failed_height}: {report.failure}"
    render(doc, as_json, Lines([verdict]))
    if not report.ok:
        raise SystemExit(EXIT_REJECTED)


def _home_paths(home: Path) -> tuple[Path, Path]:
    from node.audit import home_paths

    return home_paths(home)


@audit.command()
@click.argument("txid")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the proof (default: proof-<txid prefix>.json).")
@query_options
def prove(txid: str, out: Path | None, node_address: str | None, as_json: bool) -> None:
    """Write an inclusion proof of a committed transaction: its bytes, its Merkle path to the
    block header's tx_root, the header and the block's commit certificate, and, when the
    validator set changed since genesis, the hand-off certificates leading to it.

    Example: cbdc audit prove 3f2a... --out pay.proof.json
    """
    from node.audit import build_proof, collect_handoffs
    from proto import node_pb2

    raw_txid = txid_bytes(txid)
    with client(node_address) as node_client:
        reply = node_client.transaction(raw_txid)
        if reply.status != node_pb2.TX_STATUS_COMMITTED:
            fail(f"transaction {raw_txid.hex()} is pending, not yet in a block; try again once committed",
                 EXIT_REJECTED)
        msg = node_client.block(height=reply.inclusion.height)
        # Validator-set changes before the block: the certificates that hand the chain from
        # the genesis set to the set that decided it.
        handoffs = collect_handoffs(node_client, reply.inclusion.height)
    proof = build_proof(msg.committed_block, raw_txid, handoffs)
    path = out or Path(f"proof-{raw_txid.hex()[:16]}.json")
    try:
        path.write_text(json.dumps(proof, indent=2) + "\n", encoding="utf-8")
    except OSError as err:
        fail(f"cannot write {path}: {err.strerror}", EXIT_USAGE)
    summary = {"file": str(path), "txid": proof["txid"], "height": proof["height"],
               "block_hash": proof["block_hash"], "tx_index": proof["tx_index"],
               "merkle_path_length": len(proof["merkle_path"])}
    render(summary, as_json, Lines([
        f"wrote {path}: tx {proof['txid'][:16]} at position {proof['tx_index']} of block "
        f"{proof['height']} ({proof['block_hash'][:16]})",
        f"check it offline: cbdc audit verify-proof {path} --genesis {genesis_hint()}",
    ]))


@audit.command("verify-proof")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--genesis", "genesis_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The genesis file whose validator set is trusted.")
@json_option
@handle_errors
def verify_proof(file: Path, genesis_file: Path, as_json: bool) -> None:
    """Check an inclusion proof offline, trusting nothing but the genesis validator set:
    txid = SHA-256 of the transaction body, the Merkle path leads to the header's tx_root,
    block hash = SHA-256 of the header, and more than 2/3 of the validators' power signed
    a commit of that hash at that height, the validators being genesis's or those each
    hand-off (certified by the set before it) committed to.

    Example: cbdc audit verify-proof pay.proof.json --genesis genesis.json
    """
    from node.audit import AuditError, ProofError, load_genesis, verify_proof_doc

    try:
        genesis = load_genesis(genesis_file)
    except AuditError as err:
        fail(str(err), EXIT_USAGE)
    doc = read_json_file(file, "proof file", unreadable="readable JSON")
    try:
        proven = verify_proof_doc(doc, genesis)
    except ProofError as err:
        if as_json:
            emit_json({"valid": False, "reason": str(err)})
        fail(f"INVALID proof: {err}", EXIT_REJECTED)
    result = {"valid": True, "txid": proven.txid.hex(), "height": proven.height, "tx_index": proven.index,
              "block_hash": proven.block_hash.hex(), "chain_id": genesis.chain_id,
              "signers": len(proven.signers), "power": proven.power, "total_power": proven.total_power}
    render(result, as_json, Lines([
        f"VALID: tx {result['txid'][:16]} is at position {proven.index} of block {proven.height} "
        f"({result['block_hash'][:16]}), committed by {len(proven.signers)} validators with "
        f"{proven.power} of {proven.total_power} voting power"
    ]))


# Fund tracing for supervisors (programmable money): cli/audit_trace.py.
def _add_tracing() -> None:
    from cli.audit_trace import flows, trace

    audit.add_command(trace)
    audit.add_command(flows)


_add_tracing()
