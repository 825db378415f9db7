"""Human-readable addresses: bech32m (BIP-350) with prefix "cbdc" over a 32-byte ed25519 key.

bech32m's checksum detects any error in up to 4 characters, so a mistyped address is rejected
instead of paying a stranger. Written here (it is short) rather than taken from a dependency:
the algorithm is frozen by the BIP and the test vectors pin it.
"""

from __future__ import annotations

from node.ledger.crypto import KEY_SIZE

HRP = "cbdc"

CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_INDEX = {c: i for i, c in enumerate(CHARSET)}
BECH32M_CONST = 0x2BC830A3
BECH32_CONST = 1        # original bech32 (BIP-173); recognised only to give a precise error
MAX_LENGTH = 90
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


class AddressError(ValueError):
    """A string that is not a valid address; the message says what is wrong with it."""


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        top = chk >> 25
        chk = (chk & 0x1FFFFFF) << 5 ^ v
        for i in range(5):
            if (top >> i) & 1:
                chk ^= _GENERATOR[i]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, data: list[int]) -> list[int]:
    polymod = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ BECH32M_CONST
    return [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]


def bech32m_encode(hrp: str, data: list[int]) -> str:
    """Encode 5-bit groups under `hrp` (lower case)."""
    return hrp + "1" + "".join(CHARSET[d] for d in [*data, *_create_checksum(hrp, data)])


def bech32m_decode(text: str) -> tuple[str, list[int]]:
    """Split and check a bech32m string; returns (hrp, 5-bit data without the checksum).

    Raises AddressError naming the problem: characters, case, length, separator, checksum.
    """
    if any(ord(c) < 33 or ord(c) > 126 for c in text):
        raise AddressError("address contains a character outside printable ASCII")
    if text.lower() != text and text.upper() != text:
        raise AddressError("address mixes upper and lower case")
    if len(text) > MAX_LENGTH:
        raise AddressError(f"address is {len(text)} characters long, at most {MAX_LENGTH} allowed")
    text = text.lower()
    pos = text.rfind("1")
    if pos < 1:
        raise AddressError("address has no prefix (expected it to start with 'cbdc1')")
    if pos + 7 > len(text):
        raise AddressError("address is too short to carry a checksum")
    hrp, tail = text[:pos], text[pos + 1 :]
    bad = [c for c in tail if c not in _CHARSET_INDEX]
    if bad:
        raise AddressError(
            f"address contains {bad[0]!r}, which is never used in an address (mistyped?)"
        )
    data = [_CHARSET_INDEX[c] for c in tail]
    check = _polymod(_hrp_expand(hrp) + data)
    if check != BECH32M_CONST:
        if check == BECH32_CONST:
            raise AddressError("address uses the old bech32 checksum; a bech32m address is required")
        raise AddressError("mistyped address: the checksum does not match (check every character)")
    return hrp, data[:-6]


def convert_bits(data: bytes | list[int], from_bits: int, to_bits: int, pad: bool) -> list[int] | None:
    """Regroup bits (8 -> 5 to encode, 5 -> 8 to decode); None when the padding is invalid."""
    acc = bits = 0
    out: list[int] = []
    maxv = (1 << to_bits) - 1
    for value in data:
        if value < 0 or value >> from_bits:
            return None
        acc = (acc << from_bits) | value
        bits += from_bits
        while bits >= to_bits:
            bits -= to_bits
            out.append((acc >> bits) & maxv)
    if pad:
        if bits:
            out.append((acc << (to_bits - bits)) & maxv)
    elif bits >= from_bits or ((acc << (to_bits - bits)) & maxv):
        return None
    return out


def encode_address(pubkey: bytes) -> str:
    """The address of a 32-byte ed25519 public key, e.g. 'cbdc1...' (63 characters)."""
    if len(pubkey) != KEY_SIZE:
        raise AddressError(f"a public key is {KEY_SIZE} bytes, got {len(pubkey)}")
    data = convert_bits(pubkey, 8, 5, pad=True)
    assert data is not None  # 8-bit input always regroups
    return bech32m_encode(HRP, data)


def decode_address(text: str) -> bytes:
    """The 32-byte public key in an address; AddressError says whether it is mistyped,
    has the wrong prefix, or the wrong length."""
    if not isinstance(text, str):
        raise AddressError(f"an address is a string, got {type(text).__name__}")
    text = text.strip()
    hrp, data = bech32m_decode(text)
    if hrp != HRP:
        raise AddressError(f"address has prefix {hrp!r}, expected {HRP!r} (an address of another network?)")
    key = convert_bits(data, 5, 8, pad=False)
    if key is None:
        raise AddressError("address has invalid padding bits (truncated or extended?)")
    if len(key) != KEY_SIZE:
        raise AddressError(f"address carries {len(key)} bytes, expected a {KEY_SIZE}-byte public key")
    return bytes(key)


def is_address(text: str) -> bool:
    try:
        decode_address(text)
    except AddressError:
        return False
    return True

