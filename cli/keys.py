"""`cbdc keys new|show|address|encrypt|decrypt`: ed25519 key files for wallets, institutions,
issuers and validators, in clear or sealed under a passphrase (argon2id + secretbox)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click

from cli.connect import ask_passphrase, handle_errors, json_option, load_key
from cli.format import emit_json, print_fields

_PASSPHRASE_FILE_HELP = (
    "Read the passphrase from this file (one trailing newline ignored) instead of "
    "$CBDC_KEY_PASSPHRASE_FILE, $CBDC_KEY_PASSPHRASE or a prompt."
)


def passphrase_file_option(command):
    return click.option(
        "--passphrase-file",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help=_PASSPHRASE_FILE_HELP,
    )(command)


def _new_passphrase(path: Path, passphrase_file: Path | None) -> bytes:
    """The passphrase to seal `path` with; a usage error (exit 2) when none can be had."""
    from node.ledger.keys import KeyFileError, read_passphrase_file

    if passphrase_file is not None:
        return read_passphrase_file(passphrase_file)
    passphrase = ask_passphrase(path, confirm=True)
    if not passphrase:
        raise KeyFileError(
            path, "needs a passphrase to encrypt: give --passphrase-file, set $CBDC_KEY_PASSPHRASE, "
            "or run on a terminal to be prompted"
        )
    return passphrase


def _old_passphrase(passphrase_file: Path | None) -> bytes | None:
    from node.ledger.keys import read_passphrase_file

    return read_passphrase_file(passphrase_file) if passphrase_file is not None else None


@click.group()
def keys() -> None:
    """Create and inspect key files (JSON, mode 0600; the secret is never printed)."""


@keys.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new key file (refuses to overwrite).")
@click.option("--encrypt", is_flag=True, help="Seal the secret under a passphrase (argon2id + secretbox).")
@passphrase_file_option
@json_option
@handle_errors
def new(out: Path, encrypt: bool, passphrase_file: Path | None, as_json: bool) -> None:
    """Generate a key pair and write it to --out with mode 0600.

    Example: cbdc keys new --out alice.key   (or --encrypt to seal it under a passphrase)
    """
    from node.ledger.keys import KeyFileError, KeyPair, save_key

    if not out.parent.is_dir():
        raise KeyFileError(out, f"directory {out.parent} does not exist")
    if out.exists():
        raise KeyFileError(out, "already exists; refusing to overwrite a key")
    passphrase = _new_passphrase(out, passphrase_file) if encrypt else None
    key = KeyPair.generate()
    save_key(out, key, passphrase=passphrase)
    doc = {"file": str(out), "address": key.address, "public_key": key.public.hex(),
           "encrypted": passphrase is not None}
    if as_json:
        emit_json(doc)
    else:
        sealed = ", encrypted" if passphrase is not None else ""
        click.echo(f"wrote {out} (mode 0600{sealed}; keep it secret, losing it loses its money)")
        click.echo(f"address: {key.address}")


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@passphrase_file_option
@handle_errors
def encrypt(file: Path, passphrase_file: Path | None) -> None:
    """Seal an unencrypted key file under a passphrase, in place (atomically).

    Example: cbdc keys encrypt validator.key --passphrase-file /run/credentials/cbdc
    """
    from node.ledger.keys import KeyFileError, is_encrypted, read_key_text, save_key

    if is_encrypted(read_key_text(file)):
        raise KeyFileError(file, "is already encrypted")
    key = load_key(file)
    save_key(file, key, overwrite=True, passphrase=_new_passphrase(file, passphrase_file))
    click.echo(f"encrypted {file} (address {key.address})")


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@passphrase_file_option
@handle_errors
def decrypt(file: Path, passphrase_file: Path | None) -> None:
    """Rewrite an encrypted key file in clear, in place (atomically; mode 0600)."""
    from node.ledger.keys import KeyFileError, is_encrypted, read_key_text, save_key

    if not is_encrypted(read_key_text(file)):
        raise KeyFileError(file, "is not encrypted")
    key = load_key(file, _old_passphrase(passphrase_file))
    save_key(file, key, overwrite=True)
    click.echo(f"decrypted {file} (address {key.address}); whoever can read the file now holds the key")


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@json_option
@handle_errors
def show(file: Path, as_json: bool) -> None:
    """Show a key file's address, public key, permissions and whether it is encrypted
    (never the secret; no passphrase needed)."""
    from node.ledger.keys import is_encrypted, public_of, read_key_text

    text = read_key_text(file)
    encrypted = is_encrypted(text)
    public = public_of(text, file) if encrypted else load_key(file).public
    from node.ledger.address import encode_address

    address_text = encode_address(public)
    mode = f"{stat.S_IMODE(os.stat(file).st_mode):04o}"
    doc = {"file": str(file), "address": address_text, "public_key": public.hex(), "mode": mode,
           "encrypted": encrypted}
    if as_json:
        emit_json(doc)
    else:
        print_fields([("file", file), ("address", address_text), ("public key", public.hex()),
                      ("mode", mode), ("encrypted", "yes" if encrypted else "no")])


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@handle_errors
def address(file: Path) -> None:
    """Print only the address of a key file (for scripts: ADDR=$(cbdc keys address a.key))."""
    from node.ledger.address import encode_address
    from node.ledger.keys import is_encrypted, public_of, read_key_text

    text = read_key_text(file)
    if is_encrypted(text):
        click.echo(encode_address(public_of(text, file)))
    else:
        click.echo(load_key(file).address)
