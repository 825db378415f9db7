"""`cbdc multisig address|fund|pay|sign|submit`: m-of-n wallets (an enterprise treasury, a
supplier account).

A multi-signature wallet is a lock (node.client.locks.multisig_lock) named by its k and its
keys, in order; its address is the hash of the lock. Every key must be a registered wallet
or institution when money is locked (or an institution registers the address itself as a
wallet, with a tier of its own).

    cbdc multisig address --k 2 --keys $A,$B,$C
    cbdc multisig fund --from bank.key --k 2 --keys $A,$B,$C --amount 100000
    cbdc multisig pay --k 2 --keys $A,$B,$C --to $SUPPLIER --amount 40000 --signer a.key --signer c.key

Members who are not in one place sign a draft file in turn (cli.multisig_draft), as issuers
do with `cbdc bank issue --draft`:

    cbdc multisig pay --k 2 --keys $A,$B,$C --to $SUPPLIER --amount 40000 --signer a.key \
        --cosigner $C --draft pay.json
    cbdc multisig sign pay.json --key c.key     # on C's machine, offline
    cbdc multisig submit pay.json
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail
from cli.connect import (
    address_bytes,
    amount_fen,
    client,
    handle_errors,
    json_option,
    load_key,
    outcome_doc,
    random_nonce,
    submit_final,
)
from cli.format import Lines, format_yuan, merge, money, render
from cli.multisig_draft import SpendDraft, draft_views
from cli.options import amount_option, key_file_option, query_options, submit_options, to_option
from cli.pay import spend


@click.group()
def multisig() -> None:
    """m-of-n wallets: show the address, fund it, pay from it with k signatures."""


def _wallet_options(command: Any) -> Any:
    command = click.option("--keys", "keys", required=True, metavar="ADDR,ADDR,...",
                           help="The n member addresses, comma-separated, in a fixed order.")(command)
    return click.option("--k", "k", required=True, type=click.IntRange(min=1),
                        help="How many of them must sign.")(command)


def _lock(k: int, keys: str) -> bytes:
    from node.client.locks import multisig_lock

    members = _members(keys)
    if not 1 <= k <= len(members):
        fail(f"--k {k} of {len(members)} keys: k must be from 1 to the number of keys", EXIT_USAGE)
    return multisig_lock(k, members)


@multisig.command()
@_wallet_options
@query_options
def address(k: int, keys: str, node_address: str | None, as_json: bool) -> None:
    """The address (and balance) of the k-of-n wallet of these keys."""
    from node.ledger.address import encode_address
    from node.ledger.conditions import lock_address

    lock = _lock(k, keys)
    with client(node_address) as node_client:
        held = node_client.balance(lock_address(lock)).balance
    facts = {"address": encode_address(lock_address(lock)), "k": k, "lock": lock.hex()}
    doc = merge(facts, money("balance", held))
    render(doc, as_json, Lines([f"{k}-of-n wallet {doc['address']}: {format_yuan(held)} yuan"]))


@multisig.command()
@key_file_option("Key file of the payer.", flag="--from", dest="from_key")
@_wallet_options
@amount_option("Amount in yuan.")
@submit_options
def fund(from_key: Path, k: int, keys: str, amount: str, timeout_s: float, node_address: str | None,
         as_json: bool) -> None:
    """Pay AMOUNT yuan into the k-of-n wallet (the lock travels with the money, on chain)."""
    from node.client.txbuild import build_transfer, locked_output

    key = load_key(from_key)
    lock = _lock(k, keys)
    fen = amount_fen(amount)
    with client(node_address) as node_client:
        chain_id = node_client.status().chain_id
        selection = spend(node_client, key.public, fen)
        outputs: list[Any] = [locked_output(lock, fen)]
        if selection.change(fen):
            outputs.append((key.public, selection.change(fen)))
        raw = build_transfer(chain_id, key, selection.outpoints, outputs, nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), money("amount", fen))
    render(doc, as_json, Lines([f"paid {format_yuan(fen)} yuan into the {k}-of-n wallet"]))


@multisig.command()
@_wallet_options
@to_option("Recipient address (cbdc1...).")
@amount_option("Amount in yuan; the rest stays in the wallet.")
@click.option("--signer", "signers", multiple=True, type=click.Path(path_type=Path),
              metavar="KEYFILE", help="A member's key file that signs now (repeat: k of them in all).")
@click.option("--cosigner", "cosigners", multiple=True, metavar="ADDRESS",
              help="A member who signs later from the draft (repeatable; needs --draft).")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the (partly signed) payment to this file instead of submitting it.")
@submit_options
def pay(k: int, keys: str, to: str, amount: str, signers: tuple[Path, ...], cosigners: tuple[str, ...],
        draft_path: Path | None, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Pay from the k-of-n wallet, signed by the members given with --signer, or by
    --signer and --cosigner members in turn through a --draft file."""
    from node.client.locks import SPEND
    from node.client.txbuild import encode_tx, sign_tx_partially, spend_locked_body
    from node.ledger.conditions import lock_address

    lock = _lock(k, keys)
    members = [load_key(path) for path in signers]
    named = [m.public for m in members] + [address_bytes(a, "--cosigner") for a in cosigners]
    member_keys = set(_members(keys))
    if len(set(named)) != len(named):
        fail("a member is named twice among --signer/--cosigner", EXIT_USAGE)
    if any(n not in member_keys for n in named):
        fail("every --signer and --cosigner must be one of the wallet's --keys", EXIT_USAGE)
    if not named:
        fail("name the members who sign: --signer KEYFILE (signs now) and/or --cosigner ADDRESS", EXIT_USAGE)
    if cosigners and draft_path is None:
        fail(f"{len(cosigners)} --cosigner(s) sign later: write a draft with --draft FILE, "
             "then `cbdc multisig sign FILE --key K` and `cbdc multisig submit FILE`", EXIT_USAGE)
    payee = address_bytes(to, "--to")
    fen = amount_fen(amount)
    wallet = lock_address(lock)
    with client(node_address) as node_client:
        coins = [(u.outpoint.txid, u.outpoint.index, u.amount) for u in node_client.utxos(wallet)]
        held = sum(c[2] for c in coins)
        if held < fen:
            fail(f"insufficient_funds: the wallet holds {format_yuan(held)} yuan", EXIT_REJECTED)
        outputs = [(payee, fen)] + ([(wallet, held - fen)] if held > fen else [])
        chain_id = node_client.status().chain_id
        body = spend_locked_body(chain_id, lock, SPEND, [(c[0], c[1]) for c in coins], outputs, named,
                                 nonce=random_nonce())
        draft = SpendDraft(sign_tx_partially(encode_tx(body, [b""] * len(named)), chain_id, members))
        if draft_path is not None:
            draft.save(draft_path)
            render(draft.to_doc(), as_json, *draft_views(draft, draft_path))
            return
        outcome = submit_final(node_client, draft.tx, timeout_s)
    facts = {"to": to, "signers": [m.address for m in members]}
    doc = merge(outcome_doc(outcome), facts, money("amount", fen), money("left", held - fen))
    render(doc, as_json, Lines([f"paid {format_yuan(fen)} yuan to {to} with {len(members)} signatures; "
                                f"{format_yuan(held - fen)} yuan left in the wallet"]))


def _members(keys: str) -> list[bytes]:
    return [address_bytes(a.strip(), "--keys") for a in keys.split(",") if a.strip()]


@multisig.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@key_file_option("The member key file that signs.")
@json_option
@handle_errors
def sign(file: Path, key_file: Path, as_json: bool) -> None:
    """Add one member's signature to a payment draft (offline; rewrites FILE).

    Example: cbdc multisig sign pay.json --key cfo.key
    """
    from node.client.txbuild import add_signature

    draft = SpendDraft.load(file)
    key = load_key(key_file)
    try:
        signed = SpendDraft(add_signature(draft.tx, draft.chain_id, key))
    except ValueError:
        fail(f"{key.address} is not among the signers this draft names; it cannot sign it", EXIT_USAGE)
    signed.save(file)
    render(signed.to_doc(), as_json, *draft_views(signed, file))


@multisig.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@submit_options
def submit(file: Path, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Submit a payment draft once every member it names has signed.

    Example: cbdc multisig submit pay.json
    """
    from node.ledger.address import encode_address

    draft = SpendDraft.load(file)
    unsigned = [encode_address(k) for k, s in draft.signer_status() if s != "signed"]
    if unsigned:
        fail(f"{len(unsigned)} named signer(s) have no valid signature yet ({', '.join(unsigned)}); "
             f"cbdc multisig sign {file} --key MEMBER.key", EXIT_USAGE)
    with client(node_address) as node_client:
        outcome = submit_final(node_client, draft.tx, timeout_s)
    doc = draft.to_doc()
    facts = {"wallet": doc["wallet"], "outputs": doc["outputs"],
             "signers": [s["address"] for s in doc["signers"]]}
    render(merge(outcome_doc(outcome), facts), as_json,
           Lines([f"paid from {doc['wallet']} with {len(doc['signers'])} signatures "
                  f"(tx {outcome.txid.hex()[:16]})"]))
