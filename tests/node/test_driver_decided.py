"""The consensus driver, in process: a height decided by a pushed certificate while this
node is still executing the same block from its proposal is committed with the result of
that one execution, not executed a second time (a slow validator is exactly the one that
gets pushed, and executing a big block twice would make it slower still)."""

from __future__ import annotations

import asyncio
import time
from concurrent.futures import ThreadPoolExecutor
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


async def _scenario(tmp_path: Path) -> tuple[int, int]:
    keys = [_key(b"validator", i) for i in range(4)]
    genesis = make_genesis(
        issuers=[_key(b"issuer", 0)], validators=keys, issue_threshold=1, chain_id=CHAIN_ID,
        genesis_time_ms=int(time.time() * 1000) - 1000,
    )
    validators = ValidatorSet([(v.public_key, v.power) for v in genesis.validators])
    proposer = next(k for k in keys if k.public == validators.proposer(1, 0))
    ours = next(k for k in keys if k is not proposer)
    store = Store.open(str(tmp_path / "store"), genesis)
    with ThreadPoolExecutor(2) as executor:
        chain = LedgerService(store, genesis, Mempool(MempoolLimits()), SignatureCache(), executor)
        built = await chain.build(
            height=1, proposer=proposer.public, validators_hash=validators.hash(), evidence=[]
        )
        executions = 0
        release = asyncio.Event()
        execute = chain.validate

        async def slow_validate(*args, **kwargs):
            nonlocal executions
            executions += 1
            await release.wait()  # a busy machine: execution outlasts the push delay
            return await execute(*args, **kwargs)

        chain.validate = slow_validate  # type: ignore[method-assign]
        (tmp_path / "consensus").mkdir()
        driver = ConsensusDriver(
            chain=chain, validators=validators, signing_key=_signing(ours),
            data_dir=tmp_path / "consensus", config=ConsensusConfig(),
            broadcast=lambda message: None, announce=lambda height, digest: None, heartbeat_s=1000,
        )
        await driver.start()
        try:
            proposal = sign_proposal(_signing(proposer), CHAIN_ID, 1, 0, -1, built.block_hash)
            driver.on_proposal(proposal, built.block_bytes)
            await wait_until(lambda: executions == 1, what="the proposal's execution")

            precommits = [
                sign_vote(_signing(k), CHAIN_ID, 1, 0, VoteType.PRECOMMIT, built.block_hash)
                for k in keys if k is not ours
            ]
            certificate = encode_commit(1, 0, built.block_hash, precommits)
            driver.on_commit(encode_committed(built.block_bytes, certificate))
            await wait_until(lambda: driver.machine.decision is not None, what="the decision")
            await asyncio.sleep(0.2)  # time for a second execution to start, if one would
            release.set()
            await wait_until(lambda: store.height == 1, what="the commit")
        finally:
            await driver.stop()
            height = store.height
            store.close()
    return executions, height


def test_a_pushed_decision_reuses_the_running_execution_of_its_proposal(tmp_path: Path) -> None:
    executions, height = asyncio.run(_scenario(tmp_path))
    assert height == 1
    assert executions == 1
