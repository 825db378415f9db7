"""MuHash3072: incremental == from scratch, order-independent, persistable."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

from hypothesis import given
from hypothesis import strategies as st

from node.ledger.muhash import (
    PRIME,
    SIZE,
    MuHash3072,
    element_number,
    parallel_product,
    utxo_element,
    wallet_element,
)
from node.ledger.types import OutPoint, Output, Wallet

elements = st.lists(st.binary(min_size=1, max_size=50), unique=True, max_size=12)


def from_scratch(items: list[bytes]) -> bytes:
    h = MuHash3072()
    for item in items:
        h.insert(item)
    return h.digest()


def test_empty_set_digest_is_hash_of_one() -> None:
    assert MuHash3072().digest() == hashlib.sha256((1).to_bytes(SIZE, "little")).digest()


def test_prime_is_the_documented_one() -> None:
    assert PRIME == 2**3072 - 1103717
    assert pow(3, PRIME - 1, PRIME) == 1  # Fermat witness; the constant is the known prime


@given(elements, st.randoms(use_true_random=False))
def test_order_independent(items: list[bytes], rnd) -> None:
    shuffled = list(items)
    rnd.shuffle(shuffled)
    assert from_scratch(items) == from_scratch(shuffled)


@given(elements, elements)
def test_incremental_equals_from_scratch(base: list[bytes], extra: list[bytes]) -> None:
    extra = [e for e in extra if e not in base]
    h = MuHash3072()
    h.insert_many(base + extra)
    h.remove_many(extra)  # add then remove: back to `base`
    assert h.digest() == from_scratch(base)
    restored = MuHash3072.from_bytes(h.to_bytes())
    assert restored.digest() == h.digest() and restored == h
    h.normalize()
    assert h.denominator == 1 and h.digest() == from_scratch(base)


@given(elements, st.binary(min_size=1, max_size=50))
def test_different_sets_differ(items: list[bytes], extra: bytes) -> None:
    if extra in items:
        return
    assert from_scratch(items) != from_scratch([*items, extra])


def test_combine_is_union() -> None:
    a, b = MuHash3072(), MuHash3072()
    a.insert(b"x")
    b.insert(b"y")
    b.remove(b"z")
    a.combine(b)
    expect = MuHash3072()
    expect.insert_many([b"x", b"y"])
    expect.remove(b"z")
    assert a == expect and a.digest() == expect.digest()


def test_element_encodings_are_distinct_and_fixed() -> None:
    op = OutPoint(b"\x01" * 32, 7)
    out = Output(b"\x02" * 32, 5)
    expected = b"u" + b"\x01" * 32 + (7).to_bytes(4, "big") + b"\x02" * 32 + (5).to_bytes(8, "big")
    assert utxo_element(op, out) == expected
    w = Wallet(b"\x03" * 32, 1, b"\x04" * 32)
    assert wallet_element(w) == b"w" + w.encode()
    assert element_number(b"x") < 2**3072


@given(elements, elements)
def test_matches_plain_integer_reference(inserted: list[bytes], removed: list[bytes]) -> None:
    """Whatever backend runs (gmpy2 or Python ints), the numbers are the reference ones:
    product of SHAKE256 numbers over product of the removed ones, mod P."""
    num = den = 1
    for e in inserted:
        num = num * element_number(e) % PRIME
    for e in removed:
        den = den * element_number(e) % PRIME
    expected = hashlib.sha256((num * pow(den, -1, PRIME) % PRIME).to_bytes(SIZE, "little")).digest()
    h = MuHash3072()
    h.insert_many(inserted)
    h.remove_many(removed)
    assert h.digest() == expected
    assert MuHash3072.from_bytes(h.to_bytes()).digest() == expected


def test_python_int_backend_gives_the_same_digests() -> None:
    """Run the module with gmpy2 hidden and compare: stored accumulators must be portable
    between nodes with and without the accelerator."""
    script = (
        "import sys; sys.modules['gmpy2'] = None\n"
        "from node.ledger.muhash import BACKEND, MuHash3072\n"
        "h = MuHash3072(); h.insert_many([b'a', b'b', b'c']); h.remove(b'b')\n"
        "r = MuHash3072.from_bytes(h.to_bytes()); r.insert(b'd')\n"
        "print(BACKEND, h.digest().hex(), r.digest().hex())\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    backend, digest, restored = out.split()
    assert backend == "int"
    h = MuHash3072()
    h.insert_many([b"a", b"c"])
    assert digest == h.digest().hex()
    h.insert(b"d")
    assert restored == h.digest().hex()


@given(elements, elements, st.integers(1, 5))
def test_parallel_product_equals_sequential(inserted: list[bytes], removed: list[bytes], chunk: int) -> None:
    with ThreadPoolExecutor(2) as pool:
        parallel = parallel_product(pool, inserted, removed, chunk=chunk)
    h = MuHash3072()
    h.insert_many(inserted)
    h.remove_many(removed)
    assert parallel == h and parallel.digest() == h.digest()
