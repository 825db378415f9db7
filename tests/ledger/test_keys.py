"""Key files: mode 0600 from creation, a warning when others can read, clear errors."""

from __future__ import annotations

import json
import os
import stat
import warnings
from pathlib import Path

import pytest

from node.ledger.crypto import verify
from node.ledger.keys import (
    KeyFileError,
    KeyFilePermissionWarning,
    KeyPair,
    load_key,
    load_key_checked,
    save_key,
)


def test_round_trip_and_mode(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = save_key(tmp_path / "bank.key", key)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc == {"type": "ed25519", "public_key": key.public.hex(), "address": key.address,
                   "secret_seed": key.seed.hex()}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no warning for a private file
        loaded = load_key(path)
    assert loaded == key
    assert verify(key.public, b"m", loaded.sign(b"m"))
    assert [p.name for p in tmp_path.iterdir()] == ["bank.key"]  # no temp file left behind


def test_secret_never_in_repr() -> None:
    key = KeyPair.generate()
    assert key.seed.hex() not in repr(key) and key.address in repr(key)


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = save_key(tmp_path / "k", KeyPair.generate())
    with pytest.raises(KeyFileError, match="already exists"):
        save_key(path, KeyPair.generate())
    other = KeyPair.generate()
    save_key(path, other, overwrite=True)
    assert load_key(path) == other


def test_warns_when_others_can_read(tmp_path: Path) -> None:
    path = save_key(tmp_path / "k", KeyPair.generate())
    os.chmod(path, 0o644)
    with pytest.warns(KeyFilePermissionWarning, match="chmod 600"):
        load_key(path)
    _, warning = load_key_checked(path)
    assert warning is not None and "0644" in warning
    os.chmod(path, 0o600)
    assert load_key_checked(path)[1] is None


def test_missing_and_garbled(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist") as e:
        load_key(tmp_path / "nope.key")
    assert str(tmp_path / "nope.key") in str(e.value)
    cases = {
        "{not json": "not valid JSON",
        "[]": "JSON object",
        '{"type": "rsa"}': "type must be 'ed25519'",
        '{"type": "ed25519"}': "secret_seed is missing",
        '{"type": "ed25519", "secret_seed": "zz"}': "not hex",
        '{"type": "ed25519", "secret_seed": "abcd"}': "32 bytes",
    }
    for i, (text, message) in enumerate(cases.items()):
        path = tmp_path / f"bad{i}.key"
        path.write_text(text)
        os.chmod(path, 0o600)
        with pytest.raises(KeyFileError, match=message):
            load_key(path)


def test_mismatched_fields_are_detected(tmp_path: Path) -> None:
    key, other = KeyPair.generate(), KeyPair.generate()
    path = save_key(tmp_path / "k", key)
    doc = json.loads(path.read_text())
    for field, value, message in [
        ("public_key", other.public.hex(), "public_key does not belong"),
        ("address", other.address, "address does not belong"),
        ("address", key.address[:-1] + ("q" if key.address[-1] != "q" else "p"), "mistyped"),
    ]:
        bad = dict(doc, **{field: value})
        path.write_text(json.dumps(bad))
        with pytest.raises(KeyFileError, match=message):
            load_key(path)
