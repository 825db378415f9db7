"""`cbdc signer`: run a remote signer holding a validator's consensus key and sign-state,
serving its node over a Unix socket (node/signer/). The node points at it with
[signer] socket in its config.toml and then needs no validator.key of its own."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from cli.common import EXIT_USAGE, fail
from cli.connect import load_key


@click.command()
@click.option("--key", "key_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The validator key file (encrypted ones are opened with $CBDC_KEY_PASSPHRASE_FILE, "
                   "$CBDC_KEY_PASSPHRASE, --passphrase-file or a prompt).")
@click.option("--state", "state_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="The signer's sign-state file (created on the first signature; keep it with the key).")
@click.option("--socket", "socket_path", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Unix socket to serve the node on (created with mode 0600).")
@click.option("--chain-id", required=True, help="The only chain this signer signs for.")
@click.option("--passphrase-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Read the key's passphrase from this file.")
@click.option("--log-level", type=click.Choice(["debug", "info", "warning", "error"]), default="info",
              show_default=True)
def signer(key_file: Path, state_file: Path, socket_path: Path, chain_id: str,
           passphrase_file: Path | None, log_level: str) -> None:
    """Hold a validator's consensus key and sign for its node until SIGINT or SIGTERM.

    It refuses to sign anything below what it signed last (a regression), signs only for
    CHAIN_ID, and only for processes of the same Unix user.

    Example: cbdc signer --key validator.key --state signer_state.bin --socket /run/cbdc/signer.sock
    --chain-id cbdc-devnet
    """
    import nacl.signing

    from consensus.signer import SignStateError
    from node.consensus_disk import SignStateFile
    from node.ledger.keys import KeyFileError, read_passphrase_file
    from node.logs import configure_logging
    from node.signer.server import SignerService, run_signer

    configure_logging(log_level, "text")
    try:
        passphrase = read_passphrase_file(passphrase_file) if passphrase_file is not None else None
        key = load_key(key_file, passphrase)
        service = SignerService(nacl.signing.SigningKey(key.seed), chain_id, SignStateFile(state_file))
    except KeyFileError as err:
        fail(str(err), EXIT_USAGE)
    except SignStateError as err:
        fail(f"cannot start the signer: {state_file}: {err}")
    try:
        asyncio.run(run_signer(service, socket_path))
    except OSError as err:
        fail(f"cannot start the signer: {err}")
