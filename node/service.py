"""The validator process: wires store, mempool, consensus driver, peers, sync and the APIs.

Start-up order matters: the store opens first (refusing another chain's data), the servers
bind next (so a busy port fails before anything else happens), then consensus recovers
from its WAL, and only then do we dial peers. Shutdown runs the other way round: stop
taking client calls, stop consensus between events, say goodbye to peers, close the store
(every committed block was already synced to disk by its own write batch).
"""

from __future__ import annotations

import asyncio
import contextlib
import getpass
import importlib
import os
import signal
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import grpc.aio
import nacl.signing
from consensus.validators import ValidatorSet
from proto import node_pb2, node_pb2_grpc

from node import gc_policy
from node.config import ConfigError, NodeConfig, load_config
from node.driver import ConsensusDriver
from node.gc_pauses import GcPauses
from node.health import STARTING, Readiness, evaluate
from node.hooks import FaultHooks
from node.ledger.blocks import Certificate
from node.ledger.errors import LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import validator_set_at
from node.ledger.keys import (
    ENV_PASSPHRASE,
    ENV_PASSPHRASE_FILE,
    KeyFileError,
    KeyPair,
    is_encrypted,
    parse_key,
    passphrase_from_environment,
    permission_warning,
    read_key_text,
)
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks
from node.ledger.store import Store
from node.ledger.transition import ExecutedBlock
from node.ledger_service import LedgerService
from node.logs import configure_logging, get_logger
from node.metrics import NodeMetrics, start_metrics_server
from node.net.api import NodeServicer
from node.net.auth import AuthInterceptor, Authorizer, ReplayGuard
from node.net.block_sync import Syncer, SyncServicer, download_snapshot
from node.net.commit_push import CommitRelay
from node.net.grpc_server import (
    NODE_SERVICE,
    PEER_SERVICE,
    SYNC_SERVICE,
    GrpcServer,
    start_server,
)
from node.net.pass_on import PassOn
from node.net.peers import PeerNetwork, peer_channel
from node.net.tls import TlsError, TlsMaterial, peer_key
from node.net.tx_gossip import TxGossip
from node.signer.client import RemoteSigner, SignerUnavailable

log = get_logger("node")

# Batches received from peers wait here for admission; beyond it they are dropped (the
# sender's own mempool still holds them, and its proposals will carry them).
_INBOUND_BATCHES = 256


# State sync at start-up: rounds over the configured peers, and the pause between rounds.
_STATE_SYNC_ROUNDS = 3
_STATE_SYNC_RETRY_S = 2.0

# Environment variables that ask for test-only faults (node.testing.faults reads them).
_FAULT_ENV = ("CBDC_CRASH_POINT", "CBDC_DEAF_HEIGHTS")


def load_faults(misbehave: str | None) -> Any | None:
    """node.testing.faults, imported only when a test-only fault is asked for (`--misbehave`,
    a crash point or deaf heights in the environment); None on a real validator."""
    if not misbehave and not any(os.environ.get(name, "").strip() for name in _FAULT_ENV):
        return None
    return importlib.import_module("node.testing.faults")


def load_tls(config: NodeConfig, public_key: bytes, *, warn: bool = True) -> TlsMaterial | None:
    """The node's TLS material, checked to be bound to its own key (`public_key`: in the
    key file, or held by the remote signer); None (with a warning unless `warn` is False)
    when the config says `[tls] insecure = true`. Raises TlsError naming what is wrong."""
    if config.tls.insecure:
        if warn:
            log.warning("tls.insecure = true: every channel is plaintext; never on a real network")
        return None
    material = TlsMaterial.load(*config.tls_paths())
    bound = peer_key(material.chain_pem)
    if bound != public_key:
        raise TlsError(
            f"{config.home / config.tls.cert} is not bound to this node's key {public_key.hex()} "
            f"({'bound to ' + bound.hex() if bound else 'not signed by the key it names'}); "
            "`cbdc node init` makes a matching one"
        )
    return material


def validator_set(genesis: Genesis) -> ValidatorSet:
    return ValidatorSet([(v.public_key, v.power) for v in genesis.validators])


class Node:
    def __init__(
        self,
        config: NodeConfig,
        genesis: Genesis,
        key: KeyPair | None,
        store: Store,
        misbehave: str | None = None,
        faults: Any | None = None,
        remote_signer: RemoteSigner | None = None,
    ) -> None:
        """`faults` is node.testing.faults when a test-only fault was asked for (load_faults).
        With `remote_signer` (node.signer.client) the validator key stays in the signer
        process and `key` is None: consensus signatures and peer handshakes go through it."""
        if (key is None) == (remote_signer is None):
            raise ValueError("a node signs with its key or with a remote signer: exactly one")
        self.config = config
        self.genesis = genesis
        self.key = key
        self.remote_signer = remote_signer
        self.public_key = key.public if key is not None else remote_signer.public_key  # type: ignore[union-attr]
        self.store = store
        self.metrics = NodeMetrics()
        self.metrics.describe(genesis.chain_id, [(v.name, v.public_key) for v in genesis.validators])
        # The validator set of each height: genesis's until governance changes it
        # (node.ledger.governance; committed at H, it decides from H+2).
        self.validators_at = lambda height: validator_set_at(store, genesis, height)
        self.executor = ThreadPoolExecutor(
            max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="verify"
        )
        self.mempool = Mempool(
            MempoolLimits(config.mempool.max_txs, config.mempool.max_bytes, config.mempool.max_per_wallet)
        )
        self.sigcache = SignatureCache()
        self.chain = LedgerService(
            store,
            genesis,
            self.mempool,
            self.sigcache,
            self.executor,
            on_admitted=self._on_admitted,
            on_committed=self._on_committed,
            max_block_txs=config.block.max_txs,
            max_block_bytes=config.block.max_bytes,
            max_admitting=config.mempool.max_admitting,
            max_backlog_s=config.mempool.max_backlog_ms / 1000,
        )
        self.tls = load_tls(config, key.public if key is not None else remote_signer.public_key)  # type: ignore[union-attr]
        self.peers = PeerNetwork.from_config(
            config, genesis.chain_id,
            key.seed if key is not None else remote_signer.handshake_key(),  # type: ignore[union-attr]
            self._on_peer_message,
            metrics=self.metrics, on_peer_connected=self._on_peer_connected,
            on_hearing_changed=self._on_hearing_changed,
            genesis_hash=genesis.hash(), tls=self.tls,
        )
        deciding = lambda: self.validators_at(self.store.height + 1)  # noqa: E731
        self.pass_on = PassOn(self.peers.send, deciding, self.public_key)
        self.gossip = TxGossip(self.peers.broadcast)
        self.relay = CommitRelay(store, self.peers.send)
        # Test-only faults (node.hooks): no-ops unless node.testing.faults was loaded.
        self.faults = FaultHooks()
        if faults is not None:
            self.faults.crash_point = faults.crash_point
            store.crash_point = faults.crash_point
            deaf = faults.deaf_heights()
            if deaf:
                self.faults.deaf_to = lambda msg: faults.deaf_to(msg, deaf)
        data_dir = config.home / config.data_dir
        self.driver = ConsensusDriver(
            chain=self.chain,
            validators=self.validators_at,
            signing_key=nacl.signing.SigningKey(key.seed) if key is not None else None,
            remote_signer=remote_signer,
            data_dir=data_dir,
            config=config.consensus.machine_config(),
            broadcast=self.peers.broadcast,
            announce=self._announce_status,
            pass_on=self.pass_on.pass_on,
            create_empty_blocks=config.consensus.create_empty_blocks,
            heartbeat_s=config.consensus.heartbeat_interval_s or 10**9,
            commit_delay_s=config.consensus.timeout_commit_ms / 1000,
            commit_delay_txs=config.consensus.timeout_commit_txs,
            faults=self.faults,
            double_sign_check_height=config.consensus.double_sign_check_height,
            observe_step=lambda phase, s: self.metrics.step_duration.labels(step=phase).observe(s),
            observe_block_work=lambda work, s: self.metrics.block_work.labels(work=work).observe(s),
        )
        if misbehave and faults is not None and key is not None:  # test-only Byzantine mode
            self.faults.misbehave = faults.Misbehaviour(
                misbehave, key=nacl.signing.SigningKey(key.seed), driver=self.driver, peers=self.peers
            )
        self.metrics.export_consensus_drops(lambda: self.driver.machine.ignored)
        self.gc_pauses = GcPauses(lambda gen, s: self.metrics.gc_pause.labels(generation=str(gen)).observe(s))
        self.syncer = Syncer(
            self.chain,
            self.driver,
            self.peers,
            self.validators_at,
            max_message_bytes=config.grpc.max_message_bytes,
            on_lag=self.metrics.sync_lag.set,
            channel_to=self.peers.channel_to,
        )
        self._inbound: asyncio.Queue[list[bytes]] = asyncio.Queue(_INBOUND_BATCHES)
        self._admitter: asyncio.Task[None] | None = None
        self.peer_server: GrpcServer | None = None
        self.api_server: GrpcServer | None = None
        self._metrics_server = None
        self._last_commit = time.monotonic()
        # Readiness (node.health): recomputed on the loop, read as a whole by /healthz.
        self.readiness: Readiness = STARTING
        self._health_task: asyncio.Task[None] | None = None

    # --- lifecycle -----------------------------------------------------------------------
    async def start(self) -> None:
        self.gc_pauses.install()
        sync = SyncServicer(self.chain)
        api = NodeServicer(
            self.chain, status=self.status, syncing=lambda: self.syncer.syncing, peers_ahead=self.syncer.lag
        )
        max_bytes = self.config.grpc.max_message_bytes
        # The peer port admits members only (mutual TLS); the API port anyone with TLS, and
        # the Authorizer decides per call what they may read.
        self.peer_server = await start_server(
            self.config.p2p.listen,
            [self.peers.attach, lambda s: node_pb2_grpc.add_SyncServicer_to_server(sync, s)],
            [PEER_SERVICE, SYNC_SERVICE],
            max_message_bytes=max_bytes,
            credentials=self.peers.server_credentials(),
        )
        api_config = self.config.api
        authorizer = Authorizer(
            self.chain, ReplayGuard(api_config.request_window_s * 1000), open_reads=api_config.open_reads
        )
        if api_config.open_reads:
            log.warning("api.open_reads = true: anyone may read every wallet and block (development only)")
        self.api_server = await start_server(
            api_config.listen,
            [
                lambda s: node_pb2_grpc.add_NodeServicer_to_server(api, s),
                lambda s: node_pb2_grpc.add_SyncServicer_to_server(sync, s),
            ],
            [NODE_SERVICE, SYNC_SERVICE],
            max_message_bytes=max_bytes,
            interceptors=[AuthInterceptor(authorizer)],
            credentials=self.tls.server_credentials(require_client_auth=False) if self.tls else None,
        )
        # Not ready until the first readiness check says so (peers linked, not behind).
        for service in ("", NODE_SERVICE, SYNC_SERVICE):
            await self.api_server.set_serving(service, False)
        if self.config.metrics.address:
            key_path, cert_path, _ = self.config.tls_paths()
            self._metrics_server = start_metrics_server(
                self.config.metrics.address,
                self.metrics,
                lambda: self.readiness,
                certfile=str(cert_path) if self.tls else None,
                keyfile=str(key_path) if self.tls else None,
            )
        self.metrics.height.set(self.store.height)
        await self.driver.start()
        await self.peers.start()
        self.syncer.start()
        self._admitter = asyncio.create_task(self._admit_peer_batches(), name="peer-txs")
        self._health_task = asyncio.create_task(self._watch_health(), name="health")
        log.info(
            "node started",
            height=self.store.height,
            chain=self.genesis.chain_id,
            p2p=self.config.p2p.listen,
            api=self.config.api.listen,
            validator=self.public_key in self.validators_at(self.store.height + 1),
        )

    async def stop(self) -> None:
        """Stop whatever `start` got to (it may have failed half-way)."""
        log.info("node stopping")
        self.gc_pauses.remove()
        if self._health_task is not None:
            self._health_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._health_task
        if self.api_server is not None:
            await self.api_server.stop(grace=1.0)
        await self.syncer.stop()
        self.relay.close()
        await self.driver.stop()
        if self._admitter is not None:
            self._admitter.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._admitter
        await self.peers.stop()
        if self.peer_server is not None:
            await self.peer_server.stop(grace=0.5)
        if self._metrics_server is not None:
            self._metrics_server.close()
        self.executor.shutdown(wait=True)
        if self.remote_signer is not None:
            self.remote_signer.close()
        # The last committed height is the store's: the driver's height is the one it was
        # deciding, which differs by one or, after a sync, by more.
        height = self.store.height
        self.store.close()
        log.info(f"node stopped at height {height}", height=height)

    # --- wiring --------------------------------------------------------------------------
    def _on_admitted(self, tx, gossip: bool) -> None:
        if gossip:
            self.gossip.add(tx.raw)
        self.driver.notify_work()

    def _on_committed(self, block: ExecutedBlock, certificate: bytes) -> None:
        now = time.monotonic()
        self.metrics.block_interval.observe(now - self._last_commit)
        self._last_commit = now
        self.metrics.height.set(block.header.height)
        self.relay.on_tip(block.header.height)
        self.metrics.round.set(self.driver.round)
        self.metrics.txs_committed.inc(block.header.tx_count)
        self.metrics.mempool_size.set(len(self.mempool))
        self.metrics.mempool_bytes.set(self.mempool.size_bytes)
        self.metrics.block_committed(
            len(block.block_bytes), len(block.evidence_keys), Certificate.decode(certificate).signers
        )

    async def _on_peer_message(self, peer: bytes, msg: node_pb2.PeerMessage) -> None:
        kind = msg.WhichOneof("kind")
        if self.faults.deaf_to is not None and kind in ("vote", "proposal") and self.faults.deaf_to(msg):
            return
        if kind == "vote":
            self.driver.on_vote(msg.vote)
        elif kind == "proposal":
            self.driver.on_proposal(msg.proposal.proposal, msg.proposal.block)
        elif kind == "tx_batch":
            try:
                self._inbound.put_nowait(list(msg.tx_batch.txs))
            except asyncio.QueueFull:
                self.metrics.dropped("queue_full")
        elif kind == "evidence":
            self.driver.on_evidence(msg.evidence)
        elif kind == "status":
            self.relay.on_status(peer, msg.status.height)
            self.pass_on.on_status(peer, msg.status.unheard)
        elif kind == "commit":
            self.driver.on_commit(msg.commit)

    def _announce_status(self, height: int, block_hash: bytes) -> None:
        """Our tip, and the validators we hear nothing from (for peers to pass them on)."""
        self.peers.announce_status(height, block_hash, self.pass_on.unheard(self.peers.inbound_peers()))

    def _on_hearing_changed(self) -> None:
        tip = self.store.tip()
        self._announce_status(tip.height, tip.block_hash)

    async def _on_peer_connected(self, peer: bytes) -> None:
        self.driver.resend_to(lambda m: self.peers.send(peer, m))

    async def _admit_peer_batches(self) -> None:
        """Admit transactions gossiped by peers, off the peer streams' read path, so a big
        batch never delays the votes queued behind it."""
        while True:
            batch = await self._inbound.get()
            while not self._inbound.empty():  # what arrived meanwhile: one admission round
                batch += self._inbound.get_nowait()
            outcomes = await self.chain.submit_batch(batch)
            for outcome, count in outcomes.items():
                self.metrics.gossip_txs.labels(outcome=outcome).inc(count)

    # --- readiness -----------------------------------------------------------------------
    def evaluate_readiness(self) -> Readiness:
        linked = self.peers.connected_peers() & self.peers.inbound_peers()
        deciding = self.validators_at(self.store.height + 1)  # governance may change the set
        return evaluate(
            height=self.store.height,
            syncing=self.syncer.syncing,
            linked_power=sum(deciding.power_of(k) for k in linked if k != self.public_key),
            own_power=deciding.power_of(self.public_key),
            total_power=deciding.total_power,
            lag=self.syncer.lag(),
            max_lag_blocks=self.config.health.max_lag_blocks,
        )

    async def _watch_health(self) -> None:
        """Keep the gRPC health service honest: NOT_SERVING for the Node and Sync services
        (and the server as a whole) while a readiness check fails."""
        ready: bool | None = None
        while True:
            self.readiness = self.evaluate_readiness()
            if self.readiness.ready != ready:
                ready = self.readiness.ready
                if self.api_server is not None:
                    for service in ("", NODE_SERVICE, SYNC_SERVICE):
                        await self.api_server.set_serving(service, ready)
                if ready:
                    log.info("ready: serving (height %d)", self.readiness.height)
                else:
                    log.warning(
                        "not ready: %s", "; ".join(f"{c.name}: {c.detail}" for c in self.readiness.failed)
                    )
            await asyncio.sleep(self.config.health.interval_ms / 1000)

    def status(self) -> node_pb2.NodeStatus:
        tip = self.store.tip()
        validators = self.validators_at(tip.height + 1)  # the set deciding the next block
        status = node_pb2.NodeStatus(
            chain_id=self.genesis.chain_id,
            height=tip.height,
            block_hash=tip.block_hash,
            state_root=tip.state_root,
            time_ms=tip.time_ms,
            validator_key=self.public_key if self.public_key in validators else b"",
            peers_connected=len(self.peers.connected_peers()),
            syncing=self.syncer.syncing,
            mempool_size=len(self.mempool),
            mempool_bytes=self.mempool.size_bytes,
            base_height=self.store.base_height,
        )
        names = {v.public_key: v.name for v in self.genesis.validators}
        for v in validators.validators:
            status.validators.append(
                node_pb2.Validator(public_key=v.public_key, power=v.power, name=names.get(v.public_key, ""))
            )
        for p in self.peers.peer_states():
            status.peers.append(
                node_pb2.PeerInfo(
                    public_key=p.key,
                    address=p.address,
                    outbound=p.outbound,
                    inbound=p.inbound,
                    height=p.height,
                )
            )
        return status


async def state_sync(config: NodeConfig, genesis: Genesis, ledger: Path, tls: TlsMaterial | None) -> bool:
    """Build the new node's store from the first peer's snapshot that verifies (hand-offs
    from the genesis validators, certificate, recomputed state root: node.ledger.snapshot). False when no
    peer served one: the node then replays the chain from genesis by block sync."""
    download = ledger.parent / "statesync.snapshot"
    loop = asyncio.get_running_loop()
    credentials = tls.channel_credentials() if tls is not None else None
    max_bytes = config.grpc.max_message_bytes
    # Peers may still be starting: a few rounds over them before giving up on state sync.
    attempts = [peer for _ in range(_STATE_SYNC_ROUNDS) for peer in config.p2p.peers]
    for n, peer in enumerate(attempts):
        if n and n % len(config.p2p.peers) == 0:
            await asyncio.sleep(_STATE_SYNC_RETRY_S)
        try:
            # The peer port, dialled as block sync dials it (PeerNetwork.channel_to).
            channel = peer_channel(peer.address, peer.validator_key, max_bytes, credentials)
            height = await download_snapshot(channel, str(download))
            info = await loop.run_in_executor(
                None, restore_snapshot, snapshot_file_chunks(str(download)), str(ledger), genesis
            )
        except (grpc.aio.AioRpcError, LedgerError, OSError) as err:
            details = err.details() if isinstance(err, grpc.aio.AioRpcError) else str(err)
            log.warning("state sync failed", peer=peer.validator_key, address=peer.address, error=details)
            continue
        finally:
            download.unlink(missing_ok=True)
        log.info(
            "state sync: restored height",
            height=height, state_root=info.state_root.hex()[:16], address=peer.address,
        )
        return True
    log.warning("state sync: no peer served a usable snapshot; replaying the chain from genesis")
    return False


def connect_signer(path: Path, timeout_s: float, chain_id: str) -> RemoteSigner:
    """The remote signer at `path`, which must sign for this chain; KeyFileError (the node
    refuses to start, saying why) when it cannot be reached or signs for another chain."""
    try:
        remote = RemoteSigner(path, timeout_s=timeout_s)
    except SignerUnavailable as exc:
        raise KeyFileError(path, f"signer socket: {exc}") from None
    if remote.chain_id != chain_id:
        remote.close()
        raise KeyFileError(
            path, f"the signer signs for chain {remote.chain_id!r}, this node is on {chain_id!r}"
        )
    log.info("consensus key held by the remote signer at %s: %s", path, remote.public_key.hex())
    return remote


def load_validator_key(path: Path) -> KeyPair:
    """The validator key, opened with the passphrase from the environment
    ($CBDC_KEY_PASSPHRASE_FILE, $CBDC_KEY_PASSPHRASE; what a service manager gives) or, when
    the node runs on a terminal, typed at a prompt. A key kept in clear still works, with
    a warning: whoever copies the file (a backup, a disk image) holds the validator."""
    text = read_key_text(path)
    passphrase = None
    if is_encrypted(text):
        passphrase = passphrase_from_environment()
        if passphrase is None and sys.stdin.isatty():
            passphrase = getpass.getpass(f"passphrase for {path}: ").encode() or None
    else:
        log.warning(
            "validator key %s is not encrypted at rest; seal it with `cbdc keys encrypt %s` and "
            "give the node $%s or $%s", path, path, ENV_PASSPHRASE_FILE, ENV_PASSPHRASE,
        )
    key = parse_key(text, path, passphrase)
    warning = permission_warning(path)
    if warning:
        log.warning("%s", warning)
    return key


def reload_log_levels(home: Path) -> None:
    """SIGHUP: apply [log] level and modules from config.toml again, without a restart (the
    rest of the file is read at start only). A file that no longer loads changes nothing."""
    try:
        config = load_config(home)
    except ConfigError as err:
        log.error("log levels not reloaded", error=str(err))
        return
    configure_logging(config.log.level, config.log.format, modules=config.log.modules)
    log.info("log levels reloaded", default_level=config.log.level, modules=config.log.modules)


async def run(home: Path, misbehave: str | None = None) -> None:
    """Run the node in `home` until SIGINT or SIGTERM, then shut down cleanly.

    `misbehave` (test-only) makes this validator Byzantine, see node.testing.faults, which is
    loaded only then or when the environment names a crash point or deaf heights."""
    config = load_config(home)
    configure_logging(config.log.level, config.log.format, modules=config.log.modules)
    gc_policy.apply()  # process-wide: here, not in Node (tests run several in one process)
    faults = load_faults(misbehave)
    if faults is not None:
        faults.arm_crash_point()
    genesis = Genesis.load(config.home / config.genesis)
    remote = None
    key: KeyPair | None = None
    if config.signer_socket_path is not None:
        remote = connect_signer(config.signer_socket_path, config.signer.timeout_ms / 1000, genesis.chain_id)
    else:
        key = load_validator_key(config.home / config.validator_key)
    data_dir = config.home / config.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    ledger = data_dir / "ledger"
    if config.statesync.enable and not ledger.exists():
        public = key.public if key is not None else remote.public_key  # type: ignore[union-attr]
        await state_sync(config, genesis, ledger, load_tls(config, public, warn=False))
    store = Store.open(str(ledger), genesis, retain_blocks=config.storage.retain_blocks)
    node = Node(config, genesis, key, store, misbehave, faults, remote_signer=remote)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    loop.add_signal_handler(signal.SIGHUP, reload_log_levels, home)
    try:
        await node.start()
        await stop.wait()
    finally:
        await node.stop()
