"""`cbdc chain status|block|tx|utxos|wallet|supply|validators|watch|institutions|history`:
read-only queries for auditors, operators and scripts. Each prints a table, or JSON with --json."""

from __future__ import annotations

from typing import Any

import click

from cli.common import EXIT_USAGE, fail
from cli.connect import address_bytes, client, txid_bytes
from cli.format import (
    Fields,
    Grid,
    emit_json,
    emit_json_line,
    format_yuan,
    merge,
    money,
    print_fields,
    print_table,
    render,
    time_text,
    yuan_cell,
)
from cli.options import query_options


@click.group()
def chain() -> None:
    """Query the chain: status, blocks, transactions, wallets, supply, validators."""


# --- decoding for display ---------------------------------------------------------------


def _addr(key: bytes) -> str:
    from node.ledger.address import encode_address

    return encode_address(key) if len(key) == 32 else key.hex()


def _outputs(outputs: Any) -> list[dict[str, Any]]:
    docs = []
    for o in outputs:
        doc = merge({"address": _addr(o.owner)}, money("amount", o.amount))
        if o.lock:  # programmable money: the lock travels with the output that creates it
            doc["lock"] = _lock_doc(o.lock)
        docs.append(doc)
    return docs


def _lock_doc(raw: bytes) -> dict[str, Any]:
    """A lock as people read it: its clauses as Miniscript-like text, with where each pays."""
    from node.ledger.conditions import decode_lock, format_time
    from node.ledger.errors import LedgerError
    from node.ledger.genesis import LedgerParams

    try:
        # Display only: the node checked the lock against its caps; read back the shape.
        lock = decode_lock(raw, LedgerParams(max_lock_bytes=1 << 16, max_condition_cost=1 << 12))
    except LedgerError as err:
        return {"undecodable": err.message}
    doc: dict[str, Any] = {
        "address": _addr(lock.address),
        "clauses": [_clause_doc(i, c) for i, c in enumerate(lock.clauses)],
    }
    if lock.memo:
        doc["memo"] = lock.memo
    if lock.purpose:
        doc.update({"purpose": lock.purpose, "holder": _addr(lock.holder)})
    if lock.is_voucher:
        doc.update({"voucher_issuer": _addr(lock.voucher_issuer), "expires_ms": lock.expires_at_ms,
                    "expires": format_time(lock.expires_at_ms)})
    return doc


def _clause_doc(index: int, clause: Any) -> dict[str, Any]:
    from node.ledger.conditions import describe

    return {"index": index, "name": clause.name, "policy": describe(clause.policy),
            "pay_to": [_addr(k) for k in clause.pay_to]}


def _lock_lines(title: str, lock: dict[str, Any]) -> list[str]:
    """Lines for people, below the table (a lock is too wide for a column): the lock's
    address and notes, then one line per clause: `  0 release: pk(cbdc1..) -> cbdc1..`."""
    if "undecodable" in lock:
        return [f"{title}: undecodable lock ({lock['undecodable']})"]
    notes = [lock.get("memo", "")]
    if "purpose" in lock:
        notes.append(f"earmarked {lock['purpose']!r} for {lock['holder']}")
    if "voucher_issuer" in lock:
        notes.append(f"voucher of {lock['voucher_issuer']} until {lock['expires']}")
    note = "; ".join(n for n in notes if n)
    lines = [f"{title}: lock {lock['address']}" + (f" ({note})" if note else "")]
    for c in lock["clauses"]:
        pay_to = ", ".join(c["pay_to"]) or "anywhere"
        lines.append(f"  {c['index']} {c['name'] or '(unnamed)'}: {c['policy']} -> {pay_to}")
    return lines


def _inputs(inputs: Any) -> list[dict[str, Any]]:
    return [{"txid": i.txid.hex(), "index": i.index} for i in inputs]


def tx_doc(raw: bytes) -> dict[str, Any]:
    """The JSON view of a serialized Transaction: txid, kind and the kind's fields."""
    from node.ledger.crypto import sha256
    from proto import ledger_pb2

    tx = ledger_pb2.Transaction.FromString(raw)
    body = ledger_pb2.TxBody.FromString(tx.body)
    kind = body.WhichOneof("kind") or "unknown"
    doc: dict[str, Any] = {"txid": sha256(tx.body).hex(), "kind": kind, "chain_id": body.chain_id,
                           "nonce": body.nonce, "signatures": len(tx.signatures)}
    if kind == "issue":
        doc["outputs"] = _outputs(body.issue.outputs)
        doc["signers"] = [_addr(k) for k in body.issue.signers]
    elif kind == "redeem":
        r = body.redeem
        doc.update(merge({"institution": _addr(r.institution), "inputs": _inputs(r.inputs)},
                         money("amount", r.amount), {"change": _outputs(r.change)}))
    elif kind == "register_wallet":
        w = body.register_wallet
        doc.update({"institution": _addr(w.institution), "address": _addr(w.address), "tier": w.tier,
                    "kyc_commitment": w.kyc_commitment.hex()})
    elif kind == "transfer":
        t = body.transfer
        doc.update({"sender": _addr(t.sender), "inputs": _inputs(t.inputs), "outputs": _outputs(t.outputs)})
    elif kind == "spend_locked":
        m = body.spend_locked
        lock = _lock_doc(m.lock)
        clauses = lock.get("clauses", [])
        clause = clauses[m.clause] if m.clause < len(clauses) else {"index": m.clause}
        doc.update({"lock": lock, "clause": clause,
                    "signers": [_addr(k) for k in m.signers], "inputs": _inputs(m.inputs),
                    "outputs": _outputs(m.outputs)})
    elif kind == "define_purpose":
        m = body.define_purpose
        doc.update({"purpose": m.purpose, "description": m.description, "institution": _addr(m.institution),
                    "defined_by": "central_bank" if m.issuer_signers else "institution"})
        if m.issuer_signers:
            doc["signers"] = [_addr(k) for k in m.issuer_signers]
    elif kind == "register_for_purpose":
        from node.ledger.purposes import ROLE_NAMES

        m = body.register_for_purpose
        doc.update({"purpose": m.purpose, "institution": _addr(m.institution), "address": _addr(m.address),
                    "role": ROLE_NAMES.get(m.role, "removed")})
    elif kind != "unknown":
        doc.update(_message_fields(getattr(body, kind)))
    return doc


def _message_fields(payload: Any) -> dict[str, Any]:
    """The fields of a message (the governance kinds and any other), keys as addresses."""
    doc: dict[str, Any] = {}
    for field, value in payload.ListFields():
        if field.name == "tiers":
            doc["tiers"] = [_tier_doc(row) for row in value]
        elif field.type == field.TYPE_MESSAGE:
            nested = [_message_fields(m) for m in value] if _repeated(field) else _message_fields(value)
            doc[field.name] = nested
        elif field.type == field.TYPE_BYTES:
            doc[field.name] = [_addr(k) for k in value] if _repeated(field) else _addr(value)
        else:
            doc[field.name] = list(value) if _repeated(field) else value
    if "reason" in doc:
        from node.ledger.governance import REASONS

        doc["reason"] = REASONS.get(doc["reason"], doc["reason"])
    return doc


def _repeated(field: Any) -> bool:
    # protobuf >= 5 names it is_repeated; older versions only have label.
    repeated = getattr(field, "is_repeated", None)
    return bool(repeated) if repeated is not None else field.label == field.LABEL_REPEATED


def _tier_doc(row: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"id": row.id, "name": row.name}
    for name in ("balance_cap", "per_payment", "daily", "yearly"):
        doc[name] = getattr(row, name) if getattr(row, f"has_{name}") else None
    return doc


def _tx_summary(doc: dict[str, Any]) -> str:
    kind = doc["kind"]
    if kind == "issue":
        total = sum(o["amount"] for o in doc["outputs"])
        return f"issue {format_yuan(total)} to {', '.join(o['address'][:14] + '…' for o in doc['outputs'])}"
    if kind == "redeem":
        return f"redeem {doc['amount_yuan']} by {doc['institution'][:14]}…"
    if kind == "register_wallet":
        return f"register {doc['address'][:14]}… tier {doc['tier']}"
    if kind == "transfer":
        paid = [o for o in doc["outputs"] if o["address"] != doc["sender"]]
        total = sum(o["amount"] for o in paid)
        return f"transfer {format_yuan(total)} from {doc['sender'][:14]}…"
    return _governance_summary(doc)


def _governance_summary(doc: dict[str, Any]) -> str:
    kind = doc["kind"]
    what = kind.replace("_", " ")
    if "id" in doc:
        what += f" {doc['id']}"
    if "address" in doc:
        what += f" {doc['address'][:14]}…"
    if "reason" in doc:
        what += f" ({doc['reason']})"
    if kind == "set_tier_table":
        what += f" from height {doc.get('effective_height')}"
    if kind == "set_validators":
        changes = [
            f"{u.get('name') or u['public_key'][:14] + '…'} {u.get('power', 0) or 'removed'}"
            for u in doc["updates"]
        ]
        what += ": " + ", ".join(changes)
    if kind == "set_authority":
        what += f" {doc.get('threshold', 0)} of {len(doc.get('keys', []))}"
    if kind in ("rotate_validator_key", "rotate_authority_key"):
        by = "holder" if doc.get("signers") == [doc.get("old_key")] else "authority"
        what += f" {doc.get('old_key', '')[:14]}… -> {doc.get('new_key', '')[:14]}… (by the {by})"
    return what


def block_doc(height: int, block_hash: bytes, committed: bytes) -> dict[str, Any]:
    """The JSON view of a CommittedBlock: header fields, txids and who signed the commit."""
    from node.ledger.blocks import Certificate, decode_committed_block

    decoded = decode_committed_block(committed)
    block, header = decoded.block, decoded.header
    cert = Certificate.decode(decoded.certificate)
    return {
        "height": header.height,
        "block_hash": block_hash.hex(),
        "chain_id": header.chain_id,
        "time_ms": header.time_ms,
        "prev_hash": header.prev_hash.hex(),
        "tx_root": header.tx_root.hex(),
        "state_root": header.state_root.hex(),
        "validators_hash": header.validators_hash.hex(),
        "evidence_root": header.evidence_root.hex(),
        "proposer": _addr(header.proposer),
        "tx_count": header.tx_count,
        "txs": [tx_doc(raw) for raw in block.txs],
        "evidence": len(block.evidence),
        "commit": {
            "round": cert.round,
            # Display only (not verified here): `cbdc audit` verifies certificates.
            "signers": [_addr(signer) for signer in cert.signers],
        },
    }


# --- commands ---------------------------------------------------------------------------


@chain.command()
@query_options
def status(node_address: str | None, as_json: bool) -> None:
    """The node's view of the chain: height, tip hash, state root, peers.

    Example: cbdc chain status --json
    """
    with client(node_address) as node_client:
        s = node_client.status()
        address = node_client.address
    doc = {
        "node": address,
        "chain_id": s.chain_id,
        "height": s.height,
        "base_height": s.base_height,  # lowest block held: > 1 when pruned or started from a snapshot
        "block_hash": s.block_hash.hex(),
        "state_root": s.state_root.hex(),
        "time_ms": s.time_ms,
        "validator": _addr(s.validator_key) if s.validator_key else None,
        "validators": len(s.validators),
        "peers_connected": s.peers_connected,
        "peers_expected": _other_validators(s),
        "syncing": s.syncing,
        "mempool_size": s.mempool_size,
        "version": s.version,
    }
    if as_json:
        emit_json(doc)
        return
    print_fields([
        ("node", address), ("chain", s.chain_id), ("height", s.height), ("block hash", doc["block_hash"]),
        ("state root", doc["state_root"]), ("time", time_text(s.time_ms)),
        ("validator", doc["validator"] or "- (not a validator)"),
        ("peers", f"{s.peers_connected} connected of {_other_validators(s)} validators"),
        ("syncing", "yes" if s.syncing else "no"), ("mempool", f"{s.mempool_size} txs"),
        ("version", s.version),
        ("blocks held", f"from height {s.base_height}" if s.base_height > 1 else "all (archive)"),
    ])


def _other_validators(s) -> int:
    """The validators a node dials: all of them, but itself when it is one."""
    return len(s.validators) - (1 if s.validator_key and any(
        v.public_key == s.validator_key for v in s.validators) else 0)


@chain.command()
@click.argument("at", required=False, metavar="[HEIGHT|HASH]")
@query_options
def block(at: str | None, node_address: str | None, as_json: bool) -> None:
    """A committed block by height or hash (default: the tip).

    Example: cbdc chain block 3
    """
    height: int | None = None
    block_hash: bytes | None = None
    if at is not None:
        if at.isdigit() and len(at) < 20:
            height = int(at)
        elif len(at) == 64:
            try:
                block_hash = bytes.fromhex(at)
            except ValueError:
                fail(f"{at!r} is neither a height nor a 64-hex-character block hash", EXIT_USAGE)
        else:
            fail(f"{at!r} is neither a height nor a 64-hex-character block hash", EXIT_USAGE)
    with client(node_address) as node_client:
        if height is None and block_hash is None:
            height = node_client.status().height
        msg = node_client.block(height=height, block_hash=block_hash)
    doc = block_doc(msg.height, msg.block_hash, msg.committed_block)
    if as_json:
        emit_json(doc)
        return
    print_fields([
        ("height", doc["height"]), ("block hash", doc["block_hash"]), ("time", time_text(doc["time_ms"])),
        ("prev hash", doc["prev_hash"]), ("tx root", doc["tx_root"]), ("state root", doc["state_root"]),
        ("validators hash", doc["validators_hash"]), ("proposer", doc["proposer"]),
        ("transactions", doc["tx_count"]),
        ("commit", f"round {doc['commit']['round']}, {len(doc['commit']['signers'])} precommits"),
    ], title=f"block {doc['height']}")
    if doc["txs"]:
        print_table(["#", "txid", "kind", "summary"],
                    [(i, t["txid"], t["kind"], _tx_summary(t)) for i, t in enumerate(doc["txs"])])


@chain.command()
@click.argument("txid")
@query_options
def tx(txid: str, node_address: str | None, as_json: bool) -> None:
    """A transaction by id: its status, block and contents.

    Example: cbdc chain tx 3f2a...
    """
    from proto import node_pb2

    with client(node_address) as node_client:
        reply = node_client.transaction(txid_bytes(txid))
    doc = tx_doc(reply.tx)
    committed = reply.status == node_pb2.TX_STATUS_COMMITTED
    doc["status"] = "committed" if committed else "pending"
    if committed:
        inc = reply.inclusion
        doc.update({"height": inc.height, "index": inc.index, "block_hash": inc.block_hash.hex(),
                    "time_ms": inc.time_ms})
    if as_json:
        emit_json(doc)
        return
    rows: list[tuple[str, Any]] = [("txid", doc["txid"]), ("kind", doc["kind"]), ("status", doc["status"])]
    if committed:
        rows += [("block", f"{doc['height']} ({doc['block_hash'][:16]}), position {doc['index']}"),
                 ("time", time_text(doc["time_ms"]))]
    for name in ("sender", "institution", "address", "tier", "amount_yuan", "purpose", "description", "role"):
        if name in doc:
            rows.append((name.replace("_yuan", ""), doc[name]))
    if doc["kind"] == "define_purpose":
        by = "the central bank" if doc["defined_by"] == "central_bank" else "the institution itself"
        rows.append(("defined by", by + (f" ({', '.join(doc['signers'])})" if "signers" in doc else "")))
    locks: list[str] = []
    if doc["kind"] == "spend_locked":
        clause = doc["clause"]
        rows.append(("lock", doc["lock"].get("address", "undecodable")))
        rows.append(("clause", f"{clause['index']} ({clause.get('name') or 'unnamed'})"))
        locks += _lock_lines("spends", doc["lock"])
        rows.append(("signed by", ", ".join(doc["signers"]) or "nobody (a time-only clause or a reclaim)"))
    for i, o in enumerate(doc.get("outputs", []) + doc.get("change", [])):
        locked = "  (locked, below)" if "lock" in o else ""
        rows.append((f"output {i}", f"{o['address']}  {yuan_cell(o['amount'])} yuan{locked}"))
        if "lock" in o:
            locks += _lock_lines(f"output {i}", o["lock"])
    for i, inp in enumerate(doc.get("inputs", [])):
        rows.append((f"input {i}", f"{inp['txid']}:{inp['index']}"))
    print_fields(rows)
    for line in locks:
        click.echo(line)


@chain.command()
@click.argument("address")
@query_options
def utxos(address: str, node_address: str | None, as_json: bool) -> None:
    """The unspent outputs an address owns.

    Example: cbdc chain utxos cbdc1...
    """
    owner = address_bytes(address)
    with client(node_address) as node_client:
        items = node_client.utxos(owner)
    rows = [merge({"txid": u.outpoint.txid.hex(), "index": u.outpoint.index}, money("amount", u.amount))
            for u in items]
    total = sum(u.amount for u in items)
    render(merge({"address": _addr(owner), "utxos": rows}, money("total", total)), as_json,
           Grid(["txid", "index", "amount (yuan)"],
                [(r["txid"], r["index"], yuan_cell(r["amount"])) for r in rows],
                title=f"{len(rows)} unspent output(s), total {yuan_cell(total)} yuan",
                right=["amount (yuan)"]))


@chain.command()
@click.argument("address")
@query_options
def wallet(address: str, node_address: str | None, as_json: bool) -> None:
    """A registered wallet: tier, institution, balance and outflow counted against its limits.

    Example: cbdc chain wallet cbdc1...
    """
    owner = address_bytes(address)
    with client(node_address) as node_client:
        w = node_client.wallet(owner)
    doc = merge(
        {"address": _addr(w.address), "tier": w.tier, "institution": _addr(w.institution),
         "kyc_commitment": w.kyc_commitment.hex()},
        money("balance", w.balance),
        {"day": w.day}, money("day_outflow", w.day_outflow),
        {"year": w.year}, money("year_outflow", w.year_outflow),
        {"status": _wallet_status(w.status), "reason": _reason(w.reason) if w.status else None},
        {"height": w.height},
    )
    render(doc, as_json, Fields([
        ("address", doc["address"]), ("tier", w.tier), ("institution", doc["institution"]),
        ("kyc commitment", doc["kyc_commitment"] or "-"), ("balance", f"{yuan_cell(w.balance)} yuan"),
        ("outflow today", f"{yuan_cell(w.day_outflow)} yuan"),
        ("outflow this year", f"{yuan_cell(w.year_outflow)} yuan"),
        ("status", doc["status"] + (f" ({doc['reason']})" if doc["reason"] else "")), ("at height", w.height),
    ]))


def _wallet_status(status: int) -> str:
    from node.ledger.types import WALLET_STATUS_NAMES

    return WALLET_STATUS_NAMES.get(status, str(status))


def _reason(code: int) -> str:
    from node.ledger.governance import REASONS

    return REASONS.get(code, str(code))


@chain.command()
@query_options
def supply(node_address: str | None, as_json: bool) -> None:
    """Cash issued, redeemed and outstanding (issued - redeemed = sum of all unspent outputs).

    Example: cbdc chain supply --json
    """
    with client(node_address) as node_client:
        s = node_client.supply()
    doc = merge(money("issued", s.issued), money("redeemed", s.redeemed),
                money("outstanding", s.outstanding), {"height": s.height})
    if as_json:
        emit_json(doc)
        return
    print_table(["", "yuan"], [("issued", yuan_cell(s.issued)), ("redeemed", yuan_cell(s.redeemed)),
                               ("outstanding", yuan_cell(s.outstanding))],
                title=f"supply at height {s.height}", right=["yuan"])


@chain.command()
@click.option("--at", "at_height", type=click.IntRange(min=1), default=None,
              help="The set deciding this height (default: the next block), with the genesis names.")
@query_options
def validators(at_height: int | None, node_address: str | None, as_json: bool) -> None:
    """The validator set: names, keys, voting power, and which ones this node is connected to.
    Governance changes it (committed at H, deciding from H+2): --at shows the set of any
    height up to the tip + 2.

    Example: cbdc chain validators --at 120
    """
    with client(node_address) as node_client:
        s = node_client.status()
        g = node_client.governance()
    names = {v.public_key: v.name for vs in g.validator_sets for v in vs.validators}
    if at_height is not None:
        _validators_at(g, at_height, names, s.height, as_json)
        return
    total = sum(v.power for v in s.validators) or 1
    peers = {p.public_key: p for p in s.peers}
    rows = []
    for v in s.validators:
        peer = peers.get(v.public_key)
        if v.public_key == s.validator_key:
            link = "this node"
        elif peer is None:
            link = "not connected"
        else:
            link = "connected" if peer.inbound and peer.outbound else "partly connected"
        height = peer.height if peer is not None else (s.height if link == "this node" else None)
        rows.append({"name": names.get(v.public_key, ""), "address": _addr(v.public_key), "power": v.power,
                     "height": height, "link": link})
    if as_json:
        emit_json({"total_power": sum(v.power for v in s.validators), "validators": rows})
        return
    print_table(["name", "validator", "power", "share", "height", "link"],
                [(r["name"] or "-", r["address"], r["power"], f"{100 * r['power'] / total:.1f}%",
                  "-" if r["height"] is None else r["height"], r["link"]) for r in rows],
                title=f"{len(rows)} validators; a commit needs more than 2/3 of the power",
                right=["power", "share", "height"])


@chain.command()
@click.option("--from", "from_height", type=click.IntRange(min=0), default=0,
              help="First height to show (default: the next block).")
@click.option("--count", type=click.IntRange(min=1), default=None, help="Stop after this many blocks.")
@query_options
def watch(from_height: int, count: int | None, node_address: str | None, as_json: bool) -> None:
    """Follow committed blocks as they come (Ctrl-C to stop); --json prints one object a line.

    Example: cbdc chain watch --from 1 --count 5
    """
    from node.ledger.blocks import decode_committed_block

    shown = 0
    with client(node_address) as node_client:
        stream = node_client.watch(from_height)
        try:
            for msg in stream:
                header = decode_committed_block(msg.committed_block).header
                if as_json:
                    emit_json_line({"height": msg.height, "block_hash": msg.block_hash.hex(),
                                    "time_ms": header.time_ms, "tx_count": header.tx_count,
                                    "state_root": header.state_root.hex()})
                else:
                    click.echo(f"{msg.height:>8}  {msg.block_hash.hex()[:16]}  {time_text(header.time_ms)}  "
                               f"{header.tx_count:>5} txs")
                shown += 1
                if count is not None and shown >= count:
                    break
        except KeyboardInterrupt:
            pass
        finally:
            stream.close()


# --- governance ---------------------------------------------------------------------------


@chain.command()
@query_options
def institutions(node_address: str | None, as_json: bool) -> None:
    """Institutions (with status and rotated-out keys), the authority and the tier tables in
    force.

    Example: cbdc chain institutions
    """
    with client(node_address) as node_client:
        g = node_client.governance()
    doc = {
        "height": g.height,
        "authority": {"keys": [_addr(k) for k in g.authority], "threshold": g.threshold},
        "institutions": [
            {"id": i.id, "name": i.name, "address": _addr(i.public_key), "status": i.status,
             "former_keys": [_addr(k) for k in i.former_keys]}
            for i in g.institutions
        ],
        "tier_tables": [
            {"effective_height": t.effective_height, "tiers": [_tier_doc(r) for r in t.tiers]}
            for t in g.tier_tables
        ],
    }
    render(doc, as_json,
           Grid(["id", "name", "status", "address", "former keys"],
                [(i["id"], i["name"], i["status"], i["address"], len(i["former_keys"]))
                 for i in doc["institutions"]],
                title=f"{len(doc['institutions'])} institution(s) at height {g.height}"),
           Grid(["authority key"], [(k,) for k in doc["authority"]["keys"]],
                title=f"authority: {g.threshold} of {len(g.authority)} keys sign"),
           Grid(["from height", "tier", "name", "balance cap", "per payment", "daily", "yearly"],
                [(t["effective_height"], r["id"], r["name"], *(_limit(r[n]) for n in
                  ("balance_cap", "per_payment", "daily", "yearly")))
                 for t in doc["tier_tables"] for r in t["tiers"]],
                title="tier tables (yuan; the first in force, later ones scheduled)"))


def _limit(fen: int | None) -> str:
    return "unlimited" if fen is None else yuan_cell(fen)


@chain.command()
@click.option("--from", "from_height", type=click.IntRange(min=1), default=1, show_default=True,
              help="First height to scan.")
@query_options
def history(from_height: int, node_address: str | None, as_json: bool) -> None:
    """Every governance change committed, oldest first (scans the blocks from --from).

    Example: cbdc chain history --json
    """
    from node.ledger.blocks import decode_committed_block
    from node.ledger.governance_codec import GOVERNANCE_KINDS

    governance_kinds = set(GOVERNANCE_KINDS)
    changes: list[dict[str, Any]] = []
    with client(node_address) as node_client:
        tip = node_client.status().height
        if tip >= from_height:
            for msg in node_client.blocks(from_height, tip):
                decoded = decode_committed_block(msg.committed_block)
                for raw in decoded.block.txs:
                    doc = tx_doc(raw)
                    if doc["kind"] in governance_kinds:
                        changes.append(merge({"height": msg.height, "time_ms": decoded.header.time_ms}, doc))
    render({"from_height": from_height, "to_height": tip, "changes": changes}, as_json,
           Grid(["height", "time", "change", "txid"],
                [(c["height"], time_text(c["time_ms"]), _governance_summary(c), c["txid"][:16])
                 for c in changes],
                title=f"{len(changes)} governance change(s) in blocks {from_height}..{tip}"))


def _validators_at(g: Any, height: int, names: dict[bytes, str], tip: int, as_json: bool) -> None:
    """The set deciding `height`, from the node's governance record."""
    from node.ledger.governance import VALIDATOR_DELAY

    if height > tip + VALIDATOR_DELAY:
        fail(f"--at {height}: the set is known up to the tip + {VALIDATOR_DELAY} ({tip + VALIDATOR_DELAY}); "
             "later blocks may still change it", EXIT_USAGE)
    chosen = g.validator_sets[0]
    for entry in g.validator_sets:
        if entry.effective_height <= height:
            chosen = entry
    total = sum(v.power for v in chosen.validators) or 1
    rows = [{"name": names.get(v.public_key, v.name), "address": _addr(v.public_key), "power": v.power}
            for v in chosen.validators]
    doc = {"height": height, "since_height": chosen.effective_height,
           "validators_hash": chosen.validators_hash.hex(), "total_power": total, "validators": rows}
    render(doc, as_json,
           Grid(["name", "validator", "power", "share"],
                [(r["name"], r["address"], r["power"], f"{100 * r['power'] / total:.1f}%") for r in rows],
                title=f"{len(rows)} validators decide height {height} (this set since height "
                      f"{chosen.effective_height}); a commit needs more than 2/3 of the power",
                right=["power", "share"]))
