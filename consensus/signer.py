"""The validator's signer: never signs two different messages for one (height, round, step).

The signer keeps a `SignState`: the last (height, round, step) it signed, the signed
message itself, and the lock and valid value of the state machine. Before anything it
signs leaves the process, the node must write `SignState.encode()` durably (the state
machine emits a PersistSignState action right before each broadcast). On restart the node
loads the bytes with `SignState.decode()` and hands them to a new Signer, which then:

- refuses anything below the last signed (height, round, step) (a regression);
- returns the stored signed message for the same (height, round, step): the identical
  message for an exact repeat, and *the message already signed* when asked to sign a
  different one (the caller is told, see SignOutcome), so a validator that lost part of its
  log re-sends its real vote instead of equivocating.

The sign-state only protects what it remembers. A validator restored from a backup (or
without its sign-state) does not know what its key signed since; a second copy of it may
even still be running. `DoubleSignGuard` (CometBFT's double_sign_check_height) makes such a
validator watch N heights decided without it, checking that no certificate carries a
precommit of its key, before its signer (`withholding`) signs anything again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import nacl.signing
from google.protobuf.message import DecodeError
from proto import consensus_pb2 as pb

from consensus.messages import (
    Step,
    VoteType,
    encode_proposal_body,
    encode_signed,
    encode_vote_body,
    proposal_digest,
    vote_digest,
)

SIGN_STATE_VERSION = 1


class SignStateError(ValueError):
    """The persisted sign-state bytes cannot be used (corrupt, or from a newer version)."""


@dataclass(frozen=True, slots=True)
class SignState:
    height: int = 0
    round: int = 0
    step: int = 0  # 0 = nothing signed yet, else a Step
    signed_message: bytes = b""
    locked_round: int = -1
    locked_hash: bytes = b""
    valid_round: int = -1
    valid_hash: bytes = b""

    def position(self) -> tuple[int, int, int]:
        return (self.height, self.round, self.step)

    def encode(self) -> bytes:
        """The bytes the node persists (a protobuf SignState; local only, never signed)."""
        return pb.SignState(
            version=SIGN_STATE_VERSION, height=self.height, round=self.round, step=self.step,
            signed_message=self.signed_message, locked_round=self.locked_round,
            locked_hash=self.locked_hash, valid_round=self.valid_round, valid_hash=self.valid_hash,
        ).SerializeToString()

    @classmethod
    def decode(cls, data: bytes) -> SignState:
        try:
            m = pb.SignState.FromString(data)
        except DecodeError as exc:
            raise SignStateError(f"sign-state does not decode ({exc}); refusing to sign from it") from None
        if m.version != SIGN_STATE_VERSION:
            raise SignStateError(f"sign-state version {m.version} is not {SIGN_STATE_VERSION}")
        if m.step > Step.PRECOMMIT:
            raise SignStateError(f"sign-state step {m.step} is not a step")
        return cls(
            m.height, m.round, m.step, m.signed_message, m.locked_round, m.locked_hash,
            m.valid_round, m.valid_hash,
        )


@dataclass(frozen=True, slots=True)
class SignOutcome:
    """What the signer produced. `message` is the SignedVote/SignedProposal bytes to send,
    or None when the request was a regression and nothing may be sent. `conflict` is True
    when the signer returned an earlier, different message for the same step."""

    message: bytes | None
    state: SignState
    repeat: bool = False
    conflict: bool = False


class Signer:
    """Holds the validator key and its SignState; all signing goes through here."""

    def __init__(self, key: nacl.signing.SigningKey, state: SignState | None = None) -> None:
        self._key = key
        self.public_key = bytes(key.verify_key)
        self.state = state or SignState()
        # Set by the double-sign guard: nothing is signed (not even a stored repeat) until
        # the guard has watched enough heights pass.
        self.withholding = False

    def update_locks(
        self, locked_round: int, locked_hash: bytes, valid_round: int, valid_hash: bytes
    ) -> None:
        """Record the state machine's lock and valid value; persisted with the next signature."""
        self.state = replace(
            self.state, locked_round=locked_round, locked_hash=locked_hash,
            valid_round=valid_round, valid_hash=valid_hash,
        )

    def sign_vote(
        self, chain_id: str, height: int, round_: int, vote_type: VoteType, block_hash: bytes
    ) -> SignOutcome:
        body = encode_vote_body(chain_id, height, round_, vote_type, block_hash, self.public_key)
        return self._sign((height, round_, int(vote_type.step)), body, vote_digest)

    def sign_proposal(
        self, chain_id: str, height: int, round_: int, pol_round: int, block_hash: bytes
    ) -> SignOutcome:
        body = encode_proposal_body(chain_id, height, round_, pol_round, block_hash, self.public_key)
        return self._sign((height, round_, int(Step.PROPOSE)), body, proposal_digest)

    def _sign(self, position: tuple[int, int, int], body: bytes, digest_of) -> SignOutcome:
        last = self.state.position()
        if self.withholding or position < last:
            return SignOutcome(None, self.state)
        if position == last and self.state.signed_message:
            stored = self.state.signed_message
            same = pb.SignedVote.FromString(stored).body == body
            return SignOutcome(stored, self.state, repeat=same, conflict=not same)
        signature = self._key.sign(digest_of(body)).signature
        message = encode_signed(body, signature)
        self.state = replace(
            self.state, height=position[0], round=position[1], step=position[2], signed_message=message
        )
        return SignOutcome(message, self.state)


class DoubleSignGuard:
    """Counts the heights a validator has watched without signing (see the module docstring).

    Pure bookkeeping; the node calls `arm` when its sign-state cannot vouch for what the key
    signed (missing, behind the blocks it holds, or it just caught up by block sync), then
    `watched` for every height it sees decided live, with whether that height's certificate
    carries a precommit of its own key. The signer may sign again once `armed` is False.
    """

    def __init__(self, heights: int) -> None:
        if heights < 0:
            raise ValueError("double-sign check heights must be >= 0")
        self.heights = heights  # 0: the guard is off
        self.remaining = 0
        self.reason = ""

    @property
    def armed(self) -> bool:
        return self.remaining > 0

    def arm(self, reason: str) -> bool:
        """Start (or restart) watching; False when the guard is off."""
        if self.heights == 0:
            return False
        self.remaining = self.heights
        self.reason = reason
        return True

    def watched(self, own_key_signed: bool) -> bool:
        """One height decided while armed. A precommit of our key in its certificate means
        another process signs with this key: watch all N heights again. Returns True when
        this height releases the guard."""
        if not self.armed:
            return False
        if own_key_signed:
            self.remaining = self.heights
            self.reason = "a certificate carries a precommit of this key that this process did not sign"
            return False
        self.remaining -= 1
        return self.remaining == 0

