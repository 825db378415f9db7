"""RFC 6962 Merkle tree: roots match the recursive definition, proofs verify, tampering fails."""

from __future__ import annotations

import hashlib

from hypothesis import given
from hypothesis import strategies as st

from node.ledger.merkle import EMPTY_ROOT, leaf_hash, merkle_proof, merkle_root, node_hash, verify_proof


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written recursively exactly as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaf_hash(leaves[0])
    k = 1
    while k * 2 < n:
        k *= 2
    return node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


leaf_lists = st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=70)


def test_empty_root_is_hash_of_nothing() -> None:
    assert merkle_root([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()


def test_odd_leaf_is_not_duplicated() -> None:
    # CVE-2012-2459: [a, b, c] and [a, b, c, c] must have different roots.
    a, b, c = b"a", b"b", b"c"
    assert merkle_root([a, b, c]) != merkle_root([a, b, c, c])
    assert merkle_root([a]) != merkle_root([a, a])


def test_leaf_and_node_are_domain_separated() -> None:
    a, b = b"a" * 32, b"b" * 32
    # A leaf equal to the concatenation of two leaf hashes does not collide with the pair.
    assert merkle_root([leaf_hash(a) + leaf_hash(b)]) != merkle_root([a, b])


@given(leaf_lists)
def test_root_matches_rfc_recursion(leaves: list[bytes]) -> None:
    assert merkle_root(leaves) == reference_root(leaves)


@given(leaf_lists, st.data())
def test_every_proof_verifies(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    index = data.draw(st.integers(0, len(leaves) - 1))
    proof = merkle_proof(leaves, index)
    assert verify_proof(leaves[index], index, len(leaves), proof, root)


@given(leaf_lists, st.data())
def test_tampered_proofs_fail(leaves: list[bytes], data: st.DataObject) -> None:
    root = merkle_root(leaves)
    n = len(leaves)
    index = data.draw(st.integers(0, n - 1))
    proof = merkle_proof(leaves, index)
    leaf = leaves[index]
    assert not verify_proof(leaf + b"x", index, n, proof, root)
    if n > 1:
        other = data.draw(st.integers(0, n - 1).filter(lambda i: leaves[i] != leaf))
        assert not verify_proof(leaf, other, n, proof, root)
        pos = data.draw(st.integers(0, len(proof) - 1))
        bad = bytearray(proof[pos])
        bad[data.draw(st.integers(0, 31))] ^= 1 << data.draw(st.integers(0, 7))
        assert not verify_proof(leaf, index, n, [*proof[:pos], bytes(bad), *proof[pos + 1 :]], root)
        assert not verify_proof(leaf, index, n, proof[:-1], root)
    assert not verify_proof(leaf, index, n, [*proof, b"\x00" * 32], root)
    assert not verify_proof(leaf, index, n, proof, bytes(32))


def test_out_of_range_index() -> None:
    assert not verify_proof(b"a", 1, 1, [], merkle_root([b"a"]))
    assert not verify_proof(b"a", -1, 1, [], merkle_root([b"a"]))
