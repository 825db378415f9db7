"""`cbdc pay` and `cbdc balance`: what a wallet holder does.

Coin selection happens here, over the sender's committed unspent outputs (GetUtxos): the
user names an amount, never outpoints, and the difference comes back to the sender as
change in the same transaction (the ledger has no fees: inputs == outputs exactly).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import click

from cli.common import EXIT_REJECTED, fail
from cli.connect import address_bytes, amount_fen, client, load_key, outcome_doc, random_nonce, submit_final
from cli.format import Fields, committed, format_yuan, merge, money, render, yuan_cell
from cli.options import amount_option, key_file_option, query_options, submit_options, to_option

# The genesis default of LedgerParams.max_inputs. The CLI does not read the genesis; should a
# network lower it, the node rejects the transaction with a `malformed` reason naming the cap.
MAX_INPUTS = 128


@dataclass(frozen=True, slots=True)
class Coin:
    txid: bytes
    index: int
    amount: int


@dataclass(frozen=True, slots=True)
class Selection:
    coins: list[Coin]
    total: int

    def change(self, amount: int) -> int:
        return self.total - amount

    @property
    def outpoints(self) -> list[tuple[bytes, int]]:
        return [(c.txid, c.index) for c in self.coins]


class InsufficientFunds(Exception):
    pass


def select_coins(coins: Sequence[Coin], amount: int, max_inputs: int = MAX_INPUTS) -> Selection:
    """Inputs covering `amount`: the smallest single coin that covers it (one input, and big
    coins are kept whole), else the largest coins first (fewest inputs, under the cap)."""
    if amount <= 0:
        raise ValueError("amount must be positive")
    covering = [c for c in coins if c.amount >= amount]
    if covering:
        best = min(covering, key=lambda c: (c.amount, c.txid, c.index))
        return Selection([best], best.amount)
    chosen: list[Coin] = []
    total = 0
    for coin in sorted(coins, key=lambda c: (-c.amount, c.txid, c.index)):
        chosen.append(coin)
        total += coin.amount
        if total >= amount:
            if len(chosen) > max_inputs:
                raise InsufficientFunds(
                    f"paying {format_yuan(amount)} yuan needs {len(chosen)} inputs, more than the "
                    f"{max_inputs} a transaction may spend; pay in smaller parts"
                )
            return Selection(chosen, total)
    raise InsufficientFunds(
        f"balance is {format_yuan(total)} yuan in {len(coins)} output(s); "
        f"{format_yuan(amount)} yuan is needed"
    )


def coins_of(node_client, owner: bytes) -> list[Coin]:
    return [Coin(u.outpoint.txid, u.outpoint.index, u.amount) for u in node_client.utxos(owner)]


def spend(node_client, owner: bytes, amount: int) -> Selection:
    """Coin selection over `owner`'s committed outputs; exit 1 (insufficient_funds) if short."""
    try:
        return select_coins(coins_of(node_client, owner), amount)
    except InsufficientFunds as err:
        fail(f"insufficient_funds: {err}", EXIT_REJECTED, reason="insufficient_funds")


@click.command()
@key_file_option("Key file of the paying wallet.", flag="--from", dest="from_key")
@to_option("Recipient address (cbdc1...).")
@amount_option("Amount in yuan, e.g. 12.34.")
@submit_options
def pay(from_key: Path, to: str, amount: str, timeout_s: float, node_address: str | None,
        as_json: bool) -> None:
    """Pay AMOUNT yuan to an address and wait until the payment is final.

    Chooses the sender's unspent outputs and returns the change to the sender; prints the
    transaction id and the block that holds it.

    Example: cbdc pay --from alice.key --to cbdc1... --amount 12.34
    """
    from node.client.txbuild import build_transfer
    from node.ledger.address import encode_address

    key = load_key(from_key)
    recipient = address_bytes(to, "--to")
    fen = amount_fen(amount)
    with client(node_address, signer=key) as node_client:  # the payer reads its own outputs
        chain_id = node_client.status().chain_id
        selection = spend(node_client, key.public, fen)
        outputs = [(recipient, fen)]
        if selection.change(fen):
            outputs.append((key.public, selection.change(fen)))
        raw = build_transfer(chain_id, key, selection.outpoints, outputs, nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(
        outcome_doc(outcome),
        {"from": key.address, "to": encode_address(recipient)},
        money("amount", fen),
        money("change", selection.change(fen)),
        {"inputs": len(selection.coins)},
    )
    render(doc, as_json, committed(f"paid {yuan_cell(fen)} yuan to {doc['to']}", doc, with_block_hash=True))


@click.command()
@click.argument("address")
@click.option("--key", "key_file", metavar="KEYFILE", type=click.Path(path_type=Path), default=None,
              help="Sign the request with this key: the wallet's own, its institution's or an auditor's "
                   "(nodes show a balance only to them).")
@query_options
def balance(address: str, key_file: Path | None, node_address: str | None, as_json: bool) -> None:
    """Balance of ADDRESS (committed state).

    Example: cbdc balance cbdc1... --key alice.key
    """
    from node.ledger.address import encode_address

    owner = address_bytes(address)
    signer = load_key(key_file) if key_file is not None else None
    with client(node_address, signer=signer) as node_client:
        reply = node_client.balance(owner)
    doc = merge({"address": encode_address(owner)}, money("balance", reply.balance),
                {"utxo_count": reply.utxo_count, "height": reply.height})
    render(doc, as_json, Fields([
        ("address", doc["address"]),
        ("balance", f"{yuan_cell(reply.balance)} yuan"),
        ("outputs", reply.utxo_count),
        ("at height", reply.height),
    ]))
