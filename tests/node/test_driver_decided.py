"""The consensus driver, in process: a height decided by a pushed certificate while this
node is still executing the same block from its proposal is committed with the result of
that one execution, not executed a second time (a slow validator is exactly the one that
gets pushed, and executing a big block twice would make it slower still); and the driver
keeps the block bytes only of a proposal the machine accepted."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import nacl.signing

from consensus.commit import encode_commit
from consensus.config import ConsensusConfig
from consensus.messages import VoteType, sign_proposal, sign_vote
from consensus.validators import ValidatorSet
from node.bench.ledger import _key
from node.driver import ConsensusDriver
from node.ledger.blocks import encode_committed
from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger_service import LedgerService
from tests.transport.mesh import wait_until

CHAIN_ID = "cbdc-driver-test"


def _signing(key: KeyPair) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(key.seed)


@dataclass
class _Setup:
    keys: list[KeyPair]
    proposer: KeyPair
    ours: KeyPair
    chain: LedgerService
    store: Store
    driver: ConsensusDriver
    block: bytes
    digest: bytes


@contextlib.asynccontextmanager
async def _running(tmp_path: Path) -> AsyncIterator[_Setup]:
    """A started driver for a validator that does not propose at (1, 0), and the block
    the proposer built for that round."""
    keys = [_key(b"validator", i) for i in range(4)]
    genesis = make_genesis(
        issuers=[_key(b"issuer", 0)], validators=keys, issue_threshold=1, chain_id=CHAIN_ID,
        genesis_time_ms=int(time.time() * 1000) - 1000,
    )
    validators = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
    proposer = next(k for k in keys if k.public == validators.proposer(1, 0))
    ours = next(k for k in keys if k is not proposer)
    store = Store.open(str(tmp_path / "store"), genesis)
    try:
        with ThreadPoolExecutor(2) as executor:
            chain = LedgerService(store, genesis, Mempool(MempoolLimits()), SignatureCache(), executor)
            built = await chain.build(
                height=1, proposer=proposer.public, validators_hash=validators.hash(), evidence=[]
            )
            (tmp_path / "consensus").mkdir()
            driver = ConsensusDriver(
                chain=chain, validators=validators, signing_key=_signing(ours),
                data_dir=tmp_path / "consensus", config=ConsensusConfig(),
                broadcast=lambda message: None, announce=lambda height, digest: None, heartbeat_s=1000,
            )
            await driver.start()
            try:
                yield _Setup(keys, proposer, ours, chain, store, driver, built.block_bytes, built.block_hash)
            finally:
                await driver.stop()
    finally:
        store.close()


async def _scenario(tmp_path: Path) -> tuple[int, int]:
    async with _running(tmp_path) as s:
        executions = 0
        release = asyncio.Event()
        execute = s.chain.validate

        async def slow_validate(*args, **kwargs):
            nonlocal executions
            executions += 1
            await release.wait()  # a busy machine: execution outlasts the push delay
            return await execute(*args, **kwargs)

        s.chain.validate = slow_validate  # type: ignore[method-assign]
        proposal = sign_proposal(_signing(s.proposer), CHAIN_ID, 1, 0, -1, s.digest)
        s.driver.on_proposal(proposal, s.block)
        await wait_until(lambda: executions == 1, what="the proposal's execution")

        precommits = [
            sign_vote(_signing(k), CHAIN_ID, 1, 0, VoteType.PRECOMMIT, s.digest)
            for k in s.keys if k is not s.ours
        ]
        certificate = encode_commit(1, 0, s.digest, precommits)
        s.driver.on_commit(encode_committed(s.block, certificate))
        await wait_until(lambda: s.driver.machine.decision is not None, what="the decision")
        await asyncio.sleep(0.2)  # time for a second execution to start, if one would
        release.set()
        await wait_until(lambda: s.store.height == 1, what="the commit")
        return executions, s.store.height


def test_a_pushed_decision_reuses_the_running_execution_of_its_proposal(tmp_path: Path) -> None:
    executions, height = asyncio.run(_scenario(tmp_path))
    assert height == 1
    assert executions == 1


async def _junk_then_real(tmp_path: Path) -> None:
    async with _running(tmp_path) as s:
        ignored = s.driver.machine.ignored
        outsider = next(k for k in s.keys if k is not s.proposer)
        s.driver.on_proposal(sign_proposal(_signing(outsider), CHAIN_ID, 1, 0, -1, s.digest), s.block)
        s.driver.on_proposal(sign_proposal(_signing(s.proposer), CHAIN_ID, 1, 0, -1, s.digest), b"junk")
        await wait_until(
            lambda: ignored["wrong_proposer"] == 1 and ignored["malformed_block"] == 1,
            what="both refusals counted",
        )
        assert s.driver.held_block(s.digest) is None
        s.driver.on_proposal(sign_proposal(_signing(s.proposer), CHAIN_ID, 1, 0, -1, s.digest), s.block)
        await wait_until(lambda: s.driver.held_block(s.digest) == s.block, what="the real block held")


def test_the_driver_holds_only_blocks_of_proposals_the_machine_accepted(tmp_path: Path) -> None:
    asyncio.run(_junk_then_real(tmp_path))
