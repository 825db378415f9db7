"""Hostile peer messages against a real validator: signed by a non-validator, for another
chain, replayed from old heights, or bogus evidence. They are dropped and counted, and
none of them changes the chain.

The devnet has four validators. shenzhen runs in this process (node.service.Node, so the
test can read its consensus machine's `ignored` counters; it also serves Prometheus
metrics), suzhou and xiongan are real processes, and chengdu is not started: the test
holds chengdu's validator key and plays chengdu on the network with node.net.peers.PeerNetwork,
listening on chengdu's peer address (so the honest nodes dial it and the test hears their
votes and proposals, which it later replays) and dialling shenzhen (to inject). Three
honest validators of four are a quorum, so the chain goes on without chengdu's votes.

Idle blocks are off (heartbeat 0): a height is decided only when there is work, so "the
chain did not move" is a property the test can check exactly.
"""

from __future__ import annotations

import asyncio
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import grpc
import grpc.aio
import nacl.signing
import pytest
from prometheus_client.parser import text_string_to_metric_families

from consensus.evidence import encode_duplicate_vote
from consensus.messages import VoteType, decode_proposal, decode_vote, sign_proposal, sign_vote
from consensus.validators import ValidatorSet
from devnet import network
from devnet.network import CHAIN_ID
from devnet.processes import free_ports, spawn, stop
from devnet.traffic import Nonces, issue_to_institutions
from node.client import txbuild
from node.client.connection import NodeClient
from node.config import PeerConfig
from node.ledger.blocks import block_hash, decode_committed_block
from node.ledger.keys import KeyPair
from node.metrics import NodeMetrics
from node.net.grpc_server import PEER_SERVICE, SYNC_SERVICE, GrpcServer, start_server
from node.net.peers import CONNECT_METHOD, PeerNetwork
from node.service import validator_set
from proto import ledger_pb2, node_pb2, node_pb2_grpc
from tests.support.network import Net, assert_same_chain, create_net
from tests.support.waiting import wait_for

from .inproc import InProcessNode, LoopThread

TARGET, HONEST, IMPERSONATED = 0, (1, 2), 3
# A vote that does not decode: the target's consensus drops it as "malformed", which nothing
# honest ever sends. Injected after other messages, its drop shows they were all handled.
MARKER = node_pb2.PeerMessage(vote=b"\x07 marker")


@dataclass
class Inbox:
    """What the honest validators send to "chengdu" (the test)."""

    messages: list[tuple[bytes, node_pb2.PeerMessage]] = field(default_factory=list)

    async def __call__(self, key: bytes, msg: node_pb2.PeerMessage) -> None:
        self.messages.append((key, msg))


class LyingSync(node_pb2_grpc.SyncServicer):
    """chengdu's Sync service as the test plays it: it has no blocks to give, and while
    `stall` is set it keeps a GetBlocks call open (until `release`) instead of saying so."""

    def __init__(self) -> None:
        self.stall = False
        self.release = asyncio.Event()
        self.calls = 0

    async def GetBlocks(self, request, context):
        self.calls += 1
        if self.stall:
            await self.release.wait()
        await context.abort(grpc.StatusCode.NOT_FOUND, "not_found: no blocks here")
        yield node_pb2.CommittedBlockMsg()  # unreachable; makes this a streaming handler

    async def GetTip(self, request, context):
        await context.abort(grpc.StatusCode.NOT_FOUND, "not_found: no tip here")


@dataclass
class World:
    net: Net
    target: InProcessNode
    attacker: LoopThread
    peers: PeerNetwork
    inbox: Inbox
    keys: list[KeyPair]  # validator keys, by node index
    metrics_port: int
    nonce: Nonces
    validators: ValidatorSet
    sync: LyingSync

    @property
    def target_key(self) -> bytes:
        return self.keys[TARGET].public

    def inject(self, *messages: node_pb2.PeerMessage) -> None:
        async def send() -> None:
            for msg in messages:
                assert self.peers.send(self.target_key, msg)

        self.attacker.run(send())

    def settle(self) -> None:
        """Until the target has handled every message injected so far. One stream carries
        them in order and the target's consensus driver takes them in order, so once the
        marker sent last is dropped and counted, everything before it has been counted."""
        before = self.target.ignored().get("malformed", 0)
        self.inject(MARKER)
        wait_for(lambda: self.target.ignored().get("malformed", 0) > before, 20,
                 "the target to handle the injected messages", poll=0.05)

    def assert_idle_at(self, tips: list[tuple[int, bytes, bytes]]) -> None:
        """Nothing moved: every running validator still has these tips, and the target has
        neither started the next height nor kept a message as a sign that it has begun."""
        assert self.target.consensus_position() == (tips[0][0], 0)
        assert self.tips() == tips

    def running(self) -> list:
        return [self.net.nodes[i] for i in (TARGET, *HONEST)]

    def tips(self) -> list[tuple[int, bytes, bytes]]:
        result = []
        for node in self.running():
            with NodeClient(node.api, timeout=10) as client:
                s = client.status()
                result.append((s.height, s.block_hash, s.state_root))
        return result

    def metric(self, name: str, **labels: str) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            text = reply.read().decode()
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                    return sample.value
        return 0.0

    def exposition(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as reply:
            return reply.read().decode()

    def commit_something(self, via: int = HONEST[0]) -> int:
        """A real transaction (a wallet registration) through an honest node; returns the
        height it committed at, once every running validator has that height."""
        institution = self.net.keys.institutions["suzhou"]
        raw = txbuild.build_register(CHAIN_ID, institution, KeyPair.generate().public, 4, nonce=self.nonce())
        with NodeClient(self.net.nodes[via].api, timeout=60) as client:
            outcome = client.submit_and_wait(raw, timeout=60)
        assert outcome.status == node_pb2.TX_STATUS_COMMITTED
        self.net.wait_height(outcome.inclusion.height, self.running())
        return outcome.inclusion.height

    def proposer(self, height: int, round_: int = 0) -> int:
        """Index of the node that proposes (height, round)."""
        chosen = self.validators.proposer(height, round_)
        return next(i for i, k in enumerate(self.keys) if k.public == chosen)


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> Iterator[World]:
    metrics_port = free_ports(1)[0]
    net = create_net(Path(tmp_path_factory.mktemp("peer-devnet")), config=lambda i: {
        "consensus": {"heartbeat_interval_s": 0},
        "metrics": {"address": f"127.0.0.1:{metrics_port}" if i == TARGET else ""},
    })
    directory, record = net.directory, net.record
    keys = [net.validator_key(n) for n in record.nodes]
    attacker = LoopThread("attacker")
    target = None
    peers = server = None
    started = []
    try:
        target = InProcessNode(Path(record.nodes[TARGET].home))
        for i in HONEST:
            spawn(record.nodes[i])
            started.append(record.nodes[i])
        inbox = Inbox()
        me = record.nodes[IMPERSONATED]

        sync = LyingSync()

        async def impersonate() -> tuple[PeerNetwork, GrpcServer]:
            # As a node does it: the Peer and Sync services on one server at chengdu's address.
            peers = PeerNetwork(
                CHAIN_ID, keys[IMPERSONATED].seed, inbox,
                peers=[PeerConfig(record.nodes[i].peer, keys[i].public) for i in (TARGET, *HONEST)],
                metrics=NodeMetrics(), reconnect_min_s=0.05, reconnect_max_s=0.5,
            )
            server = await start_server(
                me.peer, [peers.attach, lambda s: node_pb2_grpc.add_SyncServicer_to_server(sync, s)],
                [PEER_SERVICE, SYNC_SERVICE], max_message_bytes=16 * 1024 * 1024,
            )
            await peers.start()
            return peers, server

        peers, server = attacker.run(impersonate())
        w = World(net, target, attacker, peers, inbox, keys, metrics_port, Nonces(3),
                  validator_set(network.genesis_of(directory)), sync)
        w.net.wait_height(1, w.running(), timeout=60)
        honest_keys = {keys[i].public for i in (TARGET, *HONEST)}
        wait_for(lambda: attacker.call(lambda: w.target_key in peers.connected_peers()), 30,
                 "the impersonated validator's stream to the target")
        wait_for(lambda: attacker.call(lambda: honest_keys <= peers.inbound_peers()), 30,
                 "the honest validators' streams to the impersonated one")
        yield w
    finally:
        stop(started)
        try:
            if peers is not None:  # its server must stop while its loop still runs
                attacker.call(sync.release.set)
                attacker.run(peers.stop())
                attacker.run(server.stop(grace=0.5))
            if target is not None:
                target.stop()
        finally:
            attacker.close()


# --- message builders -----------------------------------------------------------------------------


def junk_block(chain_id: str, height: int, salt: int) -> tuple[bytes, bytes]:
    """(block bytes, block hash) of a block that decodes but nobody honest proposed."""
    header = ledger_pb2.BlockHeader(
        chain_id=chain_id, height=height, time_ms=salt, prev_hash=bytes(32), tx_root=bytes(32),
        state_root=bytes(32), validators_hash=bytes(32), proposer=bytes(32), evidence_root=bytes(32),
    ).SerializeToString()
    return ledger_pb2.Block(header=header).SerializeToString(), block_hash(header)


def proposal_msg(key: nacl.signing.SigningKey, chain_id: str, height: int, round_: int, salt: int):
    block, digest = junk_block(chain_id, height, salt)
    signed = sign_proposal(key, chain_id, height, round_, -1, digest)
    return node_pb2.PeerMessage(proposal=node_pb2.Proposal(proposal=signed, block=block))


def vote_msg(key: nacl.signing.SigningKey, chain_id: str, height: int, round_: int, vtype: VoteType,
             bh: bytes) -> node_pb2.PeerMessage:
    return node_pb2.PeerMessage(vote=sign_vote(key, chain_id, height, round_, vtype, bh))


def signing(k: KeyPair) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(k.seed)


def message_height(msg: node_pb2.PeerMessage) -> int:
    if msg.WhichOneof("kind") == "vote":
        return decode_vote(msg.vote, verify=False).height
    return decode_proposal(msg.proposal.proposal, verify=False).height


# --- the tests ----------------------------------------------------------------------------------------


def test_foreign_and_replayed_consensus_messages_are_dropped_counted_and_change_nothing(world: World) -> None:
    with NodeClient(world.net.nodes[TARGET].api, timeout=60) as client:
        issue_to_institutions(client, world.net.keys, 1_000_000, world.nonce)
    height = world.commit_something(via=HONEST[0])
    before_tips = world.tips()  # every running validator has committed `height` (and idles)
    assert len({t for t in before_tips}) == 1 and before_tips[0][0] == height
    # Real messages the honest validators sent at earlier heights, captured on the wire.
    replays = [m for _, m in world.inbox.messages
               if m.WhichOneof("kind") in ("vote", "proposal") and message_height(m) < height]
    kinds = Counter(m.WhichOneof("kind") for m in replays)
    assert kinds["vote"] >= 6 and kinds["proposal"] >= 1, kinds
    stranger = signing(KeyPair.generate())
    chengdu = signing(world.keys[IMPERSONATED])
    block = b"\x5a" * 32
    not_validator = [vote_msg(stranger, CHAIN_ID, height, r, t, block)
                     for r in range(3) for t in (VoteType.PREVOTE, VoteType.PRECOMMIT)]
    not_validator += [proposal_msg(stranger, CHAIN_ID, height, r, salt=r) for r in range(3)]
    other_chain = [vote_msg(chengdu, "cbdc-other", height, r, VoteType.PREVOTE, block) for r in range(3)]
    other_chain += [vote_msg(stranger, "cbdc-other", height, 0, VoteType.PRECOMMIT, block)]
    other_chain += [proposal_msg(chengdu, "cbdc-other", height, r, salt=10 + r) for r in range(2)]
    ignored_before = Counter(world.target.ignored())
    received_before = world.metric("cbdc_peer_messages_received_total", kind="vote")

    world.inject(*not_validator, *other_chain, *replays)

    expected = {
        "not_validator": len(not_validator), "wrong_chain": len(other_chain), "old_height": len(replays)
    }

    def counted() -> Counter:
        return Counter(world.target.ignored()) - ignored_before

    wait_for(lambda: all(counted()[r] >= n for r, n in expected.items()), 20, f"drops counted: {expected}")
    world.settle()  # all of them handled: none may count twice
    delta = counted()
    assert delta["not_validator"] == expected["not_validator"], dict(delta)
    assert delta["wrong_chain"] == expected["wrong_chain"], dict(delta)
    assert delta["old_height"] >= expected["old_height"], dict(delta)
    # They went through the authenticated transport (the drop is consensus's, not the wire's).
    sent_votes = sum(m.WhichOneof("kind") == "vote" for m in (*not_validator, *other_chain, *replays))
    assert world.metric("cbdc_peer_messages_received_total", kind="vote") - received_before >= sent_votes
    # Nothing moved: same height, block and state root on every running validator, and the
    # target (which has just handled them all) has not started the next height.
    world.assert_idle_at(before_tips)
    # And the chain goes on with the three honest validators; all agree block by block.
    after = world.commit_something(via=HONEST[1])
    assert after == height + 1
    assert assert_same_chain(world.net, world.running()) >= after


def test_handshakes_from_a_non_validator_or_for_another_chain_are_refused_and_counted(world: World) -> None:
    metric = "cbdc_messages_dropped_total"
    before = {r: world.metric(metric, reason=r) for r in ("unknown_peer", "wrong_chain", "bad_handshake")}
    target = world.net.nodes[TARGET]
    target_peer = [PeerConfig(target.peer, world.target_key)]
    tips = world.tips()

    async def dial(chain_id: str, seed: bytes) -> PeerNetwork:
        net = PeerNetwork(chain_id, seed, Inbox(), peers=target_peer, metrics=NodeMetrics(),
                          reconnect_min_s=0.05, reconnect_max_s=0.2)
        await net.start()
        return net

    async def garbage_hello() -> grpc.StatusCode:
        async with grpc.aio.insecure_channel(target.peer) as channel:
            call = channel.stream_stream(CONNECT_METHOD)()
            await call.write(b"\xff\x00garbage")
            await call.done_writing()
            return await call.code()

    outsider = world.attacker.run(dial(CHAIN_ID, KeyPair.generate().seed))
    other_chain = world.attacker.run(dial("cbdc-other", world.keys[IMPERSONATED].seed))
    assert world.attacker.run(garbage_hello()) is grpc.StatusCode.UNAUTHENTICATED
    try:
        def moved() -> bool:
            return all(world.metric(metric, reason=r) > n for r, n in before.items())

        wait_for(moved, 20, "handshake rejections counted")
        assert not world.attacker.call(lambda: outsider.connected_peers() | other_chain.connected_peers())
    finally:
        async def stop_both() -> None:
            await asyncio.gather(outsider.stop(), other_chain.stop())

        world.attacker.run(stop_both())
    assert world.tips() == tips


def test_consensus_drops_are_exported_as_metrics(world: World) -> None:
    stranger = signing(KeyPair.generate())
    height = world.tips()[0][0]
    earlier = world.target.ignored().get("not_validator", 0)
    world.inject(*[vote_msg(stranger, CHAIN_ID, height, 0, VoteType.PREVOTE, bytes([n]) * 32)
                   for n in range(3)])
    wait_for(lambda: world.target.ignored().get("not_validator", 0) >= earlier + 3, 10, "the drops")
    # Drops from earlier tests may still be arriving: the scrape must fall between two reads.
    before = world.target.ignored()["not_validator"]
    text = world.exposition()
    after = world.target.ignored()["not_validator"]
    prefix = 'cbdc_consensus_messages_ignored_total{reason="not_validator"} '
    exported = [float(line[len(prefix):]) for line in text.splitlines() if line.startswith(prefix)]
    assert len(exported) == 1 and before <= exported[0] <= after, (
        before, after, [line for line in text.splitlines() if "ignored" in line]
    )


def test_a_non_validator_vote_for_the_next_height_does_not_start_it(world: World) -> None:
    tips = world.tips()
    world.settle()  # what earlier tests injected is counted: the count below is this vote's
    before = world.target.ignored().get("not_validator", 0)
    stranger = signing(KeyPair.generate())
    world.inject(vote_msg(stranger, CHAIN_ID, tips[0][0] + 1, 0, VoteType.PREVOTE, bytes(32)))
    # It arrived and was dropped: kept, it would have started the height at once.
    wait_for(lambda: world.target.ignored().get("not_validator", 0) > before, 20, "the vote dropped")
    world.assert_idle_at(tips)


def test_junk_proposals_cannot_crowd_out_the_honest_proposal(world: World) -> None:
    # Move on until an honest peer (not the target itself) proposes round 0 of the next height.
    for _ in range(4):
        if world.proposer(world.tips()[0][0] + 1) in HONEST:
            break
        world.commit_something()
    height = world.tips()[0][0] + 1
    assert world.proposer(height) in HONEST
    stranger = signing(KeyPair.generate())
    before = Counter(world.target.ignored())
    world.inject(*[proposal_msg(stranger, CHAIN_ID, height, 0, salt=1000 + n) for n in range(70)])
    wait_for(lambda: sum((Counter(world.target.ignored()) - before).values()) >= 6, 10, "junk handled")
    world.settle()  # all 70 handled
    after_junk = Counter(world.target.ignored()) - before
    assert world.commit_something() == height
    after_commit = Counter(world.target.ignored()) - before
    # The honest proposer's block found room: no proposal was dropped for lack of it since.
    assert after_commit["too_many_blocks"] == after_junk["too_many_blocks"], (
        dict(after_junk), dict(after_commit)
    )


def test_bogus_evidence_from_a_peer_is_never_committed(world: World) -> None:
    stranger = signing(KeyPair.generate())
    chengdu = signing(world.keys[IMPERSONATED])
    tips = world.tips()
    h = tips[0][0]
    a, b = b"\x01" * 32, b"\x02" * 32
    bogus = [
        b"\x0a\x03not evidence",
        # a real double vote, but by a key that is not a validator
        encode_duplicate_vote(sign_vote(stranger, CHAIN_ID, h, 0, VoteType.PREVOTE, a),
                              sign_vote(stranger, CHAIN_ID, h, 0, VoteType.PREVOTE, b)),
        # a validator's double vote on another chain
        encode_duplicate_vote(sign_vote(chengdu, "cbdc-other", h, 0, VoteType.PREVOTE, a),
                              sign_vote(chengdu, "cbdc-other", h, 0, VoteType.PREVOTE, b)),
        # two different votes, but at different rounds: no double vote
        encode_duplicate_vote(sign_vote(chengdu, CHAIN_ID, h, 0, VoteType.PREVOTE, a),
                              sign_vote(chengdu, CHAIN_ID, h, 1, VoteType.PREVOTE, b)),
    ]
    received = world.target.received("evidence")
    world.inject(*[node_pb2.PeerMessage(evidence=e) for e in bogus])
    # All of it reached the target's evidence pool (which keeps only what verifies).
    wait_for(lambda: world.target.received("evidence") >= received + len(bogus), 20, "the evidence")
    # Drive blocks until the target itself has proposed one: evidence it held would be in it.
    proposed_by_target = False
    for _ in range(8):
        height = world.commit_something(via=HONEST[0])
        with NodeClient(world.net.nodes[TARGET].api) as client:
            header = decode_committed_block(client.block(height).committed_block).header
        if header.proposer == world.target_key:
            proposed_by_target = True
            break
    assert proposed_by_target, "the target proposed none of 8 blocks"
    with NodeClient(world.net.nodes[TARGET].api) as client:
        tip = client.status().height
        on_chain = [e for msg in client.blocks(tips[0][0] + 1, tip)
                    for e in decode_committed_block(msg.committed_block).block.evidence]
    assert [e for e in on_chain if e in bogus] == []


def test_a_peer_announcing_a_height_it_cannot_serve_does_not_stall_consensus(world: World) -> None:
    height = world.tips()[0][0]
    world.attacker.call(setattr, world.sync, "stall", True)
    calls = world.attacker.call(lambda: world.sync.calls)
    lie = node_pb2.StatusAnnouncement(height=height + 1000, block_hash=b"\x00" * 32)
    world.inject(node_pb2.PeerMessage(status=lie))
    try:
        wait_for(lambda: world.attacker.call(lambda: world.sync.calls) > calls, 10,
                 "the target asking the liar for blocks")
        institution = world.net.keys.institutions["suzhou"]
        raw = txbuild.build_register(CHAIN_ID, institution, KeyPair.generate().public, 4, nonce=world.nonce())
        with NodeClient(world.net.nodes[HONEST[0]].api, timeout=30) as client:
            txid = client.submit(raw)
            # A few rounds at most (1 s propose timeout) with three honest validators of four.
            outcome = client.wait(txid, timeout=20)
        assert outcome.status == node_pb2.TX_STATUS_COMMITTED, "consensus stalled behind a lying peer"
    finally:
        # Tell the truth again and let the stalled call end, so later tests see a sane network.
        world.inject(node_pb2.PeerMessage(status=node_pb2.StatusAnnouncement(height=0)))
        world.attacker.call(setattr, world.sync, "stall", False)
        world.attacker.call(world.sync.release.set)
        world.net.wait_height(height + 1, world.running(), timeout=60)
