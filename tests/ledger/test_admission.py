"""Admission policy in LedgerService.admit (what the public API's submit calls use): every
outcome carries the txid, and a transaction whose input is unknown only because this node
is behind its peers is judged again once the announced block arrives, at most once per
client call."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from node import admission_queue
from node.client.txbuild import build_issue, build_transfer
from node.ledger.errors import Code
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint
from node.ledger_service import Behind, CatchUpBudget, LedgerService, TxStatus
from tests.store.harness import Net, Node
from tests.transport.mesh import wait_until

NET = Net()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(str(tmp_path / "db"), NET)
    yield n
    n.close()


def _setup(node: Node) -> tuple[bytes, bytes]:
    """Block 1 issues to bank 0 (committed); block 2 (proposed, not committed) moves it to a
    new output, which the returned transaction spends. Returns (block 2, that transaction)."""
    bank = NET.banks[0]
    issue = build_issue(NET.chain, [(bank.public, 100)], NET.issuers[:2], 1)
    overlay = node.commit(node.propose([issue]).block_bytes)
    move = build_transfer(NET.chain, bank, [OutPoint(overlay.txids[0], 0)], [(bank.public, 100)], nonce=2)
    block2 = node.propose([move]).block_bytes
    spend = build_transfer(
        NET.chain, bank, [OutPoint(decode_tx(move, NET.genesis).txid, 0)], [(bank.public, 100)], nonce=3
    )
    return block2, spend


def _service(node: Node, executor: ThreadPoolExecutor) -> LedgerService:
    return LedgerService(node.store, NET.genesis, Mempool(MempoolLimits()), SignatureCache(), executor)


def test_an_input_unknown_for_now_is_admitted_once_the_announced_block_arrives(node: Node) -> None:
    block2, spend = _setup(node)
    txid = decode_tx(spend, NET.genesis).txid

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            budget = CatchUpBudget()
            admitting = asyncio.create_task(chain.admit(spend, peers_ahead=lambda: 1, budget=budget))
            await wait_until(lambda: budget.waited, what="the admission waiting for height 2")
            assert not admitting.done()
            await chain.commit(node.validate(block2), b"cert")
            admission = await admitting
            assert (admission.txid, admission.refused) == (txid, None)
            assert txid in chain.mempool

    asyncio.run(scenario())


def test_refusals_carry_the_txid_and_the_wait_is_spent_once_per_call(node: Node) -> None:
    _, spend = _setup(node)
    txid = decode_tx(spend, NET.genesis).txid

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            # No peer ahead: refused at once, with its id.
            admission = await chain.admit(spend, peers_ahead=lambda: 0)
            assert admission.txid == txid and admission.refused is not None
            assert admission.refused.code is Code.UNKNOWN_INPUT
            # A call that already waited once does not wait again; with peers still ahead
            # the refusal is not final: it comes back retryable (Behind), naming the rule.
            spent = CatchUpBudget()
            spent.waited = True
            admission = await asyncio.wait_for(chain.admit(spend, peers_ahead=lambda: 1, budget=spent), 1.0)
            assert admission.txid == txid and isinstance(admission.refused, Behind)
            assert admission.refused.refusal.code is Code.UNKNOWN_INPUT  # type: ignore[union-attr]
            # Undecodable bytes have no id to report.
            admission = await chain.admit(b"\xff junk", peers_ahead=lambda: 1)
            assert admission.txid is None and admission.refused.code is Code.MALFORMED  # type: ignore[union-attr]
            assert len(chain.mempool) == 0

    asyncio.run(scenario())


def test_a_double_spend_loser_is_told_apart_from_a_transaction_never_seen(node: Node) -> None:
    """WaitTransaction's answers: never seen -> UNKNOWN with no reason; the loser of a double
    spend against the mempool -> UNKNOWN with double_spend (its rival may still fail); once the
    rival is committed -> REJECTED double_spend (it can never commit), waiters answered."""
    bank, other = NET.banks[0], NET.banks[1]
    issue = build_issue(NET.chain, [(bank.public, 100)], NET.issuers[:2], 1)
    coin = OutPoint(node.commit(node.propose([issue]).block_bytes).txids[0], 0)
    winner = build_transfer(NET.chain, bank, [coin], [(bank.public, 100)], nonce=2)
    client_loser = build_transfer(NET.chain, bank, [coin], [(other.public, 100)], nonce=3)
    gossiped_loser = build_transfer(NET.chain, bank, [coin], [(other.public, 100)], nonce=4)
    losers = [decode_tx(raw, NET.genesis).txid for raw in (client_loser, gossiped_loser)]

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            never_seen = chain.outcome(b"\x11" * 32)
            assert (never_seen.status, never_seen.code) == (TxStatus.UNKNOWN, "")
            assert (await chain.admit(winner, peers_ahead=lambda: 0)).refused is None
            refused = (await chain.admit(client_loser, peers_ahead=lambda: 0)).refused
            assert refused is not None and refused.code is Code.DOUBLE_SPEND
            assert (await chain.submit_batch([gossiped_loser]))["rejected"] == 1
            for txid in losers:
                dropped = chain.outcome(txid)
                assert (dropped.status, dropped.code) == (TxStatus.UNKNOWN, "double_spend")
                assert dropped.message.startswith("seen and dropped: ")
            waiting = asyncio.create_task(chain.wait(losers[0], timeout=30))
            await wait_until(lambda: losers[0] in chain._waiters, what="the waiter registered")
            await chain.commit(node.validate(node.propose([winner]).block_bytes), b"cert")
            settled = await asyncio.wait_for(waiting, 5)
            assert (settled.status, settled.code) == (TxStatus.REJECTED, "double_spend")
            assert "lost a double spend" in settled.message
            assert chain.outcome(losers[1]).status is TxStatus.REJECTED

    asyncio.run(scenario())


def test_admission_waits_for_block_work_only_while_the_backlog_is_half_full(
    node: Node, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Blocks first (node.admission_queue, LedgerService.block_work): with little pending a
    round goes ahead during block work; once the mempool holds half the clients' backlog
    bound a round queued during block work starts when the block is done, and a block that
    takes long holds admission up only so long (_BLOCKS_FIRST_S)."""
    issuers, bank = NET.issuers[:2], NET.banks[0]
    txs = [build_issue(NET.chain, [(bank.public, 5 + i)], issuers, 901 + i) for i in range(3)]

    async def run() -> None:
        # Block work may hold a round for longer than any wait below, until the last part.
        monkeypatch.setattr(admission_queue, "_BLOCKS_FIRST_S", 60.0)
        with ThreadPoolExecutor(2) as executor:
            # A backlog bound of 4 transactions (the mempool's own, max_backlog_s 0): half
            # full from the second one on.
            mempool = Mempool(MempoolLimits(max_txs=4))
            sigcache = SignatureCache()
            chain = LedgerService(node.store, NET.genesis, mempool, sigcache, executor, max_backlog_s=0)
            with chain.block_work():
                (admission,) = await asyncio.wait_for(chain.admit_batch(txs[:1], peers_ahead=lambda: 0), 5)
                assert admission.refused is None and len(mempool) == 1
            (admission,) = await asyncio.wait_for(chain.admit_batch(txs[1:2], peers_ahead=lambda: 0), 5)
            assert len(mempool) == 2
            with chain.block_work():
                admitting = asyncio.ensure_future(chain.admit_batch(txs[2:], peers_ahead=lambda: 0))
                await wait_until(lambda: chain.admission.queued == 1, what="the batch queued")
                await asyncio.sleep(0.05)  # the loop is free: only the block work holds it
                assert len(mempool) == 2 and not admitting.done()
            (admission,) = await asyncio.wait_for(admitting, 5)
            assert admission.refused is None and len(mempool) == 3
            # Block work that never ends: the round goes ahead after at most _BLOCKS_FIRST_S.
            monkeypatch.setattr(admission_queue, "_BLOCKS_FIRST_S", 0.2)
            last = build_issue(NET.chain, [(bank.public, 9)], issuers, 909)
            with chain.block_work():
                (admission,) = await asyncio.wait_for(chain.admit_batch([last], peers_ahead=lambda: 0), 5)
                assert admission.refused is None and len(mempool) == 4

    asyncio.run(run())
