"""The draft file of a multi-signature payment, passed from member to member.

`cbdc multisig pay --draft FILE` fixes the body once (the wallet's lock, the coins it spends,
the recipient and change, and the members named to sign); each member adds a signature with
`cbdc multisig sign FILE --key K`, offline; `cbdc multisig submit FILE` sends it once every
named member has signed. Only `tx` in the file is authoritative: the rest is a summary for the
people signing, recomputed from `tx` whenever the file is written, and the body bytes are never
re-encoded, so every signature is over the same bytes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cli.common import EXIT_USAGE, fail, read_json_file
from cli.drafts import SignedDraft, write_draft
from cli.format import Grid, Lines, View, merge, money

DRAFT_TYPE = "cbdc-multisig-draft"


class SpendDraft(SignedDraft):
    """A spend of a multi-signature wallet being signed by the members it names."""

    def signers(self) -> list[bytes]:
        return list(self.body.spend_locked.signers)

    def to_doc(self) -> dict[str, Any]:
        from node.ledger.address import encode_address
        from node.ledger.conditions import lock_address

        spend = self.body.spend_locked
        return {
            "type": DRAFT_TYPE,
            "chain_id": self.chain_id,
            "txid": self.txid.hex(),
            "wallet": encode_address(lock_address(spend.lock)),
            "outputs": [merge({"address": encode_address(o.owner)}, money("amount", o.amount))
                        for o in spend.outputs],
            "signers": [{"address": encode_address(k), "status": s} for k, s in self.signer_status()],
            "tx": self.tx.hex(),
        }

    def save(self, path: Path) -> None:
        write_draft(path, self.to_doc())

    @classmethod
    def load(cls, path: Path) -> SpendDraft:
        doc = read_json_file(path, "draft")
        if not isinstance(doc, dict) or doc.get("type") != DRAFT_TYPE or not isinstance(doc.get("tx"), str):
            fail(f"draft {path} is not a multisig payment draft (from `cbdc multisig pay --draft`)",
                 EXIT_USAGE)
        try:
            draft = cls(bytes.fromhex(doc["tx"]))
            if draft.body.WhichOneof("kind") != "spend_locked":
                raise ValueError("not a spend of a lock")
        except Exception:  # any decoding failure of the file's bytes is the file's problem
            fail(f"draft {path}: field tx is not a multisig payment (file edited or damaged)", EXIT_USAGE)
        return draft


def draft_views(draft: SpendDraft, path: Path) -> list[View]:
    """A draft for people: what it pays, who has signed, then what to do next."""
    from node.ledger.address import encode_address

    doc = draft.to_doc()
    missing = [k for k, s in draft.signer_status() if s != "signed"]
    pays = ", ".join(f"{o['amount_yuan']} yuan to {o['address']}" for o in doc["outputs"])
    return [
        Lines([f"payment draft {path} (txid {doc['txid'][:16]}) from {doc['wallet']}: {pays}"]),
        Grid(["signer", "signature"], [(encode_address(k), s) for k, s in draft.signer_status()]),
        Lines([f"{len(missing)} signature(s) missing: cbdc multisig sign {path} --key MEMBER.key" if missing
               else f"fully signed: cbdc multisig submit {path}"]),
    ]
