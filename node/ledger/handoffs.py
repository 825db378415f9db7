"""Hand-offs: how a verifier that trusts only genesis.json follows the validator set.

A validator-set change committed at H decides from E = H + 2 (node.ledger.governance). Block
E - 1 is the hand-off: its certificate is by the set before the change, and its header
commits (next_validators_hash) to the set after it. Given the header, the certificate and
that next set in full, a verifier walks from the genesis set to the set deciding any later
block, as CometBFT's light client walks validator-set changes: each step is checked against
the set the previous step handed on, so a forged set never verifies.

The same hand-offs travel in an auditor's inclusion proof (node.audit, `audit prove`) and in
a state snapshot (node.ledger.snapshot), in one document format:

    {"height": h, "header": hex, "commit": hex, "next_validators": [[key hex, power], ...]}

A store that no longer holds a hand-off's block (restored from a snapshot) keeps the
hand-off documents it was given under P_HANDOFF (node.ledger.store), so it can hand them on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from consensus.commit import CommitError, verify_commit
from consensus.validators import ValidatorSet

from node.ledger.blocks import block_hash, decode_committed_block, decode_header
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis
from node.ledger.governance import Governance

# A hand-off as a node holds it: the CommittedBlock bytes of block h whose header's
# next_validators_hash names a new set, and that set ((public key, power) pairs) deciding
# from h+1.
Handoff = tuple[bytes, list[tuple[bytes, int]]]


class HandoffError(ValueError):
    """A hand-off does not hold; the message names it ("hand-off #i (block h): ...")."""


def genesis_validator_set(genesis: Genesis) -> ValidatorSet:
    return ValidatorSet([(v.public_key, v.power) for v in genesis.validators])


def handoff_heights(schedule_heights: Iterable[int], height: int) -> list[int]:
    """The blocks whose certificates hand the chain to each later validator set, up to the
    set deciding `height`: one before each set's first height (the genesis set needs none)."""
    return [h - 1 for h in schedule_heights if 1 < h <= height]


def handoff_doc(raw: bytes, validators: list[tuple[bytes, int]]) -> dict[str, Any]:
    """The document of the hand-off in CommittedBlock `raw` to the set `validators`."""
    committed = decode_committed_block(raw)
    return {
        "height": committed.height,
        "header": committed.block.header.hex(),
        "commit": committed.certificate.hex(),
        "next_validators": [[key.hex(), power] for key, power in validators],
    }


def encode_doc(doc: dict[str, Any]) -> bytes:
    """Canonical bytes of a hand-off document (a store row, a snapshot record)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def keep_row(doc: dict[str, Any]) -> tuple[int, bytes]:
    """(height, canonical bytes) of a hand-off document that follow_handoffs accepted, for
    the store's P_HANDOFF row: the height read from its header, not from the document."""
    header_bytes = bytes.fromhex(doc["header"])
    header = decode_header(header_bytes)
    kept = {
        "height": header.height,
        "header": header_bytes.hex(),
        "commit": bytes.fromhex(doc["commit"]).hex(),
        "next_validators": [[bytes.fromhex(key).hex(), int(power)] for key, power in doc["next_validators"]],
    }
    return header.height, encode_doc(kept)


def stored_handoffs(
    governance: Governance | None, height: int, block_at: Callable[[int], bytes | None],
    kept_at: Callable[[int], bytes | None],
) -> list[dict[str, Any]]:
    """The hand-off documents from genesis to the set deciding `height`, from a store: the
    block of each hand-off (`block_at`), else the document kept for it (`kept_at`, a store
    restored from a snapshot). LedgerError when the store holds neither (pruned)."""
    if governance is None:  # no governance change ever: the genesis set decides every height
        return []
    sets = {s.effective_height: s for s in governance.validator_sets}
    docs = []
    for h in handoff_heights(sets, height):
        raw = block_at(h)
        if raw is not None:
            docs.append(handoff_doc(raw, [(v.public_key, v.power) for v in sets[h + 1].validators]))
            continue
        kept = kept_at(h)
        if kept is None:
            raise LedgerError(
                Code.INVALID_BLOCK,
                f"this store no longer holds block {h}, which hands the chain to the validator set of "
                f"block {h + 1} (pruned); take the snapshot from an archive node",
            )
        docs.append(json.loads(kept))
    return docs


def hex_field(item: dict[str, Any], name: str, where: str, error: type[Exception] = HandoffError) -> bytes:
    """The bytes of a hex string field of a proof or hand-off document; `error` naming
    `where` and the field when it is missing or not hex."""
    value = item.get(name)
    if not isinstance(value, str):
        raise error(f"{where}: field {name!r} is missing or not a hex string")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise error(f"{where}: field {name!r} is not hex") from None


def follow_handoffs(handoffs: Any, genesis: Genesis, height: int) -> ValidatorSet:
    """The validator set the hand-offs lead to from genesis's, for a block at `height`;
    HandoffError names the first hand-off that does not hold (its certificate is not by the
    set before it, or the set it hands to is not the one its header commits to)."""
    if not isinstance(handoffs, list):
        raise HandoffError("'handoffs' must be a list")
    validators = genesis_validator_set(genesis)
    previous = 0
    for i, item in enumerate(handoffs):
        where = f"hand-off #{i}"
        if not isinstance(item, dict):
            raise HandoffError(f"{where} is not an object")
        header_bytes, certificate = hex_field(item, "header", where), hex_field(item, "commit", where)
        try:
            header = decode_header(header_bytes)
        except LedgerError as err:
            raise HandoffError(f"{where}: the header does not decode: {err.message}") from None
        where = f"hand-off #{i} (block {header.height})"
        if header.chain_id != genesis.chain_id:
            raise HandoffError(f"{where}: the header is for chain {header.chain_id!r}")
        if not previous < header.height < height:
            raise HandoffError(f"{where}: hand-offs must be in height order and below the block ({height})")
        previous = header.height
        if header.validators_hash != validators.hash():
            raise HandoffError(
                f"{where}: the header names a validator set other than the one handed on to it"
            )
        try:
            verify_commit(certificate, validators, genesis.chain_id, header.height, block_hash(header_bytes))
        except CommitError as err:
            raise HandoffError(
                f"{where}: the commit certificate does not verify against the set before it: {err}"
            ) from None
        try:
            rows = item["next_validators"]
            following = ValidatorSet([(bytes.fromhex(key), int(power)) for key, power in rows])
        except (KeyError, TypeError, ValueError) as err:
            raise HandoffError(f"{where}: next_validators is not a list of [key hex, power]: {err}") from None
        if following.hash() != header.next_validators_hash:
            raise HandoffError(
                f"{where}: next_validators is not the set its header commits to (next_validators_hash)"
            )
        validators = following
    return validators
