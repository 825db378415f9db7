"""Tendermint BFT consensus as a pure, deterministic state machine.

No sockets, clocks, threads or disk in here: the node drives it. In the style of etcd's
raft, events go into `ConsensusMachine.handle(event)` and *actions* come back in list order.
The node does not talk to the machine directly: it runs `ConsensusHost` (``host``), which
owns the machine and the node's synchronous duties around it, and executes its *effects*.

Module map
----------
- ``machine``    ConsensusMachine: Algorithm 1 of "The latest gossip on BFT consensus"; the
  only judge of consensus messages.
- ``host``       ConsensusHost: the machine plus block buffer, execution results, a
  decision waiting for its block, pushed commits, own messages; ``step(input) -> effects``
  (contract on one screen there). node/driver.py and the simulator both run it. What is
  said again, and to whom, is decided there too: the proof of lock when the round moves
  on, own messages to a peer that reconnects and while stuck (``repeat_if_stuck``), others'
  messages to peers that cannot hear their signer (``Heard``).
- ``events``     the event and action dataclasses below.
- ``messages``   signed proposals/votes: encoding, domain-separated ed25519, checked decoding.
- ``validators`` ValidatorSet: power, > 2/3 and > 1/3 thresholds, weighted round-robin
  proposer selection (documented there), ``hash()`` for block headers.
- ``signer``     Signer + SignState: never signs twice; the bytes the node persists.
- ``commit``     CommitCertificate building and ``verify_commit`` (catch-up, auditors).
- ``evidence``   duplicate-vote evidence encoding and verification.
- ``wal``        WAL record framing (length + CRC32) and replay after a restart.
- ``config``     ConsensusConfig: timeouts (base + delta * round) and memory bounds.
- ``votes``      vote tallies by voting power.
- ``sim``        deterministic network simulator running ConsensusHost (tests, soak, benchmark).

Events (host -> machine)
------------------------
- ``StartHeight(height, validators)``: first event after start/restart, then after each Decide.
- ``ProposalReceived(message, block_hash)``: signed proposal bytes + hash of the block bytes
  that came with it.
- ``VoteReceived(message)``: signed vote bytes.
- ``TimeoutFired(height, round, step)``.
- ``BlockValidated(block_hash, valid)``: answer to RequestValidation.
- ``BlockBuilt(height, round, block_hash)``: answer to RequestBlock.
- ``CommitReceived(certificate, block_hash)``: catch-up; decides if the certificate verifies.

Actions (machine -> host), executed in order
--------------------------------------------
- ``PersistSignState(data)``: write durably (fsync) BEFORE the next action, which is the
  broadcast it protects. Load at start with ``SignState.decode(data)`` -> ``Signer(key, state)``.
- ``BroadcastProposal(message, block_hash)`` (send the block bytes with it), ``BroadcastVote(message)``.
- ``ScheduleTimeout(height, round, step, duration_ms)``.
- ``RequestBlock(height, round)``, ``RequestValidation(block_hash)``.
- ``Decide(height, round, block_hash, certificate)``: store block + certificate atomically,
  append ``EndHeight`` to the WAL, then feed ``StartHeight(height + 1, ...)``.
- ``ReportEvidence(evidence)``: serialized Evidence for a future block.

Consensus never looks inside a block: a block is its 32-byte hash. Dropped messages are
counted by reason in ``machine.ignored`` (a Counter; metric labels listed on the class) and
signature checks in ``machine.verifications``.

Wire format: proto/consensus.proto. Signatures are ed25519 over
SHA-256("cbdc/vote/v1\\x00" + VoteBody bytes) or SHA-256("cbdc/proposal/v1\\x00" +
ProposalBody bytes), exactly as received. Certificates: ``verify_commit(cert_bytes,
validators, chain_id, height, block_hash)`` returns a VerifiedCommit or raises CommitError.
WAL: see ``consensus.wal`` (``encode_record``, ``decode_records``, ``replay``).
"""

from consensus.commit import CommitError, VerifiedCommit, encode_commit, verify_commit
from consensus.config import ConsensusConfig
from consensus.events import (
    Action,
    BlockBuilt,
    BlockValidated,
    BroadcastProposal,
    BroadcastVote,
    CommitReceived,
    Decide,
    Event,
    PersistSignState,
    ProposalReceived,
    ReportEvidence,
    RequestBlock,
    RequestValidation,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from consensus.evidence import DuplicateVote, EvidenceError, encode_duplicate_vote, verify_evidence
from consensus.host import ConsensusHost
from consensus.machine import ConsensusMachine, RoundState
from consensus.messages import (
    NIL,
    InvalidMessage,
    Proposal,
    Step,
    Vote,
    VoteType,
    decode_proposal,
    decode_vote,
    sign_proposal,
    sign_vote,
)
from consensus.signer import Signer, SignOutcome, SignState, SignStateError
from consensus.validators import Validator, ValidatorSet
from consensus.wal import (
    EndHeight,
    OwnMessage,
    ReplayError,
    ReplayResult,
    WalContents,
    WalCorruption,
    decode_records,
    encode_record,
    replay,
)

__all__ = [
    "NIL", "Action", "BlockBuilt", "BlockValidated", "BroadcastProposal", "BroadcastVote",
    "CommitError", "CommitReceived", "ConsensusConfig", "ConsensusHost", "ConsensusMachine", "Decide",
    "DuplicateVote",
    "EndHeight", "Event", "EvidenceError", "InvalidMessage", "OwnMessage", "PersistSignState",
    "Proposal", "ProposalReceived", "ReplayError", "ReplayResult", "ReportEvidence", "RequestBlock",
    "RequestValidation", "RoundState", "ScheduleTimeout", "SignOutcome", "SignState", "SignStateError",
    "Signer", "StartHeight", "Step", "TimeoutFired", "Validator", "ValidatorSet", "VerifiedCommit",
    "Vote", "VoteReceived", "VoteType", "WalContents", "WalCorruption", "decode_proposal", "decode_records",
    "decode_vote", "encode_commit", "encode_duplicate_vote", "encode_record", "replay", "sign_proposal",
    "sign_vote", "verify_commit", "verify_evidence",
]
