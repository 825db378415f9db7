"""MuHash3072: the order-independent, incremental set hash behind the state root.

The same construction Bitcoin Core uses for its UTXO set hash (`gettxoutsetinfo muhash`):
every element of a set is mapped to a number modulo the prime P = 2**3072 - 1103717 and the
set hash is the product of those numbers. Inserting multiplies, removing divides, so the
hash of a set does not depend on the order of insertions and can be updated per block
instead of recomputed over the whole ledger.

Differences from Bitcoin Core, on purpose:
- Element -> number uses SHAKE256 (output 384 bytes, read little-endian) instead of
  ChaCha20 keyed by SHA-256(element). Both are extendable-output functions modelled as a
  random oracle; SHAKE256 is in hashlib, so no extra dependency. Digests therefore differ
  from Bitcoin's for the same data.
- Reduction uses the special form of P (2**3072 = 1103717 mod P), which is several times
  faster than Python's generic `%` for these sizes.

As in Bitcoin Core a numerator and a denominator are kept separately, so each update is one
multiplication and the one modular inverse is paid only when a digest is finalised.
An element mapping to 0 mod P would break division; the chance is about 2**-3072.

Speed: one 3072-bit multiplication per element is the floor, and CPython's own integers take
~8 us for it. When gmpy2 (GMP) is installed it is used instead (~4x faster per element);
results are identical either way (tests compare the two), `BACKEND` says which one runs.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Executor
from typing import Any

from node.ledger.types import OutPoint, Output, Wallet

BITS = 3072
SIZE = BITS // 8  # 384 bytes
PRIME_OFFSET = 1103717
PRIME = (1 << BITS) - PRIME_OFFSET
_MASK = (1 << BITS) - 1
STATE_SIZE = 2 * SIZE

try:  # optional accelerator; plain ints give the same numbers
    import gmpy2

    def _number_gmp(digest: bytes) -> Any:
        # gmpy2's binary format: type 0x01 (mpz), 0x01 (positive), then little-endian magnitude.
        return gmpy2.from_binary(b"\x01\x01" + digest)

    _number: Callable[[bytes], Any] = _number_gmp
    _one: Any = gmpy2.mpz(1)
    _MASK_NUM: Any = gmpy2.mpz(_MASK)
    BACKEND = "gmpy2"
except ImportError:  # pragma: no cover - depends on the environment
    gmpy2 = None

    def _number_int(digest: bytes) -> int:
        return int.from_bytes(digest, "little")

    _number = _number_int
    _one = 1
    _MASK_NUM = _MASK
    BACKEND = "int"


def _reduce(x: Any) -> Any:
    """A number congruent to x mod P that fits in 3072 bits (not necessarily < P).

    2**3072 = PRIME_OFFSET (mod P): fold the high part down until nothing is left above
    bit 3072. Two folds suffice for any product of two 3072-bit numbers.
    """
    high = x >> BITS
    while high:
        x = (x & _MASK_NUM) + high * PRIME_OFFSET
        high = x >> BITS
    return x


def element_number(data: bytes) -> int:
    """The 3072-bit number an element maps to (SHAKE256 output, little-endian)."""
    return int.from_bytes(hashlib.shake_256(data).digest(SIZE), "little")


def utxo_element(outpoint: OutPoint, output: Output) -> bytes:
    """Set element of an unspent output: b"u" + outpoint key (36) + output (40)."""
    return b"u" + outpoint.key() + output.encode()


def wallet_element(wallet: Wallet) -> bytes:
    """Set element of a wallet record. Records carry running outflow totals, so an update
    removes the old element and inserts the new one."""
    return b"w" + wallet.encode()


def product(elements: Iterable[bytes]) -> Any:
    """Product (mod P, not fully reduced) of the numbers of the given elements."""
    acc = _one
    shake, number, mask, offset = hashlib.shake_256, _number, _MASK_NUM, PRIME_OFFSET
    for data in elements:
        acc = acc * number(shake(data).digest(SIZE))
        # _reduce, inlined (this loop is the hot path of every block), reusing the high part
        # it tests instead of shifting twice.
        high = acc >> BITS
        while high:
            acc = (acc & mask) + high * offset
            high = acc >> BITS
    return acc


def product_memo(elements: Iterable[bytes], memo: dict[bytes, Any], *, remember: bool) -> Any:
    """product() that takes an element's number from `memo` when present. With `remember`
    the numbers of these elements are added to `memo` (elements entering the set, whose
    removal later can skip SHAKE256 and the conversion); without it the ones found are
    dropped from it (elements leaving the set). The caller bounds the memo's size."""
    acc = _one
    shake, number, mask, offset = hashlib.shake_256, _number, _MASK_NUM, PRIME_OFFSET
    get, pop = memo.get, memo.pop
    for data in elements:
        x = get(data) if remember else pop(data, None)
        if x is None:
            x = number(shake(data).digest(SIZE))
            if remember:
                memo[data] = x
        acc = acc * x
        high = acc >> BITS  # product()'s inlined reduction
        while high:
            acc = (acc & mask) + high * offset
            high = acc >> BITS
    return acc


def _inverse(x: Any) -> int:
    if gmpy2 is not None:
        return int(gmpy2.invert(x, PRIME))
    return pow(x, -1, PRIME)


class MuHash3072:
    """A running set hash. Not thread-safe; cheap to copy()."""

    __slots__ = ("denominator", "numerator")

    def __init__(self, numerator: int = 1, denominator: int = 1) -> None:
        self.numerator: Any = numerator
        self.denominator: Any = denominator

    # --- updates -----------------------------------------------------------------------
    def insert(self, data: bytes) -> None:
        self.numerator = _reduce(self.numerator * product((data,)))

    def remove(self, data: bytes) -> None:
        self.denominator = _reduce(self.denominator * product((data,)))

    def insert_many(self, elements: Iterable[bytes], memo: dict[bytes, Any] | None = None) -> None:
        """Insert every element; with `memo`, see product_memo (numbers are remembered)."""
        part = product(elements) if memo is None else product_memo(elements, memo, remember=True)
        self.numerator = _reduce(self.numerator * part)

    def remove_many(self, elements: Iterable[bytes], memo: dict[bytes, Any] | None = None) -> None:
        """Remove every element; with `memo`, see product_memo (numbers found are used up)."""
        part = product(elements) if memo is None else product_memo(elements, memo, remember=False)
        self.denominator = _reduce(self.denominator * part)

    def combine(self, other: MuHash3072) -> None:
        """Union with a disjoint set (or apply another accumulator's inserts/removes)."""
        self.numerator = _reduce(self.numerator * other.numerator)
        self.denominator = _reduce(self.denominator * other.denominator)

    def copy(self) -> MuHash3072:
        return MuHash3072(self.numerator, self.denominator)

    # --- finalising ----------------------------------------------------------------------
    def value(self) -> int:
        """numerator / denominator mod P, in [0, P). Costs one modular inverse."""
        return int(self.numerator * _inverse(self.denominator % PRIME) % PRIME)

    def normalize(self) -> None:
        """Fold the denominator in (one inverse), e.g. before persisting."""
        self.numerator = self.value()
        self.denominator = 1

    def digest(self) -> bytes:
        """SHA-256 of the 384-byte little-endian value, as Bitcoin Core's MuHash3072::Finalize."""
        return hashlib.sha256(self.value().to_bytes(SIZE, "little")).digest()

    # --- persistence ---------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        """768 bytes: numerator then denominator, each reduced mod P, little-endian."""
        num, den = int(self.numerator % PRIME), int(self.denominator % PRIME)
        return num.to_bytes(SIZE, "little") + den.to_bytes(SIZE, "little")

    @classmethod
    def from_bytes(cls, data: bytes) -> MuHash3072:
        if len(data) != STATE_SIZE:
            raise ValueError(f"MuHash3072 state is {STATE_SIZE} bytes, got {len(data)}")
        return cls(_number(data[:SIZE]), _number(data[SIZE:]))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, MuHash3072):
            return NotImplemented
        # Same set <=> num1 * den2 == num2 * den1 (mod P); no inverse needed.
        return (self.numerator * other.denominator - other.numerator * self.denominator) % PRIME == 0

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"MuHash3072({self.digest().hex()})"


def product_int(elements: Sequence[bytes]) -> int:
    """product() as a plain int (picklable the same way whatever the backend): the task a
    worker runs for parallel_product."""
    return int(product(elements))


def parallel_product(
    executor: Executor, inserted: Sequence[bytes], removed: Sequence[bytes], chunk: int = 1_024
) -> MuHash3072:
    """An accumulator of `inserted` over `removed`, the products computed on `executor`'s
    workers in chunks (a block's thousands of elements), combined here."""
    parts = [
        (is_insert, executor.submit(product_int, elements[i : i + chunk]))
        for is_insert, elements in ((True, inserted), (False, removed))
        for i in range(0, len(elements), chunk)
    ]
    result = MuHash3072()
    for is_insert, future in parts:
        if is_insert:
            result.numerator = _reduce(result.numerator * future.result())
        else:
            result.denominator = _reduce(result.denominator * future.result())
    return result
