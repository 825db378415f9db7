"""Evidence on the chain, in process on a real LevelDB store: one item per (validator, height)
is ever committed, blocks carrying duplicate or unverifiable evidence are invalid, the pool
keeps only verified, uncommitted evidence, and an honest signer can never be blamed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import nacl.signing
import pytest

from consensus.evidence import encode_duplicate_vote
from consensus.messages import NIL, VoteType, sign_vote
from consensus.signer import Signer
from consensus.validators import ValidatorSet
from node.ledger.errors import LedgerError
from node.ledger.evidence import (
    EvidencePool,
    check_block_evidence,
    evidence_key,
    evidence_key_of,
)
from tests.store.harness import Net, Node

CHAIN = "cbdc-store-test"
BLOCK_A = bytes([1]) * 32
BLOCK_B = bytes([2]) * 32


def _key(n: int) -> nacl.signing.SigningKey:
    return nacl.signing.SigningKey(bytes([n]) * 32)


BYZANTINE, HONEST, OUTSIDER = _key(7), _key(8), _key(9)
VALIDATORS = ValidatorSet([(bytes(BYZANTINE.verify_key), 10), (bytes(HONEST.verify_key), 10)])


def double_vote(key: nacl.signing.SigningKey, height: int, a: bytes = BLOCK_A, b: bytes = NIL) -> bytes:
    vote_a = sign_vote(key, CHAIN, height, 0, VoteType.PREVOTE, a)
    vote_b = sign_vote(key, CHAIN, height, 0, VoteType.PREVOTE, b)
    return encode_duplicate_vote(vote_a, vote_b)


@pytest.fixture
def node(tmp_path: Path) -> Iterator[Node]:
    node = Node(str(tmp_path / "ledger"), Net(), validators=VALIDATORS)
    try:
        yield node
    finally:
        node.close()


def check(node: Node, items: list[bytes], height: int = 5) -> None:
    check_block_evidence(
        items, validators=VALIDATORS, chain_id=CHAIN, height=height, committed=node.store.committed_evidence
    )


def test_committed_block_indexes_its_evidence_once_per_validator_and_height(node: Node) -> None:
    evidence = double_vote(BYZANTINE, 1)
    node.commit(node.propose([], evidence=[evidence]).block_bytes)
    key = evidence_key(bytes(BYZANTINE.verify_key), 1)
    assert evidence_key_of(evidence) == key
    assert node.store.committed_evidence(key) == 1
    assert node.store.committed_evidence(evidence_key(bytes(BYZANTINE.verify_key), 2)) is None
    # The same offence again, even proven by another pair of its votes, is refused.
    with pytest.raises(LedgerError, match="already committed in block 1"):
        check(node, [double_vote(BYZANTINE, 1, BLOCK_B, NIL)])
    check(node, [double_vote(BYZANTINE, 2)])  # another height is another offence


def test_block_evidence_must_verify_and_appear_once(node: Node) -> None:
    with pytest.raises(LedgerError, match="appears twice"):
        check(node, [double_vote(BYZANTINE, 3), double_vote(BYZANTINE, 3, BLOCK_B, NIL)])
    with pytest.raises(LedgerError, match="not a validator"):
        check(node, [double_vote(OUTSIDER, 3)])
    with pytest.raises(LedgerError, match="same block"):
        check(node, [double_vote(BYZANTINE, 3, BLOCK_A, BLOCK_A)])
    with pytest.raises(LedgerError, match="is for height 9"):
        check(node, [double_vote(BYZANTINE, 9)], height=5)
    with pytest.raises(LedgerError, match=r"does not decode|no known kind"):
        check(node, [b"\xff\xff garbage"])
    forged = bytearray(double_vote(BYZANTINE, 3))
    forged[-3] ^= 1  # inside the last signature
    with pytest.raises(LedgerError, match="evidence #0"):
        check(node, [bytes(forged)])
    check(node, [double_vote(BYZANTINE, 3), double_vote(BYZANTINE, 4)])


def test_pool_keeps_verified_uncommitted_evidence_one_per_validator_and_height(node: Node) -> None:
    pool = EvidencePool(VALIDATORS, CHAIN, node.store.committed_evidence)
    assert pool.add(double_vote(BYZANTINE, 1)) is not None
    assert pool.add(double_vote(BYZANTINE, 1)) is None  # heard again from a peer
    assert pool.add(double_vote(BYZANTINE, 1, BLOCK_B, NIL)) is None  # same offence, other pair
    assert pool.add(double_vote(OUTSIDER, 1)) is None
    assert pool.add(b"junk") is None
    assert pool.add(double_vote(BYZANTINE, 2)) is not None
    assert len(pool) == 2
    assert pool.for_block(1) == [double_vote(BYZANTINE, 1)]  # none from the future
    node.commit(node.propose([], evidence=pool.for_block(1)).block_bytes)
    pool.prune()
    assert len(pool) == 1
    assert pool.add(double_vote(BYZANTINE, 1)) is None  # committed: never again
    assert pool.for_block(2) == [double_vote(BYZANTINE, 2)]


def test_an_honest_signer_cannot_be_blamed() -> None:
    """The Signer returns its first signature for a (height, round, step), never a second."""
    signer = Signer(HONEST)
    first = signer.sign_vote(CHAIN, 4, 0, VoteType.PREVOTE, BLOCK_A)
    again = signer.sign_vote(CHAIN, 4, 0, VoteType.PREVOTE, NIL)
    assert again.conflict and again.message == first.message
    pool = EvidencePool(VALIDATORS, CHAIN, lambda key: None)
    assert pool.add(encode_duplicate_vote(first.message, again.message)) is None


def test_pool_refuses_evidence_no_block_may_carry_yet_or_ever(node: Node) -> None:
    pool = EvidencePool(VALIDATORS, CHAIN, node.store.committed_evidence, lambda: node.store.height + 2)
    assert pool.add(double_vote(BYZANTINE, 0)) is None  # no height 0: no block could carry it
    far = double_vote(BYZANTINE, 50)
    assert pool.add(far) is None  # beyond the horizon: would only crowd the pool
    assert pool.add(double_vote(BYZANTINE, 2)) is not None
    for _ in range(48):
        node.commit(node.propose([]).block_bytes)
    assert pool.add(far) is not None  # the same bytes are taken once they can be included
