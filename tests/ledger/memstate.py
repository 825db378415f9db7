"""A dict-backed StateView for rule tests: committed state without LevelDB."""

from __future__ import annotations

from dataclasses import dataclass, field

from node.ledger.governance import Governance
from node.ledger.state import Overlay
from node.ledger.types import OutPoint, Output, Supply, Wallet


@dataclass
class MemState:
    utxos: dict[OutPoint, Output] = field(default_factory=dict)
    wallets: dict[bytes, Wallet] = field(default_factory=dict)
    balances: dict[bytes, int] = field(default_factory=dict)
    txids: set[bytes] = field(default_factory=set)
    records: dict[bytes, bytes] = field(default_factory=dict)
    supply_: Supply = field(default_factory=Supply)
    governance_: Governance | None = None

    # --- StateView ----------------------------------------------------------------------
    def utxo(self, outpoint: OutPoint) -> Output | None:
        return self.utxos.get(outpoint)

    def wallet(self, address: bytes) -> Wallet | None:
        return self.wallets.get(address)

    def balance(self, address: bytes) -> int:
        return self.balances.get(address, 0)

    def supply(self) -> Supply:
        return self.supply_

    def has_tx(self, txid: bytes) -> bool:
        return txid in self.txids

    def record(self, key: bytes) -> bytes | None:
        return self.records.get(key)

    def governance(self) -> Governance | None:
        return self.governance_

    # --- commit ---------------------------------------------------------------------------
    def commit(self, overlay: Overlay) -> None:
        """Fold an overlay into this state, as the store's write batch does."""
        assert overlay.base is self
        for op in overlay.spent:
            del self.utxos[op]
        self.utxos.update(overlay.created)
        for owner, delta in overlay.balance_delta.items():
            new = self.balances.get(owner, 0) + delta
            assert new >= 0
            if new:
                self.balances[owner] = new
            else:
                self.balances.pop(owner, None)
        self.wallets.update(overlay.wallets)
        self.txids.update(overlay.txids)
        for rkey, value in overlay.records.items():
            if value is None:
                self.records.pop(rkey, None)
            else:
                self.records[rkey] = value
        if overlay.supply_changed:
            self.supply_ = overlay.supply()
        if overlay.governance_changed:
            self.governance_ = overlay.governance()

    def snapshot(self) -> tuple:
        """Everything, for byte-identical comparisons."""
        return (
            sorted((op.key(), out.encode()) for op, out in self.utxos.items()),
            sorted((a, w.encode()) for a, w in self.wallets.items()),
            sorted(self.balances.items()),
            sorted(self.txids),
            self.supply_.encode(),
            sorted(self.records.items()),
            None if self.governance_ is None else self.governance_.encode(),
        )
