"""`cbdc gov ...`: governance changes, drafted, signed by m of n keys offline, submitted.

Every change names its authorizers: the central bank's authority keys (m of n), or, for
its own key rotation and its own wallets, an institution's key. As with `cbdc bank issue`,
a change is built once (its body and the list of signers fixed), signed now by the
--signer key files, and, when --cosigner addresses sign later, written as a draft file that
travels from signer to signer (`cbdc gov sign`) and is finally submitted (`cbdc gov
submit`). The body bytes are never re-encoded, so each signature covers exactly the bytes
that are submitted.

    cbdc gov admit-institution --id bank-e --name "Bank E" --institution-key cbdc1... \\
        --signer pbc-1.key --cosigner cbdc1... --draft admit.json
    cbdc gov sign admit.json --key pbc-2.key
    cbdc gov submit admit.json
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from cli.common import EXIT_USAGE, fail, read_json_file
from cli.connect import address_bytes, client, handle_errors, json_option, load_key, outcome_doc, random_nonce
from cli.connect import submit_final as _submit_final
from cli.drafts import SignedDraft, write_draft
from cli.format import Grid, Lines, View, committed, merge, render
from cli.options import key_file_option, submit_options

DRAFT_TYPE = "cbdc-gov-draft"


@click.group()
def gov() -> None:
    """Governance: institutions, wallets (freeze), tier tables, validators, keys and the
    authority itself."""


# --- drafts -----------------------------------------------------------------------------


class GovDraft(SignedDraft):
    """A governance change being signed (its signers: node.client.govbuild.signers_of)."""

    @property
    def kind(self) -> str:
        return self.body.WhichOneof("kind") or "unknown"

    def signers(self) -> list[bytes]:
        from node.client.govbuild import signers_of
        from proto import ledger_pb2

        return signers_of(ledger_pb2.Transaction.FromString(self.tx).body)

    def to_doc(self) -> dict[str, Any]:
        from cli.chain import tx_doc
        from node.ledger.address import encode_address

        change = tx_doc(self.tx)
        return {
            "type": DRAFT_TYPE,
            "chain_id": self.chain_id,
            "txid": self.txid.hex(),
            "kind": self.kind,
            "change": {k: v for k, v in change.items() if k not in ("txid", "chain_id", "signatures")},
            "signers": [{"address": encode_address(k), "status": s} for k, s in self.signer_status()],
            "tx": self.tx.hex(),
        }

    def save(self, path: Path) -> None:
        write_draft(path, self.to_doc())

    @classmethod
    def load(cls, path: Path) -> GovDraft:
        from node.ledger.governance_codec import GOVERNANCE_KINDS

        doc = read_json_file(path, "draft")
        if not isinstance(doc, dict) or doc.get("type") != DRAFT_TYPE or not isinstance(doc.get("tx"), str):
            fail(f"draft {path} is not a governance draft (from `cbdc gov ... --draft`)", EXIT_USAGE)
        try:
            draft = cls(bytes.fromhex(doc["tx"]))
            if draft.kind not in GOVERNANCE_KINDS:
                raise ValueError("not a governance change")
        except Exception:  # any decoding failure of the file's bytes is the file's problem
            fail(f"draft {path}: field tx is not a governance transaction (file edited or damaged)",
                 EXIT_USAGE)
        return draft


def _views(draft: GovDraft, path: Path) -> list[View]:
    from node.ledger.address import encode_address

    status = draft.signer_status()
    missing = [k for k, s in status if s != "signed"]
    return [
        Grid(["signer", "signature"], [(encode_address(k), s) for k, s in status],
             title=f"{draft.kind} draft {path} (txid {draft.txid.hex()[:16]})"),
        Lines([f"{len(missing)} signature(s) missing: cbdc gov sign {path} --key KEYFILE" if missing
               else f"fully signed: cbdc gov submit {path}"]),
    ]


def _submit(
    draft: GovDraft, path: Path | None, node_address: str | None, timeout_s: float, as_json: bool
) -> None:
    from node.ledger.address import encode_address

    unsigned = [encode_address(k) for k, s in draft.signer_status() if s != "signed"]
    if unsigned:
        where = f"cbdc gov sign {path} --key KEYFILE" if path else "use --draft FILE, then `gov sign`"
        fail(f"{len(unsigned)} named signer(s) have no valid signature yet ({', '.join(unsigned)}); {where}",
             EXIT_USAGE)
    with client(node_address) as node_client:
        outcome = _submit_final(node_client, draft.tx, timeout_s)
    doc = merge(outcome_doc(outcome), {"kind": draft.kind, "change": draft.to_doc()["change"]})
    render(doc, as_json, committed(draft.kind.replace("_", " "), doc))


# --- the change commands -----------------------------------------------------------------


def change_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--signer/--cosigner/--draft/--chain-id and the submit options, for every change."""
    command = submit_options(command)
    for option in reversed([
        click.option("--signer", "signers", multiple=True, metavar="KEYFILE", type=click.Path(path_type=Path),
                     help="A key file that authorizes and signs now (repeatable)."),
        click.option("--cosigner", "cosigners", multiple=True, metavar="ADDRESS",
                     help="An authorizer who signs later from a draft (repeatable)."),
        click.option("--draft", "draft_path", type=click.Path(dir_okay=False, path_type=Path),
                     help="Write the (partly signed) change to this file instead of submitting it."),
        click.option("--chain-id", help="Chain id for an offline draft (default: ask the node)."),
    ]):
        command = option(command)
    return command


def _make(body_of: Callable[[str, list[bytes], int], bytes], signers: tuple[Path, ...],
          cosigners: tuple[str, ...], draft_path: Path | None, chain_id: str | None, timeout_s: float,
          node_address: str | None, as_json: bool, extra_keys: tuple[Any, ...] = ()) -> None:
    """Build the body (authorizers = signers then cosigners), sign what can be signed now,
    then submit it or write the draft."""
    from node.client.govbuild import unsigned
    from node.client.txbuild import sign_tx_partially

    keys = [load_key(p) for p in signers]
    named = [k.public for k in keys] + [address_bytes(a, "--cosigner") for a in cosigners]
    if not named:
        fail("name who authorizes: --signer KEYFILE (signs now) and/or --cosigner ADDRESS", EXIT_USAGE)
    if len(set(named)) != len(named):
        fail("a key is named twice among --signer/--cosigner", EXIT_USAGE)
    if cosigners and draft_path is None:
        fail(f"{len(cosigners)} --cosigner(s) sign later: write a draft with --draft FILE, "
             "then `cbdc gov sign FILE --key K` and `cbdc gov submit FILE`", EXIT_USAGE)
    if chain_id is None:
        with client(node_address) as node_client:
            chain_id = node_client.status().chain_id
    body = body_of(chain_id, named, random_nonce())
    draft = GovDraft(sign_tx_partially(unsigned(body), chain_id, [*keys, *extra_keys]))
    if draft_path is not None:
        draft.save(draft_path)
        render(draft.to_doc(), as_json, *_views(draft, draft_path))
        return
    _submit(draft, None, node_address, timeout_s, as_json)


@gov.command("admit-institution")
@click.option("--id", "institution_id", required=True, help="A new, never used id, e.g. bank-e.")
@click.option("--name", required=True, help="The institution's name.")
@click.option("--institution-key", required=True, metavar="ADDRESS", help="The institution's public key.")
@change_options
def admit_institution(institution_id: str, name: str, institution_key: str, **common: Any) -> None:
    """Admit an institution (the authority signs): it may then receive issuance and
    register wallets."""
    from node.client.govbuild import admit_institution_body

    key = address_bytes(institution_key, "--institution-key")
    _make(lambda chain, who, nonce: admit_institution_body(chain, who, institution_id, name, key, nonce),
          **common)


def _institution_command(action: str, doc: str) -> None:
    @gov.command(f"{action}-institution", help=doc)
    @click.option("--id", "institution_id", required=True, help="The institution's id.")
    @change_options
    def command(institution_id: str, **common: Any) -> None:
        from node.client.govbuild import institution_body

        _make(lambda chain, who, nonce: institution_body(chain, action, who, institution_id, nonce), **common)


_institution_command("suspend", "Suspend an institution: no issuance to it and no new wallets; its "
                     "wallets keep paying (the authority signs).")
_institution_command("reinstate", "Reinstate a suspended institution (the authority signs).")
_institution_command("retire", "Retire an institution that holds nothing; its id and keys are never reused "
                     "(the authority signs).")


@gov.command("rotate-institution-key")
@click.option("--id", "institution_id", required=True, help="The institution's id.")
@click.option("--new-key", "new_key_file", required=True, type=click.Path(path_type=Path), metavar="KEYFILE",
              help="The new key file; it signs the change too.")
@change_options
def rotate_institution_key(institution_id: str, new_key_file: Path, **common: Any) -> None:
    """Replace an institution's key: signed by its current key (--signer OLD.key), or by the
    authority for a compromised key. The money of the old key stays spendable by the new
    key only; the old key can sign nothing after the change."""
    from node.client.govbuild import rotate_institution_key_body

    new = load_key(new_key_file)
    def body(chain: str, who: list[bytes], nonce: int) -> bytes:
        return rotate_institution_key_body(chain, who, institution_id, new.public, nonce)

    _make(body, extra_keys=(new,), **common)


def _key_rotation_command(role: str, doc: str) -> None:
    @gov.command(f"rotate-{role}-key", help=doc)
    @click.option("--old-key", required=True, metavar="ADDRESS", help=f"The {role} key being replaced.")
    @click.option("--new-key", "new_key_file", required=True, type=click.Path(path_type=Path),
                  metavar="KEYFILE", help="The new key file; it signs the change too.")
    @change_options
    def command(old_key: str, new_key_file: Path, **common: Any) -> None:
        from node.client import govbuild

        old = address_bytes(old_key, "--old-key")
        new = load_key(new_key_file)
        build = getattr(govbuild, f"rotate_{role}_key_body")

        def body(chain: str, who: list[bytes], nonce: int) -> bytes:
            return build(chain, who, old, new.public, nonce)

        _make(body, extra_keys=(new,), **common)


_key_rotation_command(
    "validator",
    "Replace a validator's consensus key: signed by that key (--signer OLD.key), or by the "
    "authority for a compromised key. Committed in block H, the new key decides from H+2 with "
    "the same power and name (restart the node with it then); from H+2 the old key's votes and "
    "proposals count for nothing. It counts against the third of the power that may move in "
    "one step.\n\nExample: cbdc gov rotate-validator-key --old-key cbdc1... --new-key "
    "new-validator.key --signer validator.key",
)
_key_rotation_command(
    "authority",
    "Replace one authority (issuer) key, the threshold unchanged: signed by that key (--signer "
    "OLD.key), or by the authority for a compromised key. From the block that commits it the "
    "old key issues and governs nothing.\n\nExample: cbdc gov rotate-authority-key --old-key "
    "cbdc1... --new-key new-issuer.key --signer issuer-1.key",
)


def _reason_code(text: str) -> int:
    from node.ledger.governance import REASONS

    by_name = {name: code for code, name in REASONS.items()}
    if text in by_name:
        return by_name[text]
    if text.isdigit() and int(text) in REASONS:
        return int(text)
    known = ", ".join(f"{name} ({code})" for code, name in REASONS.items())
    fail(f"--reason {text!r} is not a reason code; use one of {known}", EXIT_USAGE)


def _wallet_command(action: str, doc: str) -> None:
    @gov.command(f"{action}-wallet", help=doc)
    @click.option("--address", required=True, metavar="ADDRESS", help="The wallet's address.")
    @click.option("--reason", required=True, metavar="CODE",
                  help="Why (a code, never personal data): court_order, anti_money_laundering, "
                       "suspected_fraud, holder_request, lost_device, institution_exit, other.")
    @change_options
    def command(address: str, reason: str, **common: Any) -> None:
        from node.client.govbuild import wallet_body

        wallet = address_bytes(address, "--address")
        code = _reason_code(reason)
        _make(lambda chain, who, nonce: wallet_body(chain, action, who, wallet, code, nonce), **common)


_wallet_command("freeze", "Freeze a wallet: it can neither send nor receive (its institution's key, or the "
                "authority for a court order or AML).")
_wallet_command("unfreeze", "Lift a freeze (a freeze by the authority only by the authority).")
_wallet_command("deregister", "Deregister an empty wallet; another institution may register it again.")


@gov.command("set-tiers")
@click.option("--tiers", "tiers_file", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help='A JSON list of tiers as in genesis.json: [{"id": 4, "name": "anonymous", '
                   '"balance_cap": 1000000, ...}]; amounts in fen, null for unlimited.')
@click.option("--effective-height", required=True, type=click.IntRange(min=1),
              help="The first block the new table applies to (after the block that commits it).")
@change_options
def set_tiers(tiers_file: Path, effective_height: int, **common: Any) -> None:
    """Replace the wallet-tier table from a height on (the authority signs). Every tier id
    in use stays; its limits may change and new tiers may be added."""
    from node.client.govbuild import tier_table_body
    from node.ledger.genesis import GenesisError, _tier

    doc = read_json_file(tiers_file, "tier table")
    if not isinstance(doc, list) or not doc:
        fail(f"{tiers_file}: expected a non-empty JSON list of tiers", EXIT_USAGE)
    try:
        tiers = [_tier(t, f"tiers[{i}]") for i, t in enumerate(doc)]
    except GenesisError as err:
        fail(f"{tiers_file}: {err}", EXIT_USAGE)
    _make(lambda chain, who, nonce: tier_table_body(chain, who, effective_height, tiers, nonce), **common)


@gov.command("set-authority")
@click.option("--authority-key", "authority_keys", required=True, multiple=True, metavar="ADDRESS",
              help="A key of the new authority (repeatable; also the issuance keys).")
@click.option("--threshold", required=True, type=click.IntRange(min=1), help="How many of them must sign.")
@change_options
def set_authority(authority_keys: tuple[str, ...], threshold: int, **common: Any) -> None:
    """Replace the central bank's authority (its keys and threshold), signed by the current
    one: rotates issuer keys and changes the threshold."""
    from node.client.govbuild import authority_body

    keys = [address_bytes(a, "--authority-key") for a in authority_keys]
    _make(lambda chain, who, nonce: authority_body(chain, who, keys, threshold, nonce), **common)


@gov.command("set-validators")
@click.option("--add", "additions", multiple=True, metavar="NAME:ADDRESS:POWER",
              help="Add a validator, or set the power of one (repeatable).")
@click.option("--remove", "removals", multiple=True, metavar="ADDRESS",
              help="Remove a validator (repeatable).")
@change_options
def set_validators(additions: tuple[str, ...], removals: tuple[str, ...], **common: Any) -> None:
    """Change the validator set (the authority signs). Committed in block H, the new set
    decides from H+2; at most a third of the voting power may move in one change, and at
    least the genesis minimum of validators stays.

    Example: cbdc gov set-validators --add bank-e:cbdc1...:10 --signer pbc-1.key --signer pbc-2.key
    """
    from node.client.govbuild import validators_body

    updates: list[tuple[bytes, int, str]] = []
    for text in additions:
        name, _, rest = text.partition(":")
        address, _, power = rest.rpartition(":")
        if not name or not address or not power.isdigit() or int(power) < 1:
            fail(f"--add {text!r}: expected NAME:ADDRESS:POWER with a power of at least 1", EXIT_USAGE)
        updates.append((address_bytes(address, "--add"), int(power), name))
    updates += [(address_bytes(a, "--remove"), 0, "") for a in removals]
    if not updates:
        fail("name at least one change: --add NAME:ADDRESS:POWER or --remove ADDRESS", EXIT_USAGE)
    _make(lambda chain, who, nonce: validators_body(chain, who, updates, nonce), **common)


@gov.command("set-block-limits")
@click.option("--effective-height", required=True, type=click.IntRange(min=1),
              help="The first block the limits apply to (after the block that commits the change).")
@click.option("--max-txs", required=True, type=click.IntRange(min=1), help="Transactions per block.")
@click.option("--max-bytes", required=True, type=click.IntRange(min=1),
              help="Bytes of transactions per block.")
@change_options
def set_block_limits(effective_height: int, max_txs: int, max_bytes: int, **common: Any) -> None:
    """Change the block caps from a height on (the authority signs); genesis's caps are
    the ceiling."""
    from node.client.govbuild import block_limits_body

    def body(chain: str, who: list[bytes], nonce: int) -> bytes:
        return block_limits_body(chain, who, effective_height, max_txs, max_bytes, nonce)

    _make(body, **common)


# --- sign, submit ------------------------------------------------------------------------


@gov.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@key_file_option("The key file that signs.")
@json_option
@handle_errors
def sign(file: Path, key_file: Path, as_json: bool) -> None:
    """Add one signature to a governance draft (offline; rewrites FILE).

    Example: cbdc gov sign admit.json --key pbc-2.key
    """
    from node.client.txbuild import add_signature

    draft = GovDraft.load(file)
    key = load_key(key_file)
    try:
        signed = GovDraft(add_signature(draft.tx, draft.chain_id, key))
    except ValueError:
        fail(f"{key.address} is not among the signers this draft names; it cannot sign it", EXIT_USAGE)
    signed.save(file)
    render(signed.to_doc(), as_json, *_views(signed, file))


@gov.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@submit_options
def submit(file: Path, timeout_s: float, node_address: str | None, as_json: bool) -> None:
    """Submit a fully signed governance draft and wait until it is committed.

    Example: cbdc gov submit admit.json
    """
    _submit(GovDraft.load(file), file, node_address, timeout_s, as_json)
