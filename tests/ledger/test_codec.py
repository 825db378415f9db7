"""The decoder: round trips, untrusted bytes, and m-of-n issuance gathered one signer at a time."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from node.client.txbuild import (
    add_signature,
    build_issue,
    build_transfer,
    encode_tx,
    issue_body,
    issue_unsigned,
    missing_signers,
    redeem_body,
    register_body,
    sign_tx_partially,
    transfer_body,
)
from node.ledger.errors import Code, LedgerError
from node.ledger.txcodec import decode_tx, verify_signatures
from node.ledger.types import OutPoint, Output
from proto import ledger_pb2

from .world import World

W = World()  # read only here: genesis and keys
G = W.genesis

keys32 = st.binary(min_size=32, max_size=32)
amounts = st.integers(1, 2**40)
outpoints = st.builds(OutPoint, keys32, st.integers(0, 2**32 - 1))
outputs = st.lists(st.builds(Output, keys32, amounts), min_size=1, max_size=8)
nonces = st.integers(0, 2**64 - 1)
signatures = st.binary(min_size=64, max_size=64)


def _classify(raw: bytes) -> bool:
    """True when `raw` parses as a Transaction whose body parses as a TxBody with a kind."""
    try:
        body = ledger_pb2.Transaction.FromString(raw).body
        return ledger_pb2.TxBody.FromString(body).WhichOneof("kind") is not None
    except Exception:
        return False


@settings(max_examples=300)
@given(st.binary(max_size=400))
def test_random_bytes_raise_only_ledger_errors(raw: bytes) -> None:
    with pytest.raises(LedgerError) as e:
        decode_tx(raw, G)
    # Bytes that are not even a transaction with a kind can only be malformed; bytes that
    # happen to parse may be rejected for what they say (wrong chain, zero amount, ...).
    if not _classify(raw):
        assert e.value.code == Code.MALFORMED


@given(st.data())
def test_mutated_transactions_raise_only_ledger_errors(data: st.DataObject) -> None:
    raw = build_transfer(G.chain_id, W.wallets[0], [OutPoint(b"\x01" * 32, 0)],
                         [(W.wallets[1].public, 5), (W.wallets[0].public, 7)], nonce=9)
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, 4))):
        op = data.draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)))
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "cut":
            del buf[pos:]
        else:
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=4))
    try:
        tx = decode_tx(bytes(buf), G)
    except LedgerError:
        return
    original = decode_tx(raw, G)
    if (tx.body, tx.signatures) == (original.body, original.signatures):
        verify_signatures(tx, G.chain_id)   # mutations cancelled out or hit only unknown fields
        return
    with pytest.raises(LedgerError) as e:   # anything else that decodes breaks the signature
        verify_signatures(tx, G.chain_id)
    assert e.value.code == Code.BAD_SIGNATURE


def test_wrong_input_type_is_malformed() -> None:
    with pytest.raises(LedgerError) as e:
        decode_tx("not bytes", G)  # type: ignore[arg-type]
    assert e.value.code == Code.MALFORMED
    tx = decode_tx(bytearray(build_issue(G.chain_id, [(W.banks[0].public, 1)], W.issuers[:2])), G)
    assert isinstance(tx.raw, bytes)


def _check_common(raw: bytes, body: bytes, sigs: list[bytes], kind: str, nonce: int) -> object:
    tx = decode_tx(raw, G)
    assert tx.raw == raw and tx.body == body and tx.signatures == tuple(sigs)
    assert tx.txid == hashlib.sha256(body).digest() and tx.sig_key == hashlib.sha256(raw).digest()
    assert tx.kind == kind and tx.msg.nonce == nonce and tx.msg.chain_id == G.chain_id
    return tx


@given(outputs, st.integers(2, 3), nonces, st.lists(signatures, min_size=3, max_size=3))
def test_issue_round_trip(outs: list[Output], n: int, nonce: int, sigs: list[bytes]) -> None:
    outs = outs[:4]
    if sum(o.amount for o in outs) >= 2**64:
        return
    signers = [k.public for k in W.issuers[:n]]
    body = issue_body(G.chain_id, outs, signers, nonce)
    tx = _check_common(encode_tx(body, sigs[:n]), body, sigs[:n], "issue", nonce)
    assert tx.signers == tuple(signers) and tx.outputs == tuple(outs) and tx.inputs == ()


@given(keys32, st.lists(outpoints, min_size=1, max_size=8, unique=True), outputs, nonces, signatures)
def test_transfer_round_trip(sender: bytes, ins: list[OutPoint], outs: list[Output], nonce: int,
                             sig: bytes) -> None:
    body = transfer_body(G.chain_id, sender, ins, outs, nonce)
    tx = _check_common(encode_tx(body, [sig]), body, [sig], "transfer", nonce)
    assert tx.signers == (sender,) and tx.inputs == tuple(ins) and tx.outputs == tuple(outs)


@given(keys32, st.lists(outpoints, min_size=1, max_size=8, unique=True), amounts,
       st.lists(st.builds(Output, keys32, amounts), max_size=3), nonces, signatures)
def test_redeem_round_trip(inst: bytes, ins: list[OutPoint], amount: int, change: list[Output],
                           nonce: int, sig: bytes) -> None:
    body = redeem_body(G.chain_id, inst, ins, amount, change, nonce)
    tx = _check_common(encode_tx(body, [sig]), body, [sig], "redeem", nonce)
    assert tx.signers == (inst,) and tx.inputs == tuple(ins) and tx.outputs == tuple(change)
    assert tx.msg.redeem.amount == amount


@given(keys32, keys32, st.integers(0, 2**32 - 1), st.sampled_from([b"", b"\x07" * 32]), nonces, signatures)
def test_register_round_trip(inst: bytes, addr: bytes, tier: int, kyc: bytes, nonce: int, sig: bytes) -> None:
    body = register_body(G.chain_id, inst, addr, tier, kyc, nonce)
    tx = _check_common(encode_tx(body, [sig]), body, [sig], "register_wallet", nonce)
    m = tx.msg.register_wallet
    assert tx.signers == (inst,) and (m.address, m.tier, m.kyc_commitment) == (addr, tier, kyc)
    assert tx.inputs == () and tx.outputs == ()


def test_m_of_n_issuance_one_signer_at_a_time() -> None:
    chain = G.chain_id
    signers = [W.issuers[2].public, W.issuers[0].public]
    raw = issue_unsigned(chain, [(W.banks[0].public, 1_000)], signers, nonce=4)
    assert missing_signers(raw) == signers
    with pytest.raises(LedgerError) as e:
        decode_tx(raw, G)
    assert e.value.code == Code.BAD_SIGNATURE and "missing" in e.value.message
    raw = add_signature(raw, chain, W.issuers[0])           # the second signer signs first
    assert missing_signers(raw) == [W.issuers[2].public]
    with pytest.raises(ValueError, match="not among"):
        add_signature(raw, chain, W.issuers[1])
    body_before = ledger_pb2.Transaction.FromString(raw).body
    raw = sign_tx_partially(raw, chain, [W.issuers[2]])
    assert missing_signers(raw) == []
    tx = decode_tx(raw, G)
    assert tx.body == body_before
    verify_signatures(tx, chain)
    W.apply(raw)
    assert W.state.supply().issued == 1_000


def test_bad_signature_names_the_signer() -> None:
    chain = G.chain_id
    raw = issue_unsigned(chain, [(W.banks[0].public, 1)], [k.public for k in W.issuers], nonce=5)
    raw = sign_tx_partially(raw, chain, W.issuers)
    tx = ledger_pb2.Transaction.FromString(raw)
    sigs = list(tx.signatures)
    sigs[1], sigs[2] = sigs[2], sigs[1]
    with pytest.raises(LedgerError) as e:
        verify_signatures(decode_tx(encode_tx(tx.body, sigs), G), chain)
    assert e.value.code == Code.BAD_SIGNATURE and "signature 1" in e.value.message
    assert W.issuers[1].address in e.value.message


def test_oversize_transaction_is_malformed_before_parsing() -> None:
    raw = b"\x0a" + b"\xff" * 5 + b"\x00" * 200_000
    with pytest.raises(LedgerError) as e:
        decode_tx(raw, G)
    assert e.value.code == Code.MALFORMED and "bytes" in e.value.message
