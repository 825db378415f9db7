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
    (day number and year in the chain's UTC offset), and a new period starts from zero.

    `status` is one of the WALLET_* values below and `reason` the governance reason code of
    the last freeze or deregistration (node.ledger.governance.REASONS). An active wallet
    encodes exactly as before governance existed (the two bytes are appended only when the
    status is not active), so the state root of a chain without freezes is unchanged."""

    address: bytes
    tier: int
    institution: bytes
    kyc_commitment: bytes = b""
    day: int = 0
    day_outflow: int = 0
    year: int = 0
    year_outflow: int = 0
    status: int = 0
    reason: int = 0

    def encode(self) -> bytes:
        address, tier, institution, kyc, day, day_outflow, year, year_outflow, status, reason = self
        tail = b"" if not status else bytes((status, reason))
        if len(address) == 32 and len(institution) == 32:
            try:
                return (
                    _WALLET_HEAD.pack(address, tier, institution, len(kyc))
                    + kyc
                    + _WALLET_TAIL.pack(day, day_outflow, year, year_outflow)
                    + tail
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
            tail,
        ))

    @classmethod
    def decode(cls, data: bytes) -> Wallet:
        klen = data[68]
        p = 69 + klen
        if len(data) == p + 24:
            day, day_outflow, year, year_outflow = _WALLET_TAIL.unpack_from(data, p)
            status = reason = 0
        else:
            day = int.from_bytes(data[p : p + 4], "big")
            day_outflow = int.from_bytes(data[p + 4 : p + 12], "big")
            year = int.from_bytes(data[p + 12 : p + 16], "big")
            year_outflow = int.from_bytes(data[p + 16 : p + 24], "big")
            status, reason = (data[p + 24], data[p + 25]) if len(data) >= p + 26 else (0, 0)
        return cls(
            data[:32], int.from_bytes(data[32:36], "big"), data[36:68], data[69:p],
            day, day_outflow, year, year_outflow, status, reason,
        )

    @property
    def active(self) -> bool:
        return not self[8]


# Wallet.status values. Who froze a wallet decides who may unfreeze it: a freeze by the
# authority (court order, AML) cannot be lifted by the institution.
WALLET_ACTIVE = 0
WALLET_FROZEN_BY_INSTITUTION = 1
WALLET_FROZEN_BY_AUTHORITY = 2
WALLET_DEREGISTERED = 3
WALLET_STATUS_NAMES = {
    WALLET_ACTIVE: "active",
    WALLET_FROZEN_BY_INSTITUTION: "frozen by its institution",
    WALLET_FROZEN_BY_AUTHORITY: "frozen by the authority",
    WALLET_DEREGISTERED: "deregistered",
}


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
