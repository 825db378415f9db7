"""bech32m addresses: the BIP-350 test vectors, and the messages a person sees."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from node.ledger.address import (
    CHARSET,
    AddressError,
    bech32m_decode,
    bech32m_encode,
    convert_bits,
    decode_address,
    encode_address,
    is_address,
)

# BIP-350: valid bech32m strings.
VALID_BECH32M = [
    "A1LQFN3A",
    "a1lqfn3a",
    "an83characterlonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11sg7hg6",
    "abcdef1l7aum6echk45nj3s0wdvt2fg8x9yrzpqzd3ryx",
    "11llllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllllludsr8",
    "split1checkupstagehandshakeupstreamerranterredcaperredlc445v",
    "?1v759aa",
]

# BIP-350: invalid bech32m strings (with the reason the BIP gives).
INVALID_BECH32M = [
    "\x201xj0phk",        # HRP character out of range
    "\x7f1g6xzxy",        # HRP character out of range
    "\x801vctc34",        # HRP character out of range
    "an84characterslonghumanreadablepartthatcontainsthetheexcludedcharactersbioandnumber11d6pts4",
    "qyrz8wqd2c9m",       # no separator
    "1qyrz8wqd2c9m",      # empty HRP
    "y1b0jsk6g",          # invalid data character
    "lt1igcx5c0",         # invalid data character
    "in1muywd",           # too short checksum
    "mm1crxm3i",          # invalid character in checksum
    "au1s5cgom",          # invalid character in checksum
    "M1VUXWEZ",           # checksum calculated with upper-case form of HRP
    "16plkw9",            # empty HRP
    "1p2gdwpf",           # empty HRP
]

# BIP-350 segwit vectors that use bech32m (witness version >= 1): (address, scriptPubKey hex).
SEGWIT_BECH32M = [
    ("bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y",
     "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"),
    ("BC1SW50QGDZ25J", "6002751e"),
    ("bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"),
    ("tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
     "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
    ("bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
]


@pytest.mark.parametrize("text", VALID_BECH32M)
def test_bip350_valid(text: str) -> None:
    hrp, data = bech32m_decode(text)
    assert bech32m_encode(hrp, data) == text.lower()


@pytest.mark.parametrize("text", INVALID_BECH32M)
def test_bip350_invalid(text: str) -> None:
    with pytest.raises(AddressError):
        bech32m_decode(text)


@pytest.mark.parametrize(("address", "script"), SEGWIT_BECH32M)
def test_bip350_segwit_programs(address: str, script: str) -> None:
    _, data = bech32m_decode(address)
    program = convert_bits(data[1:], 5, 8, pad=False)
    assert program is not None
    version = data[0]
    expected = bytes([version + 0x50 if version else 0, len(program)]) + bytes(program)
    assert expected.hex() == script


def test_bech32_checksum_is_refused_with_a_reason() -> None:
    # A valid BIP-173 (bech32, not bech32m) string.
    with pytest.raises(AddressError, match="old bech32"):
        bech32m_decode("A12UEL5L")


@given(st.binary(min_size=32, max_size=32))
def test_round_trip(key: bytes) -> None:
    addr = encode_address(key)
    assert addr.startswith("cbdc1") and len(addr) == 63
    assert decode_address(addr) == key
    assert decode_address(addr.upper()) == key


@given(st.binary(min_size=32, max_size=32), st.data())
def test_any_single_typo_is_caught(key: bytes, data: st.DataObject) -> None:
    addr = encode_address(key)
    pos = data.draw(st.integers(5, len(addr) - 1))
    char = data.draw(st.sampled_from(CHARSET).filter(lambda c: c != addr[pos]))
    typo = addr[:pos] + char + addr[pos + 1 :]
    with pytest.raises(AddressError, match="mistyped address"):
        decode_address(typo)


def test_messages_say_what_is_wrong() -> None:
    key = bytes(range(32))
    addr = encode_address(key)
    swapped = addr[:10] + addr[11] + addr[10] + addr[12:]
    with pytest.raises(AddressError, match="mistyped"):
        decode_address(swapped)
    other = bech32m_encode("bc", convert_bits(key, 8, 5, pad=True) or [])
    with pytest.raises(AddressError, match="prefix 'bc', expected 'cbdc'"):
        decode_address(other)
    short = bech32m_encode("cbdc", convert_bits(key[:20], 8, 5, pad=True) or [])
    with pytest.raises(AddressError, match="20 bytes, expected a 32-byte"):
        decode_address(short)
    with pytest.raises(AddressError, match="mixes upper and lower"):
        decode_address(addr[:10] + addr[10:].upper())
    with pytest.raises(AddressError, match="never used"):
        decode_address(addr[:10] + "b" + addr[11:])
    with pytest.raises(AddressError):
        encode_address(key[:31])
    assert is_address(addr) and not is_address(swapped)
    assert decode_address(f"  {addr}\n") == key  # pasted with whitespace
