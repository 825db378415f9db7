"""The ledger state in LevelDB: committed blocks, the UTXO set, wallets, supply, state root.

One committed block = ONE synced LevelDB write batch (block, tx index, UTXO set, address
index, balances, wallet records, supply, state-root accumulator, tip). A crash leaves the
old state or the new one, never a mix; nothing is kept only in memory, so reopening after
a kill needs no repair.

Key layout (single-byte prefixes; integers big-endian so keys sort by number):

    b"V"                              -> schema version, 4 bytes (SCHEMA_VERSION; history below)
    b"G"                              -> genesis hash 32 | chain_id (UTF-8): the chain of this store
    b"P"                              -> tip: height 8 | block hash 32 | state root 32 | time_ms 8
                                         (at height 0 the "block hash" is the genesis hash:
                                         block 1's prev_hash, which binds the chain to its
                                         genesis; node.ledger.transition checks it)
    b"S"                              -> Supply.encode(): issued 16 | redeemed 16
    b"X"                              -> MuHash3072 accumulator (768 bytes, denominator folded in)
    b"R"                              -> base height 8: the lowest height whose block body is
                                         stored (1 on an archive node; higher once pruned or
                                         when the store was restored from a snapshot)
    b"Q"                              -> Governance.encode() (node.ledger.governance); absent
                                         until the first governance change: genesis governs
    b"B" + height 8                   -> CommittedBlock bytes, exactly as committed
    b"H" + block hash 32              -> height 8
    b"T" + txid 32                    -> height 8 | position in block 4
    b"U" + txid 32 + index 4          -> Output.encode(): owner 32 | amount 8
    b"A" + owner 32 + txid 32 + idx 4 -> amount 8   (per-address UTXO index; the amount rides
                                         along so listing an address needs no second lookup)
    b"L" + address 32                 -> balance 16 (absent when 0)
    b"W" + address 32                 -> Wallet.encode()
    b"E" + validator 32 + height 8    -> height 8 of the block that carries evidence of this
                                         validator's double vote at that height (one per pair;
                                         see node.ledger.evidence)
    b"K" + key                        -> a keyed ledger record (purposes and their recipients,
                                         node.ledger.purposes); in the state root
    b"F" + height 8                   -> a hand-off document (node.ledger.handoffs) of a block this
                                         store does not hold: written by a snapshot restore
                                         and by pruning, read by the snapshots it serves;
                                         not state
    b"n" ...                          -> reserved for the node's own records (never touched here)

State root (in every header, for the state AFTER the block):

    SHA-256(b"cbdc/state/v1" || 0x00 || MuHash3072(UTXO set + wallet registry) || Supply.encode())

The MuHash elements are `muhash.utxo_element` and `muhash.wallet_element`, and, once a
governance transaction has been committed, one more: b"g" || Governance.encode() (the
authority, institutions with their status and former keys, and the tier tables). While no
governance change was ever committed there is no such element, so the root of such a chain
is what it was before governance existed; a frozen wallet's status is inside its wallet
element (node.ledger.types.Wallet). Supply is in the
root too, so equal roots mean equal issued/redeemed counters, not just equal UTXO sets. The
accumulator (key b"X") is updated block by block, never recomputed: node.ledger.state_root.

What is committed is an ExecutedBlock (node.ledger.transition): the block's bytes, decoded
header and hash, the overlay of its transactions and the evidence keys it carries, all
computed once by build_block/validate_block. `Store.commit` decodes nothing again.
The self-check of a store (`audit_store`) lives in node.ledger.store_audit.

Schema versions (b"V"): 1 had no base height (every block from 1 was stored); 2 adds b"R",
so a store may hold block bodies only from some height on (pruning, snapshot restore).
A node refuses a store written by a newer version (StoreVersionError "store_too_new") and an
older one it could read wrongly ("store_outdated": `cbdc node migrate` upgrades it in place;
node.ledger.store_migrate). Snapshots of the state: node.ledger.snapshot.

Pruning (`retain_blocks` > 0): each commit also deletes the block bodies that fell out of the
window, in the same batch, and moves the base height. The UTXO set, wallets, the transaction
index (replay protection needs it) and block hashes are kept; only bodies and their
certificates go.

Memory: state lives in LevelDB (bounded block cache, bloom filters). In front of it sit
bounded caches of decoded rows (ReadCache, CACHE_ENTRIES each), updated by every commit.
The only other per-block memory is the overlay of the block being applied.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Executor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import plyvel

from node.hooks import no_crash
from node.ledger.blocks import decode_committed_block, encode_committed
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import Governance
from node.ledger.handoffs import handoff_doc, keep_row
from node.ledger.muhash import MuHash3072
from node.ledger.state import Overlay
from node.ledger.state_root import StateDelta, StateRoots, record_element, state_root, trim_oldest
from node.ledger.types import OutPoint, Output, Supply, Wallet

if TYPE_CHECKING:
    from node.ledger.transition import ExecutedBlock

SCHEMA_VERSION = 2
ZERO_HASH = bytes(32)

K_SCHEMA = b"V"
K_CHAIN = b"G"
K_TIP = b"P"
K_SUPPLY = b"S"
K_MUHASH = b"X"
K_BASE = b"R"
K_GOVERNANCE = b"Q"
P_BLOCK = b"B"
P_BLOCK_HASH = b"H"
P_TX = b"T"
P_UTXO = b"U"
P_ADDR_UTXO = b"A"
P_BALANCE = b"L"
P_WALLET = b"W"
P_EVIDENCE = b"E"
P_RECORD = b"K"
P_HANDOFF = b"F"
P_NODE_RESERVED = b"n"

# LevelDB tuning: a bounded block cache (the state may be far larger than memory) and bloom
# filters, because has_tx/utxo lookups of keys that do not exist are common (new txids).
_LRU_CACHE_BYTES = 32 << 20
_WRITE_BUFFER_BYTES = 16 << 20
_BLOOM_BITS = 10
# Decoded rows kept per kind (UTXOs, wallets, balances): ~65k each is a few tens of MB at most,
# and covers the working set of several full blocks.
CACHE_ENTRIES = 65_536
# Block bodies one commit deletes at most when pruning: lowering retain_blocks on an old
# archive store catches up over several blocks instead of one huge batch.
_PRUNE_PER_COMMIT = 256


class StoreVersionError(Exception):
    """The store's schema version is not this node's. `code` is "store_too_new" (written by
    a newer node: run that version) or "store_outdated" (run `cbdc node migrate`)."""

    def __init__(self, code: str, message: str, found: int) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.found = found


def check_schema_version(found: int, path: str) -> None:
    """Refuse a store of another schema version, with what to do about it."""
    if found > SCHEMA_VERSION:
        raise StoreVersionError(
            "store_too_new",
            f"store {path} was written by a newer node (schema version {found}, this node reads "
            f"version {SCHEMA_VERSION}); run a node of that version or newer, or restore a "
            "snapshot into an empty data directory",
            found,
        )
    if found < SCHEMA_VERSION:
        raise StoreVersionError(
            "store_outdated",
            f"store {path} has schema version {found}, this node reads version {SCHEMA_VERSION}; "
            "stop the node, back up the home, and upgrade the store with `cbdc node migrate --home HOME`",
            found,
        )


def _u64(n: int) -> bytes:
    return n.to_bytes(8, "big")


@dataclass(frozen=True, slots=True)
class Tip:
    """The last committed block (height 0: nothing committed yet, hash all zero)."""

    height: int
    block_hash: bytes
    state_root: bytes
    time_ms: int

    def encode(self) -> bytes:
        return _u64(self.height) + self.block_hash + self.state_root + _u64(self.time_ms)

    @classmethod
    def decode(cls, data: bytes) -> Tip:
        return cls(
            int.from_bytes(data[:8], "big"), data[8:40], data[40:72], int.from_bytes(data[72:80], "big")
        )


_ABSENT: Any = object()  # cached "no such row" (a wallet that is not registered)


class ReadCache:
    """A bounded cache of decoded rows in front of LevelDB, first in first out.

    The rules read the same few rows several times per transaction (the payer's wallet via
    the overlay and again for its before-image, each input on check and on spend), and the
    outputs a block creates are what the next blocks spend; decoding a Wallet costs more
    than the LevelDB read. Bounded, so memory does not grow with the ledger.

    Consistency with concurrent readers: Store.commit updates the cache right after its
    batch is durable and bumps `generation`; a reader that missed fills the cache only if
    no commit happened since it started its LevelDB read, so a stale row is never cached.
    """

    __slots__ = ("_data", "_lock", "capacity", "generation")

    def __init__(self, capacity: int) -> None:
        self._data: dict[Any, Any] = {}
        self._lock = threading.Lock()
        self.capacity = capacity
        self.generation = 0

    def getter(self) -> Callable[[Any], Any]:
        """The lookup, as a bound C method (the dict is never replaced, only mutated): it
        returns the cached value, _ABSENT for a cached miss, or None when not cached. A
        single dict lookup is atomic under the GIL."""
        return self._data.get

    def fill(self, key: Any, value: Any, generation: int) -> None:
        with self._lock:
            if generation != self.generation or self.capacity <= 0:
                return
            data = self._data
            data[key] = value
            if len(data) > self.capacity:
                self._evict()

    def update(self, changes: Iterator[tuple[Any, Any]] | list[tuple[Any, Any]]) -> None:
        """Apply committed changes (value None: drop the key)."""
        with self._lock:
            self.generation += 1
            data = self._data
            for key, value in changes:
                if value is None:
                    data.pop(key, None)
                else:
                    data[key] = value
            if len(data) > self.capacity:
                self._evict()

    def _evict(self) -> None:
        trim_oldest(self._data, self.capacity)

    def __len__(self) -> int:
        return len(self._data)


class Store:
    """LevelDB-backed ledger state. Implements node.ledger.state.StateView for the committed state.

    Reads are safe from any thread. Writes (commit) must come from one thread at a time
    (the node's consensus loop); a lock enforces it.
    """

    def __init__(
        self,
        db: plyvel.DB,
        path: str,
        chain_id: str,
        cache_entries: int = CACHE_ENTRIES,
        retain_blocks: int = 0,
    ) -> None:
        self._db = db
        self.path = path
        self.chain_id = chain_id
        self._write_lock = threading.Lock()
        # A test-only fault hook (node.hooks): called with the batch filled, before it is
        # written. A no-op unless node.service installs a crash point.
        self.crash_point: Callable[[str], None] = no_crash
        self._tip = Tip.decode(db.get(K_TIP))
        self._base = int.from_bytes(db.get(K_BASE), "big")
        # 0: an archive store, every block body kept; else the most recent N are kept.
        self.retain_blocks = retain_blocks
        if self._tip.height == 0:
            # Block 1 builds on the genesis hash (stores initialised before that rule kept
            # zero bytes here; the binding row has the hash).
            self._tip = Tip(0, db.get(K_CHAIN)[:32], self._tip.state_root, self._tip.time_ms)
        self._supply = Supply.decode(db.get(K_SUPPLY))
        stored_governance = db.get(K_GOVERNANCE)
        self._governance = None if stored_governance is None else Governance.decode(stored_governance)
        self._roots = StateRoots(MuHash3072.from_bytes(db.get(K_MUHASH)))
        self._utxo_cache = ReadCache(cache_entries)
        self._wallet_cache = ReadCache(cache_entries)
        self._balance_cache = ReadCache(cache_entries)
        # Keyed records, absent ones included: every payment to a capped wallet reads the
        # payee's earmarked total (node.ledger.purposes), which almost never exists, and a
        # LevelDB miss costs more than the rest of that check.
        self._record_cache = ReadCache(cache_entries)
        # ReadCache.get without its Python frame: the rules read these rows several times
        # per transaction.
        self._utxo_cached = self._utxo_cache.getter()
        self._wallet_cached = self._wallet_cache.getter()
        self._balance_cached = self._balance_cache.getter()
        self._record_cached = self._record_cache.getter()

    # --- lifecycle -----------------------------------------------------------------------
    @classmethod
    def open(
        cls, path: str, genesis: Genesis, cache_entries: int = CACHE_ENTRIES, retain_blocks: int = 0
    ) -> Store:
        """Open (creating when missing) the store at `path` for the chain of `genesis`.

        Refuses a store of another chain (LedgerError WRONG_CHAIN) or of another schema
        version (StoreVersionError). `retain_blocks` > 0 prunes block bodies older than the
        most recent `retain_blocks` as blocks commit.
        """
        db = plyvel.DB(
            path,
            create_if_missing=True,
            lru_cache_size=_LRU_CACHE_BYTES,
            write_buffer_size=_WRITE_BUFFER_BYTES,
            bloom_filter_bits=_BLOOM_BITS,
        )
        try:
            chain_id: str = genesis.chain_id
            binding = genesis.hash() + chain_id.encode()
            version = db.get(K_SCHEMA)
            if version is None:
                cls._initialise(db, binding, genesis)
            else:
                check_schema_version(int.from_bytes(version, "big"), path)
                stored = db.get(K_CHAIN, b"")
                if stored != binding:
                    stored_chain = stored[32:].decode(errors="replace")
                    raise LedgerError(
                        Code.WRONG_CHAIN,
                        f"store {path} belongs to chain {stored_chain!r} with genesis hash "
                        f"{stored[:32].hex()[:16]}, this genesis is {chain_id!r} with hash "
                        f"{genesis.hash().hex()[:16]}; point the node at the right data directory",
                    )
            return cls(db, path, chain_id, cache_entries, retain_blocks)
        except BaseException:
            db.close()
            raise

    @staticmethod
    def _initialise(db: plyvel.DB, binding: bytes, genesis: Genesis) -> None:
        accumulator = MuHash3072()
        supply = Supply()
        tip = Tip(0, genesis.hash(), state_root(accumulator, supply), genesis.genesis_time_ms)
        with db.write_batch(sync=True) as batch:
            batch.put(K_SCHEMA, SCHEMA_VERSION.to_bytes(4, "big"))
            batch.put(K_CHAIN, binding)
            batch.put(K_SUPPLY, supply.encode())
            batch.put(K_MUHASH, accumulator.to_bytes())
            batch.put(K_TIP, tip.encode())
            batch.put(K_BASE, _u64(1))

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def closed(self) -> bool:
        return bool(self._db.closed)

    # --- StateView -----------------------------------------------------------------------
    def utxo(self, outpoint: OutPoint) -> Output | None:
        cached = self._utxo_cached(outpoint)
        if cached is not None:
            return cached
        generation = self._utxo_cache.generation
        data = self._db.get(P_UTXO + outpoint.txid + outpoint.index.to_bytes(4, "big"))
        if data is None:
            return None  # not cached: misses on outpoints are rare and may be created later
        out = Output(data[:32], int.from_bytes(data[32:40], "big"))
        self._utxo_cache.fill(outpoint, out, generation)
        return out

    def wallet(self, address: bytes) -> Wallet | None:
        cached = self._wallet_cached(address)
        if cached is not None:
            return None if cached is _ABSENT else cached
        generation = self._wallet_cache.generation
        data = self._db.get(P_WALLET + address)
        wallet = None if data is None else Wallet.decode(data)
        self._wallet_cache.fill(address, _ABSENT if wallet is None else wallet, generation)
        return wallet

    def balance(self, address: bytes) -> int:
        cached = self._balance_cached(address)
        if cached is not None:
            return cached
        generation = self._balance_cache.generation
        data = self._db.get(P_BALANCE + address)
        balance = 0 if data is None else int.from_bytes(data, "big")
        self._balance_cache.fill(address, balance, generation)
        return balance

    def supply(self) -> Supply:
        return self._supply

    def has_tx(self, txid: bytes) -> bool:
        return self._db.get(P_TX + txid) is not None

    def record(self, key: bytes) -> bytes | None:
        cached = self._record_cached(key)
        if cached is not None:
            return None if cached is _ABSENT else cached
        generation = self._record_cache.generation
        data = self._db.get(P_RECORD + key)
        self._record_cache.fill(key, _ABSENT if data is None else data, generation)
        return data

    def governance(self) -> Governance | None:
        return self._governance

    # --- state root ----------------------------------------------------------------------
    def state_root(self) -> bytes:
        """The state root of the committed state (== tip().state_root)."""
        return self._tip.state_root

    def state_root_after(self, overlay: Overlay, executor: Executor | None = None) -> bytes:
        """The state root once `overlay` is committed on top of the current tip. No write.

        Incremental: multiplies the stored accumulator by the overlay's created UTXOs and new
        wallet records and divides by its spent UTXOs and replaced records. With an executor
        (e.g. node.ledger.sigverify.verification_pool) the products run on its workers.
        """
        return self._delta(overlay, executor).root

    def _delta(self, overlay: Overlay, executor: Executor | None = None) -> StateDelta:
        if overlay.base is not self:
            raise ValueError("overlay was not built on this store")
        return self._roots.delta(overlay, executor)

    def recompute_state_root(self) -> bytes:
        """The state root computed from scratch over every UTXO and wallet record in LevelDB.

        For audits and tests; must always equal tip().state_root.
        """
        with self._db.snapshot() as snap:
            accumulator = MuHash3072()
            # Same bytes as muhash.utxo_element / wallet_element, built straight from the rows.
            accumulator.insert_many(b"u" + key[1:] + value for key, value in snap.iterator(prefix=P_UTXO))
            wallets = snap.iterator(prefix=P_WALLET, include_key=False)
            accumulator.insert_many(b"w" + value for value in wallets)
            records = snap.iterator(prefix=P_RECORD)
            accumulator.insert_many(record_element(key[1:], value) for key, value in records)
            governance = snap.get(K_GOVERNANCE)
            if governance is not None:
                accumulator.insert(b"g" + governance)
            supply = Supply.decode(snap.get(K_SUPPLY))
        return state_root(accumulator, supply)

    # --- commit --------------------------------------------------------------------------
    def commit(self, executed: ExecutedBlock, certificate: bytes) -> None:
        """Write a decided block, its commit certificate and its state changes in ONE synced
        LevelDB batch.

        `executed` is what validate_block/build_block returned for exactly this block (its
        overlay built on this store); `certificate` the consensus-defined commit certificate,
        stored beside the block as a CommittedBlock. Raises LedgerError(INVALID_BLOCK) and
        writes nothing when the block does not extend the tip or its state root differs from
        what the overlay yields.
        """
        header, overlay, block_hash = executed.header, executed.overlay, executed.block_hash
        with self._write_lock:
            tip = self._tip
            if header.height != tip.height + 1:
                raise LedgerError(
                    Code.INVALID_BLOCK,
                    f"block height {header.height} does not extend the tip at height {tip.height}",
                )
            if header.prev_hash != tip.block_hash:
                raise LedgerError(
                    Code.INVALID_BLOCK,
                    f"block {header.height} builds on {header.prev_hash.hex()[:16]}, "
                    f"the tip is {tip.block_hash.hex()[:16]}",
                )
            if header.chain_id != self.chain_id:
                raise LedgerError(Code.INVALID_BLOCK, f"block is for chain {header.chain_id!r}")
            if header.tx_count != len(overlay.txids):
                raise LedgerError(
                    Code.INVALID_BLOCK,
                    f"header counts {header.tx_count} transactions, the overlay applied {len(overlay.txids)}",
                )
            delta = self._delta(overlay)
            if header.state_root != delta.root:
                raise LedgerError(
                    Code.INVALID_BLOCK,
                    f"header state root {header.state_root.hex()[:16]} differs from the state "
                    f"the block's transactions produce ({delta.root.hex()[:16]})",
                )
            balances = self._new_balances(overlay)
            new_tip = Tip(header.height, block_hash, delta.root, header.time_ms)
            height_bytes = _u64(header.height)
            db = self._db
            # transaction=True: an exception inside the block discards the batch instead of writing it.
            with db.write_batch(sync=True, transaction=True) as batch:
                put, delete = batch.put, batch.delete
                put(P_BLOCK + height_bytes, encode_committed(executed.block_bytes, certificate))
                put(P_BLOCK_HASH + block_hash, height_bytes)
                for position, txid in enumerate(overlay.txids):
                    put(P_TX + txid, height_bytes + position.to_bytes(4, "big"))
                for op_key, owner in delta.spent:
                    delete(P_UTXO + op_key)
                    delete(P_ADDR_UTXO + owner + op_key)
                for op_key, row in delta.created:
                    put(P_UTXO + op_key, row)
                    put(P_ADDR_UTXO + row[:32] + op_key, row[32:])
                for address, balance in balances:
                    if balance == 0:
                        delete(P_BALANCE + address)
                    else:
                        put(P_BALANCE + address, balance.to_bytes(16, "big"))
                for address, encoded in delta.wallets:  # unchanged records need no write
                    put(P_WALLET + address, encoded)
                for rkey, value in delta.records:
                    if value is None:
                        delete(P_RECORD + rkey)
                    else:
                        put(P_RECORD + rkey, value)
                for key in executed.evidence_keys:
                    put(P_EVIDENCE + key, height_bytes)
                new_base = self._prune(delete, put, header.height)
                if new_base != self._base:
                    put(K_BASE, _u64(new_base))
                if delta.governance is not None:
                    put(K_GOVERNANCE, delta.governance)
                put(K_SUPPLY, delta.supply.encode())
                put(K_MUHASH, delta.accumulator.to_bytes())
                put(K_TIP, new_tip.encode())
                self.crash_point("mid-commit-batch")  # a test-only hook: may exit before the write
            # Only after the batch is durable does memory move on.
            self._tip = new_tip
            self._base = new_base
            self._supply = delta.supply
            if overlay.governance_changed:
                self._governance = overlay.governance()
            self._roots.advance(delta)
            self._utxo_cache.update(
                [(op, None) for op in overlay.spent] + list(overlay.created.items())
            )
            self._wallet_cache.update(list(overlay.wallets.items()))
            self._balance_cache.update(balances)
            self._record_cache.update(list(overlay.records.items()))  # a deletion drops the key

    def _prune(
        self, delete: Callable[[bytes], None], put: Callable[[bytes, bytes], None], height: int
    ) -> int:
        """Delete (into the commit's batch) the block bodies below the retention window once
        block `height` commits; returns the new base height. A hand-off's body goes too, its
        hand-off document stays (P_HANDOFF): the snapshots this store serves carry it."""
        base = self._base
        if self.retain_blocks <= 0:
            return base
        new_base = min(height - self.retain_blocks + 1, base + _PRUNE_PER_COMMIT)
        if new_base <= base:
            return base
        handoffs = {} if self._governance is None else {
            s.effective_height - 1: s for s in self._governance.validator_sets if s.effective_height > 1
        }
        for old in range(base, new_base):
            if old in handoffs:
                raw = self._db.get(P_BLOCK + _u64(old))
                if raw is not None:
                    validators = [(v.public_key, v.power) for v in handoffs[old].validators]
                    put(P_HANDOFF + _u64(old), keep_row(handoff_doc(raw, validators))[1])
            delete(P_BLOCK + _u64(old))
        return new_base

    def committed_evidence(self, key: bytes) -> int | None:
        """Height of the block that carries evidence for this node.ledger.evidence.evidence_key, if any."""
        data = self._db.get(P_EVIDENCE + key)
        return None if data is None else int.from_bytes(data, "big")

    def _new_balances(self, overlay: Overlay) -> list[tuple[bytes, int]]:
        """(address, new balance) for every address whose balance changes."""
        result: list[tuple[bytes, int]] = []
        for address, change in overlay.balance_delta.items():
            if change == 0:
                continue
            new = self.balance(address) + change
            if new < 0:  # the rules never allow it; refuse rather than corrupt the store
                raise LedgerError(Code.INVALID_BLOCK, f"balance of {address.hex()} would become negative")
            result.append((address, new))
        return result

    # --- queries -------------------------------------------------------------------------
    def tip(self) -> Tip:
        return self._tip

    @property
    def height(self) -> int:
        return self._tip.height

    @property
    def base_height(self) -> int:
        """The lowest height whose block body this store holds (1: all of them). Blocks
        below it were pruned or precede the snapshot the store was restored from; their
        transactions are still indexed (tx_location) but their bodies are gone."""
        return self._base

    def is_pruned(self, height: int) -> bool:
        """True for a committed height whose block body this store no longer holds."""
        return 1 <= height < self._base and height <= self._tip.height

    def get_block(self, height: int | None = None, hash: bytes | None = None) -> bytes | None:
        """CommittedBlock bytes by height or by block hash (exactly one of them); None when
        there is no such block or its body is pruned (is_pruned, height_of)."""
        if (height is None) == (hash is None):
            raise ValueError("give exactly one of height and hash")
        if hash is not None:
            height_bytes = self._db.get(P_BLOCK_HASH + hash)
            if height_bytes is None:
                return None
            return self._db.get(P_BLOCK + height_bytes)
        if height is None or height < 1:
            return None
        return self._db.get(P_BLOCK + _u64(height))

    def height_of(self, block_hash: bytes) -> int | None:
        """The height of a committed block by its hash (kept after its body is pruned)."""
        data = self._db.get(P_BLOCK_HASH + block_hash)
        return None if data is None else int.from_bytes(data, "big")

    def tx_location(self, txid: bytes) -> tuple[int, int] | None:
        """(height, position in block) of a committed transaction."""
        data = self._db.get(P_TX + txid)
        if data is None:
            return None
        return int.from_bytes(data[:8], "big"), int.from_bytes(data[8:12], "big")

    def get_tx(self, txid: bytes) -> tuple[bytes, int, int] | None:
        """(raw Transaction bytes, height, position) of a committed transaction, or None
        (also when its block is pruned: tx_location still finds it)."""
        location = self.tx_location(txid)
        if location is None:
            return None
        height, position = location
        raw = self._db.get(P_BLOCK + _u64(height))
        if raw is None:
            return None
        committed = decode_committed_block(raw)
        return committed.block.txs[position], height, position

    def utxos_of(
        self, address: bytes, limit: int = 1000, start_after: OutPoint | None = None
    ) -> list[tuple[OutPoint, Output]]:
        """Up to `limit` unspent outputs of `address`, in outpoint order (page with start_after)."""
        prefix = P_ADDR_UTXO + address
        start = prefix if start_after is None else prefix + start_after.key() + b"\x00"
        result: list[tuple[OutPoint, Output]] = []
        if limit <= 0:
            return result
        stop = prefix + b"\xff" * 36  # past every outpoint key under this address
        for key, value in self._db.iterator(start=start, stop=stop):
            result.append((OutPoint.from_key(key[33:]), Output(address, int.from_bytes(value, "big"))))
            if len(result) >= limit:
                break
        return result

    def wallets(self) -> Iterator[Wallet]:
        """Every wallet record, in address order (streams from a snapshot)."""
        with self._db.snapshot() as snap:
            for value in snap.iterator(prefix=P_WALLET, include_key=False):
                yield Wallet.decode(value)

    def records(self, prefix: bytes = b"") -> Iterator[tuple[bytes, bytes]]:
        """Every keyed record whose key starts with `prefix`, in key order (from a snapshot)."""
        with self._db.snapshot() as snap:
            for key, value in snap.iterator(prefix=P_RECORD + prefix):
                yield key[1:], value

    def utxos(self) -> Iterator[tuple[OutPoint, Output]]:
        """Every unspent output, in outpoint order (streams from a snapshot)."""
        with self._db.snapshot() as snap:
            for key, value in snap.iterator(prefix=P_UTXO):
                yield OutPoint.from_key(key[1:]), Output.decode(value)

    def fingerprint(self) -> bytes:
        """SHA-256 over every key and value in the store (including the node's own records):
        two stores with equal fingerprints are byte-identical. For tests and for diagnosing a
        divergence; it reads the whole database."""
        h = hashlib.sha256()
        with self._db.snapshot() as snap:
            for key, value in snap.iterator():
                h.update(len(key).to_bytes(4, "big") + key + len(value).to_bytes(4, "big") + value)
        return h.digest()

    def snapshot(self) -> Any:
        """A consistent read-only view of every row (plyvel snapshot; use as a context manager),
        for whole-store checks such as node.ledger.store_audit."""
        return self._db.snapshot()

