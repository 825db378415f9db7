"""Read-your-writes: a node one block behind its client never answers with a permanent-looking
refusal. With the height the client has seen (seen_height), it waits for it (bounded);
without it, a state-dependent refusal while peers are ahead comes back retryable (behind)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import grpc
import pytest

import node.ledger_service as ledger_service
from cli.connect import ENV_SEEN_HEIGHT
from node.client.connection import NodeClient, Rejected
from node.client.txbuild import build_issue, build_register, build_transfer
from node.ledger.errors import Code
from node.ledger.keys import KeyPair
from node.ledger.mempool import Mempool, MempoolLimits
from node.ledger.sigcache import SignatureCache
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint
from node.ledger_service import Behind, LedgerService
from proto import node_pb2, node_pb2_grpc
from tests.cli.helpers import assert_error, ok, run
from tests.store.harness import Net, Node
from tests.support.network import start_net, stop_net
from tests.transport.mesh import wait_until

NET = Net()


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    n = Node(str(tmp_path / "db"), NET)
    yield n
    n.close()


def _setup(node: Node) -> tuple[bytes, bytes]:
    """Block 1 (committed) funds bank 0; block 2 (proposed, not yet here) registers a new
    wallet. Returns (block 2, a payment from bank 0 to that wallet)."""
    bank, wallet = NET.banks[0], NET.wallets[0]
    issue = build_issue(NET.chain, [(bank.public, 100)], NET.issuers[:2], 1)
    overlay = node.commit(node.propose([issue]).block_bytes)
    tier = sorted(NET.genesis.tiers)[-1]
    register = build_register(NET.chain, bank, wallet.public, tier, nonce=2)
    block2 = node.propose([register]).block_bytes
    pay = build_transfer(NET.chain, bank, [OutPoint(overlay.txids[0], 0)], [(wallet.public, 100)], nonce=3)
    return block2, pay


def _service(node: Node, executor: ThreadPoolExecutor) -> LedgerService:
    return LedgerService(node.store, NET.genesis, Mempool(MempoolLimits()), SignatureCache(), executor)


def test_with_the_height_seen_the_node_waits_for_it_then_judges(node: Node) -> None:
    block2, pay = _setup(node)
    txid = decode_tx(pay, NET.genesis).txid

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            # No peer announced height 2 yet: only the client's seen_height says it exists.
            admitting = asyncio.create_task(chain.admit(pay, peers_ahead=lambda: 0, seen_height=2))
            await asyncio.sleep(0)
            await wait_until(lambda: bool(chain._new_block._waiters), what="the admission waiting")
            assert not admitting.done()
            await chain.commit(node.validate(block2), b"cert")
            admission = await admitting
            assert (admission.txid, admission.refused) == (txid, None)

    asyncio.run(scenario())


def test_a_height_never_reached_is_behind_not_a_refusal(node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    _, pay = _setup(node)
    monkeypatch.setattr(ledger_service, "READ_YOUR_WRITES_WAIT_S", 0.2)

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            admission = await asyncio.wait_for(chain.admit(pay, peers_ahead=lambda: 0, seen_height=9), 5)
            assert isinstance(admission.refused, Behind) and admission.refused.refusal is None
            assert "has not reached height 9" in admission.refused.message
            assert len(chain.mempool) == 0

    asyncio.run(scenario())


def test_without_it_an_unregistered_recipient_while_peers_are_ahead_is_retryable(node: Node) -> None:
    block2, pay = _setup(node)
    txid = decode_tx(pay, NET.genesis).txid

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            # Peers announce height 2, which never arrives within the catch-up wait.
            admission = await asyncio.wait_for(chain.admit(pay, peers_ahead=lambda: 1), 10)
            assert admission.txid == txid and isinstance(admission.refused, Behind)
            assert admission.refused.refusal.code is Code.UNREGISTERED_RECIPIENT  # type: ignore[union-attr]
            assert "peers are at height 2" in admission.refused.message
            # No peer ahead: the same refusal is final.
            admission = await chain.admit(pay, peers_ahead=lambda: 0)
            assert admission.refused.code is Code.UNREGISTERED_RECIPIENT  # type: ignore[union-attr]
            # The block arrives while a call waits for what peers announced: admitted.
            admitting = asyncio.create_task(chain.admit(pay, peers_ahead=lambda: 1))
            await wait_until(lambda: bool(chain._new_block._waiters), what="the admission waiting")
            await chain.commit(node.validate(block2), b"cert")
            assert (await admitting).refused is None

    asyncio.run(scenario())


def test_with_the_height_seen_reached_a_state_refusal_is_final(node: Node) -> None:
    _, pay = _setup(node)

    async def scenario() -> None:
        with ThreadPoolExecutor(2) as executor:
            chain = _service(node, executor)
            # The client saw height 1 (here): the recipient is unknown at what it saw.
            admission = await asyncio.wait_for(chain.admit(pay, peers_ahead=lambda: 1, seen_height=1), 1)
            assert admission.refused.code is Code.UNREGISTERED_RECIPIENT  # type: ignore[union-attr]

    asyncio.run(scenario())


def test_behind_is_unavailable_on_the_wire_and_the_client_carries_its_height(tmp_path: Path) -> None:
    net = start_net(tmp_path, validators=1)
    try:
        api = net.nodes[0].api
        devnet = {"CBDC_DEVNET_DIR": str(net.directory)}  # how the CLI reaches --node (plaintext)
        stranger = KeyPair.generate()
        with grpc.insecure_channel(api) as channel:
            stub = node_pb2_grpc.NodeStub(channel)
            tip = stub.GetStatus(node_pb2.GetStatusRequest()).height
            with pytest.raises(grpc.RpcError) as caught:
                stub.GetBalance(
                    node_pb2.GetBalanceRequest(address=stranger.public, seen_height=tip + 10_000), timeout=30
                )
            assert caught.value.code() is grpc.StatusCode.UNAVAILABLE
            assert caught.value.details().startswith("behind: ")
            reply = stub.GetBalance(node_pb2.GetBalanceRequest(address=stranger.public, seen_height=tip))
            assert reply.height >= tip
        # NodeClient remembers the height it saw and sends it: a retryable Rejected("behind").
        with NodeClient(api, timeout=30) as client:
            assert client.balance(stranger.public).height == client.seen_height > 0
            client.seen_height += 10_000
            with pytest.raises(Rejected) as rejected:
                client.utxos(stranger.public)
            assert rejected.value.code == "behind"
        # The CLI takes the height a previous command reported from $CBDC_SEEN_HEIGHT.
        address = stranger.address
        seen = str(tip)
        ok("balance", address, "--node", api, "--json", env={ENV_SEEN_HEIGHT: seen, **devnet})  # exit 0
        far = str(tip + 10_000)
        behind = run("balance", address, "--node", api, env={ENV_SEEN_HEIGHT: far, **devnet})
        assert_error(behind, 1, "behind: ")
        bad = run("balance", address, "--node", api, env={ENV_SEEN_HEIGHT: "soon", **devnet})
        assert_error(bad, 2, "CBDC_SEEN_HEIGHT")
    finally:
        stop_net(net)


def test_a_wallet_registered_on_one_node_is_paid_through_another_at_once(tmp_path: Path) -> None:
    """The issue's measurement: register a wallet through node X, and as soon as X reports it
    committed, pay it through node Y. With the height X reported, Y never refuses; without
    it, Y never answers unregistered_recipient while it is merely behind (behind instead)."""
    net = start_net(tmp_path)
    try:
        chain_id = net.genesis().chain_id
        bank = next(iter(net.keys.institutions.values()))
        issuers = net.keys.issuers[:2]
        x, y = net.nodes[0].api, net.nodes[3].api
        with NodeClient(x, timeout=30) as on_x:
            funded = on_x.submit_and_wait(build_issue(chain_id, [(bank.public, 16 * 100)], issuers, nonce=7))
        coin = OutPoint(funded.txid, 0)
        refusals: list[str] = []
        tier = sorted(net.genesis().tiers)[0]
        for i in range(8):
            wallet = KeyPair.generate()
            with NodeClient(x, timeout=30) as on_x:
                on_x.submit_and_wait(build_register(chain_id, bank, wallet.public, tier, nonce=100 + i))
                seen = on_x.seen_height
            remaining = 16 * 100 - 100 * (i + 1)
            outputs = [(wallet.public, 100)] + ([(bank.public, remaining)] if remaining else [])
            pay = build_transfer(chain_id, bank, [coin], outputs, nonce=200 + i)
            with NodeClient(y, timeout=30, seen_height=seen) as on_y:
                try:
                    outcome = on_y.submit_and_wait(pay)
                except Rejected as err:
                    refusals.append(f"{err.code}: {err.message}")
                    continue
            coin = OutPoint(outcome.txid, 1)
        assert refusals == []
        # Without the height: a fresh registration paid at once through Y is either admitted
        # or refused as retryable "behind", never as a permanent-looking refusal.
        wallet = KeyPair.generate()
        with NodeClient(x, timeout=30) as on_x:
            on_x.submit_and_wait(build_register(chain_id, bank, wallet.public, tier, nonce=300))
        pay = build_transfer(chain_id, bank, [coin], [(wallet.public, 100), (bank.public, 700)], nonce=301)
        with NodeClient(y, timeout=30) as on_y:
            try:
                on_y.submit_and_wait(pay)
            except Rejected as err:
                assert err.code == "behind", err
    finally:
        stop_net(net)
