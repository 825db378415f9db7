"""`cbdc bench ledger`: how fast the ledger applies signed transfers, against this machine's
ed25519 limit measured in the same run.

Setup (not timed): 1,000 wallets registered and funded, then N signed transfers (each wallet
pays the next one and keeps the change), grouped into blocks that a proposer builds on a
separate store. Timed: what every validator does with a received block, on a fresh store
and with a FRESH signature cache (so every signature is really verified once):
validate_block (decode, evidence, signature verification, rules, state root) + Store.commit
(one synced LevelDB write batch). Run with verification on this thread, then on a process pool
(overlapping the Python-bound rules), then on a thread pool (for comparison).

The memory mode fills a store with 1,000,000 UTXOs through the same block path and reports
peak RSS (VmHWM): the state lives in LevelDB, and nothing in the process grows with it.
"""

from __future__ import annotations

import gc
import hashlib
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass

from consensus.validators import ValidatorSet
from proto import ledger_pb2

from node.bench.limits import ed25519_verifications_per_second, machine
from node.client.locks import multisig_lock
from node.client.txbuild import build_issue, build_register, build_spend_locked, build_transfer, locked_output
from node.ledger.blocks import decode_block
from node.ledger.conditions import lock_address
from node.ledger.genesis import FULL_TIER, Genesis, LedgerParams, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.muhash import BACKEND as MUHASH_BACKEND
from node.ledger.rules import BlockContext
from node.ledger.sigcache import SignatureCache
from node.ledger.sigverify import verification_pool
from node.ledger.store import Store
from node.ledger.transition import (
    ExecutedBlock,
    apply_block_txs,
    build_block,
    decode_block_txs,
    validate_block,
)
from node.ledger.types import OutPoint

CHAIN_ID = "cbdc-bench"
T0 = 1_767_240_000_000  # 2026-01-01 12:00 UTC+8
BLOCK_MS = 1_000
# The one validator of the benchmark chain (the proposer); blocks carry its set's real hash
# so the same chain can be served to a syncing node (cbdc bench sync).
VALIDATOR_SEED = hashlib.sha256(b"validator" + (0).to_bytes(4, "big")).digest()
VALIDATORS = ValidatorSet([(KeyPair.from_seed(VALIDATOR_SEED).public, 10)])
VALIDATORS_HASH = VALIDATORS.hash()
TARGET_RATIO = 0.7
PAYMENT = 100  # fen per transfer: far below every tier limit, so all transfers are valid
FUNDING = 10_000_000  # fen per wallet (100,000 yuan)
RSS_TARGET_MB = 300


def _key(label: bytes, n: int) -> KeyPair:
    return KeyPair.from_seed(hashlib.sha256(label + n.to_bytes(4, "big")).digest())


@dataclass
class Workload:
    genesis: Genesis
    proposer: bytes
    setup_blocks: list[bytes]     # issue, register, fund: Block bytes, replayed untimed
    blocks: list[bytes]           # the timed transfer blocks
    transfers: int


def _funding(bank, issue: bytes, total: int, outputs: list, params) -> tuple[list[bytes], list[OutPoint]]:
    """Transactions paying `outputs` (one per wallet, FUNDING each) out of the issuance of
    `total` to the bank, max_outputs - 1 per transaction plus change back to the bank; and
    the wallets' coins, in order."""
    per_tx = params.max_outputs - 1
    src = OutPoint(hashlib.sha256(_body(issue)).digest(), 0)
    remaining = total
    raws: list[bytes] = []
    coins: list[OutPoint] = []
    for start in range(0, len(outputs), per_tx):
        group = list(outputs[start : start + per_tx])
        remaining -= FUNDING * len(group)
        if remaining:
            group.append((bank.public, remaining))
        raw = build_transfer(CHAIN_ID, bank, [src], group, nonce=start)
        txid = hashlib.sha256(_body(raw)).digest()
        paid = min(per_tx, len(outputs) - start)
        coins.extend(OutPoint(txid, i) for i in range(paid))
        src = OutPoint(txid, paid)
        raws.append(raw)
    return raws, coins


def _propose(
    store: Store, genesis: Genesis, proposer: bytes, raws: Sequence[bytes], sigcache: SignatureCache
) -> bytes:
    """Build the next block from `raws` (all must be valid), commit it, return its bytes."""
    built, skipped = build_block(
        store, raws, genesis,
        height=store.height + 1, time_ms=T0 + (store.height + 1) * BLOCK_MS,
        proposer=proposer, validators_hash=VALIDATORS_HASH, sigcache=sigcache,
    )
    if skipped:
        raise RuntimeError(f"benchmark transaction rejected: {skipped[0][1]}")
    store.commit(built, b"")
    return built.block_bytes


def build_workload(workdir: str, txs: int, wallets: int, block_size: int) -> Workload:
    """Sign everything and let a proposer cut it into blocks (on a scratch store)."""
    issuer, bank, proposer = _key(b"issuer", 0), _key(b"bank", 0), _key(b"validator", 0)
    keys = [_key(b"wallet", n) for n in range(wallets)]
    params = LedgerParams(max_block_txs=max(block_size, wallets, LedgerParams().max_block_txs))
    genesis = make_genesis(
        issuers=[issuer], institutions=[bank], validators=[proposer], issue_threshold=1,
        chain_id=CHAIN_ID, genesis_time_ms=T0, params=params,
    )
    store = Store.open(os.path.join(workdir, "proposer"), genesis)
    sigcache = SignatureCache()
    try:
        setup: list[bytes] = []
        total = FUNDING * wallets
        issue = build_issue(CHAIN_ID, [(bank.public, total)], [issuer])
        registers = [build_register(CHAIN_ID, bank, k.public, FULL_TIER, nonce=n) for n, k in enumerate(keys)]
        setup.append(_propose(store, genesis, proposer.public, [issue, *registers], sigcache))

        funding_raws, coins = _funding(bank, issue, total, [(k.public, FUNDING) for k in keys], params)
        setup.append(_propose(store, genesis, proposer.public, funding_raws, sigcache))

        # Transfers: wallet w pays wallet w+1+round and keeps the change (output 1), which
        # its next transfer spends.
        raws: list[bytes] = []
        balance = [FUNDING] * wallets
        for n in range(txs):
            w, rnd = n % wallets, n // wallets
            payee = keys[(w + 1 + rnd % (wallets - 1)) % wallets]
            balance[w] -= PAYMENT
            outputs = [(payee.public, PAYMENT), (keys[w].public, balance[w])]
            raw = build_transfer(CHAIN_ID, keys[w], [coins[w]], outputs, nonce=n)
            coins[w] = OutPoint(hashlib.sha256(_body(raw)).digest(), 1)
            raws.append(raw)
        blocks = [
            _propose(store, genesis, proposer.public, raws[i : i + block_size], sigcache)
            for i in range(0, len(raws), block_size)
        ]
    finally:
        store.close()
    return Workload(genesis, proposer.public, setup, blocks, txs)


def _body(raw: bytes) -> bytes:
    return ledger_pb2.Transaction.FromString(raw).body


def build_conditional_workload(workdir: str, txs: int, wallets: int, block_size: int) -> Workload:
    """The transfer workload with every coin in a 2-of-3 multi-signature lock
    (node.ledger.conditions): each spend presents its lock, is signed by 2 of its 3 keys,
    pays into the next wallet's lock (lock bytes attached) and keeps the change locked."""
    issuer, bank, proposer = _key(b"issuer", 0), _key(b"bank", 0), _key(b"validator", 0)
    keys = [[_key(b"cosigner", 3 * n + j) for j in range(3)] for n in range(wallets)]
    locks = [multisig_lock(2, [k.public for k in trio]) for trio in keys]
    addresses = [lock_address(lock) for lock in locks]
    params = LedgerParams(max_block_txs=max(block_size, 3 * wallets + 1, LedgerParams().max_block_txs))
    genesis = make_genesis(
        issuers=[issuer], institutions=[bank], validators=[proposer], issue_threshold=1,
        chain_id=CHAIN_ID, genesis_time_ms=T0, params=params,
    )
    store = Store.open(os.path.join(workdir, "proposer-conditional"), genesis)
    sigcache = SignatureCache()
    try:
        total = FUNDING * wallets
        issue = build_issue(CHAIN_ID, [(bank.public, total)], [issuer])
        # Every key of a lock is a registered wallet (as the rules require).
        cosigners = [k for trio in keys for k in trio]
        registers = [
            build_register(CHAIN_ID, bank, k.public, FULL_TIER, nonce=n) for n, k in enumerate(cosigners)
        ]
        setup = [_propose(store, genesis, proposer.public, [issue, *registers], sigcache)]
        locked = [locked_output(locks[w], FUNDING) for w in range(wallets)]
        funding, coins = _funding(bank, issue, total, locked, params)
        setup.append(_propose(store, genesis, proposer.public, funding, sigcache))
        raws: list[bytes] = []
        balance = [FUNDING] * wallets
        for n in range(txs):
            w, rnd = n % wallets, n // wallets
            payee = (w + 1 + rnd % (wallets - 1)) % wallets
            balance[w] -= PAYMENT
            outputs = [locked_output(locks[payee], PAYMENT), (addresses[w], balance[w])]
            signers = [keys[w][0], keys[w][2]]
            raw = build_spend_locked(CHAIN_ID, locks[w], 0, [coins[w]], outputs, signers, nonce=n)
            coins[w] = OutPoint(hashlib.sha256(_body(raw)).digest(), 1)
            raws.append(raw)
        blocks = [
            _propose(store, genesis, proposer.public, raws[i : i + block_size], sigcache)
            for i in range(0, len(raws), block_size)
        ]
    finally:
        store.close()
    return Workload(genesis, proposer.public, setup, blocks, txs)


def _conditional(workdir: str, txs: int, wallets: int, block_size: int, plain: tuple[float, float],
                 limit: float) -> dict:
    """The 2-of-3 conditional spend beside the plain transfer, both sequential."""
    work = build_conditional_workload(workdir, txs, wallets, block_size)
    timing = _timed_apply(workdir, "conditional", work, None)
    plain_cpu_us, cpu_us = plain[1] / txs * 1e6, timing[1] / txs * 1e6
    return {
        "spend": "2-of-3 multi-signature lock, 2 signatures, paying into another lock",
        **_mode(timing, txs, limit),
        "plain_transfer_cpu_us_per_tx": round(plain_cpu_us, 1),
        "cost_vs_plain_transfer": round(cpu_us / plain_cpu_us, 2),
        # Two signatures instead of one: the rest is the lock's decoding and evaluation.
        "cpu_us_per_tx_beyond_one_extra_signature": round(cpu_us - plain_cpu_us - _ed25519_cpu_us(), 1),
    }


def _replay_setup(store: Store, work: Workload) -> None:
    sigcache = SignatureCache()
    for block in work.setup_blocks:
        _validate_and_commit(store, work.genesis, block, sigcache, None)


def _validate_and_commit(
    store: Store, genesis: Genesis, block: bytes, sigcache: SignatureCache, executor: Executor | None
) -> None:
    executed = validate_block(
        store, block, genesis,
        expected_height=store.height + 1, validators=VALIDATORS,
        min_time_ms=store.tip().time_ms, sigcache=sigcache, executor=executor,
    )
    store.commit(executed, b"")


def _timed_apply(
    workdir: str, name: str, work: Workload, executor: Executor | None
) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to validate and commit the transfer
    blocks on a fresh store. CPU time is what a shared, busy machine distorts least."""
    path = os.path.join(workdir, name)
    store = Store.open(path, work.genesis)
    try:
        _replay_setup(store, work)
        sigcache = SignatureCache()  # fresh: every transfer signature is verified once
        gc.collect()
        start, cpu = time.perf_counter(), time.process_time()
        for block in work.blocks:
            _validate_and_commit(store, work.genesis, block, sigcache, executor)
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu
        if store.recompute_state_root() != store.tip().state_root:
            raise RuntimeError("state root mismatch after the benchmark")
        return elapsed, cpu
    finally:
        store.close()
        shutil.rmtree(path, ignore_errors=True)


def _warm(pool: Executor) -> None:
    """Start every worker before timing (spawned processes import PyNaCl on first use)."""
    list(pool.map(abs, range(64)))


def _breakdown(workdir: str, work: Workload) -> dict[str, float]:
    """Microseconds per transaction of each phase of the sequential path, timed apart."""
    path = os.path.join(workdir, "breakdown")
    store = Store.open(path, work.genesis)
    phases = dict.fromkeys(("decode", "verify_signatures", "rules", "state_root", "commit"), 0.0)
    chain_id = work.genesis.chain_id

    def timed(phase: str, fn: Callable[[], object]) -> object:
        t = time.perf_counter()
        result = fn()
        phases[phase] += time.perf_counter() - t
        return result

    try:
        _replay_setup(store, work)
        sigcache = SignatureCache()
        for block_bytes in work.blocks:
            block, header = decode_block(block_bytes)
            txs = timed("decode", lambda b=block: decode_block_txs(list(b.txs), work.genesis))
            timed("verify_signatures", lambda t=txs: [sigcache.verify(tx, chain_id) for tx in t])
            ctx = BlockContext(header.height, header.time_ms)
            overlay = timed(
                "rules", lambda t=txs, c=ctx: apply_block_txs(store, t, work.genesis, c, sigcache)
            )
            root = timed("state_root", lambda o=overlay: store.state_root_after(o))
            assert root == header.state_root
            executed = ExecutedBlock(
                block_bytes, header, hashlib.sha256(block.header).digest(), overlay, ()
            )
            timed("commit", lambda e=executed: store.commit(e, b""))
    finally:
        store.close()
        shutil.rmtree(path, ignore_errors=True)
    return {k: round(v / work.transfers * 1e6, 1) for k, v in phases.items()}


def _mode(timing: tuple[float, float], txs: int, limit: float, **extra: object) -> dict:
    seconds, cpu = timing
    tps = txs / seconds
    return {
        **extra,
        "seconds": round(seconds, 3),
        "tx_per_s": round(tps),
        "ratio": round(tps / limit, 3),
        "main_process_cpu_us_per_tx": round(cpu / txs * 1e6, 1),
    }


def _ed25519_cpu_us() -> float:
    """CPU microseconds per verification on this thread (immune to other processes)."""
    import nacl.signing

    key = nacl.signing.SigningKey(b"\x07" * 32)
    message, verify = b"\x5a" * 32, key.verify_key.verify
    signature = key.sign(message).signature
    start = time.thread_time()
    for _ in range(5_000):
        verify(message, signature)
    return (time.thread_time() - start) / 5_000 * 1e6


def run(
    txs: int = 20_000, wallets: int = 1_000, block_size: int = 1_000, workers: int = 2,
    with_conditional: bool = True,
) -> dict:
    """The benchmark; returns the JSON-ready report.

    Modes: "sequential" (everything on one thread: the per-core cost), "processes"
    (signatures on a pool of `workers` processes while this one runs the rules: what a
    node does with node.ledger.sigverify.verification_pool), "threads" (the same on a thread pool,
    shown because the GIL keeps it from overlapping; see node.ledger.sigverify). With
    `with_conditional`, "conditional_spend" times the same payments as 2-of-3 locked spends.
    """
    if wallets < 2 or txs < 1 or block_size < 1:
        raise ValueError("need at least 2 wallets, 1 transaction and blocks of at least 1")
    workdir = tempfile.mkdtemp(prefix="cbdc-bench-ledger-")
    seconds: dict[str, tuple[float, float]] = {}
    try:
        t = time.perf_counter()
        work = build_workload(workdir, txs, wallets, block_size)
        setup_s = time.perf_counter() - t
        limit_before = ed25519_verifications_per_second(2.0)
        seconds["sequential"] = _timed_apply(workdir, "sequential", work, None)
        if workers:
            with verification_pool(workers) as pool:
                _warm(pool)
                seconds["processes"] = _timed_apply(workdir, "processes", work, pool)
            with ThreadPoolExecutor(workers) as pool:
                seconds["threads"] = _timed_apply(workdir, "threads", work, pool)
        limit_after = ed25519_verifications_per_second(2.0)
        verify_cpu_us = _ed25519_cpu_us()
        breakdown = _breakdown(workdir, work)
        conditional = (
            _conditional(workdir, txs, wallets, block_size, seconds["sequential"], limit_after)
            if with_conditional else None
        )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    limit = (limit_before + limit_after) / 2  # the machine may be shared: average both sides
    modes = {"sequential": _mode(seconds["sequential"], txs, limit)}
    if workers:
        modes["processes"] = _mode(seconds["processes"], txs, limit, verify_workers=workers)
        modes["threads"] = _mode(seconds["threads"], txs, limit, verify_workers=workers)
    best = max(modes, key=lambda m: modes[m]["ratio"])
    return {
        "benchmark": "ledger",
        "transfers": txs,
        "wallets": wallets,
        "block_size": block_size,
        "blocks": len(work.blocks),
        "ed25519_verifications_per_s_one_core": round(limit),
        "ed25519_measurements_before_after": [round(limit_before), round(limit_after)],
        "ratio": modes[best]["ratio"],
        "ratio_mode": best,
        "target_ratio": TARGET_RATIO,
        "meets_target": modes[best]["ratio"] >= TARGET_RATIO,
        **modes,
        "breakdown_us_per_tx_sequential": breakdown,
        **({"conditional_spend": conditional} if conditional is not None else {}),
        "ed25519_us_per_verification": round(1e6 / limit, 1),
        "ed25519_cpu_us_per_verification": round(verify_cpu_us, 1),
        # What the sequential ratio is on a core nobody else uses: CPU per verification over
        # CPU per applied transfer.
        "sequential_cpu_ratio": round(
            verify_cpu_us / (seconds["sequential"][1] / txs * 1e6), 3
        ),
        "muhash_backend": MUHASH_BACKEND,
        "setup_seconds_untimed": round(setup_s, 1),
        "machine": machine(),
    }


# --- memory --------------------------------------------------------------------------------


def peak_rss_mb() -> float:
    """VmHWM of this process (peak resident set), from /proc/self/status."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmHWM not available (needs Linux /proc)")


def current_rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("VmRSS not available (needs Linux /proc)")


def run_memory(utxos: int = 1_000_000, txs_per_block: int = 250) -> dict:
    """Fill a store with `utxos` unspent outputs through the block path, then run a full
    recompute of the state root over them; report peak RSS."""
    issuer, bank, proposer = _key(b"issuer", 0), _key(b"bank", 0), _key(b"validator", 0)
    genesis = make_genesis(
        issuers=[issuer], institutions=[bank], validators=[proposer], issue_threshold=1,
        chain_id=CHAIN_ID, genesis_time_ms=T0,
    )
    per_tx = genesis.params.max_outputs
    workdir = tempfile.mkdtemp(prefix="cbdc-bench-memory-")
    rss_start = current_rss_mb()
    try:
        store = Store.open(os.path.join(workdir, "store"), genesis)
        sigcache = SignatureCache()
        created = 0
        nonce = 0
        t = time.perf_counter()
        try:
            while created < utxos:
                raws = []
                while created < utxos and len(raws) < txs_per_block:
                    n = min(per_tx, utxos - created)
                    outputs = [(bank.public, 1 + (created + i) % 1_000) for i in range(n)]
                    raws.append(build_issue(CHAIN_ID, outputs, [issuer], nonce))
                    nonce += 1
                    created += n
                _propose(store, genesis, proposer.public, raws, sigcache)
            fill_s = time.perf_counter() - t
            rss_filled = current_rss_mb()
            t = time.perf_counter()
            ok = store.recompute_state_root() == store.tip().state_root
            recompute_s = time.perf_counter() - t
            count = sum(1 for _ in store.utxos())
            outstanding = store.supply().outstanding
            balance = store.balance(bank.public)
        finally:
            store.close()
        disk = sum(e.stat().st_size for e in os.scandir(os.path.join(workdir, "store")))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    peak = peak_rss_mb()
    return {
        "benchmark": "ledger-memory",
        "utxos": count,
        "blocks": nonce // txs_per_block + (1 if nonce % txs_per_block else 0),
        "outstanding_fen": outstanding,
        "balance_matches_supply": balance == outstanding,
        "recomputed_root_matches": ok,
        "fill_seconds": round(fill_s, 1),
        "recompute_seconds": round(recompute_s, 1),
        "store_bytes_on_disk": disk,
        "rss_mb_at_start": round(rss_start, 1),
        "rss_mb_after_fill": round(rss_filled, 1),
        "peak_rss_mb": round(peak, 1),
        "target_peak_rss_mb": RSS_TARGET_MB,
        "meets_target": peak < RSS_TARGET_MB,
        "machine": machine(),
    }
