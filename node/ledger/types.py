"""Domain types of the ledger state, with the fixed-layout encodings the store and the
state root use. These layouts are internal (LevelDB values, state-root elements), not wire
format, and are deterministic by construction: no protobuf involved.

The types are NamedTuples rather than dataclasses: every transaction hashes OutPoints into
several dicts (overlay, read caches, mempool) and builds a handful of these records, and
tuple hashing, equality and construction run in C (a dict lookup keyed by a frozen
dataclass cost ~10x more, its generated __hash__/__eq__ being Python code).
"""

from __future__ import annotations

from struct import Struct
from typing import NamedTuple

U64_MAX = (1 << 64) - 1

_WALLET_HEAD = Struct(">32sI32sB")   # address, tier, institution, len(kyc_commitment)
_WALLET_TAIL = Struct(">IQIQ")       # day, day_outflow, year, year_outflow


class OutPoint(NamedTuple):
    txid: bytes
    index: int

    def key(self) -> bytes:
        return self[0] + self[1].to_bytes(4, "big")

    @classmethod
    def from_key(cls, key: bytes) -> OutPoint:
        return cls(key[:32], int.from_bytes(key[32:36], "big"))


class Output(NamedTuple):
    owner: bytes   # 32-byte ed25519 public key
    amount: int    # fen, 1 .. 2**64-1

    def encode(self) -> bytes:
        return self[0] + self[1].to_bytes(8, "big")

    @classmethod
    def decode(cls, data: bytes) -> Output:
        return cls(data[:32], int.from_bytes(data[32:40], "big"))


class Wallet(NamedTuple):
    """A whitelisted address. Running outflow totals live here so tier limits are checked
    against committed state alone; `day`/`year` say which period the totals belong to
    (day number and year in the chain's UTC offset), and a new period starts from zero."""

    address: bytes
    tier: int
    institution: bytes
    kyc_commitment: bytes = b""
    day: int = 0
    day_outflow: int = 0
    year: int = 0
    year_outflow: int = 0

    def encode(self) -> bytes:
        address, tier, institution, kyc, day, day_outflow, year, year_outflow = self
        if len(address) == 32 and len(institution) == 32:
            try:
                return (
                    _WALLET_HEAD.pack(address, tier, institution, len(kyc))
                    + kyc
                    + _WALLET_TAIL.pack(day, day_outflow, year, year_outflow)
                )
            except Exception:  # an out-of-range field: the generic path below raises as before
                pass
        # Same layout, with int.to_bytes's errors for out-of-range fields and keys of
        # another length kept as they are (struct would pad or truncate them).
        return b"".join((
            address,
            tier.to_bytes(4, "big"),
            institution,
            len(kyc).to_bytes(1, "big"),
            kyc,
            day.to_bytes(4, "big"),
            day_outflow.to_bytes(8, "big"),
            year.to_bytes(4, "big"),
            year_outflow.to_bytes(8, "big"),
        ))

    @classmethod
    def decode(cls, data: bytes) -> Wallet:
        klen = data[68]
        p = 69 + klen
        if len(data) == p + 24:
            day, day_outflow, year, year_outflow = _WALLET_TAIL.unpack_from(data, p)
        else:
            day = int.from_bytes(data[p : p + 4], "big")
            day_outflow = int.from_bytes(data[p + 4 : p + 12], "big")
            year = int.from_bytes(data[p + 12 : p + 16], "big")
            year_outflow = int.from_bytes(data[p + 16 : p + 24], "big")
        return cls(
            data[:32], int.from_bytes(data[32:36], "big"), data[36:68], data[69:p],
            day, day_outflow, year, year_outflow,
        )


class Supply(NamedTuple):
    issued: int = 0
    redeemed: int = 0

    @property
    def outstanding(self) -> int:
        return self.issued - self.redeemed

    def encode(self) -> bytes:
        return self.issued.to_bytes(16, "big") + self.redeemed.to_bytes(16, "big")

    @classmethod
    def decode(cls, data: bytes) -> Supply:
        return cls(int.from_bytes(data[:16], "big"), int.from_bytes(data[16:32], "big"))
