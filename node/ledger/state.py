"""The state the ledger rules read (StateView) and the pending changes of one block (Overlay).

Ledger rules are pure functions over a StateView: they read through it, check everything,
and only then write into an Overlay. The store commits an Overlay in one atomic write batch,
and uses its before/after images to update the state root incrementally.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from node.ledger.types import OutPoint, Output, Supply, Wallet

if TYPE_CHECKING:
    from node.ledger.governance import Governance

_tuple_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__


class StateView(Protocol):
    """Read access to ledger state (committed state, or committed state plus an overlay)."""

    def utxo(self, outpoint: OutPoint) -> Output | None:
        """The unspent output at `outpoint`, or None when it never existed or is spent."""

    def wallet(self, address: bytes) -> Wallet | None:
        """The wallet record of a whitelisted address, or None."""

    def balance(self, address: bytes) -> int:
        """Sum of the unspent outputs owned by `address` (0 when none)."""

    def supply(self) -> Supply:
        """Issued and redeemed totals."""

    def has_tx(self, txid: bytes) -> bool:
        """True when a transaction with this id is already committed."""

    def record(self, key: bytes) -> bytes | None:
        """A keyed ledger record (purposes and their recipients: node.ledger.purposes), or None."""

    def governance(self) -> Governance | None:
        """The committed governance record, or None while none was ever committed (then
        genesis says: node.ledger.governance.governance_of)."""


@dataclass
class Overlay:
    """Changes of a block (or of a candidate block) on top of a base StateView.

    Invariants the store relies on:
    - `spent` holds outputs that existed in the base and are now gone (with their value);
      an output created and spent within the overlay never appears in `spent` or `created`.
    - `wallets_before[addr]` is the base record (None for a new registration) captured the
      first time the overlay touches `addr`; `wallets` holds the latest record.
    """

    base: StateView
    created: dict[OutPoint, Output] = field(default_factory=dict)
    spent: dict[OutPoint, Output] = field(default_factory=dict)
    wallets: dict[bytes, Wallet] = field(default_factory=dict)
    wallets_before: dict[bytes, Wallet | None] = field(default_factory=dict)
    balance_delta: dict[bytes, int] = field(default_factory=dict)
    txids: list[bytes] = field(default_factory=list)
    # Keyed records (node.ledger.purposes): latest value (None: deleted) and base image.
    records: dict[bytes, bytes | None] = field(default_factory=dict)
    records_before: dict[bytes, bytes | None] = field(default_factory=dict)
    _txid_set: set[bytes] = field(default_factory=set)
    _supply: Supply | None = None
    _governance: Governance | None = None

    # --- StateView -------------------------------------------------------------------
    def utxo(self, outpoint: OutPoint) -> Output | None:
        out = self.created.get(outpoint)
        if out is not None:
            return out
        if outpoint in self.spent:
            return None
        return self.base.utxo(outpoint)

    def wallet(self, address: bytes) -> Wallet | None:
        wallet = self.wallets.get(address)  # never holds None
        if wallet is not None:
            return wallet
        return self.base.wallet(address)

    def balance(self, address: bytes) -> int:
        return self.base.balance(address) + self.balance_delta.get(address, 0)

    def supply(self) -> Supply:
        return self._supply if self._supply is not None else self.base.supply()

    def has_tx(self, txid: bytes) -> bool:
        return txid in self._txid_set or self.base.has_tx(txid)

    def record(self, key: bytes) -> bytes | None:
        if key in self.records:
            return self.records[key]
        return self.base.record(key)

    def governance(self) -> Governance | None:
        return self._governance if self._governance is not None else self.base.governance()

    # --- mutation (only after a transaction passed every check) -------------------------
    def spend_resolved(self, outpoint: OutPoint, output: Output) -> None:
        """Remove the unspent output that utxo(outpoint) has just returned, without looking
        it up again: the rules resolve every input before they mutate anything."""
        if self.created.pop(outpoint, None) is None:
            self.spent[outpoint] = output
        owner = output[0]
        self.balance_delta[owner] = self.balance_delta.get(owner, 0) - output[1]

    def add_outputs(self, txid: bytes, outputs: Iterable[Output]) -> None:
        """Add every output of transaction `txid` as unspent, at indexes 0, 1, ..."""
        created, delta = self.created, self.balance_delta
        get = delta.get
        for i, output in enumerate(outputs):
            created[_tuple_new(OutPoint, (txid, i))] = output
            owner = output[0]
            delta[owner] = get(owner, 0) + output[1]

    def put_wallet(self, wallet: Wallet) -> None:
        if wallet.address not in self.wallets_before:
            self.wallets_before[wallet.address] = self.base.wallet(wallet.address)
        self.wallets[wallet.address] = wallet

    def set_supply(self, supply: Supply) -> None:
        self._supply = supply

    def put_record(self, key: bytes, value: bytes | None) -> None:
        """Write (None: delete) a keyed record."""
        if key not in self.records_before:
            self.records_before[key] = self.base.record(key)
        self.records[key] = value

    def add_tx(self, txid: bytes) -> None:
        self.txids.append(txid)
        self._txid_set.add(txid)

    def set_governance(self, governance: Governance) -> None:
        self._governance = governance

    @property
    def supply_changed(self) -> bool:
        return self._supply is not None

    @property
    def governance_changed(self) -> bool:
        return self._governance is not None


class DryRun:
    """An Overlay stand-in for checking one transaction: reads go to `base`, writes are
    dropped.

    Equivalent to a throwaway Overlay because every rule reads and checks everything before
    its first write (node.ledger.rules), and it spares admission the allocation of an Overlay's six
    containers and the bookkeeping of writes nobody reads: admission runs the rules once per
    transaction per validator, on the node's busiest path.
    """

    __slots__ = ("balance", "base", "governance", "has_tx", "record", "supply", "utxo", "wallet")

    def __init__(self, base: StateView) -> None:
        self.base = base
        # Bound once: the rules call these directly, one attribute lookup instead of two.
        self.utxo = base.utxo
        self.wallet = base.wallet
        self.balance = base.balance
        self.supply = base.supply
        self.has_tx = base.has_tx
        self.record = base.record
        self.governance = base.governance

    def spend_resolved(self, outpoint: OutPoint, output: Output) -> None:
        pass

    def add_outputs(self, txid: bytes, outputs: Iterable[Output]) -> None:
        pass

    def put_wallet(self, wallet: Wallet) -> None:
        pass

    def set_supply(self, supply: Supply) -> None:
        pass

    def put_record(self, key: bytes, value: bytes | None) -> None:
        pass

    def add_tx(self, txid: bytes) -> None:
        pass

    def set_governance(self, governance: Governance) -> None:
        pass
