"""What the driver feeds the state machine (events) and what it gets back (actions).

The driver executes actions in list order. In particular a PersistSignState always comes
right before the broadcast it protects: the node must have written it durably (fsync)
before it sends the following BroadcastProposal/BroadcastVote.
"""

from __future__ import annotations

from dataclasses import dataclass

from consensus.messages import Step
from consensus.validators import ValidatorSet

# ---- events -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartHeight:
    """Begin deciding `height` with this validator set (the previous height is decided and
    stored). Also the first event after construction or restart."""

    height: int
    validators: ValidatorSet


@dataclass(frozen=True, slots=True)
class ProposalReceived:
    """A signed proposal from the network and the hash of the block bytes that came with it
    (computed by the node). A mismatch with the hash inside the proposal is ignored."""

    message: bytes
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class VoteReceived:
    message: bytes  # serialized SignedVote, exactly as received


@dataclass(frozen=True, slots=True)
class TimeoutFired:
    """A timeout scheduled by ScheduleTimeout has expired (stale ones are ignored)."""

    height: int
    round: int
    step: Step


@dataclass(frozen=True, slots=True)
class BlockValidated:
    """Answer to RequestValidation: is the block with this hash valid on our state?"""

    block_hash: bytes
    valid: bool


@dataclass(frozen=True, slots=True)
class BlockBuilt:
    """Answer to RequestBlock: the node built (and holds) a block with this hash."""

    height: int
    round: int
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class CommitReceived:
    """Catch-up: a commit certificate for the current height from a peer or block sync,
    with the hash of the block bytes the node holds. Decides the height if it verifies."""

    certificate: bytes
    block_hash: bytes


Event = (
    StartHeight | ProposalReceived | VoteReceived | TimeoutFired | BlockValidated | BlockBuilt
    | CommitReceived
)

# ---- actions ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersistSignState:
    """Write these bytes durably (replacing the previous sign-state) BEFORE executing the
    next action. Load them at start-up with consensus.signer.SignState.decode."""

    data: bytes


@dataclass(frozen=True, slots=True)
class BroadcastProposal:
    """Send this signed proposal to all peers together with the block bytes of block_hash."""

    message: bytes
    block_hash: bytes


@dataclass(frozen=True, slots=True)
class BroadcastVote:
    message: bytes


@dataclass(frozen=True, slots=True)
class ScheduleTimeout:
    """Feed TimeoutFired(height, round, step) after duration_ms (timers are never cancelled)."""

    height: int
    round: int
    step: Step
    duration_ms: int


@dataclass(frozen=True, slots=True)
class RequestBlock:
    """This validator proposes at (height, round): build a block, answer with BlockBuilt."""

    height: int
    round: int


@dataclass(frozen=True, slots=True)
class RequestValidation:
    """Validate the block with this hash against the current state; answer BlockValidated."""

    block_hash: bytes


@dataclass(frozen=True, slots=True)
class Decide:
    """The height is decided: store the block and `certificate` (serialized
    CommitCertificate) atomically, then feed StartHeight(height + 1, ...)."""

    height: int
    round: int
    block_hash: bytes
    certificate: bytes


@dataclass(frozen=True, slots=True)
class ReportEvidence:
    """Serialized consensus Evidence of misbehaviour, for inclusion in a future block."""

    evidence: bytes


Action = (
    PersistSignState | BroadcastProposal | BroadcastVote | ScheduleTimeout | RequestBlock
    | RequestValidation | Decide | ReportEvidence
)
