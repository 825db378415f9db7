"""Key files sealed under a passphrase (argon2id + secretbox): round trip, refusals, and the
`cbdc keys new --encrypt | encrypt | decrypt | show` commands."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from node.ledger.keys import (
    ENV_PASSPHRASE,
    ENV_PASSPHRASE_FILE,
    KeyFileError,
    KeyPair,
    PassphraseRequired,
    is_encrypted,
    load_key,
    passphrase_from_environment,
    read_passphrase_file,
    save_key,
)
from tests.cli.helpers import assert_error, ok, ok_json, run

PASS = b"correct horse battery staple"


def test_an_encrypted_file_holds_no_seed_and_opens_with_its_passphrase(tmp_path: Path) -> None:
    key = KeyPair.generate()
    path = save_key(tmp_path / "v.key", key, passphrase=PASS)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    doc = json.loads(text)
    assert "secret_seed" not in doc and key.seed.hex() not in text
    assert doc["public_key"] == key.public.hex() and doc["address"] == key.address
    assert doc["encrypted"]["kdf"] == "argon2id" and doc["encrypted"]["cipher"] == "xsalsa20poly1305"
    assert is_encrypted(text)
    assert load_key(path, PASS) == key


def test_without_or_with_a_wrong_passphrase_it_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = save_key(tmp_path / "v.key", KeyPair.generate(), passphrase=PASS)
    with pytest.raises(PassphraseRequired, match="is encrypted; give its passphrase"):
        load_key(path)
    with pytest.raises(KeyFileError, match="passphrase does not open it"):
        load_key(path, b"wrong")


def test_an_altered_box_or_a_greedy_cost_is_refused(tmp_path: Path) -> None:
    path = save_key(tmp_path / "v.key", KeyPair.generate(), passphrase=PASS)
    doc = json.loads(path.read_text())
    box = bytearray(bytes.fromhex(doc["encrypted"]["box"]))
    box[-1] ^= 1
    doc["encrypted"]["box"] = box.hex()
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="passphrase does not open it"):
        load_key(path, PASS)
    doc["encrypted"]["memlimit"] = 1 << 40  # a crafted file must not make us allocate a TiB
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="memlimit must be"):
        load_key(path, PASS)


def test_a_swapped_public_key_is_caught_after_opening(tmp_path: Path) -> None:
    path = save_key(tmp_path / "v.key", KeyPair.generate(), passphrase=PASS)
    other = KeyPair.generate()
    doc = json.loads(path.read_text())
    doc["public_key"], doc["address"] = other.public.hex(), other.address
    path.write_text(json.dumps(doc))
    with pytest.raises(KeyFileError, match="public_key does not belong"):
        load_key(path, PASS)


def test_the_passphrase_comes_from_a_file_before_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_PASSPHRASE, raising=False)
    monkeypatch.delenv(ENV_PASSPHRASE_FILE, raising=False)
    assert passphrase_from_environment() is None
    monkeypatch.setenv(ENV_PASSPHRASE, "from-env")
    assert passphrase_from_environment() == b"from-env"
    secret = tmp_path / "pass"
    secret.write_bytes(b"from-file\n")
    monkeypatch.setenv(ENV_PASSPHRASE_FILE, str(secret))
    assert passphrase_from_environment() == b"from-file"
    (tmp_path / "empty").write_bytes(b"\n")
    with pytest.raises(KeyFileError, match="passphrase file is empty"):
        read_passphrase_file(tmp_path / "empty")


def test_cli_new_encrypt_show_decrypt_round_trip(tmp_path: Path) -> None:
    secret = tmp_path / "pass"
    secret.write_bytes(PASS + b"\n")
    out = tmp_path / "alice.key"
    made = ok_json("keys", "new", "--out", str(out), "--encrypt", "--passphrase-file", str(secret))
    assert made["encrypted"] is True and is_encrypted(out.read_text())
    shown = ok_json("keys", "show", str(out))  # no passphrase needed to see the address
    assert shown["address"] == made["address"] and shown["encrypted"] is True
    assert ok("keys", "address", str(out)).stdout.strip() == made["address"]
    # Without a passphrase and no terminal to ask on: a clear refusal, exit 2.
    assert_error(run("keys", "decrypt", str(out)), 2, "is encrypted; give its passphrase")
    ok("keys", "decrypt", str(out), "--passphrase-file", str(secret))
    assert not is_encrypted(out.read_text())
    assert load_key(out).address == made["address"]
    assert_error(run("keys", "decrypt", str(out)), 2, "is not encrypted")
    ok("keys", "encrypt", str(out), env={ENV_PASSPHRASE: "another one"})
    assert load_key(out, b"another one").address == made["address"]
    assert_error(run("keys", "encrypt", str(out)), 2, "is already encrypted")


def test_cli_commands_that_sign_open_an_encrypted_key_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "bob.key"
    key = KeyPair.generate()
    save_key(out, key, passphrase=PASS)
    shown = ok("keys", "show", str(out)).stdout
    assert "encrypted" in shown and "yes" in shown
    # cli.connect.load_key is what pay, balance and the bank commands use.
    from cli.connect import load_key as cli_load_key

    monkeypatch.delenv(ENV_PASSPHRASE_FILE, raising=False)
    monkeypatch.setenv(ENV_PASSPHRASE, PASS.decode())
    assert cli_load_key(out) == key
