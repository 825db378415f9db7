"""Domain types of the ledger state, with the fixed-layout encodings the store and the
state root use. These layouts are internal (LevelDB values, state-root elements), not wire
format, and are deterministic by construction: no protobuf involved.
"""

from __future__ import annotations

from dataclasses import dataclass

U64_MAX = (1 << 64) - 1


@dataclass(frozen=True, slots=True)
class OutPoint:
    txid: bytes
    index: int

    def key(self) -> bytes:
        return self.txid + self.index.to_bytes(4, "big")

    @classmethod
    def from_key(cls, key: bytes) -> OutPoint:
        return cls(key[:32], int.from_bytes(key[32:36], "big"))


@dataclass(frozen=True, slots=True)
class Output:
    owner: bytes   # 32-byte ed25519 public key
    amount: int    # fen, 1 .. 2**64-1

    def encode(self) -> bytes:
        return self.owner + self.amount.to_bytes(8, "big")

    @classmethod
    def decode(cls, data: bytes) -> Output:
        return cls(data[:32], int.from_bytes(data[32:40], "big"))


@dataclass(frozen=True, slots=True)
class Wallet:
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
        kyc = self.kyc_commitment
        return b"".join((
            self.address,
            self.tier.to_bytes(4, "big"),
            self.institution,
            len(kyc).to_bytes(1, "big"),
            kyc,
            self.day.to_bytes(4, "big"),
            self.day_outflow.to_bytes(8, "big"),
            self.year.to_bytes(4, "big"),
            self.year_outflow.to_bytes(8, "big"),
        ))

    @classmethod
    def decode(cls, data: bytes) -> Wallet:
        klen = data[68]
        p = 69 + klen
        return cls(
            address=data[:32],
            tier=int.from_bytes(data[32:36], "big"),
            institution=data[36:68],
            kyc_commitment=data[69:p],
            day=int.from_bytes(data[p : p + 4], "big"),
            day_outflow=int.from_bytes(data[p + 4 : p + 12], "big"),
            year=int.from_bytes(data[p + 12 : p + 16], "big"),
            year_outflow=int.from_bytes(data[p + 16 : p + 24], "big"),
        )


@dataclass(frozen=True, slots=True)
class Supply:
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
