"""Earmarked money: purposes, their registered recipients, and the record layout in state.

A purpose ("carbon-airdrop", "relocation-fund") is defined by an institution, or by the
central bank (its issuer keys, m-of-n as for issuance) appointing an institution; that one
institution alone earmarks money for it and registers its recipients. Earmarked money is an
output locked by a purpose lock (node.ledger.conditions: one clause pk(holder), `purpose`
set), so the UTXO set commits to the earmark by hash. The registry
lives in keyed ledger records (Overlay.put_record), which the state root commits to:

    b"p" + name                          -> operating institution 32 | description (UTF-8)
    b"q" + len(name) 1 + name + address  -> role 1 (BENEFICIARY or MERCHANT)
    b"e" + holder                        -> earmarked total 8 (uint64 big-endian; absent: 0)

The earmarked total is what a holder holds in earmark locks of every purpose. Its tier's
balance cap counts it beside the holder's plain balance, so a plain payment pays one more
read (this record) instead of a search of the holder's locks; the rules keep it in step with
every earmarked output created or spent, and the state root commits to it like any record.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from node.ledger.state import StateView

PURPOSE_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
MAX_DESCRIPTION = 200

REMOVED, BENEFICIARY, MERCHANT = 0, 1, 2
ROLE_NAMES = {BENEFICIARY: "beneficiary", MERCHANT: "merchant"}


@dataclass(frozen=True, slots=True)
class Purpose:
    name: str
    institution: bytes
    description: str

    def encode(self) -> bytes:
        return self.institution + self.description.encode()


def purpose_key(name: str) -> bytes:
    return b"p" + name.encode()


def recipient_key(name: str, address: bytes) -> bytes:
    encoded = name.encode()
    return b"q" + len(encoded).to_bytes(1, "big") + encoded + address


def recipients_prefix(name: str) -> bytes:
    encoded = name.encode()
    return b"q" + len(encoded).to_bytes(1, "big") + encoded


def read_purpose(view: StateView, name: str) -> Purpose | None:
    data = view.record(purpose_key(name))
    if data is None:
        return None
    return Purpose(name, data[:32], data[32:].decode())


def role_of(view: StateView, name: str, address: bytes) -> int:
    """BENEFICIARY, MERCHANT, or REMOVED (0) when `address` is not registered for `name`."""
    data = view.record(recipient_key(name, address))
    return REMOVED if data is None else data[0]


def earmarked_key(holder: bytes) -> bytes:
    return b"e" + holder


def read_earmarked(view: StateView, holder: bytes) -> int:
    """What `holder` holds in earmarked money, over every purpose (0 when nothing)."""
    data = view.record(earmarked_key(holder))
    return 0 if data is None else int.from_bytes(data, "big")


def encode_earmarked(total: int) -> bytes | None:
    """The record value of a total (None deletes the record: nothing held)."""
    return total.to_bytes(8, "big") if total else None


def valid_name(name: str) -> bool:
    return PURPOSE_NAME.fullmatch(name) is not None
