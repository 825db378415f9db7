"""RFC 6962 (Certificate Transparency) Merkle trees: tx_root, evidence_root, inclusion proofs.

    leaf hash   = SHA-256(0x00 || leaf)
    node hash   = SHA-256(0x01 || left || right)
    root of []  = SHA-256(b"")
    root of n>1 = node(root(D[:k]), root(D[k:])), k the largest power of two < n

Leaves and inner nodes are domain-separated, and an odd node is promoted to the next level
instead of being paired with a copy of itself: Bitcoin's duplication made a list and the
same list with its last element repeated share a root (CVE-2012-2459). Here a root commits
to the exact list and its length.

Proofs are RFC 6962 audit paths; verification follows RFC 9162 section 2.1.3.2 and needs only
the leaf, its index, the tree size and the path.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(leaf: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + leaf).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _next_level(level: list[bytes]) -> list[bytes]:
    sha = hashlib.sha256
    up = [sha(b"\x01" + level[i] + level[i + 1]).digest() for i in range(0, len(level) - 1, 2)]
    if len(level) % 2:
        up.append(level[-1])  # promoted, never duplicated
    return up


def merkle_root(leaves: Sequence[bytes]) -> bytes:
    """Root over the leaves in order (leaf bytes are hashed here, with the 0x00 prefix).

    Bottom-up pairing with promotion of the odd last node gives exactly the RFC 6962
    recursive definition (every left subtree is a complete power-of-two tree).
    """
    if not leaves:
        return EMPTY_ROOT
    sha = hashlib.sha256
    level = [sha(b"\x00" + leaf).digest() for leaf in leaves]
    while len(level) > 1:
        level = _next_level(level)
    return level[0]


def merkle_proof(leaves: Sequence[bytes], index: int) -> list[bytes]:
    """The audit path of leaves[index], bottom-up. With (index, len(leaves)) this is all a
    verifier needs besides the leaf itself and the root."""
    if not 0 <= index < len(leaves):
        raise IndexError(f"leaf index {index} out of range for {len(leaves)} leaves")
    level = [leaf_hash(leaf) for leaf in leaves]
    proof: list[bytes] = []
    i = index
    while len(level) > 1:
        sibling = i ^ 1
        if sibling < len(level):  # the last odd node has no sibling on this level
            proof.append(level[sibling])
        level = _next_level(level)
        i //= 2
    return proof


def verify_proof(leaf: bytes, index: int, count: int, proof: Sequence[bytes], root: bytes) -> bool:
    """True when `proof` shows that `leaf` is at `index` in a tree of `count` leaves with `root`."""
    if not 0 <= index < count:
        return False
    fn, sn = index, count - 1
    r = leaf_hash(leaf)
    for p in proof:
        if len(p) != 32 or sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                # Right-most node promoted over levels where it had no sibling.
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root
