"""`cbdc voucher issue|spend|reclaim`: consumption vouchers that expire back to their issuer.

An institution issues a voucher from its own money to a holder, optionally usable only at
named merchants (node.client.locks.voucher_lock). Until it expires the holder spends it;
after that the only spend left is the reclaim to the issuing institution, which anyone may
submit. A voucher is named by the transaction that issued it.

    cbdc voucher issue --key bank.key --to HOLDER --amount 50 --expires +30d --merchant SHOP
    cbdc voucher spend VOUCHER --key holder.key --to SHOP --amount 20
    cbdc voucher reclaim VOUCHER
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, fail
from cli.connect import address_bytes, amount_fen, client, load_key, outcome_doc, random_nonce, submit_final
from cli.format import Lines, format_yuan, merge, money, render
from cli.locked import locking_output, parse_outpoint, parse_when, unspent_of
from cli.options import amount_option, key_file_option, submit_options, to_option
from cli.pay import spend


@click.group()
def voucher() -> None:
    """Consumption vouchers: issue, spend at merchants, reclaim once expired."""


@voucher.command()
@key_file_option("Key file of the issuing institution.")
@to_option("The holder's address (cbdc1...).")
@amount_option("Value of the voucher in yuan.")
@click.option("--expires", required=True, help="Expiry: 2026-03-31, 2026-03-31T24:00 or +30d.")
@click.option("--merchant", "merchants", multiple=True, metavar="ADDRESS",
              help="A merchant where it may be spent (repeat; none: anywhere).")
@click.option("--memo", default="", help="What it is, e.g. 'spring consumption voucher'.")
@submit_options
def issue(key_file: Path, to: str, amount: str, expires: str, merchants: tuple[str, ...], memo: str,
          timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Issue a voucher of AMOUNT yuan to a holder, from the institution's own money."""
    from node.client.locks import voucher_lock
    from node.client.txbuild import build_transfer, locked_output
    from node.ledger.address import encode_address
    from node.ledger.conditions import format_time

    key = load_key(key_file)
    holder = address_bytes(to, "--to")
    fen = amount_fen(amount)
    expiry = parse_when(expires, "--expires")
    shops = [address_bytes(m, "--merchant") for m in merchants]
    lock = voucher_lock(holder, key.public, expiry, shops, memo=memo)
    with client(node_address) as node_client:
        chain_id = node_client.status().chain_id
        selection = spend(node_client, key.public, fen)
        outputs: list[Any] = [locked_output(lock, fen)]
        if selection.change(fen):
            outputs.append((key.public, selection.change(fen)))
        raw = build_transfer(chain_id, key, selection.outpoints, outputs, nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), {"voucher": outcome.txid.hex(), "holder": encode_address(holder),
                                       "issuer": key.address, "expires_ms": expiry}, money("amount", fen))
    render(doc, as_json, Lines([
        f"voucher {doc['voucher']}: {format_yuan(fen)} yuan for {doc['holder']}",
        f"expires {format_time(expiry)}; then only a reclaim to {key.address}",
    ]))


def _voucher(node_client: Any, voucher_id: str) -> tuple[bytes, Any, list[tuple[bytes, int, int]]]:
    txid, index = parse_outpoint(voucher_id)
    raw, lock = locking_output(node_client, txid, index)
    if not lock.is_voucher:
        fail(f"{voucher_id} is not a voucher", EXIT_REJECTED)
    coins = unspent_of(node_client, lock.address)
    if not coins:
        fail(f"voucher {voucher_id} is used up or reclaimed", EXIT_REJECTED)
    return raw, lock, coins


@voucher.command("spend")
@click.argument("voucher_id", metavar="VOUCHER")
@key_file_option("Key file of the holder.")
@to_option("The merchant's address (cbdc1...).")
@amount_option("Amount in yuan; the rest stays on the voucher.")
@submit_options
def spend_voucher(voucher_id: str, key_file: Path, to: str, amount: str, timeout_s: float,
                  node_address: str | None, as_json: bool) -> None:
    """Pay a merchant with a voucher (before it expires)."""
    from node.client.locks import SPEND
    from node.client.txbuild import build_spend_locked

    key = load_key(key_file)
    merchant = address_bytes(to, "--to")
    fen = amount_fen(amount)
    with client(node_address) as node_client:
        raw_lock, lock, coins = _voucher(node_client, voucher_id)
        held = sum(c[2] for c in coins)
        if held < fen:
            fail(f"insufficient_funds: the voucher holds {format_yuan(held)} yuan", EXIT_REJECTED)
        outputs = [(merchant, fen)] + ([(lock.address, held - fen)] if held > fen else [])
        chain_id = node_client.status().chain_id
        raw = build_spend_locked(chain_id, raw_lock, SPEND, [(c[0], c[1]) for c in coins], outputs, [key],
                                 nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), {"voucher": voucher_id, "to": to}, money("amount", fen),
                money("left", held - fen))
    render(doc, as_json, Lines([f"paid {format_yuan(fen)} yuan to {to} with voucher {voucher_id[:16]} "
                                f"({format_yuan(held - fen)} yuan left)"]))


@voucher.command()
@click.argument("voucher_id", metavar="VOUCHER")
@submit_options
def reclaim(voucher_id: str, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Return an expired voucher's value to its issuer (anyone may submit it)."""
    from node.client.locks import SPEND
    from node.client.txbuild import build_spend_locked
    from node.ledger.address import encode_address

    with client(node_address) as node_client:
        raw_lock, lock, coins = _voucher(node_client, voucher_id)
        held = sum(c[2] for c in coins)
        chain_id = node_client.status().chain_id
        raw = build_spend_locked(chain_id, raw_lock, SPEND, [(c[0], c[1]) for c in coins],
                                 [(lock.voucher_issuer, held)], [], nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), {"voucher": voucher_id, "to": encode_address(lock.voucher_issuer)},
                money("reclaimed", held))
    render(doc, as_json, Lines([f"reclaimed {format_yuan(held)} yuan to the issuer {doc['to']}"]))
