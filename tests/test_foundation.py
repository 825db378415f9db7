"""The project's foundation: wire-format invariants and the shared crypto helpers."""

from __future__ import annotations

import nacl.signing

from node.ledger import crypto
from node.ledger.types import OutPoint, Output, Supply, Wallet
from proto import ledger_pb2


def test_signature_covers_chain_and_body_exactly() -> None:
    sk = nacl.signing.SigningKey.generate()
    seed, pub = bytes(sk), bytes(sk.verify_key)
    body = ledger_pb2.TxBody(chain_id="test", nonce=7).SerializeToString()
    sig = crypto.sign(seed, crypto.tx_sign_digest("test", body))
    assert crypto.verify(pub, crypto.tx_sign_digest("test", body), sig)
    assert not crypto.verify(pub, crypto.tx_sign_digest("other", body), sig)
    assert not crypto.verify(pub, crypto.tx_sign_digest("test", body + b"\x00"), sig)
    assert not crypto.verify(pub[:31], crypto.tx_sign_digest("test", body), sig)
    assert not crypto.verify(pub, crypto.tx_sign_digest("test", body), sig[:63])


def test_state_encodings_round_trip() -> None:
    op = OutPoint(bytes(range(32)), 70000)
    assert OutPoint.from_key(op.key()) == op
    out = Output(b"\x01" * 32, 2**64 - 1)
    assert Output.decode(out.encode()) == out
    w = Wallet(b"\x02" * 32, 4, b"\x03" * 32, b"\x04" * 32, 20000, 12345, 2026, 99999)
    assert Wallet.decode(w.encode()) == w
    w2 = Wallet(b"\x02" * 32, 1, b"\x03" * 32)
    assert Wallet.decode(w2.encode()) == w2
    s = Supply(2**70, 5)
    assert Supply.decode(s.encode()) == s
