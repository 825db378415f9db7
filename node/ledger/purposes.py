"""Earmarked money: purposes, their registered recipients, and the record layout in state.

A purpose ("carbon-airdrop", "relocation-fund") is defined by an institution, which alone
earmarks money for it and registers its recipients. Earmarked money is an output locked by a
purpose lock (node.ledger.conditions: one clause pk(holder), `purpose` set), so the UTXO set
commits to the earmark by hash and a plain payment never has to look one up. The registry
lives in keyed ledger records (Overlay.put_record), which the state root commits to:

    b"p" + name                          -> defining institution 32 | description (UTF-8)
    b"q" + len(name) 1 + name + address  -> role 1 (BENEFICIARY or MERCHANT)
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


def valid_name(name: str) -> bool:
    return PURPOSE_NAME.fullmatch(name) is not None
