"""Fuzzing the ledger decoders: transactions (decode_tx) and blocks (decode_block,
validate_block against a real LevelDB store).

Untrusted bytes may only ever be refused with a LedgerError carrying a named code; what a
decoder accepts must satisfy every invariant the rest of the node relies on; valid
structured inputs round-trip exactly; and validating never writes to the store.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.client.txbuild import build_issue, build_redeem, build_register, build_transfer, encode_tx
from node.ledger.blocks import decode_block
from node.ledger.crypto import KEY_SIZE, SIGNATURE_SIZE, sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.rules import BlockContext, check_tx
from node.ledger.store_audit import audit_store
from node.ledger.transition import ExecutedBlock, validate_block
from node.ledger.txcodec import KINDS, DecodedTx, decode_tx, verify_signatures
from node.ledger.types import U64_MAX, OutPoint
from proto import ledger_pb2
from tests.ledger.memstate import MemState

from .world import (
    BANKS,
    CHAIN_ID,
    GENESIS,
    ISSUERS,
    OUTSIDER,
    VALIDATOR_SET,
    VALIDATORS,
    WALLETS,
    ChainFixture,
    double_vote,
    mostly,
    mutate,
)

PARAMS = GENESIS.params
# Valid evidence a block at height 4 may carry, one item per (validator, height).
EVIDENCE = [double_vote(v, h) for v in VALIDATORS for h in (1, 2)]
FIXTURE_OK = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]

# --- strategies ----------------------------------------------------------------------------

# Lengths around the ones that matter (32-byte keys and hashes, 64-byte signatures).
odd_bytes = st.one_of(
    st.binary(max_size=70),
    st.sampled_from([b"", b"\x00" * 31, b"\x00" * 32, b"\xff" * 33, b"\x01" * 64]),
)
key_bytes = mostly(st.sampled_from([k.public for k in (*ISSUERS, *BANKS, *WALLETS, OUTSIDER)]), odd_bytes)
u64 = st.one_of(st.integers(0, 3), st.integers(0, U64_MAX), st.sampled_from([U64_MAX, U64_MAX - 1, 2**63]))
u32 = st.one_of(st.integers(0, 3), st.integers(0, 2**32 - 1))
chain_ids = mostly(st.just(CHAIN_ID), st.text(max_size=12))
amounts = mostly(st.integers(1, 2**40), u64)
sig64 = st.binary(min_size=64, max_size=64)


@st.composite
def tx_outputs(draw, max_n: int = 4) -> list[ledger_pb2.TxOutput]:
    n = draw(st.one_of(st.integers(0, max_n), st.just(PARAMS.max_outputs + 1)))
    owner, amount = draw(key_bytes), draw(amounts)
    # Mostly copies of one drawn output: cheap to generate even at the cap.
    return [ledger_pb2.TxOutput(owner=owner, amount=amount if i else draw(amounts)) for i in range(n)]


@st.composite
def tx_inputs(draw, max_n: int = 4) -> list[ledger_pb2.OutPoint]:
    n = draw(st.one_of(st.integers(0, max_n), st.just(PARAMS.max_inputs + 1)))
    txid = draw(mostly(st.binary(min_size=32, max_size=32), odd_bytes))
    index = draw(st.sampled_from([0, 1, 2**32 - 1]))
    # Distinct indexes (so only the drawn txid decides validity) unless `same` repeats one.
    same = draw(st.booleans())
    return [ledger_pb2.OutPoint(txid=txid, index=index if same else (index + i) % 2**32) for i in range(n)]


@st.composite
def tx_bodies(draw) -> ledger_pb2.TxBody:
    """TxBody messages of every kind with arbitrary field values (mostly invalid)."""
    body = ledger_pb2.TxBody(chain_id=draw(chain_ids), nonce=draw(u64))
    kind = draw(st.sampled_from(["issue", "redeem", "register_wallet", "transfer", None]))
    if kind == "issue":
        body.issue.outputs.extend(draw(tx_outputs()))
        issuers = st.permutations([k.public for k in ISSUERS]).map(lambda ks: ks[: 2 + len(ks[0]) % 2])
        body.issue.signers.extend(draw(mostly(issuers, st.lists(key_bytes, max_size=4))))
    elif kind == "redeem":
        body.redeem.institution = draw(key_bytes)
        body.redeem.inputs.extend(draw(tx_inputs()))
        body.redeem.amount = draw(amounts)
        body.redeem.change.extend(draw(tx_outputs(2)))
    elif kind == "register_wallet":
        r = body.register_wallet
        r.institution, r.address = draw(key_bytes), draw(key_bytes)
        r.tier = draw(mostly(st.integers(1, 4), u32))
        r.kyc_commitment = draw(mostly(st.sampled_from([b"", b"\x05" * 32]), odd_bytes))
    elif kind == "transfer":
        body.transfer.sender = draw(key_bytes)
        body.transfer.inputs.extend(draw(tx_inputs()))
        body.transfer.outputs.extend(draw(tx_outputs()))
    return body


@st.composite
def structured_txs(draw) -> bytes:
    body = draw(tx_bodies()).SerializeToString()
    sigs = draw(mostly(
        st.lists(sig64, min_size=1, max_size=3),
        st.lists(st.one_of(sig64, odd_bytes), max_size=4),
    ))
    return encode_tx(body, sigs)


outpoints = st.builds(OutPoint, st.binary(min_size=32, max_size=32), st.integers(0, 2**32 - 1))


@st.composite
def valid_txs(draw) -> tuple[bytes, str]:
    """Transactions that pass every stateless check, of every kind, signed by the right keys."""
    kind = draw(st.sampled_from(["issue", "redeem", "register_wallet", "transfer"]))
    nonce = draw(st.integers(0, U64_MAX))
    owners = st.sampled_from([k.public for k in (*BANKS, *WALLETS)])
    outs = draw(st.lists(st.tuples(owners, st.integers(1, 2**40)), min_size=1, max_size=5))
    ins = draw(st.lists(outpoints, min_size=1, max_size=5, unique=True))
    if kind == "issue":
        signers = draw(st.permutations(ISSUERS))[: draw(st.integers(2, 3))]
        return build_issue(CHAIN_ID, outs, signers, nonce), kind
    bank = draw(st.sampled_from(BANKS))
    if kind == "redeem":
        return build_redeem(CHAIN_ID, bank, ins, draw(st.integers(1, 2**40)), outs[:2], nonce), kind
    if kind == "register_wallet":
        kyc = draw(st.sampled_from([b"", b"\x07" * 32]))
        return build_register(CHAIN_ID, bank, draw(owners), draw(st.integers(1, 4)), kyc, nonce), kind
    return build_transfer(CHAIN_ID, draw(st.sampled_from(WALLETS)), ins, outs, nonce), kind


# --- invariants of an accepted transaction -------------------------------------------------


def assert_decoded_invariants(tx: DecodedTx, raw: bytes) -> None:
    """What admission, block building and the store take for granted about a DecodedTx."""
    assert tx.raw == raw
    assert tx.txid == sha256(tx.body) and tx.sig_key == sha256(raw)
    assert ledger_pb2.Transaction.FromString(raw).body == tx.body  # the id covers these bytes
    assert tx.kind in KINDS  # the payment kinds and the governance kinds
    assert len(tx.raw) <= GENESIS.max_tx_bytes and len(tx.body) <= PARAMS.max_body_bytes
    assert ledger_pb2.TxBody.FromString(tx.body).chain_id == CHAIN_ID
    assert tx.signers and len(tx.signatures) == len(tx.signers)
    assert all(len(s) == KEY_SIZE for s in tx.signers)
    assert all(len(s) == SIGNATURE_SIZE for s in tx.signatures)
    assert len(set(tx.signers)) == len(tx.signers)
    assert len(tx.inputs) <= PARAMS.max_inputs and len(set(tx.inputs)) == len(tx.inputs)
    assert all(len(op.txid) == 32 and 0 <= op.index < 2**32 for op in tx.inputs)
    assert len(tx.outputs) <= PARAMS.max_outputs
    assert all(len(o.owner) == KEY_SIZE and 0 < o.amount <= U64_MAX for o in tx.outputs)
    assert sum(o.amount for o in tx.outputs) <= U64_MAX
    if tx.kind == "issue" and not (
        len(tx.signers) >= GENESIS.issue_threshold and all(map(GENESIS.is_issuer, tx.signers))
    ):
        # Who may issue is checked by the rules, against the authority in force (governance
        # can change it); on a chain without governance changes, genesis's issuers.
        with pytest.raises(LedgerError) as refused:
            check_tx(MemState(), tx, GENESIS, BlockContext(1, GENESIS.genesis_time_ms))
        assert refused.value.code is Code.NOT_AUTHORIZED
    if tx.kind in ("issue", "transfer"):
        assert tx.outputs and not (tx.kind == "issue" and tx.inputs)
    if tx.kind in ("transfer", "redeem"):
        assert tx.inputs


def decode_or_reject(raw: bytes) -> DecodedTx | None:
    try:
        tx = decode_tx(raw, GENESIS)
    except LedgerError as err:
        assert isinstance(err.code, Code) and err.message
        return None
    assert_decoded_invariants(tx, raw)
    return tx


# --- transactions ----------------------------------------------------------------------------


@settings(max_examples=1500)
@given(st.binary(max_size=600))
def test_random_bytes_are_refused_with_a_named_code(raw: bytes) -> None:
    # (Random bytes cannot name this chain's id and a kind with valid fields.)
    assert decode_or_reject(raw) is None


@settings(max_examples=800)
@given(structured_txs())
def test_structured_garbage_is_refused_or_satisfies_every_invariant(raw: bytes) -> None:
    decode_or_reject(raw)


def _valid_pool() -> list[bytes]:
    """A fixed spread of valid transactions of every kind (built once: mutating them is
    the cheap part, building and signing them per example is not)."""
    rng = random.Random(7)
    owners = [k.public for k in (*BANKS, *WALLETS)]
    pool = []
    for n in range(48):
        outs = [(rng.choice(owners), rng.randint(1, 2**40)) for _ in range(rng.randint(1, 4))]
        ins = [OutPoint(rng.randbytes(32), rng.randrange(2**32)) for _ in range(rng.randint(1, 4))]
        bank = BANKS[n % 2]
        pool += [
            build_issue(CHAIN_ID, outs, ISSUERS[: 2 + n % 2], n),
            build_redeem(CHAIN_ID, bank, ins, rng.randint(1, 10**6), outs[:2], n),
            build_register(CHAIN_ID, bank, rng.choice(owners), 1 + n % 4, b"\x07" * 32 * (n % 2), n),
            build_transfer(CHAIN_ID, WALLETS[n % 4], ins, outs, n),
        ]
    return pool


VALID_POOL = _valid_pool()


@settings(max_examples=1000)
@given(st.sampled_from(VALID_POOL), st.data())
def test_mutated_transactions_never_verify_with_another_body(raw: bytes, data) -> None:
    original = decode_tx(raw, GENESIS)
    mutated = mutate(data, raw)
    tx = decode_or_reject(mutated)
    if tx is None:
        return
    try:
        verify_signatures(tx, CHAIN_ID)
    except LedgerError as err:
        assert err.code is Code.BAD_SIGNATURE
        return
    # Signatures verify only over the body the signers signed: same id, same meaning.
    assert tx.body == original.body and tx.txid == original.txid
    assert tx.signers == original.signers


@settings(max_examples=400)
@given(valid_txs())
def test_valid_transactions_round_trip_exactly(tx_kind: tuple[bytes, str]) -> None:
    raw, kind = tx_kind
    tx = decode_or_reject(raw)
    assert tx is not None and tx.kind == kind
    verify_signatures(tx, CHAIN_ID)
    # Decode/encode: the wire bytes re-serialize to themselves, body and signatures intact.
    parsed = ledger_pb2.Transaction.FromString(raw)
    assert parsed.SerializeToString() == raw
    assert encode_tx(tx.body, list(tx.signatures)) == raw
    assert ledger_pb2.TxBody.FromString(tx.body).SerializeToString() == tx.body
    assert decode_tx(encode_tx(tx.body, list(tx.signatures)), GENESIS) == tx


# --- blocks against a real store ---------------------------------------------------------------


@pytest.fixture(scope="module")
def chain(tmp_path_factory) -> Iterator[ChainFixture]:
    fixture = ChainFixture(Path(tmp_path_factory.mktemp("hostile-blocks")) / "db")
    yield fixture
    fixture.close()


@pytest.fixture(scope="module")
def reference(chain: ChainFixture) -> ExecutedBlock:
    """A valid block at the tip + 1: three transfers and one evidence item."""
    txs = [
        build_transfer(
            CHAIN_ID, WALLETS[w], [chain.coins[w][9][0]], [(WALLETS[(w + 1) % 4].public, 1_009)], nonce=77 + w
        )
        for w in range(3)
    ]
    return chain.build(txs, [double_vote(VALIDATORS[1], 1)])


def _snapshot(chain: ChainFixture) -> tuple:
    tip = chain.store.tip()
    return tip, chain.store.state_root(), chain.store.fingerprint()


def validate_or_reject(chain: ChainFixture, block_bytes: bytes):
    try:
        return chain.validate(block_bytes)
    except LedgerError as err:
        assert err.code is Code.INVALID_BLOCK, err
        return None


hashes = st.one_of(st.binary(min_size=32, max_size=32), odd_bytes)


@st.composite
def headers(draw, chain: ChainFixture) -> ledger_pb2.BlockHeader:
    tip = chain.store.tip()
    return ledger_pb2.BlockHeader(
        chain_id=draw(chain_ids),
        height=draw(st.one_of(st.just(tip.height + 1), u64)),
        time_ms=draw(st.one_of(st.just(chain.next_time()), u64)),
        prev_hash=draw(st.one_of(st.just(tip.block_hash), hashes)),
        tx_root=draw(hashes),
        state_root=draw(st.one_of(st.just(tip.state_root), hashes)),
        validators_hash=draw(st.one_of(st.just(VALIDATOR_SET.hash()), hashes)),
        proposer=draw(key_bytes),
        evidence_root=draw(hashes),
        tx_count=draw(u32),
    )


@settings(max_examples=500, suppress_health_check=FIXTURE_OK)
@given(raw=st.binary(max_size=800))
def test_random_block_bytes_are_invalid_block_and_change_nothing(chain: ChainFixture, raw: bytes) -> None:
    before = chain.store.tip()
    try:
        decode_block(raw)
    except LedgerError as err:
        assert err.code is Code.INVALID_BLOCK
    assert validate_or_reject(chain, raw) is None
    assert chain.store.tip() == before


@settings(max_examples=250, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_structured_blocks_with_lying_headers_are_refused(chain: ChainFixture, data) -> None:
    before = _snapshot(chain)
    header = data.draw(headers(chain))
    txs = data.draw(st.lists(st.one_of(structured_txs(), st.binary(max_size=40)), max_size=3))
    evidence = data.draw(st.lists(st.binary(max_size=40), max_size=2))
    block = ledger_pb2.Block(header=header.SerializeToString(), txs=txs, evidence=evidence)
    result = validate_or_reject(chain, block.SerializeToString())
    # Every header here lies about at least its roots (random hashes), or carries
    # transactions that cannot all be valid: nothing of it can be accepted.
    assert result is None
    assert _snapshot(chain) == before


@st.composite
def spends(draw, chain: ChainFixture) -> list[bytes]:
    """Valid transfers of distinct wallet coins (at least one), as a block could carry."""
    picks = draw(st.lists(st.tuples(st.integers(0, len(WALLETS) - 1), st.integers(0, 9)),
                          min_size=1, max_size=4, unique=True))
    txs = []
    for n, (w, c) in enumerate(picks):
        outpoint, value = chain.coins[w][c]
        payee = WALLETS[(w + 1 + draw(st.integers(0, 2))) % len(WALLETS)]
        split = draw(st.integers(1, value))
        outs = [(payee.public, split)] + ([(WALLETS[w].public, value - split)] if split < value else [])
        txs.append(build_transfer(CHAIN_ID, WALLETS[w], [outpoint], outs, nonce=1000 + n))
    return txs


HEADER_LIES = {
    "chain_id": lambda h: setattr(h, "chain_id", h.chain_id + "x"),
    "height": lambda h: setattr(h, "height", h.height + 1),
    "height_back": lambda h: setattr(h, "height", h.height - 1),
    "time_back": lambda h: setattr(h, "time_ms", 0),
    "prev_hash": lambda h: setattr(h, "prev_hash", bytes(32)),
    "tx_root": lambda h: setattr(h, "tx_root", sha256(h.tx_root)),
    "state_root": lambda h: setattr(h, "state_root", sha256(h.state_root)),
    "validators_hash": lambda h: setattr(h, "validators_hash", sha256(h.validators_hash)),
    "evidence_root": lambda h: setattr(h, "evidence_root", sha256(h.evidence_root)),
    "tx_count": lambda h: setattr(h, "tx_count", h.tx_count + 1),
    "proposer_size": lambda h: setattr(h, "proposer", h.proposer[:31]),
}


@settings(max_examples=200, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_valid_blocks_round_trip_and_each_header_lie_is_refused(chain: ChainFixture, data) -> None:
    before = _snapshot(chain)
    evidence = data.draw(st.lists(st.sampled_from(EVIDENCE), max_size=2, unique=True))
    built, skipped = chain.build_skipping(data.draw(spends(chain)), evidence)
    assert not skipped
    validated = chain.validate(built.block_bytes)
    header, digest, overlay = validated.header, validated.block_hash, validated.overlay
    # The validator reaches exactly the proposer's block hash and state.
    assert digest == built.block_hash and header == built.header
    assert chain.store.state_root_after(overlay) == built.header.state_root
    assert [tx.txid for tx in overlay.txs] == [tx.txid for tx in built.overlay.txs]
    # Decode/encode round trip of the block and its header bytes.
    block, decoded_header = decode_block(built.block_bytes)
    assert block.SerializeToString(deterministic=True) == built.block_bytes
    assert decoded_header.SerializeToString(deterministic=True) == block.header
    assert list(block.evidence) == evidence
    # One lie in the header (anything the header commits to) and the block is refused.
    lie = data.draw(st.sampled_from(sorted(HEADER_LIES)))
    HEADER_LIES[lie](decoded_header)
    forged = ledger_pb2.Block(
        header=decoded_header.SerializeToString(), txs=block.txs, evidence=block.evidence
    )
    assert validate_or_reject(chain, forged.SerializeToString()) is None, lie
    assert _snapshot(chain) == before


@settings(max_examples=400, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_mutated_block_bytes_validate_only_with_the_same_content(
    chain: ChainFixture, reference: ExecutedBlock, data
) -> None:
    built = reference
    before = chain.store.tip()
    mutated = mutate(data, built.block_bytes, max_ops=3)
    result = validate_or_reject(chain, mutated)
    assert chain.store.tip() == before
    if result is None:
        return
    # A mutation may yield another valid block (e.g. another header time), never one that
    # carries other transactions or evidence than the roots commit to.
    header, overlay = result.header, result.overlay
    block, _ = decode_block(mutated)
    assert [tx.txid for tx in overlay.txs] == [tx.txid for tx in built.overlay.txs]
    assert list(block.evidence) == list(decode_block(built.block_bytes)[0].evidence)
    assert header.state_root == built.header.state_root


def test_block_fuzzing_left_the_store_untouched(chain: ChainFixture, reference: ExecutedBlock) -> None:
    """The fuzzed validations above ran against this store; its state is still the three
    blocks the fixture committed, as an independent recomputation confirms."""
    assert chain.store.height == 3
    assert chain.store.recompute_state_root() == chain.store.state_root() == chain.store.tip().state_root
    assert audit_store(chain.store) == []
    # And a valid block still validates after all of that.
    validated = validate_block(
        chain.store, reference.block_bytes, GENESIS, expected_height=4,
        validators=VALIDATOR_SET, min_time_ms=0, sigcache=chain.sigcache,
    )
    header, digest = validated.header, validated.block_hash
    assert digest == reference.block_hash and header.height == 4
