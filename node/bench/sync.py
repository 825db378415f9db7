"""`cbdc bench sync`: a fresh node catching up a long chain from a peer.

Untimed: a one-validator chain of N transfers is built (the ledger benchmark's workload),
each block committed with a real commit certificate signed by the validator, and served by
a real node process. Timed: a fresh store fetches every block over the Sync API and applies
it exactly as a catching-up node does (node.net.block_sync.fetch_blocks and BlockApplier, as Syncer
uses them: the block transition's certificate check against the validator set, full
re-execution (evidence, every signature verified once, rules, state root), one synced write
batch per block). Figures: transactions per
second of wall time and per CPU second of the syncing process plus the verification worker
processes it starts, beside one core's ed25519 verifications per second.
"""

from __future__ import annotations

import asyncio
import gc
import json
import resource
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.signing
from consensus.commit import encode_commit
from consensus.messages import VoteType, sign_vote
from consensus.validators import ValidatorSet

from node.bench.ledger import VALIDATOR_SEED, build_workload
from node.bench.limits import ed25519_verifications_per_second, machine
from node.config import load_config, write_default_config
from node.ledger.blocks import CommittedBlock, block_hash, decode_block, encode_committed
from node.ledger.genesis import Genesis
from node.ledger.keys import KeyPair, save_key
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.transition import verify_committed
from node.ledger_service import LedgerService
from node.net.block_sync import POOL_MIN_LAG, BlockApplier, catch_up_pool, catch_up_workers, fetch_blocks

_MAX_MESSAGE = 64 * 1024 * 1024


def _certify(store: Store, genesis: Genesis, blocks: list[bytes], key: nacl.signing.SigningKey) -> int:
    """Commit `blocks` into `store`, each with a certificate the validator signs, each
    checked on the way in as a syncing node checks it (transition.verify_committed)."""
    sigcache = SignatureCache()
    validators = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
    txs = 0
    for raw in blocks:
        block, header = decode_block(raw)
        digest = block_hash(block.header)
        vote = sign_vote(key, genesis.chain_id, header.height, 0, VoteType.PRECOMMIT, digest)
        certificate = encode_commit(header.height, 0, digest, [vote])
        committed = CommittedBlock(
            encode_committed(raw, certificate), raw, block, header, digest, certificate
        )
        executed, checked = verify_committed(
            committed, store, genesis, validators=validators, sigcache=sigcache
        )
        store.commit(executed, checked.raw)
        txs += header.tx_count
    return txs


def _two_free_ports() -> tuple[int, int]:
    # Held open together: two binds one after the other may be handed the same port.
    with socket.socket() as a, socket.socket() as b:
        a.bind(("127.0.0.1", 0))
        b.bind(("127.0.0.1", 0))
        return a.getsockname()[1], b.getsockname()[1]


def _prepare_server(workdir: Path, txs: int, wallets: int, block_size: int) -> tuple[Path, Genesis, int, int]:
    (workdir / "scratch").mkdir()
    work = build_workload(str(workdir / "scratch"), txs, wallets, block_size)
    home = workdir / "server"
    api_port, peer_port = _two_free_ports()
    write_default_config(
        home,
        p2p={"listen": f"127.0.0.1:{peer_port}"},
        api={"listen": f"127.0.0.1:{api_port}", "open_reads": True},
        tls={"insecure": True},  # the catch-up pipeline is measured, not the transport
    )
    (home / "genesis.json").write_text(json.dumps(work.genesis.to_dict(), indent=2))
    key = KeyPair.from_seed(VALIDATOR_SEED)
    save_key(home / "validator.key", key)
    (home / "data").mkdir()
    store = Store.open(str(home / "data" / "ledger"), work.genesis)
    try:
        served = _certify(
            store, work.genesis, [*work.setup_blocks, *work.blocks], nacl.signing.SigningKey(key.seed)
        )
        height = store.height
    finally:
        store.close()
    return home, work.genesis, served, height


async def _catch_up(api: str, store: Store, genesis: Genesis, height: int) -> int:
    """Returns how many verification worker processes ran (their CPU is the caller's to add)."""
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="verify") as executor:
        chain = LedgerService(store, genesis, Mempool(MempoolLimits()), SignatureCache(), executor)
        validators = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
        # Started inside the timed part, as Syncer starts it on its first long catch-up.
        pool = catch_up_pool() if height - store.height >= POOL_MIN_LAG else None
        try:
            while store.height < height:
                # As Syncer does it, batch by batch, minus the consensus pause around apply().
                applier = BlockApplier(chain, validators, verifier=pool)
                try:
                    await fetch_blocks(
                        chain, validators, api, height, applier, max_message_bytes=_MAX_MESSAGE
                    )
                    if not await applier.apply():
                        raise RuntimeError(f"sync made no progress at height {store.height}")
                finally:
                    applier.close()
        finally:
            if pool is not None:
                pool.shutdown(wait=True)  # joined, so their CPU shows in RUSAGE_CHILDREN
        return 0 if pool is None else catch_up_workers()


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _wait_for_api(api: str, deadline_s: float = 60.0) -> None:
    from node.client.connection import NodeClient, Rejected, Unreachable

    deadline = time.monotonic() + deadline_s
    while time.monotonic() < deadline:
        try:
            with NodeClient(api, timeout=2) as client:
                client.status()
                return
        except (Unreachable, Rejected):
            time.sleep(0.2)
    raise RuntimeError(f"the serving node at {api} did not come up")


def run(*, txs: int = 100_000, wallets: int = 1_000, block_size: int = 1_000) -> dict:
    verify_per_s = ed25519_verifications_per_second()
    with tempfile.TemporaryDirectory(prefix="cbdc-bench-sync-") as tmp:
        workdir = Path(tmp)
        home, genesis, served_txs, height = _prepare_server(workdir, txs, wallets, block_size)
        api = load_config(home).api.listen
        with open(home / "node.log", "wb") as log:
            server = subprocess.Popen(
                [sys.executable, "-m", "cli", "node", "start", "--home", str(home)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            _wait_for_api(api)
            store = Store.open(str(workdir / "fresh"), genesis)
            try:
                # Building the chain left this process a large heap that a fresh node does not
                # have (the cyclic GC would keep walking it); out of the collector's sight.
                gc.collect()
                gc.freeze()
                children = _children_cpu()
                start, cpu = time.perf_counter(), time.process_time()
                workers = asyncio.run(_catch_up(api, store, genesis, height))
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
                workers_cpu = _children_cpu() - children  # the serving node is not reaped yet
                root_ok = store.recompute_state_root() == store.tip().state_root
            finally:
                store.close()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "benchmark": "sync",
        "transactions": served_txs,
        "blocks": height,
        "seconds": round(wall, 3),
        "tx_per_s": round(served_txs / wall, 1),
        "cpu_seconds": round(cpu + workers_cpu, 3),
        "tx_per_cpu_second": round(served_txs / (cpu + workers_cpu), 1),
        "cpu_seconds_syncing_process": round(cpu, 3),
        "cpu_seconds_verifier_processes": round(workers_cpu, 3),
        "verifier_processes": workers,
        "state_root_verified": root_ok,
        "limit": {
            "ed25519_verifications_per_s_one_core": round(verify_per_s),
            "note": "each synced transaction needs one signature verification",
        },
        "ratio_per_core": round(served_txs / (cpu + workers_cpu) / verify_per_s, 3),
        "machine": machine(),
    }
