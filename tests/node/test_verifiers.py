"""Signature checks in verifier processes (node.verifier_process, node.verifiers): the same
verdicts as the node's own check, on real processes; a process that dies costs its round a
fallback, never a wrong verdict; the processes end with the node."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nacl.signing
import psutil
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import node.verifiers as verifiers_module
from consensus.crypto import verify
from node import verifier_process as wire
from node.admission_queue import AdmissionQueue
from node.bench.ledger import build_workload
from node.ledger.errors import LedgerError
from node.ledger.sigcache import SignatureCache
from node.ledger.txcodec import DecodedTx, decode_tx, verify_signatures
from node.verifiers import Verifiers, VerifiersDown
from proto import ledger_pb2
from tests.support.waiting import wait_for

Item = tuple[bytes, list[bytes], list[bytes]]  # digest, keys, signatures
KEYS = [nacl.signing.SigningKey(bytes([n]) * 32) for n in range(3)]


# --- the wire: the worker's answer is consensus.crypto.verify's, first failure named ------


@st.composite
def _transactions(draw: st.DrawFn) -> Item:
    digest = draw(st.binary(min_size=32, max_size=32))
    signers = draw(st.lists(st.sampled_from(range(len(KEYS))), min_size=1, max_size=3))
    keys, signatures = [], []
    for n in signers:
        key = bytes(KEYS[n].verify_key)
        signature = bytearray(KEYS[n].sign(digest).signature)
        damage = draw(st.sampled_from(["none", "none", "signature", "key", "other key"]))
        if damage == "signature":
            signature[draw(st.integers(0, 63))] ^= 1 << draw(st.integers(0, 7))
        elif damage == "key":
            key = bytes(draw(st.binary(min_size=32, max_size=32)))  # often not even a point
        elif damage == "other key":
            key = bytes(KEYS[(n + 1) % len(KEYS)].verify_key)
        keys.append(key)
        signatures.append(bytes(signature))
    return digest, keys, signatures


def _expected(digest: bytes, keys: list[bytes], signatures: list[bytes]) -> int:
    for i, (key, signature) in enumerate(zip(keys, signatures, strict=True)):
        if not verify(key, digest, signature):
            return i
    return wire.ALL_VALID


@settings(max_examples=150, deadline=None)
@given(st.lists(_transactions(), min_size=0, max_size=12))
def test_the_workers_verdict_is_the_nodes_own_check(items: list[Item]) -> None:
    request = wire.encode_request(items)
    length, count = int.from_bytes(request[:4], "little"), int.from_bytes(request[4:8], "little")
    assert count == len(items) and length == len(request) - 4
    reply = wire.answer(request[8:], count)
    assert int.from_bytes(reply[:4], "little") == count
    assert list(reply[4:]) == [_expected(*item) for item in items]


def test_the_worker_program_answers_over_its_socket_and_exits_when_the_node_closes_it() -> None:
    ours, theirs = socket.socketpair()
    program = subprocess.Popen(
        [sys.executable, "-P", wire.__file__, str(theirs.fileno())], pass_fds=(theirs.fileno(),)
    )
    theirs.close()
    digest = b"\x07" * 32
    good = KEYS[0].sign(digest).signature
    items = [
        (digest, [bytes(KEYS[0].verify_key)], [good]),
        (digest, [bytes(KEYS[0].verify_key), bytes(KEYS[1].verify_key)], [good, good]),
    ]
    ours.sendall(wire.encode_request(items))
    reply = b""
    while len(reply) < 6:
        reply += ours.recv(64)
    assert reply == (2).to_bytes(4, "little") + bytes([wire.ALL_VALID, 1])
    ours.close()
    assert program.wait(timeout=10) == 0


# --- the processes, driven from the event loop ---------------------------------------------


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, list[DecodedTx]]:
    """40 real transfers and the chain they are signed for."""
    work = build_workload(str(tmp_path_factory.mktemp("work")), 40, 40, 40)
    raws = [raw for block in work.blocks for raw in ledger_pb2.Block.FromString(block).txs]
    return work.genesis.chain_id, [decode_tx(raw, work.genesis) for raw in raws]


def _forged(tx: DecodedTx) -> DecodedTx:
    signature = bytearray(tx.signatures[0])
    signature[5] ^= 0x10
    return tx._replace(signatures=(bytes(signature), *tx.signatures[1:]), sig_key=os.urandom(32))


def _own_check(txs: list[DecodedTx], chain_id: str) -> list[str | None]:
    found: list[str | None] = []
    for tx in txs:
        try:
            verify_signatures(tx, chain_id)
            found.append(None)
        except LedgerError as err:
            found.append(str(err))
    return found


def _messages(errors: list[LedgerError | None]) -> list[str | None]:
    return [None if err is None else str(err) for err in errors]


def test_two_processes_give_the_nodes_own_verdicts_and_messages(decoded: tuple[str, list[DecodedTx]]) -> None:
    chain_id, txs = decoded
    batch = list(txs)
    for i in (3, 21, 39):  # one in each half the round is split into, and the last
        batch[i] = _forged(batch[i])

    async def run() -> tuple[list[LedgerError | None], list[LedgerError | None], list[int]]:
        pool = Verifiers(2)
        pool.start()
        try:
            whole = await pool.verify(batch, chain_id)
            one = await pool.verify(batch[3:4], chain_id)
            return whole, one, pool.pids()
        finally:
            await pool.close()

    whole, one, pids = asyncio.run(run())
    assert len(pids) == 2
    assert _messages(whole) == _own_check(batch, chain_id)
    assert [i for i, err in enumerate(whole) if err is not None] == [3, 21, 39]
    assert _messages(one) == _own_check(batch[3:4], chain_id)
    assert "signature 0" in str(whole[3]) and "does not verify" in str(whole[3])
    for pid in pids:  # closed with the pool
        assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_a_killed_process_fails_its_round_and_is_started_again(
    decoded: tuple[str, list[DecodedTx]], monkeypatch: pytest.MonkeyPatch
) -> None:
    chain_id, txs = decoded
    monkeypatch.setattr(verifiers_module, "_RESPAWN_S", 0.0)

    async def run() -> None:
        pool = Verifiers(1)
        pool.start()
        try:
            (pid,) = pool.pids()
            os.kill(pid, signal.SIGKILL)
            psutil.Process(pid).wait(timeout=10)
            with pytest.raises(VerifiersDown):
                # Asked before the loop saw the socket close: the answer never comes.
                await pool.verify(txs[:2], chain_id)
            assert pool.pids() == []
            again = await pool.verify(txs, chain_id)  # started afresh
            assert again == [None] * len(txs)
            assert pool.restarts == 1 and pool.pids() and pool.pids() != [pid]
        finally:
            await pool.close()

    asyncio.run(run())


def test_admission_uses_the_processes_and_falls_back_when_they_are_gone(
    decoded: tuple[str, list[DecodedTx]],
) -> None:
    chain_id, txs = decoded
    batch = [*txs[:10], _forged(txs[10]), *txs[11:20]]

    async def run() -> None:
        admitted: list[DecodedTx] = []
        sigcache = SignatureCache()
        pool = Verifiers(1)
        pool.start()
        with ThreadPoolExecutor(2) as executor:
            admit = lambda tx, gossip: admitted.append(tx)  # noqa: E731
            queue = AdmissionQueue(executor, sigcache, chain_id, admit, 1000, pool)
            try:
                verdicts = await queue.admit(batch, gossip=False)
                refused = [i for i, v in enumerate(verdicts) if v.refused is not None]
                assert refused == [10] and verdicts[10].at_signature
                assert str(verdicts[10].refused) == _own_check([batch[10]], chain_id)[0]
                assert admitted == [tx for i, tx in enumerate(batch) if i != 10]
                # Successes went into the signature cache (a block carrying them skips the check).
                assert all(sigcache.contains(tx, chain_id) for tx in admitted)
                assert not sigcache.contains(batch[10], chain_id)
            finally:
                await pool.close()
            # No process left: the same round is verified on threads, with the same verdicts.
            admitted.clear()
            later = [*txs[20:30], _forged(txs[30])]
            verdicts = await queue.admit(later, gossip=True)
            assert [v.refused is not None for v in verdicts] == [False] * 10 + [True]
            assert admitted == txs[20:30]

    asyncio.run(run())


def test_a_node_runs_its_verifier_process_and_takes_it_along_when_killed(tmp_path: Path) -> None:
    from tests.support.network import start_net, stop_net

    net = start_net(tmp_path, validators=1)
    try:
        process = psutil.Process(net.nodes[0].pid)
        children = process.children()
        workers = [c for c in children if wire.__file__ in " ".join(c.cmdline())]
        assert len(workers) == 1, [c.cmdline() for c in children]
        process.kill()
        process.wait(timeout=10)
        wait_for(lambda: not workers[0].is_running() or workers[0].status() == psutil.STATUS_ZOMBIE,
                 10, "the verifier process to exit with its node")
    finally:
        stop_net(net)
