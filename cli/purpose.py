"""`cbdc purpose define|register|earmark|pay|balance`: earmarked money.

An institution defines a purpose ("carbon-airdrop", "relocation-fund") -- or the central bank
does (its issuer keys, m-of-n as for issuance) and appoints the institution -- which registers who may
receive it (beneficiaries; merchants, who may also settle out to an institution), and
earmarks its own money for registered holders. A holder pays on only within the purpose (to
another registered recipient, the earmark kept) or by an allowed exit (back to the
institution; merchants: to any institution). Earmarked money of a holder sits in one lock per
(holder, purpose) (node.client.locks.earmark_lock), so it is found without any index.

    cbdc purpose define carbon-airdrop --key bank.key --description "public transport"
    cbdc purpose define relocation-fund --signer issuer-1.key --signer issuer-2.key --institution BANK
    cbdc purpose register carbon-airdrop BUSCO --role merchant --key bank.key
    cbdc purpose earmark carbon-airdrop --key bank.key --to CITIZEN --amount 50
    cbdc purpose pay carbon-airdrop --key citizen.key --to BUSCO --amount 3
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail
from cli.connect import address_bytes, amount_fen, client, load_key, outcome_doc, random_nonce, submit_final
from cli.format import Fields, Lines, format_yuan, merge, money, render, yuan_cell
from cli.options import amount_option, key_file_option, query_options, submit_options, to_option
from cli.pay import spend

ROLES = {"beneficiary": 1, "merchant": 2, "remove": 0}


@click.group()
def purpose() -> None:
    """Earmarked money: define purposes, register recipients, earmark, pay within a purpose."""


def _submit(node_client: Any, build: Any, timeout_s: float) -> Any:
    chain_id = node_client.status().chain_id
    return submit_final(node_client, build(chain_id), timeout_s)


@purpose.command()
@click.argument("name")
@click.option("--key", "key_file", metavar="KEYFILE", type=click.Path(path_type=Path),
              help="Key file of the defining institution (which then operates the purpose).")
@click.option("--signer", "signers", multiple=True, metavar="KEYFILE", type=click.Path(path_type=Path),
              help="Instead of --key: an issuer key of the central bank (repeat up to its threshold).")
@click.option("--institution", metavar="ADDRESS",
              help="With --signer: the institution the central bank appoints to operate the purpose.")
@click.option("--description", default="", help="What the money is for.")
@submit_options
def define(name: str, key_file: Path | None, signers: tuple[Path, ...], institution: str | None,
           description: str, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Define purpose NAME (1-64 of a-z, 0-9, '.', '_', '-'): by an institution, for itself,
    or by the central bank (--signer m-of-n), for the institution it appoints."""
    from node.client.txbuild import build_central_bank_purpose, build_define_purpose
    from node.ledger.address import encode_address

    if (key_file is None) == (not signers):
        fail("give --key (an institution defines its own purpose) or --signer ... --institution "
             "(the central bank appoints one), not both", EXIT_USAGE)
    if signers and not institution:
        fail("--signer needs --institution: the institution that will operate the purpose", EXIT_USAGE)
    if institution and not signers:
        fail("--institution goes with --signer (an institution defining with --key operates it itself)",
             EXIT_USAGE)
    if key_file is not None:
        key = load_key(key_file)
        operator, definer = key.public, key.address

        def build(chain_id: str) -> bytes:
            return build_define_purpose(chain_id, key, name, description, random_nonce())
    else:
        issuers = [load_key(path) for path in signers]
        operator, definer = address_bytes(institution, "--institution"), "the central bank"

        def build(chain_id: str) -> bytes:
            return build_central_bank_purpose(chain_id, operator, name, issuers, description, random_nonce())

    with client(node_address) as node_client:
        outcome = _submit(node_client, build, timeout_s)
    doc = merge(outcome_doc(outcome), {"purpose": name, "institution": encode_address(operator),
                                       "defined_by": "central_bank" if signers else "institution"})
    render(doc, as_json, Lines([f"defined purpose {name}, operated by {doc['institution']} (by {definer})"]))


@purpose.command()
@click.argument("name")
@click.argument("address")
@click.option("--role", type=click.Choice(list(ROLES)), required=True,
              help="beneficiary, merchant (may also settle to an institution), or remove.")
@key_file_option("Key file of the purpose's institution.")
@submit_options
def register(name: str, address: str, role: str, key_file: Path, timeout_s: float, node_address: str | None,
             as_json: bool) -> None:
    """Register ADDRESS (a registered wallet or an institution) as a recipient of NAME."""
    from node.client.txbuild import build_register_for_purpose

    key = load_key(key_file)
    who = address_bytes(address)
    with client(node_address) as node_client:
        outcome = _submit(
            node_client,
            lambda c: build_register_for_purpose(c, key, name, who, ROLES[role], random_nonce()), timeout_s,
        )
    doc = merge(outcome_doc(outcome), {"purpose": name, "address": address, "role": role})
    render(doc, as_json, Lines([f"{address} is now {role} of purpose {name}" if role != "remove"
                                else f"{address} is no longer a recipient of purpose {name}"]))


@purpose.command()
@click.argument("name")
@key_file_option("Key file of the purpose's institution.")
@to_option("The holder (a registered recipient of the purpose).")
@amount_option("Amount in yuan.")
@submit_options
def earmark(name: str, key_file: Path, to: str, amount: str, timeout_s: float, node_address: str | None,
            as_json: bool) -> None:
    """Earmark AMOUNT yuan of the institution's own money for a holder (e.g. an airdrop)."""
    from node.client.locks import earmark_lock
    from node.client.txbuild import build_transfer, locked_output

    key = load_key(key_file)
    holder = address_bytes(to, "--to")
    fen = amount_fen(amount)
    with client(node_address) as node_client:
        selection = spend(node_client, key.public, fen)
        outputs: list[Any] = [locked_output(earmark_lock(holder, name), fen)]
        if selection.change(fen):
            outputs.append((key.public, selection.change(fen)))
        def build(chain_id: str) -> bytes:
            return build_transfer(chain_id, key, selection.outpoints, outputs, random_nonce())

        outcome = _submit(node_client, build, timeout_s)
    doc = merge(outcome_doc(outcome), {"purpose": name, "to": to}, money("amount", fen))
    render(doc, as_json, Lines([f"earmarked {format_yuan(fen)} yuan of {name} for {to}"]))


@purpose.command()
@click.argument("name")
@key_file_option("Key file of the holder.")
@to_option("A registered recipient of the purpose, or an institution (return or settlement).")
@amount_option("Amount in yuan.")
@submit_options
def pay(name: str, key_file: Path, to: str, amount: str, timeout_s: float, node_address: str | None,
        as_json: bool) -> None:
    """Pay earmarked money: to a registered recipient (it stays earmarked), or out to an
    institution (back to the purpose's institution; merchants: settlement to their bank)."""
    from node.client.locks import SPEND, earmark_lock
    from node.client.txbuild import build_spend_locked, locked_output
    from node.ledger.conditions import lock_address

    key = load_key(key_file)
    payee = address_bytes(to, "--to")
    fen = amount_fen(amount)
    own = earmark_lock(key.public, name)
    with client(node_address) as node_client:
        coins = [(u.outpoint.txid, u.outpoint.index, u.amount) for u in node_client.utxos(lock_address(own))]
        held = sum(c[2] for c in coins)
        if held < fen:
            fail(f"insufficient_funds: {key.address} holds {format_yuan(held)} yuan of {name}", EXIT_REJECTED)
        exit_ = _plain_exit(node_client, payee)
        out = (payee, fen) if exit_ else locked_output(earmark_lock(payee, name), fen)
        outputs: list[Any] = [out] + ([(lock_address(own), held - fen)] if held > fen else [])
        inputs = [(c[0], c[1]) for c in coins]
        outcome = _submit(
            node_client, lambda c: build_spend_locked(c, own, SPEND, inputs, outputs, [key], random_nonce()),
            timeout_s,
        )
    doc = merge(outcome_doc(outcome), {"purpose": name, "to": to, "earmarked": len(out) == 3},
                money("amount", fen), money("left", held - fen))
    render(doc, as_json, Lines([f"paid {format_yuan(fen)} yuan of {name} to {to}"
                                f"{'' if len(out) == 3 else ' (out of the purpose)'}; "
                                f"{format_yuan(held - fen)} yuan of {name} left"]))


def _plain_exit(node_client: Any, payee: bytes) -> bool:
    """Paying an institution leaves the purpose; a wallet receives it earmarked. Wallets have
    a wallet record and institutions none (GetWallet says which); whether the exit is allowed
    is the chain's to judge (purpose_not_allowed names the allowed ones)."""
    from node.client.connection import Rejected

    try:
        node_client.wallet(payee)
        return False
    except Rejected:
        return True


@purpose.command()
@click.argument("name")
@click.argument("address")
@query_options
def balance(name: str, address: str, node_address: str | None, as_json: bool) -> None:
    """How much of purpose NAME the holder ADDRESS holds."""
    from node.client.locks import earmark_lock
    from node.ledger.address import encode_address
    from node.ledger.conditions import lock_address

    holder = address_bytes(address)
    with client(node_address) as node_client:
        reply = node_client.balance(lock_address(earmark_lock(holder, name)))
    doc = merge({"purpose": name, "address": encode_address(holder)}, money("balance", reply.balance),
                {"height": reply.height})
    render(doc, as_json, Fields([
        ("purpose", name), ("holder", doc["address"]), ("earmarked", f"{yuan_cell(reply.balance)} yuan"),
        ("at height", reply.height),
    ]))
