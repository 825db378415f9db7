"""`cbdc keys new|show|address`: ed25519 key files for wallets, institutions and issuers."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import click

from cli.connect import handle_errors, json_option, load_key
from cli.format import emit_json, print_fields


@click.group()
def keys() -> None:
    """Create and inspect key files (JSON, mode 0600; the secret is never printed)."""


@keys.command()
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new key file (refuses to overwrite).")
@json_option
@handle_errors
def new(out: Path, as_json: bool) -> None:
    """Generate a key pair and write it to --out with mode 0600.

    Example: cbdc keys new --out alice.key
    """
    from node.ledger.keys import KeyPair, save_key

    if not out.parent.is_dir():
        from node.ledger.keys import KeyFileError

        raise KeyFileError(out, f"directory {out.parent} does not exist")
    key = KeyPair.generate()
    save_key(out, key)
    doc = {"file": str(out), "address": key.address, "public_key": key.public.hex()}
    if as_json:
        emit_json(doc)
    else:
        click.echo(f"wrote {out} (mode 0600; keep it secret, losing it loses its money)")
        click.echo(f"address: {key.address}")


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@json_option
@handle_errors
def show(file: Path, as_json: bool) -> None:
    """Show a key file's address, public key and permissions (never the secret)."""
    key = load_key(file)
    mode = f"{stat.S_IMODE(os.stat(file).st_mode):04o}"
    doc = {"file": str(file), "address": key.address, "public_key": key.public.hex(), "mode": mode}
    if as_json:
        emit_json(doc)
    else:
        print_fields([("file", file), ("address", key.address), ("public key", key.public.hex()),
                      ("mode", mode)])


@keys.command()
@click.argument("file", type=click.Path(path_type=Path))
@handle_errors
def address(file: Path) -> None:
    """Print only the address of a key file (for scripts: ADDR=$(cbdc keys address a.key))."""
    click.echo(load_key(file).address)
