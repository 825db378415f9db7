"""The self-check of a ledger store: is what it holds consistent with itself?

`audit_store` recomputes the state root from scratch (every UTXO and wallet record, not the
incremental accumulator) and compares it with the tip and the tip block's header; checks
money (sum of UTXOs == issued - redeemed), the per-address index and the balances against
the UTXO set. Read-only; used by `cbdc audit verify`, the devnet's chaos checks and tests.
"""

from __future__ import annotations

from node.ledger.blocks import decode_committed_block
from node.ledger.errors import LedgerError
from node.ledger.store import K_SUPPLY, P_ADDR_UTXO, P_BALANCE, P_UTXO, Store
from node.ledger.types import Supply


def audit_store(store: Store) -> list[str]:
    """The problems found in `store` (empty: consistent)."""
    problems: list[str] = []
    tip = store.tip()
    recomputed = store.recompute_state_root()
    if recomputed != tip.state_root:
        problems.append(f"recomputed state root {recomputed.hex()} != tip's {tip.state_root.hex()}")
    if tip.height > 0:
        problems += _tip_block_problems(store)
    with store.snapshot() as snap:
        total = 0
        balances: dict[bytes, int] = {}
        for key, value in snap.iterator(prefix=P_UTXO):
            owner, amount = value[:32], int.from_bytes(value[32:40], "big")
            total += amount
            balances[owner] = balances.get(owner, 0) + amount
            indexed = snap.get(P_ADDR_UTXO + owner + key[1:])
            if indexed is None or int.from_bytes(indexed, "big") != amount:
                problems.append(f"address index misses {key[1:].hex()}")
        index_count = sum(1 for _ in snap.iterator(prefix=P_ADDR_UTXO, include_value=False))
        utxo_count = sum(1 for _ in snap.iterator(prefix=P_UTXO, include_value=False))
        if index_count != utxo_count:
            problems.append(f"address index has {index_count} entries for {utxo_count} UTXOs")
        stored_balances = {
            key[1:]: int.from_bytes(value, "big") for key, value in snap.iterator(prefix=P_BALANCE)
        }
        if stored_balances != balances:
            problems.append("stored balances differ from the sums of the UTXO set")
        supply = Supply.decode(snap.get(K_SUPPLY))
    if total != supply.outstanding:
        problems.append(f"UTXOs sum to {total}, issued - redeemed is {supply.outstanding}")
    return problems


def _tip_block_problems(store: Store) -> list[str]:
    """The stored tip block must be the tip: its header hashes to the tip's hash and names
    the tip's state root, and nothing is stored above it."""
    tip = store.tip()
    problems: list[str] = []
    raw = store.get_block(height=tip.height)
    if raw is None:
        problems.append(f"tip block {tip.height} is missing")
    else:
        try:
            committed = decode_committed_block(raw)
        except LedgerError as err:
            problems.append(f"tip block {tip.height} does not decode: {err.message}")
        else:
            if committed.block_hash != tip.block_hash:
                problems.append("tip hash differs from the hash of the stored tip header")
            if committed.header.state_root != tip.state_root:
                problems.append("tip header's state root differs from the tip's")
    if store.get_block(height=tip.height + 1) is not None:
        problems.append(f"a block above the tip ({tip.height + 1}) is stored")
    return problems
