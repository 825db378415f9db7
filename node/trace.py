"""Fund tracing for supervisors: the provenance of a coin and the flows of a purpose.

Both read committed blocks only, as `audit verify` does (a store copy, or a running node's
Sync API), and index them in memory: which transaction created each output, which spent it,
and what each output is (plain money, a lock, an earmark of a purpose). From that index:

- `trace`: from an outpoint or a transaction, every hop back to the issuances the money came
  from, and every hop forward to where it is now (the Xiongan case: from the budget to each
  final recipient);
- `flows`: for one purpose, what its institutions earmarked, what moved between recipients
  (by recipient class), what is still held, what returned to the institution and what left
  through a merchant's settlement.

Blocks are trusted as given here: run `audit verify` on the same source for the proof that
they are the chain.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from node.ledger.address import encode_address
from node.ledger.blocks import decode_committed_block
from node.ledger.conditions import decode_lock_cached
from node.ledger.genesis import Genesis
from node.ledger.purposes import ROLE_NAMES
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint

MAX_HOPS = 10_000  # a trace prints at most this many transactions each way


@dataclass(frozen=True, slots=True)
class Coin:
    """One output as created: who holds it and what it is."""

    outpoint: OutPoint
    owner: bytes           # the key, or the lock's address
    amount: int
    holder: bytes          # the key that holds it (an earmark's holder; else the owner)
    purpose: str           # "" unless earmarked
    lock_memo: str         # "" unless locked


@dataclass(slots=True)
class TxRecord:
    txid: bytes
    height: int
    kind: str
    sender: bytes                      # signer of plain kinds; the lock address of a spend
    inputs: tuple[OutPoint, ...]
    outputs: tuple[Coin, ...]
    source_purpose: str = ""           # purpose of the money spent (earmark spends)


@dataclass
class Index:
    genesis: Genesis
    txs: dict[bytes, TxRecord] = field(default_factory=dict)
    created_by: dict[OutPoint, Coin] = field(default_factory=dict)
    spent_by: dict[OutPoint, bytes] = field(default_factory=dict)
    # purpose -> institution, and (purpose, address) -> role, as the chain registered them
    purposes: dict[str, bytes] = field(default_factory=dict)
    roles: dict[tuple[str, bytes], int] = field(default_factory=dict)
    height: int = 0

    def add_block(self, height: int, committed_bytes: bytes) -> None:
        committed = decode_committed_block(committed_bytes)
        for raw in committed.block.txs:
            self._add_tx(height, decode_tx(raw, self.genesis))
        self.height = height

    def _add_tx(self, height: int, tx: Any) -> None:
        params = self.genesis.params
        kind = tx.kind
        sender = tx.signers[0] if tx.signers else b""
        source_purpose, source_holder, source_memo = "", b"", ""
        payload = tx.payload
        if kind == "spend_locked":
            lock = decode_lock_cached(payload.lock, params)
            sender, source_purpose = lock.address, lock.purpose
            source_holder, source_memo = lock.holder or lock.address, lock.memo
        elif kind == "define_purpose":
            self.purposes[payload.purpose] = payload.institution
        elif kind == "register_for_purpose":
            self.roles[(payload.purpose, payload.address)] = payload.role
        wire_outputs = payload.change if kind == "redeem" else getattr(payload, "outputs", ())
        coins = []
        for i, (owner, amount) in enumerate(tx.outputs):
            holder, purpose, memo = owner, "", ""
            lock_bytes = wire_outputs[i].lock if i < len(wire_outputs) else b""
            if lock_bytes:
                lock = decode_lock_cached(lock_bytes, params)
                memo, purpose = lock.memo, lock.purpose
                holder = lock.holder or owner
            elif owner == sender and source_holder:  # change back to the spent lock
                holder, purpose, memo = source_holder, source_purpose, source_memo
            coins.append(Coin(OutPoint(tx.txid, i), owner, amount, holder, purpose, memo))
        record = TxRecord(tx.txid, height, kind, sender, tx.inputs, tuple(coins), source_purpose)
        self.txs[tx.txid] = record
        for coin in coins:
            self.created_by[coin.outpoint] = coin
        for op in tx.inputs:
            self.spent_by[op] = tx.txid


def build_index(blocks: Iterable[tuple[int, bytes]], genesis: Genesis) -> Index:
    index = Index(genesis)
    for height, raw in blocks:
        index.add_block(height, raw)
    return index


class TraceError(ValueError):
    """The outpoint or transaction is not in the chain read."""


# --- trace ----------------------------------------------------------------------------------


def trace(index: Index, txid: bytes, output: int | None = None) -> dict[str, Any]:
    """Provenance of a transaction (or one of its outputs): `back` lists every transaction
    from the issuances to it, `forward` every transaction its money went through since, and
    `unspent` where that money is now. Transactions are listed once each, by height."""
    start = index.txs.get(txid)
    if start is None:
        raise TraceError(f"transaction {txid.hex()} is not in the {index.height} blocks read")
    if output is not None and not 0 <= output < len(start.outputs):
        raise TraceError(f"transaction {txid.hex()} has {len(start.outputs)} outputs; there is no {output}")
    back = _walk_back(index, start)
    roots = [start.outputs[output].outpoint] if output is not None else [c.outpoint for c in start.outputs]
    forward, unspent = _walk_forward(index, roots)
    return {
        "txid": txid.hex(),
        "output": output,
        "height_read": index.height,
        "back": [_tx_doc(index, r) for r in sorted(back, key=lambda r: (r.height, r.txid))],
        "start": _tx_doc(index, start),
        "forward": [_tx_doc(index, r) for r in sorted(forward, key=lambda r: (r.height, r.txid))],
        "unspent": [_coin_doc(index, c) for c in unspent],
        "issued_from": sorted(r.txid.hex() for r in back if r.kind == "issue")
        + ([txid.hex()] if start.kind == "issue" else []),
    }


def _walk_back(index: Index, start: TxRecord) -> list[TxRecord]:
    seen: dict[bytes, TxRecord] = {}
    todo = [op.txid for op in start.inputs]
    while todo and len(seen) < MAX_HOPS:
        txid = todo.pop()
        if txid in seen or txid not in index.txs:
            continue
        record = index.txs[txid]
        seen[txid] = record
        todo.extend(op.txid for op in record.inputs)
    return list(seen.values())


def _walk_forward(index: Index, roots: list[OutPoint]) -> tuple[list[TxRecord], list[Coin]]:
    seen: dict[bytes, TxRecord] = {}
    unspent: list[Coin] = []
    todo = list(roots)
    visited: set[OutPoint] = set()
    while todo and len(seen) < MAX_HOPS:
        op = todo.pop()
        if op in visited:
            continue
        visited.add(op)
        spender = index.spent_by.get(op)
        if spender is None:
            unspent.append(index.created_by[op])
            continue
        record = index.txs[spender]
        if spender not in seen:
            seen[spender] = record
            todo.extend(c.outpoint for c in record.outputs)
    unspent.sort(key=lambda c: (c.outpoint.txid, c.outpoint.index))
    return list(seen.values()), unspent


def _tx_doc(index: Index, record: TxRecord) -> dict[str, Any]:
    return {
        "txid": record.txid.hex(),
        "height": record.height,
        "kind": record.kind,
        "from": _name(index, record.sender) if record.sender else None,
        "purpose": record.source_purpose or None,
        "inputs": [f"{op.txid.hex()}:{op.index}" for op in record.inputs],
        "outputs": [_coin_doc(index, c) for c in record.outputs],
    }


def _coin_doc(index: Index, coin: Coin) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "outpoint": f"{coin.outpoint.txid.hex()}:{coin.outpoint.index}",
        "to": _name(index, coin.holder),
        "amount_fen": coin.amount,
    }
    if coin.purpose:
        doc["purpose"] = coin.purpose
    if coin.owner != coin.holder or coin.lock_memo:
        doc["lock"] = encode_address(coin.owner)
        if coin.lock_memo:
            doc["memo"] = coin.lock_memo
    return doc


def _name(index: Index, key: bytes) -> str:
    institution = index.genesis.institution(key)
    if institution is not None:
        return f"{institution.id} ({encode_address(key)})"
    return encode_address(key) if len(key) == 32 else key.hex()


# --- flows ----------------------------------------------------------------------------------


def flows(index: Index, purpose: str) -> dict[str, Any]:
    """Totals (fen) of one purpose: earmarked by each institution, paid between recipients
    (by the receiving class), held now (by class and by recipient), returned to the
    institution, and settled out by merchants (to each institution)."""
    if purpose not in index.purposes:
        known = ", ".join(sorted(index.purposes)) or "none"
        raise TraceError(
            f"purpose {purpose!r} is not defined in the {index.height} blocks read (defined: {known})"
        )
    institution = index.purposes[purpose]
    earmarked: dict[str, int] = defaultdict(int)
    paid: dict[str, int] = defaultdict(int)
    returned = 0
    settled: dict[str, int] = defaultdict(int)
    for record in index.txs.values():
        for coin in record.outputs:
            if coin.purpose == purpose and record.source_purpose != purpose:
                earmarked[_name(index, record.sender)] += coin.amount
            elif record.source_purpose == purpose and coin.owner != record.sender:
                if coin.purpose == purpose:
                    paid[_role(index, purpose, coin.holder)] += coin.amount
                elif coin.owner == institution:
                    returned += coin.amount
                else:
                    settled[_name(index, coin.owner)] += coin.amount
    held_by_class: dict[str, int] = defaultdict(int)
    held_by_recipient: dict[str, int] = defaultdict(int)
    for op, coin in index.created_by.items():
        if coin.purpose == purpose and op not in index.spent_by:
            held_by_class[_role(index, purpose, coin.holder)] += coin.amount
            held_by_recipient[_name(index, coin.holder)] += coin.amount
    return {
        "purpose": purpose,
        "institution": _name(index, institution),
        "height_read": index.height,
        "earmarked_fen": dict(sorted(earmarked.items())),
        "paid_to_class_fen": dict(sorted(paid.items())),
        "held_by_class_fen": dict(sorted(held_by_class.items())),
        "held_by_recipient_fen": dict(sorted(held_by_recipient.items())),
        "returned_fen": returned,
        "settled_fen": dict(sorted(settled.items())),
        "totals_fen": {
            "earmarked": sum(earmarked.values()),
            "held": sum(held_by_class.values()),
            "returned": returned,
            "settled": sum(settled.values()),
        },
    }


def _role(index: Index, purpose: str, holder: bytes) -> str:
    if holder == index.purposes.get(purpose):
        return "institution"
    return ROLE_NAMES.get(index.roles.get((purpose, holder), 0), "unregistered")


def parse_target(text: str) -> tuple[bytes, int | None]:
    """TXID or TXID:INDEX (hex) as given on a command line; ValueError when neither."""
    txid_hex, _, index = text.partition(":")
    txid = bytes.fromhex(txid_hex)
    if len(txid) != 32:
        raise ValueError("a transaction id is 64 hex characters")
    return txid, (int(index) if index else None)



