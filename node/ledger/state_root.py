"""The state root and how one block's overlay moves it.

State root (in every header, for the state AFTER the block):

    SHA-256(b"cbdc/state/v1" || 0x00 || MuHash3072(UTXO set + wallet registry) || Supply.encode())

The MuHash elements are `muhash.utxo_element`, `muhash.wallet_element`, `record_element`
(keyed records: purposes and their recipients, node.ledger.purposes), plus b"g" ||
Governance.encode() once a governance change was committed (see node.ledger.store). The committed
accumulator is updated incrementally: a block multiplies in the outputs it creates and the
wallet records it writes, and divides out the outputs it spends and the records it replaces.
`StateRoots` holds that accumulator for a store, computes a block's `StateDelta` once (reused
from validation to commit), and keeps a memo of the MuHash numbers of recently inserted
elements, because most outputs are spent, and most wallet records replaced, soon after.
"""

from __future__ import annotations

import hashlib
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import Any

from node.ledger.muhash import MuHash3072, parallel_product
from node.ledger.state import Overlay
from node.ledger.types import Supply

STATE_ROOT_DOMAIN = b"cbdc/state/v1\x00"
# Below this many set-hash elements a block's products are cheaper here than shipped out.
_PARALLEL_PRODUCT_MIN = 512
# MuHash numbers kept for elements likely to be removed soon: ~0.6 kB each (a 3072-bit number
# and its element), so ~10 MB; several full blocks of outputs and wallet updates.
MUHASH_MEMO_ENTRIES = 16_384


def state_root(accumulator: MuHash3072, supply: Supply) -> bytes:
    """The header's state root for this accumulator and supply."""
    return hashlib.sha256(STATE_ROOT_DOMAIN + accumulator.digest() + supply.encode()).digest()


def record_element(key: bytes, value: bytes) -> bytes:
    """The set-hash element of a keyed record (node.ledger.purposes): length-prefixed key,
    so no record can collide with another or with a UTXO ("u") or wallet ("w") element."""
    return b"r" + len(key).to_bytes(2, "big") + key + value


def trim_oldest(data: dict[Any, Any], capacity: int) -> None:
    """Drop the oldest entries of an insertion-ordered dict past `capacity`, in one batch with
    some headroom: deleting a dict's first key one at a time makes each `next(iter(data))`
    skip every slot deleted before it (~28 us per insert at 65k entries); one scan per
    batch keeps eviction ~0.1 us per entry."""
    excess = len(data) - capacity
    for key in list(islice(data, excess + capacity // 16)):
        del data[key]


@dataclass(frozen=True, slots=True)
class StateDelta:
    """What an overlay does to the state root, computed once and reused by Store.commit."""

    accumulator: MuHash3072  # normalised accumulator after the overlay
    supply: Supply
    root: bytes
    # Rows as the batch writes them, encoded once for both the set hash and the batch:
    created: list[tuple[bytes, bytes]]  # (outpoint key 36, Output.encode() 40)
    spent: list[tuple[bytes, bytes]]    # (outpoint key 36, owner 32)
    wallets: list[tuple[bytes, bytes]]  # (address, Wallet.encode()) of changed records
    records: list[tuple[bytes, bytes | None]]  # (key, value; None: delete) of changed keyed records
    governance: bytes | None = None     # Governance.encode() when the block changed it


class StateRoots:
    """The committed accumulator of one store and the deltas of overlays on top of it.

    `delta` may run on any thread (the memo has its own lock); `advance` is called by the
    store's single writer once a block's batch is durable.
    """

    def __init__(self, accumulator: MuHash3072) -> None:
        self.accumulator = accumulator
        # (overlay, number of txs it held, delta): the last result, so that validate ->
        # commit of the same overlay pays for the MuHash update only once.
        self._last: tuple[Overlay, int, StateDelta] | None = None
        # element -> number of recently inserted set elements (see muhash.product_memo).
        self._numbers: dict[bytes, Any] = {}
        self._numbers_lock = threading.Lock()

    def advance(self, delta: StateDelta) -> None:
        """The block of `delta` is committed: it is the new base."""
        self.accumulator = delta.accumulator
        self._last = None

    def delta(self, overlay: Overlay, executor: Executor | None = None) -> StateDelta:
        """The state change of `overlay` over the committed accumulator. With a process pool
        (node.ledger.sigverify.verification_pool) large products run on its workers."""
        cached = self._last
        if cached is not None and cached[0] is overlay and cached[1] == len(overlay.txids):
            return cached[2]
        # Element bytes equal muhash.utxo_element / wallet_element; built inline because
        # this runs for every output and wallet of every block.
        created: list[tuple[bytes, bytes]] = []
        inserted: list[bytes] = []
        add_row, add_element = created.append, inserted.append
        for (txid, index), (owner, amount) in overlay.created.items():
            key = txid + index.to_bytes(4, "big")
            row = owner + amount.to_bytes(8, "big")
            add_row((key, row))
            add_element(b"u" + key + row)
        spent: list[tuple[bytes, bytes]] = []
        removed: list[bytes] = []
        add_row, add_element = spent.append, removed.append
        for (txid, index), (owner, amount) in overlay.spent.items():
            key = txid + index.to_bytes(4, "big")
            add_row((key, owner))
            add_element(b"u" + key + owner + amount.to_bytes(8, "big"))
        wallets: list[tuple[bytes, bytes]] = []
        for address, after in overlay.wallets.items():
            before = overlay.wallets_before.get(address)
            if before == after:
                continue
            if before is not None:
                removed.append(b"w" + before.encode())
            encoded = after.encode()
            inserted.append(b"w" + encoded)
            wallets.append((address, encoded))
        records: list[tuple[bytes, bytes | None]] = []
        for rkey, value in overlay.records.items():
            old = overlay.records_before.get(rkey)
            if old == value:
                continue
            if old is not None:
                removed.append(record_element(rkey, old))
            if value is not None:
                inserted.append(record_element(rkey, value))
            records.append((rkey, value))
        governance: bytes | None = None
        if overlay.governance_changed:
            # One element for the whole record: replaced whole, as governance changes are
            # rare and the record small.
            before, after = overlay.base.governance(), overlay.governance()
            assert after is not None
            governance = after.encode()
            if before is not None:
                removed.append(b"g" + before.encode())
            inserted.append(b"g" + governance)
        accumulator = self.accumulator.copy()
        # Only worker processes make the products parallel: on threads they would run one at
        # a time under the GIL anyway, and without the memo of recent elements.
        parallel = isinstance(executor, ProcessPoolExecutor)
        if not parallel or len(inserted) + len(removed) < _PARALLEL_PRODUCT_MIN:
            with self._numbers_lock:
                numbers = self._numbers
                accumulator.remove_many(removed, numbers)
                accumulator.insert_many(inserted, numbers)
                if len(numbers) > MUHASH_MEMO_ENTRIES:
                    trim_oldest(numbers, MUHASH_MEMO_ENTRIES)
        else:
            accumulator.combine(parallel_product(executor, inserted, removed))
        accumulator.normalize()  # the one modular inverse of this root
        supply = overlay.supply()
        root = state_root(accumulator, supply)
        delta = StateDelta(accumulator, supply, root, created, spent, wallets, records, governance)
        self._last = (overlay, len(overlay.txids), delta)
        return delta
