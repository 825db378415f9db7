"""What the programmable-money commands share: reading a lock back from the chain, the
unspent outputs it holds, and times given as dates or as durations from now."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail

# The chain's UTC offset for dates written without one (the genesis default, UTC+08:00).
CHAIN_OFFSET = timezone(timedelta(hours=8))
_DURATION = re.compile(r"\+(\d+)([smhd])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400}


def parse_when(text: str, what: str) -> int:
    """Unix ms of `+30s`/`+10m`/`+2h`/`+90d` (from now), or of an ISO date or date-time
    (`2026-04-01`, `2026-04-01T18:00`, with or without an offset; default UTC+08:00)."""
    m = _DURATION.fullmatch(text.strip())
    if m:
        return int(time.time() * 1000) + int(m.group(1)) * _UNIT_S[m.group(2)] * 1000
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        fail(f"{what} {text!r} is not a date (2026-04-01, 2026-04-01T18:00) or a duration (+30s, +90d)",
             EXIT_USAGE)
    if when.tzinfo is None:
        when = when.replace(tzinfo=CHAIN_OFFSET)
    return int(when.astimezone(UTC).timestamp() * 1000)


def locking_output(node_client: Any, txid: bytes, index: int | None = None) -> tuple[bytes, Any]:
    """(lock bytes, decoded Lock) of output `index` of a committed transaction (the first
    locked output when `index` is None): locks are on chain in the outputs they lock."""
    from node.ledger.conditions import decode_lock
    from node.ledger.errors import LedgerError
    from node.ledger.genesis import LedgerParams
    from proto import ledger_pb2

    reply = node_client.transaction(txid)
    body = ledger_pb2.TxBody.FromString(ledger_pb2.Transaction.FromString(reply.tx).body)
    kind = body.WhichOneof("kind")
    outputs = list(getattr(body, kind).outputs) if kind in ("transfer", "spend_locked") else []
    locked = [(i, o) for i, o in enumerate(outputs) if o.lock and (index is None or i == index)]
    if not locked:
        where = f"output {index} of " if index is not None else ""
        fail(f"{where}transaction {txid.hex()} locks no money (no locked output)", EXIT_REJECTED)
    raw = locked[0][1].lock
    try:
        # Caps are checked by the node; here only the shape is read back.
        return raw, decode_lock(raw, LedgerParams(max_lock_bytes=1 << 16, max_condition_cost=1 << 12))
    except LedgerError as err:
        fail(f"the lock of transaction {txid.hex()} does not decode: {err.message}", EXIT_REJECTED)


def unspent_of(node_client: Any, address: bytes) -> list[tuple[bytes, int, int]]:
    """(txid, index, amount) of every unspent output of `address`, oldest outpoint first."""
    return [(u.outpoint.txid, u.outpoint.index, u.amount) for u in node_client.utxos(address)]


def parse_outpoint(text: str) -> tuple[bytes, int | None]:
    """TXID or TXID:INDEX (a usage error otherwise)."""
    txid_hex, _, index = text.strip().partition(":")
    try:
        txid = bytes.fromhex(txid_hex)
        if len(txid) != 32:
            raise ValueError
        return txid, (int(index) if index else None)
    except ValueError:
        fail(f"{text!r} is not TXID or TXID:INDEX (64 hex characters, then :N)", EXIT_USAGE)
