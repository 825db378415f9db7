"""`cbdc bank issue|sign|submit|redeem|register-wallet`: the central bank and institutions.

Issuance needs m of the n issuer keys, which usually live on different machines. So an
issuance can travel as a draft file: `issue --draft` fixes the body (recipient, amount and
the list of signers) and signs with whatever keys are given here, each signer adds a
signature with `sign` (offline: the chain id is in the body), and `submit` sends it once
every named signer has signed. The body bytes are created once and never re-encoded, so
every signature covers exactly the bytes that are finally submitted.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_USAGE, fail, read_json_file
from cli.connect import (
    address_bytes,
    amount_fen,
    client,
    handle_errors,
    hex_bytes,
    json_option,
    load_key,
    outcome_doc,
    random_nonce,
    submit_final,
)
from cli.drafts import SignedDraft, write_draft
from cli.format import Grid, Lines, View, committed, merge, money, proto3_json, render, yuan_cell
from cli.options import amount_option, key_file_option, submit_options, to_option
from cli.pay import spend

DRAFT_TYPE = "cbdc-issue-draft"
KYC_COMMITMENT_SIZE = 32


@click.group()
def bank() -> None:
    """Central bank and institution operations (issue, redeem, register wallets)."""


# --- drafts -----------------------------------------------------------------------------


class Draft(SignedDraft):
    """An issuance being signed by the issuers it names."""

    def signers(self) -> list[bytes]:
        return list(self.body.issue.signers)

    def to_doc(self) -> dict[str, Any]:
        from node.ledger.address import encode_address

        return {
            "type": DRAFT_TYPE,
            "chain_id": self.chain_id,
            "txid": self.txid.hex(),
            "outputs": [
                merge({"address": encode_address(o.owner)}, money("amount", o.amount))
                for o in self.body.issue.outputs
            ],
            "signers": [
                {"address": encode_address(k), "status": s} for k, s in self.signer_status()
            ],
            "tx": self.tx.hex(),
        }

    def save(self, path: Path) -> None:
        write_draft(path, proto3_json(self.to_doc()))

    @classmethod
    def load(cls, path: Path) -> Draft:
        doc = read_json_file(path, "draft")
        if not isinstance(doc, dict) or doc.get("type") != DRAFT_TYPE or not isinstance(doc.get("tx"), str):
            fail(f"draft {path} is not an issuance draft (from `cbdc bank issue --draft`)", EXIT_USAGE)
        try:
            draft = cls(bytes.fromhex(doc["tx"]))
            if draft.body.WhichOneof("kind") != "issue":
                raise ValueError("not an issuance")
        except Exception:  # any decoding failure of the file's bytes is the file's problem
            fail(f"draft {path}: field tx is not an issuance transaction (file edited or damaged)",
                 EXIT_USAGE)
        return draft


def _draft_views(draft: Draft, path: Path) -> list[View]:
    """A draft for people: who has signed, then what to do next."""
    from node.ledger.address import encode_address

    status = draft.signer_status()
    missing = [k for k, s in status if s != "signed"]
    return [
        Grid(["signer", "signature"], [(encode_address(k), s) for k, s in status],
             title=f"issuance draft {path} (txid {draft.txid.hex()[:16]})"),
        Lines([f"{len(missing)} signature(s) missing: cbdc bank sign {path} --key ISSUER.key" if missing
               else f"fully signed: cbdc bank submit {path}"]),
    ]


def _submit_draft(draft: Draft, path: Path | None, node_address: str | None, timeout_s: float,
                  as_json: bool, signer: Any = None) -> None:
    from node.ledger.address import encode_address

    unsigned = [encode_address(k) for k, s in draft.signer_status() if s != "signed"]
    if unsigned:
        where = f"cbdc bank sign {path} --key ISSUER.key" if path else "use --draft FILE, then `bank sign`"
        fail(f"{len(unsigned)} named signer(s) have no valid signature yet ({', '.join(unsigned)}); {where}",
             EXIT_USAGE)
    with client(node_address, signer=signer) as node_client:  # an issuer may wait on its issue
        outcome = submit_final(node_client, draft.tx, timeout_s)
    total = sum(o.amount for o in draft.body.issue.outputs)
    doc = merge(outcome_doc(outcome), money("amount", total), {"outputs": draft.to_doc()["outputs"]})
    render(doc, as_json, committed(f"issued {yuan_cell(total)} yuan", doc))


@bank.command()
@to_option("The receiving institution's address.")
@amount_option("Amount in yuan, e.g. 1000000.")
@click.option("--signer", "signers", multiple=True, metavar="KEYFILE", type=click.Path(path_type=Path),
              help="An issuer key file that signs now (repeatable).")
@click.option("--cosigner", "cosigners", multiple=True, metavar="ADDRESS",
              help="An issuer who signs later from a draft (repeatable).")
@click.option("--draft", "draft_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the (partly signed) issuance to this file instead of submitting it.")
@click.option("--chain-id", help="Chain id for an offline draft (default: ask the node).")
@submit_options
def issue(to: str, amount: str, signers: tuple[Path, ...], cosigners: tuple[str, ...],
          draft_path: Path | None, chain_id: str | None, timeout_s: float, node_address: str | None,
          as_json: bool) -> None:
    """Issue new cash to an institution, signed by m of the n issuer keys.

    The issuance names its signers: the --signer keys (which sign now) and the --cosigner
    addresses (which sign later). With every named signer signing now it is submitted at
    once; otherwise write a draft with --draft, pass it to each cosigner for `bank sign`,
    then `bank submit` it.

    \b
    Examples:
      cbdc bank issue --to cbdc1... --amount 1000000 --signer issuer-1.key --signer issuer-2.key
      cbdc bank issue --to cbdc1... --amount 1000000 --signer issuer-1.key --cosigner cbdc1... --draft d.json
    """
    from node.client.txbuild import issue_unsigned, sign_tx_partially

    recipient = address_bytes(to, "--to")
    fen = amount_fen(amount)
    keys = [load_key(p) for p in signers]
    named = [k.public for k in keys] + [address_bytes(a, "--cosigner") for a in cosigners]
    if not named:
        fail("name the issuers who sign: --signer KEYFILE (signs now) and/or --cosigner ADDRESS", EXIT_USAGE)
    if len(set(named)) != len(named):
        fail("an issuer is named twice among --signer/--cosigner", EXIT_USAGE)
    if cosigners and draft_path is None:
        fail(f"{len(cosigners)} --cosigner(s) sign later: write a draft with --draft FILE, "
             "then `cbdc bank sign FILE --key K` and `cbdc bank submit FILE`", EXIT_USAGE)
    if chain_id is None:
        with client(node_address) as node_client:
            chain_id = node_client.status().chain_id
    raw = issue_unsigned(chain_id, [(recipient, fen)], named, nonce=random_nonce())
    draft = Draft(sign_tx_partially(raw, chain_id, keys))
    if draft_path is not None:
        draft.save(draft_path)
        render(draft.to_doc(), as_json, *_draft_views(draft, draft_path))
        return
    _submit_draft(draft, None, node_address, timeout_s, as_json, signer=keys[0] if keys else None)


@bank.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@key_file_option("The issuer key file that signs.")
@json_option
@handle_errors
def sign(file: Path, key_file: Path, as_json: bool) -> None:
    """Add one issuer's signature to an issuance draft (offline; rewrites FILE).

    Example: cbdc bank sign draft.json --key issuer-2.key
    """
    from node.client.txbuild import add_signature

    draft = Draft.load(file)
    key = load_key(key_file)
    try:
        signed = Draft(add_signature(draft.tx, draft.chain_id, key))
    except ValueError:
        fail(f"{key.address} is not among the signers this draft names; it cannot sign it", EXIT_USAGE)
    signed.save(file)
    render(signed.to_doc(), as_json, *_draft_views(signed, file))


@bank.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@submit_options
def submit(file: Path, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Submit a fully signed issuance draft and wait until it is committed.

    Example: cbdc bank submit draft.json
    """
    _submit_draft(Draft.load(file), file, node_address, timeout_s, as_json)


@bank.command()
@key_file_option("The institution's key file.")
@amount_option("Amount in yuan to return to the central bank.")
@submit_options
def redeem(key_file: Path, amount: str, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Return cash to the central bank (it leaves circulation); change stays with the institution.

    Example: cbdc bank redeem --key shenzhen.key --amount 5000
    """
    from node.client.txbuild import build_redeem

    key = load_key(key_file)
    fen = amount_fen(amount)
    with client(node_address, signer=key) as node_client:
        chain_id = node_client.status().chain_id
        selection = spend(node_client, key.public, fen)
        change = selection.change(fen)
        raw = build_redeem(chain_id, key, selection.outpoints, fen,
                           [(key.public, change)] if change else [], nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), {"institution": key.address}, money("amount", fen),
                money("change", change))
    render(doc, as_json, committed(f"redeemed {yuan_cell(fen)} yuan", doc))


@bank.command("register-wallet")
@key_file_option("The registering institution's key file.")
@click.option("--address", "address", required=True, metavar="ADDRESS", help="The wallet's address.")
@click.option("--tier", required=True, type=click.IntRange(min=0, max=2**32 - 1),
              help="Tier id from the genesis tier table (default table: 1 full .. 4 anonymous).")
@click.option("--kyc-commitment", metavar="HEX",
              help="Optional 32-byte hash (64 hex) binding the wallet to the institution's KYC record.")
@submit_options
def register_wallet(key_file: Path, address: str, tier: int, kyc_commitment: str | None, timeout_s: float,
                    node_address: str | None, as_json: bool) -> None:
    """Whitelist a wallet address with a tier (or change the tier of one you registered).

    No personal data goes on chain: at most a hash commitment the institution can open.

    Example: cbdc bank register-wallet --key shenzhen.key --address cbdc1... --tier 4
    """
    from node.client.txbuild import build_register
    from node.ledger.address import encode_address

    key = load_key(key_file)
    wallet = address_bytes(address, "--address")
    kyc = hex_bytes(kyc_commitment, "--kyc-commitment", KYC_COMMITMENT_SIZE) if kyc_commitment else b""
    with client(node_address, signer=key) as node_client:
        chain_id = node_client.status().chain_id
        raw = build_register(chain_id, key, wallet, tier, kyc, nonce=random_nonce())
        outcome = submit_final(node_client, raw, timeout_s)
    doc = merge(outcome_doc(outcome), {"address": encode_address(wallet), "tier": tier,
                                       "institution": key.address, "kyc_commitment": kyc.hex()})
    render(doc, as_json, committed(f"registered {doc['address']} at tier {tier}", doc))
