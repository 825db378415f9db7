"""Evidence of double votes on the chain: what a proposer may put in a block, what a validator
accepts in a proposed block, and the pool of evidence waiting for a block.

The rule: one piece of evidence per (validator, height) is ever committed. Proving that a
validator signed two different votes at a height once is enough to act on it; committing it
again (another pair of its votes, or the same evidence heard late from a peer) would count
one offence twice. The store keeps an index of the (validator, height) pairs already on the
chain (node.ledger.store, prefix b"E"); validators reject a block that repeats one, carries one
twice, or carries evidence that does not verify against the validator set (two valid
signatures by one validator key for one height, round and vote type, different blocks).
An honest validator's signer never signs such a pair, so evidence can never name it.

Validator sets change (node.ledger.governance): a block's evidence is verified against the
set deciding that block. The pool verifies what it hears against the set of the height the
double vote is for, and offers a block only evidence against members of that block's set,
so a proposer never includes evidence its validators refuse (a validator that left the set
before its evidence was included is not named on chain).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence

from consensus.evidence import DuplicateVote, EvidenceError, verify_evidence
from consensus.messages import InvalidMessage, decode_vote
from consensus.validators import ValidatorSet
from google.protobuf.message import DecodeError
from proto import consensus_pb2

from node.ledger.crypto import sha256
from node.ledger.errors import Code, LedgerError
from node.ledger.merkle import EMPTY_ROOT

# The evidence_root of a block without evidence (blocks.evidence_root of an empty list).
EMPTY_EVIDENCE_ROOT = EMPTY_ROOT
# At most this many evidence items in one block (a proposer takes the oldest first).
MAX_EVIDENCE_PER_BLOCK = 32
# Evidence waiting for a block, per node; beyond it new evidence is dropped until blocks
# carry some (the equivocators it names are already known many times over).
MAX_POOL = 1024
# Digests of evidence bytes already looked at, so gossip repeats cost no signature checks.
_SEEN_DIGESTS = 4096

CommittedLookup = Callable[[bytes], int | None]
# The validator set of each height, or one set for every height (a chain whose set never
# changes; tests).
ValidatorsAt = ValidatorSet | Callable[[int], ValidatorSet]


def _set_for(validators: ValidatorsAt, data: bytes) -> ValidatorSet:
    """The set to verify `data` against: that of the height the evidence names."""
    if isinstance(validators, ValidatorSet):
        return validators
    key = evidence_key_of(data)
    if key is None:
        raise EvidenceError("not duplicate-vote evidence")
    return validators(max(1, int.from_bytes(key[32:40], "big")))


def evidence_key(validator: bytes, height: int) -> bytes:
    """The store's key suffix for "evidence against `validator` at `height` is committed"."""
    return validator + height.to_bytes(8, "big")


def evidence_key_of(data: bytes) -> bytes | None:
    """(validator, height) key of evidence bytes without checking signatures (for indexing
    committed blocks, whose evidence was checked before they were decided); None when the
    bytes are not duplicate-vote evidence."""
    try:
        ev = consensus_pb2.Evidence.FromString(data)
        if not ev.HasField("duplicate_vote"):
            return None
        vote = decode_vote(ev.duplicate_vote.vote_a, verify=False)
    except (DecodeError, InvalidMessage):
        return None
    return evidence_key(vote.validator, vote.height)


def check_evidence(data: bytes, validators: ValidatorSet, chain_id: str, block_height: int) -> DuplicateVote:
    """Verify one evidence item for a block at `block_height`; raises EvidenceError."""
    proof = verify_evidence(data, validators, chain_id)
    if proof.height < 1 or proof.height > block_height:
        raise EvidenceError(f"evidence is for height {proof.height}, the block is at {block_height}")
    return proof


def check_block_evidence(
    items: Sequence[bytes],
    *,
    validators: ValidatorSet,
    chain_id: str,
    height: int,
    committed: CommittedLookup,
) -> list[bytes]:
    """The evidence keys (evidence_key) of the block at `height`, in order; raises
    LedgerError(INVALID_BLOCK) unless every item verifies against `validators`, names a
    (validator, height) not yet on the chain, and appears once."""
    if len(items) > MAX_EVIDENCE_PER_BLOCK:
        raise LedgerError(
            Code.INVALID_BLOCK,
            f"block {height}: carries {len(items)} evidence items; at most {MAX_EVIDENCE_PER_BLOCK} allowed",
        )
    keys: list[bytes] = []
    seen: set[bytes] = set()
    for i, item in enumerate(items):
        try:
            proof = check_evidence(item, validators, chain_id, height)
        except EvidenceError as err:
            raise LedgerError(Code.INVALID_BLOCK, f"block {height}: evidence #{i}: {err}") from None
        key = evidence_key(proof.validator, proof.height)
        who = proof.validator.hex()[:16]
        if key in seen:
            raise LedgerError(
                Code.INVALID_BLOCK,
                f"block {height}: evidence #{i} against {who} at height {proof.height} appears twice",
            )
        at = committed(key)
        if at is not None:
            raise LedgerError(
                Code.INVALID_BLOCK,
                f"block {height}: evidence #{i} against {who} at height {proof.height} "
                f"was already committed in block {at}",
            )
        seen.add(key)
        keys.append(key)
    return keys


class EvidencePool:
    """Verified evidence not yet on the chain, one item per (validator, height)."""

    def __init__(
        self,
        validators: ValidatorsAt,
        chain_id: str,
        committed: CommittedLookup,
        horizon: Callable[[], int] | None = None,
    ) -> None:
        """`horizon()`: the highest height evidence may name now (e.g. tip + 2). Without it a
        Byzantine validator could fill the pool with double votes for far-future heights,
        which no block may carry yet, and crowd out real evidence."""
        self.validators = validators
        self.chain_id = chain_id
        self.committed = committed
        self.horizon = horizon
        self._items: OrderedDict[bytes, tuple[int, bytes]] = OrderedDict()  # key -> (height, bytes); key
        # starts with the validator's key (evidence_key)
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    def add(self, data: bytes) -> DuplicateVote | None:
        """Take evidence heard from a peer or found by our machine; returns the proof when it
        is new (verified, not committed, no evidence for its validator and height held)."""
        digest = sha256(data)
        if digest in self._seen or len(self._items) >= MAX_POOL:
            return None
        try:
            proof = verify_evidence(data, _set_for(self.validators, data), self.chain_id)
        except EvidenceError:
            proof = None
        if proof is not None and self.horizon is not None and proof.height > self.horizon():
            return None  # not yet includable; not remembered, so it is taken when it is
        self._seen[digest] = None
        while len(self._seen) > _SEEN_DIGESTS:
            self._seen.popitem(last=False)
        if proof is None or proof.height < 1:
            return None
        key = evidence_key(proof.validator, proof.height)
        if key in self._items or self.committed(key) is not None:
            return None
        self._items[key] = (proof.height, data)
        return proof

    def for_block(self, height: int) -> list[bytes]:
        """What the proposer of `height` includes: held items not committed meanwhile."""
        chosen = []
        members = self.validators if isinstance(self.validators, ValidatorSet) else self.validators(height)
        for key, (at, data) in self._items.items():
            if at <= height and key[:32] in members and self.committed(key) is None:
                chosen.append(data)
                if len(chosen) >= MAX_EVIDENCE_PER_BLOCK:
                    break
        return chosen

    def prune(self) -> None:
        """Drop what the chain now carries (after every commit)."""
        for key in [k for k in self._items if self.committed(k) is not None]:
            del self._items[key]

    def __len__(self) -> int:
        return len(self._items)
