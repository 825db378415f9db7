"""The same bad block is refused the same way on every path a block can take.

One chain (four validators; block 1 carries evidence of validator 3's double vote) and a
table of bad blocks for height 2, each under a genuine commit certificate signed by every
validator (but the one whose certificate is what is wrong). Each is fed to every path:
the consensus validation (LedgerService.validate), verify_committed, block sync
(check_committed + BlockApplier; fetch_blocks from a real Sync server on 127.0.0.1), the
sync benchmark's catch-up, `audit verify` (node.audit.verify_store over a store holding the
bad block) and the driver's pushed-commit path (ConsensusDriver.on_commit). Every path must
name the same refusal (machine code and the distinguishing words) and leave the committed
state byte-identical.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc.aio
import nacl.signing
import plyvel
import pytest

from consensus.commit import encode_commit
from consensus.config import ConsensusConfig
from consensus.evidence import encode_duplicate_vote
from consensus.messages import NIL, VoteType, sign_vote
from consensus.validators import ValidatorSet
from node.audit import verify_store
from node.bench.sync import _catch_up
from node.client.txbuild import build_issue
from node.driver import ConsensusDriver
from node.ledger.blocks import decode_block, encode_committed
from node.ledger.crypto import sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.store import K_TIP, P_BLOCK, Store, Tip
from node.ledger.transition import build_block, verify_committed
from node.ledger_service import LedgerService
from node.net.block_sync import BlockApplier, SyncError, SyncServicer, check_committed, fetch_blocks
from proto import ledger_pb2, node_pb2_grpc
from tests.support import cast
from tests.support.cast import T0
from tests.transport.mesh import wait_until

CHAIN_ID = "cbdc-block-paths"
KEYS = cast.validators(4)
HONEST, BYZANTINE = KEYS[1], KEYS[3]
ISSUER, BANK = cast.issuers()[0], cast.institutions()[0]
GENESIS = make_genesis(
    issuers=[ISSUER], institutions=[BANK], validators=KEYS, issue_threshold=1, chain_id=CHAIN_ID,
    genesis_time_ms=T0,
)
VALIDATORS = ValidatorSet([(v.public_key, v.power) for v in GENESIS.validators])
MAX_MESSAGE = 16 * 1024 * 1024


def _signing(key: KeyPair) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(key.seed)


def _vote(key: KeyPair, height: int, block: bytes, type_: VoteType = VoteType.PREVOTE) -> bytes:
    return sign_vote(_signing(key), CHAIN_ID, height, 0, type_, block)


def double_vote(key: KeyPair, height: int, a: bytes = bytes([1]) * 32) -> bytes:
    return encode_duplicate_vote(_vote(key, height, a), _vote(key, height, NIL))


def certified(block_bytes: bytes, digest: bytes | None = None) -> bytes:
    """CommittedBlock bytes: the block under a certificate every validator signed for
    `digest` (default: the block's own hash) at the block's height."""
    block, header = decode_block(block_bytes)
    digest = sha256(block.header) if digest is None else digest
    votes = [_vote(k, header.height, digest, VoteType.PRECOMMIT) for k in KEYS]
    return encode_committed(block_bytes, encode_commit(header.height, 0, digest, votes))


def reheader(block_bytes: bytes, change: Callable[[ledger_pb2.BlockHeader], None]) -> bytes:
    block, header = decode_block(block_bytes)
    change(header)
    return ledger_pb2.Block(
        header=header.SerializeToString(), txs=block.txs, evidence=block.evidence
    ).SerializeToString()


@dataclass(frozen=True)
class Bad:
    name: str
    committed: bytes       # CommittedBlock bytes at height 2
    words: str             # what distinguishes the refusal, in every path's message
    certificate: bool = False  # only its certificate is wrong (consensus never sees one)


@dataclass(frozen=True)
class World:
    base: Path             # a closed store at height 1 (block 1 carries BYZANTINE's evidence)
    cases: dict[str, Bad]


def _build(store: Store, sigcache: SignatureCache, txs: list[bytes], evidence: list[bytes]) -> bytes:
    height = store.height + 1
    executed, skipped = build_block(
        store, txs, GENESIS, height=height, time_ms=T0 + height * 1000, proposer=KEYS[0].public,
        validators_hash=VALIDATORS.hash(), evidence=evidence, sigcache=sigcache,
    )
    assert not skipped
    return executed.block_bytes


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("paths") / "base"
    sigcache = SignatureCache()
    with Store.open(str(base), GENESIS) as store:
        block1 = _build(store, sigcache, [build_issue(CHAIN_ID, [(BANK.public, 1_000)], [ISSUER], 1)],
                        [double_vote(BYZANTINE, 1)])
        executed, certificate = verify_committed(certified(block1), store, GENESIS, validators=VALIDATORS,
                                                 sigcache=sigcache)
        store.commit(executed, certificate.raw)
        issue = build_issue(CHAIN_ID, [(BANK.public, 500)], [ISSUER], 2)

        def block2(evidence: list[bytes]) -> bytes:
            return _build(store, sigcache, [issue], evidence)

        good = block2([])
        honest_vote = _vote(HONEST, 1, bytes([1]) * 32)
        forged = bytearray(_vote(HONEST, 1, NIL))
        forged[-3] ^= 1  # inside its signature
        other_hash = sha256(b"another block")
        cases = [
            Bad("evidence_naming_an_honest_validator",
                certified(block2([encode_duplicate_vote(honest_vote, honest_vote)])),
                "evidence #0: evidence votes are for the same block: not a double vote"),
            Bad("forged_second_vote_in_evidence",
                certified(block2([encode_duplicate_vote(honest_vote, bytes(forged))])),
                "evidence #0: evidence vote:"),
            Bad("duplicate_evidence_in_one_block",
                certified(block2([double_vote(BYZANTINE, 2), double_vote(BYZANTINE, 2, bytes([2]) * 32)])),
                "evidence #1 against"),
            Bad("evidence_already_committed",
                certified(block2([double_vote(BYZANTINE, 1, bytes([3]) * 32)])),
                "was already committed in block 1"),
            Bad("wrong_state_root",
                certified(reheader(good, lambda h: setattr(h, "state_root", bytes(32)))),
                "state_root 0000000000000000 differs from the state its transactions produce"),
            Bad("wrong_tx_root",
                certified(reheader(good, lambda h: setattr(h, "tx_root", sha256(h.tx_root)))),
                "tx_root does not match the block's transactions"),
            Bad("wrong_next_validators_hash",
                certified(reheader(good, lambda h: setattr(h, "next_validators_hash", bytes(32)))),
                "next_validators_hash is not the hash of the validator set deciding the next height"),
            Bad("certificate_for_another_hash", certified(good, other_hash),
                f"certificate is for block {other_hash.hex()[:16]}", certificate=True),
        ]
    return World(base, {case.name: case for case in cases})


# --- the paths ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Refusal:
    code: str | None       # the machine code, where the path reports one
    text: str


def _copy(world: World, tmp_path: Path, name: str = "store") -> Path:
    path = tmp_path / name
    shutil.copytree(world.base, path)
    return path


def _serve_bad_block(path: Path, committed: bytes) -> None:
    """Make the store at `path` hold `committed` as its block 2 and tip, as a peer (or a
    tampered store) would: bytes as served, nothing executed."""
    _, header = decode_block(ledger_pb2.CommittedBlock.FromString(committed).block)
    block = ledger_pb2.Block.FromString(ledger_pb2.CommittedBlock.FromString(committed).block)
    tip = Tip(2, sha256(block.header), header.state_root, header.time_ms)
    db = plyvel.DB(str(path))
    try:
        db.put(P_BLOCK + (2).to_bytes(8, "big"), committed, sync=True)
        db.put(K_TIP, tip.encode(), sync=True)
    finally:
        db.close()


class _Ledger:
    """A LedgerService on a copy of the base store."""

    def __init__(self, path: Path, executor: ThreadPoolExecutor) -> None:
        self.store = Store.open(str(path), GENESIS)
        self.chain = LedgerService(self.store, GENESIS, Mempool(MempoolLimits()), SignatureCache(), executor)


def consensus_validate(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    block_bytes = ledger_pb2.CommittedBlock.FromString(bad.committed).block
    with ThreadPoolExecutor(2) as executor:
        ledger = _Ledger(_copy(world, tmp_path), executor)
        try:
            before = ledger.store.fingerprint()
            with pytest.raises(LedgerError) as err:
                asyncio.run(ledger.chain.validate(block_bytes, height=2, validators=VALIDATORS))
            assert ledger.store.fingerprint() == before
        finally:
            ledger.store.close()
    return Refusal(err.value.code.value, err.value.message)


def transition_verify_committed(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    with Store.open(str(_copy(world, tmp_path)), GENESIS) as store:
        before = store.fingerprint()
        with pytest.raises(LedgerError) as err:
            verify_committed(bad.committed, store, GENESIS, validators=VALIDATORS, sigcache=SignatureCache())
        assert store.fingerprint() == before
    return Refusal(err.value.code.value, err.value.message)


def _sync_refusal(err: SyncError) -> Refusal:
    assert err.error is not None
    return Refusal(err.error.code.value, str(err))


def block_sync_applier(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    async def apply(chain: LedgerService) -> None:
        applier = BlockApplier(chain, VALIDATORS)
        try:
            applier.add(check_committed(chain, VALIDATORS, bad.committed, 2))
            await applier.apply()
        finally:
            applier.close()

    with ThreadPoolExecutor(2) as executor:
        ledger = _Ledger(_copy(world, tmp_path), executor)
        try:
            before = ledger.store.fingerprint()
            with pytest.raises(SyncError) as err:
                asyncio.run(apply(ledger.chain))
            assert ledger.store.fingerprint() == before
        finally:
            ledger.store.close()
    return _sync_refusal(err.value)


async def _with_sync_server(path: Path, executor: ThreadPoolExecutor, run) -> None:
    served = _Ledger(path, executor)
    server = grpc.aio.server()
    node_pb2_grpc.add_SyncServicer_to_server(SyncServicer(served.chain), server)
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        await run(f"127.0.0.1:{port}")
    finally:
        await server.stop(None)
        served.store.close()


def block_sync_fetch(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    served = _copy(world, tmp_path, "served")
    _serve_bad_block(served, bad.committed)

    async def scenario(executor: ThreadPoolExecutor, ledger: _Ledger) -> None:
        async def fetch_and_apply(address: str) -> None:
            applier = BlockApplier(ledger.chain, VALIDATORS)
            try:
                fetched = await fetch_blocks(ledger.chain, VALIDATORS, address, 2, applier,
                                             max_message_bytes=MAX_MESSAGE)
                assert fetched == 1  # the block arrived: what follows is the applier's verdict
                await applier.apply()
            finally:
                applier.close()

        await _with_sync_server(served, executor, fetch_and_apply)

    with ThreadPoolExecutor(2) as executor:
        ledger = _Ledger(_copy(world, tmp_path), executor)
        try:
            before = ledger.store.fingerprint()
            with pytest.raises(SyncError) as err:
                asyncio.run(scenario(executor, ledger))
            assert ledger.store.fingerprint() == before
        finally:
            ledger.store.close()
    return _sync_refusal(err.value)


def bench_sync(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    served = _copy(world, tmp_path, "served")
    _serve_bad_block(served, bad.committed)
    with Store.open(str(_copy(world, tmp_path)), GENESIS) as store:
        before = store.fingerprint()

        async def scenario() -> None:
            with ThreadPoolExecutor(2) as executor:
                async def catch_up(address: str) -> None:
                    await _catch_up(address, store, GENESIS, 2)

                await _with_sync_server(served, executor, catch_up)

        with pytest.raises(SyncError) as err:
            asyncio.run(scenario())
        assert store.fingerprint() == before
    return _sync_refusal(err.value)


def audit_verify(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    stored = _copy(world, tmp_path, "served")
    _serve_bad_block(stored, bad.committed)
    report = verify_store(stored, GENESIS)
    assert not report.ok and report.failed_height == 2
    assert report.heights == 1  # everything below the bad block verified
    assert report.failure is not None
    return Refusal(None, report.failure)  # an audit report carries sentences, not codes


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def driver_pushed_commit(world: World, bad: Bad, tmp_path: Path) -> Refusal:
    records = _Records()
    logger = logging.getLogger("cbdc.consensus")
    logger.addHandler(records)

    async def scenario(ledger: _Ledger) -> str:
        (tmp_path / "consensus").mkdir()
        driver = ConsensusDriver(
            chain=ledger.chain, validators=VALIDATORS, signing_key=None, data_dir=tmp_path / "consensus",
            config=ConsensusConfig(), broadcast=lambda message: None, announce=lambda height, digest: None,
            heartbeat_s=1000,
        )
        await driver.start()
        try:
            driver.on_commit(bad.committed)
            if bad.certificate:
                # The machine checks the certificate itself and refuses to decide by it.
                await wait_until(lambda: driver.machine.ignored["bad_commit"] > 0, what="the refusal")
                assert driver.machine.decision is None
                return "bad_commit"
            def refused() -> list[str]:
                return [m for m in records.messages if "does not execute" in m]

            await wait_until(lambda: bool(refused()), what="the refusal")
            return refused()[0]
        finally:
            await driver.stop()

    with ThreadPoolExecutor(2) as executor:
        ledger = _Ledger(_copy(world, tmp_path), executor)
        try:
            before = ledger.store.fingerprint()
            text = asyncio.run(scenario(ledger))
            assert ledger.store.height == 1 and ledger.store.fingerprint() == before
        finally:
            ledger.store.close()
            logger.removeHandler(records)
    if bad.certificate:
        return Refusal(None, text)
    return Refusal(Code.INVALID_BLOCK.value if Code.INVALID_BLOCK.value in text else None, text)


PATHS = {
    "consensus": consensus_validate,
    "verify_committed": transition_verify_committed,
    "block_sync": block_sync_applier,
    "block_sync_fetch": block_sync_fetch,
    "bench_sync": bench_sync,
    "audit_verify": audit_verify,
    "driver_pushed_commit": driver_pushed_commit,
}
CASES = [
    "evidence_naming_an_honest_validator",
    "forged_second_vote_in_evidence",
    "duplicate_evidence_in_one_block",
    "evidence_already_committed",
    "wrong_state_root",
    "wrong_tx_root",
    "certificate_for_another_hash",
]
# A proposal carries no certificate (consensus counts the votes itself): that case is for
# the paths that take committed blocks.
PAIRS = [
    (case, path) for case in CASES for path in PATHS
    if not (case == "certificate_for_another_hash" and path == "consensus")
]


@pytest.mark.parametrize(("case", "path"), PAIRS)
def test_every_path_refuses_the_bad_block_alike(world: World, tmp_path: Path, case: str, path: str) -> None:
    bad = world.cases[case]
    refusal = PATHS[path](world, bad, tmp_path)
    if bad.certificate and path == "driver_pushed_commit":
        assert refusal.text == "bad_commit"  # the machine's own certificate check refused it
        return
    if path != "audit_verify":
        assert refusal.code == Code.INVALID_BLOCK.value, refusal
    assert bad.words in refusal.text, refusal
    assert "block 2" in refusal.text, refusal


def test_the_good_block_passes_every_check(world: World, tmp_path: Path) -> None:
    """The table's bad blocks differ from an acceptable one only in what they name."""
    with Store.open(str(_copy(world, tmp_path)), GENESIS) as store:
        good = world.cases["certificate_for_another_hash"].committed
        block_bytes = ledger_pb2.CommittedBlock.FromString(good).block
        executed, certificate = verify_committed(
            certified(block_bytes), store, GENESIS, validators=VALIDATORS, sigcache=SignatureCache()
        )
        store.commit(executed, certificate.raw)
        assert store.height == 2 and set(certificate.signers) == {k.public for k in KEYS}
