"""`cbdc escrow create|status|release|refund|settle|dispute|auto-release`: prepaid money
released in installments.

The education-course case: a parent prepays 10 lessons to a school; each attended lesson
releases its installment with the parent's signature (or a named confirmer's); whatever is
unreleased at the deadline goes back to the parent, by anyone's hand; an arbiter can settle
a dispute (a school closing mid-course) either way. One escrow = one lock
(node.client.locks.escrow_lock) holding one output per installment; it is named by the id of
the transaction that created it.

    cbdc escrow create --from parent.key --to SCHOOL --installments 10 --each 300 --deadline 2026-06-30
    cbdc escrow release ESCROW --key parent.key            # after each lesson
    cbdc escrow refund ESCROW                              # after the deadline, anyone

A supply-chain payment releases itself unless disputed: created with `--auto-release DATE`
(and an arbiter), its installments go to the payee from DATE on by anyone's hand; before DATE
the payer (or the confirmer) disputes, which moves them to the arbiter's settlement lock
(node.client.locks.settlement_lock), and `settle` then decides them:

    cbdc escrow create --from buyer.key --to SUPPLIER --each 5000 --deadline +60d \
        --auto-release +14d --arbiter ARBITER
    cbdc escrow dispute ESCROW --key buyer.key             # before the date: goods not delivered
    cbdc escrow auto-release ESCROW                        # from the date on, anyone
    cbdc escrow settle ESCROW --key arbiter.key --to payer
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_REJECTED, EXIT_USAGE, fail
from cli.connect import address_bytes, amount_fen, client, load_key, outcome_doc, random_nonce, submit_final
from cli.format import Lines, format_yuan, merge, money, render
from cli.locked import locking_output, parse_outpoint, parse_when, unspent_of
from cli.options import key_file_option, query_options, submit_options, to_option
from cli.pay import spend


@click.group()
def escrow() -> None:
    """Prepaid escrow: lock money for a payee, release it in installments, refund the rest."""


@escrow.command()
@key_file_option("Key file of the payer.", flag="--from", dest="from_key")
@to_option("The payee's address (cbdc1...), e.g. the school.")
@click.option("--installments", type=click.IntRange(1, 128), default=1, show_default=True,
              help="How many installments (e.g. lessons).")
@click.option("--each", "each", required=True, metavar="YUAN", help="Amount of each installment, in yuan.")
@click.option("--deadline", required=True,
              help="When unreleased installments return to the payer: 2026-06-30, 2026-06-30T18:00 or +90d.")
@click.option("--confirmer", metavar="ADDRESS", help="Someone else who may also release (e.g. a teacher).")
@click.option("--arbiter", metavar="ADDRESS", help="Who may settle a dispute either way.")
@click.option("--auto-release", "auto_release", metavar="WHEN",
              help="From then on anyone may release undisputed installments to the payee (needs --arbiter; "
                   "before the deadline): a date or +14d.")
@click.option("--memo", default="", help="What it is for, e.g. 'piano course, 10 lessons'.")
@submit_options
def create(from_key: Path, to: str, installments: int, each: str, deadline: str, confirmer: str | None,
           arbiter: str | None, auto_release: str | None, memo: str, timeout_s: float,
           node_address: str | None, as_json: bool) -> None:
    """Lock INSTALLMENTS x EACH yuan for a payee until released, refunded or settled."""
    from node.client.locks import escrow_lock
    from node.client.txbuild import build_transfer, locked_output
    from node.ledger.address import encode_address
    from node.ledger.conditions import format_time, lock_address

    key = load_key(from_key)
    payee = address_bytes(to, "--to")
    fen = amount_fen(each, "--each")
    deadline_ms = parse_when(deadline, "--deadline")
    auto_ms = parse_when(auto_release, "--auto-release") if auto_release else None
    if auto_ms is not None and not arbiter:
        fail("--auto-release needs --arbiter: a disputed installment waits for the arbiter's decision",
             EXIT_USAGE)
    if auto_ms is not None and auto_ms >= deadline_ms:
        fail("--auto-release must come before --deadline (from the deadline, the rest returns to the payer)",
             EXIT_USAGE)
    lock = escrow_lock(
        key.public, payee, deadline_ms, memo=memo,
        confirmer=address_bytes(confirmer, "--confirmer") if confirmer else None,
        arbiter=address_bytes(arbiter, "--arbiter") if arbiter else None,
        auto_release_ms=auto_ms,
    )
    total = fen * installments
    with client(node_address) as node_client:
        chain_id = node_client.status().chain_id
        selection = spend(node_client, key.public, total)
        outputs: list[Any] = [locked_output(lock, fen)] * installments
        if selection.change(total):
            outputs.append((key.public, selection.change(total)))
        raw = build_transfer(chain_id, key, selection.outpoints, outputs, nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    facts = {"escrow": outcome.txid.hex(), "lock": encode_address(lock_address(lock)), "payer": key.address,
             "payee": encode_address(payee), "installments": installments, "deadline_ms": deadline_ms}
    if auto_ms is not None:
        facts["auto_release_ms"] = auto_ms
    doc = merge(outcome_doc(outcome), facts, money("each", fen), money("total", total))
    lines = [f"escrow {doc['escrow']} holds {installments} x {format_yuan(fen)} yuan for {doc['payee']}"]
    if auto_ms is not None:
        lines += [f"undisputed installments release to the payee from {format_time(auto_ms)}, by anyone",
                  f"dispute before then: cbdc escrow dispute {doc['escrow']} --key {from_key}"]
    lines += [f"unreleased installments return to {key.address} from {format_time(deadline_ms)}",
              f"release one per lesson: cbdc escrow release {doc['escrow']} --key {from_key}"]
    render(doc, as_json, Lines(lines))


def _escrow(node_client: Any, escrow_id: str) -> tuple[bytes, Any, list[tuple[bytes, int, int]]]:
    txid, index = parse_outpoint(escrow_id)
    raw, lock = locking_output(node_client, txid, index)
    names = [c.name for c in lock.clauses]
    if names[:2] != ["release", "refund"]:
        fail(f"{escrow_id} is not an escrow (its lock's clauses are {', '.join(names)})", EXIT_USAGE)
    return raw, lock, unspent_of(node_client, lock.address)


@escrow.command()
@click.argument("escrow_id", metavar="ESCROW")
@query_options
def status(escrow_id: str, node_address: str | None, as_json: bool) -> None:
    """What an escrow still holds, who may do what, and when."""
    from node.client.locks import DISPUTE
    from node.ledger.address import encode_address
    from node.ledger.conditions import describe, lock_address

    with client(node_address) as node_client:
        _, lock, coins = _escrow(node_client, escrow_id)
        # Installments disputed (of this escrow's parties) wait at the arbiter's settlement lock.
        disputed = None
        if len(lock.clauses) > DISPUTE:
            disputed = unspent_of(node_client, lock_address(_court(lock)))
    doc = merge({"escrow": escrow_id, "lock": encode_address(lock.address), "memo": lock.memo,
                 "installments_left": len(coins),
                 "clauses": [{"name": c.name, "policy": describe(c.policy),
                              "pay_to": [encode_address(k) for k in c.pay_to]} for c in lock.clauses]},
                money("held", sum(c[2] for c in coins)))
    lines = [f"escrow {escrow_id[:16]} ({lock.memo or 'no memo'}): {len(coins)} installment(s), "
             f"{format_yuan(doc['held'], grouping=True)} yuan held"]
    if disputed is not None:
        doc.update(merge({"disputed": len(disputed)}, money("disputed_held", sum(c[2] for c in disputed))))
        lines.append(f"disputed, awaiting the arbiter: {len(disputed)} installment(s), "
                     f"{format_yuan(doc['disputed_held'], grouping=True)} yuan")
    for c in doc["clauses"]:
        lines.append(f"  {c['name']}: {c['policy']} -> {', '.join(c['pay_to']) or 'anywhere'}")
    render(doc, as_json, Lines(lines))


def _spend(node_client: Any, escrow_id: str, clause: int, to_clause: int, count: int | None, signers: list,
           timeout_s: float) -> tuple[Any, bytes, int]:
    """Pay `count` installments (all when None) through `clause` to the first payee of
    `to_clause`; (outcome, recipient, amount)."""
    raw_lock, lock, coins = _escrow(node_client, escrow_id)
    if clause >= len(lock.clauses):
        what = "no arbiter" if clause == 2 else "no automatic release (created without --auto-release)"
        fail(f"escrow {escrow_id} has {what}", EXIT_REJECTED)
    if not coins:
        fail(f"escrow {escrow_id} holds nothing any more", EXIT_REJECTED)
    to = lock.clauses[to_clause].pay_to[0]
    return _pay(node_client, raw_lock, clause, coins, count, to, b"", signers, timeout_s)


def _pay(node_client: Any, raw_lock: bytes, clause: int, coins: list, count: int | None, to: bytes,
         to_lock: bytes, signers: list, timeout_s: float) -> tuple[Any, bytes, int]:
    """Spend `count` of `coins` (all when None) through `clause` of `raw_lock` to `to` (locked
    by `to_lock` when given); (outcome, recipient, amount)."""
    from node.client.txbuild import build_spend_locked, locked_output

    taken = coins if count is None else coins[:count]
    total = sum(c[2] for c in taken)
    out = locked_output(to_lock, total) if to_lock else (to, total)
    chain_id = node_client.status().chain_id
    inputs = [(c[0], c[1]) for c in taken]
    raw = build_spend_locked(chain_id, raw_lock, clause, inputs, [out], signers, nonce=random_nonce())
    return submit_final(node_client, raw, timeout_s), to, total


def _court(lock: Any) -> bytes:
    """The settlement lock of an escrow created with --auto-release (its parties from the
    clauses: release pays the payee, refund the payer, settle is the arbiter's)."""
    from node.client.locks import DISPUTE, REFUND, RELEASE, SETTLE, settlement_lock
    from node.ledger.conditions import lock_address

    payer, payee = lock.clauses[REFUND].pay_to[0], lock.clauses[RELEASE].pay_to[0]
    arbiter = next(iter(lock.clauses[SETTLE].keys))
    raw = settlement_lock(payer, payee, arbiter, lock.memo)
    if lock_address(raw) != lock.clauses[DISPUTE].pay_to[0]:
        fail("this escrow's dispute clause names a settlement lock this client does not build", EXIT_REJECTED)
    return raw


def _done(outcome: Any, escrow_id: str, verb: str, to: bytes, total: int, as_json: bool) -> None:
    from node.ledger.address import encode_address

    doc = merge(outcome_doc(outcome), {"escrow": escrow_id, "to": encode_address(to)}, money(verb, total))
    render(doc, as_json, Lines([f"{verb} {format_yuan(total)} yuan to {doc['to']} (tx {doc['txid'][:16]})"]))


@escrow.command()
@click.argument("escrow_id", metavar="ESCROW")
@key_file_option("Key file of the payer (or the named confirmer).")
@click.option("--installments", "count", type=click.IntRange(min=1), default=1, show_default=True,
              help="How many installments to release.")
@submit_options
def release(escrow_id: str, key_file: Path, count: int, timeout_s: float, node_address: str | None,
            as_json: bool) -> None:
    """Release installments to the payee (e.g. after a lesson was given)."""
    from node.client.locks import RELEASE

    key = load_key(key_file)
    with client(node_address) as node_client:
        outcome, to, total = _spend(node_client, escrow_id, RELEASE, RELEASE, count, [key], timeout_s)
    _done(outcome, escrow_id, "released", to, total, as_json)


@escrow.command()
@click.argument("escrow_id", metavar="ESCROW")
@submit_options
def refund(escrow_id: str, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Return everything unreleased to the payer; from the deadline on, anyone may do it."""
    from node.client.locks import REFUND

    with client(node_address) as node_client:
        outcome, to, total = _spend(node_client, escrow_id, REFUND, REFUND, None, [], timeout_s)
    _done(outcome, escrow_id, "refunded", to, total, as_json)


@escrow.command()
@click.argument("escrow_id", metavar="ESCROW")
@key_file_option("Key file of the arbiter.")
@click.option("--to", "party", type=click.Choice(["payer", "payee"]), required=True,
              help="Who gets the money.")
@click.option("--installments", "count", type=click.IntRange(min=1), help="How many (default: all left).")
@submit_options
def settle(escrow_id: str, key_file: Path, party: str, count: int | None, timeout_s: float,
           node_address: str | None, as_json: bool) -> None:
    """The arbiter settles a dispute: what is left goes to the payer or to the payee."""
    from node.client.locks import DECIDE, DISPUTE, REFUND, RELEASE, SETTLE
    from node.ledger.conditions import lock_address

    key = load_key(key_file)
    to_clause = REFUND if party == "payer" else RELEASE
    with client(node_address) as node_client:
        _, lock, _ = _escrow(node_client, escrow_id)
        disputed: list = []
        if len(lock.clauses) > DISPUTE:  # disputed installments wait at the settlement lock
            court = _court(lock)
            disputed = unspent_of(node_client, lock_address(court))
        if disputed:
            to = lock.clauses[to_clause].pay_to[0]
            outcome, to, total = _pay(node_client, court, DECIDE, disputed, count, to, b"", [key], timeout_s)
        else:
            outcome, to, total = _spend(node_client, escrow_id, SETTLE, to_clause, count, [key], timeout_s)
    _done(outcome, escrow_id, "settled", to, total, as_json)


@escrow.command()
@click.argument("escrow_id", metavar="ESCROW")
@key_file_option("Key file of the payer (or the named confirmer).")
@click.option("--installments", "count", type=click.IntRange(min=1), help="How many (default: all left).")
@submit_options
def dispute(escrow_id: str, key_file: Path, count: int | None, timeout_s: float, node_address: str | None,
            as_json: bool) -> None:
    """Before the automatic release: stop it, and leave installments to the arbiter's decision."""
    from node.client.locks import DISPUTE
    from node.ledger.conditions import lock_address

    key = load_key(key_file)
    with client(node_address) as node_client:
        raw_lock, lock, coins = _escrow(node_client, escrow_id)
        if len(lock.clauses) <= DISPUTE:
            fail(f"escrow {escrow_id} releases nothing automatically (created without --auto-release); "
                 "ask its arbiter to settle instead", EXIT_REJECTED)
        if not coins:
            fail(f"escrow {escrow_id} holds nothing any more", EXIT_REJECTED)
        court = _court(lock)
        outcome, to, total = _pay(node_client, raw_lock, DISPUTE, coins, count, lock_address(court), court,
                                  [key], timeout_s)
    _done(outcome, escrow_id, "disputed", to, total, as_json)


@escrow.command("auto-release")
@click.argument("escrow_id", metavar="ESCROW")
@click.option("--installments", "count", type=click.IntRange(min=1), help="How many (default: all left).")
@submit_options
def auto_release(escrow_id: str, count: int | None, timeout_s: float, node_address: str | None,
                 as_json: bool) -> None:
    """From the release date until the deadline, anyone pays undisputed installments to the payee."""
    from node.client.locks import AUTO_RELEASE

    with client(node_address) as node_client:
        outcome, to, total = _spend(node_client, escrow_id, AUTO_RELEASE, AUTO_RELEASE, count, [], timeout_s)
    _done(outcome, escrow_id, "released", to, total, as_json)
