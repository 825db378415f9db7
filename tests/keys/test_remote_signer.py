"""The remote signer (`cbdc signer`, node/signer/): its refusals, on a real signer process over
a Unix socket, and a validator of a real devnet signing through it with no key of its own."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from consensus.messages import NIL, VoteType, decode_vote
from consensus.signer import SignState
from node.consensus_disk import SignStateFile
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.keys import ENV_PASSPHRASE, KeyPair, save_key
from node.net.peers.handshake import handshake_message
from node.signer.client import RemoteSigner, SignerUnavailable
from node.signer.server import SignerService
from tests.support.network import create_net, reconfigure, stop_net
from tests.support.waiting import wait_for

CHAIN = "cbdc-test"
A = bytes(range(32))


def _spawn_signer(key_file: Path, state: Path, sock: Path, chain_id: str, log: Path,
                  env: dict[str, str] | None = None) -> subprocess.Popen:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "cli", "signer", "--key", str(key_file), "--state", str(state),
             "--socket", str(sock), "--chain-id", chain_id],
            stdout=out, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})},
        )


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture
def signer_process(tmp_path: Path) -> Iterator[tuple[KeyPair, Path, Path]]:
    key = KeyPair.generate()
    save_key(tmp_path / "validator.key", key, passphrase=b"pw")
    sock, state = tmp_path / "signer.sock", tmp_path / "signer_state.bin"
    proc = _spawn_signer(tmp_path / "validator.key", state, sock, CHAIN, tmp_path / "signer.log",
                         env={ENV_PASSPHRASE: "pw"})
    try:
        wait_for(lambda: sock.exists(), 30, "the signer's socket")
        yield key, sock, state
    finally:
        _stop(proc)


def test_a_signer_process_signs_persists_and_refuses_regressions(signer_process) -> None:
    key, sock, state = signer_process
    assert os.stat(sock).st_mode & 0o077 == 0  # only this user may connect
    remote = RemoteSigner(sock, timeout_s=5)
    try:
        assert remote.public_key == key.public and remote.chain_id == CHAIN
        assert remote.loaded_state is None  # never signed
        first = remote.sign_vote(CHAIN, 5, 0, VoteType.PREVOTE, A)
        assert first.message is not None and not first.repeat
        vote = decode_vote(first.message)  # verifies the signature
        assert (vote.validator, vote.height, vote.block_hash) == (key.public, 5, A)
        # Fsynced before it answered: the file already says height 5.
        assert SignStateFile(state).load().position() == (5, 0, VoteType.PREVOTE.step)
        # Same step, other block: the one signed before comes back.
        other = remote.sign_vote(CHAIN, 5, 0, VoteType.PREVOTE, NIL)
        assert other.message == first.message and other.conflict
        # A regression is refused: nothing signed.
        assert remote.sign_vote(CHAIN, 4, 3, VoteType.PRECOMMIT, A).message is None
        assert remote.sign_proposal(CHAIN, 4, 0, -1, A).message is None
        # Another chain is refused as well (the client reports it as no signature).
        assert remote.sign_vote("other-chain", 6, 0, VoteType.PREVOTE, A).message is None
        assert remote.failures == 1
        # Withholding (the double-sign guard) asks the signer nothing.
        remote.withholding = True
        assert remote.sign_vote(CHAIN, 7, 0, VoteType.PREVOTE, A).message is None
        remote.withholding = False
        # Handshake proofs: only for its own key, under the handshake domain.
        peer = bytes(32)
        message = handshake_message(CHAIN, b"\x01" * 32, key.public, peer)
        signature = remote.handshake_key().sign(message).signature
        nacl.signing.VerifyKey(key.public).verify(message, signature)
        with pytest.raises(SignerUnavailable, match="anything but a handshake"):
            remote.sign_handshake(b"\x00" * 32)  # e.g. a vote digest
    finally:
        remote.close()
    # A new connection (the node restarted) learns the sign-state: the machine resumes from it.
    again = RemoteSigner(sock, timeout_s=5)
    try:
        assert again.loaded_state is not None and again.loaded_state.height == 5
    finally:
        again.close()


def test_the_signer_refuses_a_regression_after_its_own_restart(tmp_path: Path) -> None:
    key = nacl.signing.SigningKey.generate()
    state = SignStateFile(tmp_path / "s.bin")
    service = SignerService(key, CHAIN, state)
    locks = [-1, "", -1, ""]
    ok = service.handle({"op": "sign_vote", "chain_id": CHAIN, "height": 9, "round": 1,
                         "vote_type": 2, "block_hash": A.hex(), "locks": locks})
    assert ok["message"]
    restarted = SignerService(key, CHAIN, state)
    refused = restarted.handle({"op": "sign_vote", "chain_id": CHAIN, "height": 9, "round": 0,
                                "vote_type": 2, "block_hash": A.hex(), "locks": locks})
    assert refused["message"] is None and restarted.refused == 1
    assert SignState.decode(bytes.fromhex(refused["state"])).height == 9
    for bad in ({"op": "sign_vote"}, {"op": "nope"}, {"op": "sign_vote", "chain_id": CHAIN, "height": -1}):
        assert "error" in restarted.handle(bad)


def test_a_validator_signs_through_a_remote_signer_without_a_key_file(tmp_path: Path) -> None:
    net = create_net(tmp_path / "net")
    node = net.nodes[0]
    home = Path(node.home)
    key = net.validator_key(node)
    signer_home = tmp_path / "signer"
    signer_home.mkdir()
    (home / "validator.key").rename(signer_home / "validator.key")  # the key leaves the node
    sock = signer_home / "signer.sock"
    reconfigure(home, {"signer": {"socket": str(sock)}})
    proc = _spawn_signer(signer_home / "validator.key", signer_home / "state.bin", sock,
                         net.genesis().chain_id, signer_home / "signer.log")
    try:
        wait_for(lambda: sock.exists(), 30, "the signer's socket")
        net.start()
        assert not (home / "validator.key").exists()
        with net.client(1, timeout=30) as client:
            def signed_by_remote() -> int | None:
                top = client.status().height
                for msg in client.blocks(1, top):
                    committed = decode_committed_block(msg.committed_block)
                    if key.public in Certificate.decode(committed.certificate).signers:
                        return committed.height
                return None

            wait_for(signed_by_remote, 60, "a certificate with the remote-signed precommit")
        assert SignStateFile(signer_home / "state.bin").load().height >= 1
        # Its peers accepted it: the handshake proof came from the signer too.
        with net.client(0) as client:
            assert client.status().validator_key == key.public
    finally:
        stop_net(net)
        _stop(proc)
