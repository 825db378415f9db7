"""The Tendermint state machine (Algorithm 1 of "The latest gossip on BFT consensus",
Buchman, Kwon, Milosevic 2018), driven by events and answering with actions.

Line numbers in comments refer to Algorithm 1 of the paper. Differences from the paper,
all forced by consensus being a library that never sees a block:

- valid(v) is asked of the node (RequestValidation -> BlockValidated) and cached per
  height; a rule that needs valid(v) waits for the answer.
- getValue() is RequestBlock -> BlockBuilt; the proposer also schedules timeoutPropose,
  so a node that never answers cannot stall the round.
- Deciding (line 49) needs the block, i.e. a verified proposal carrying its hash (or a
  block the node built), and valid(v). CommitReceived is an extra way to decide: a
  verified commit certificate from block sync (> 2/3 precommits include an honest
  validator's, who validated the block).
- After Decide the machine waits for StartHeight(h + 1) from the node, which may bring a
  new validator set; messages for the next FUTURE_HEIGHTS heights that arrive meanwhile
  are buffered (a validator a height behind the others still hears them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from consensus import crypto
from consensus.commit import CommitError, encode_commit, verify_commit
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
from consensus.evidence import encode_duplicate_vote
from consensus.messages import (
    NIL,
    InvalidMessage,
    Proposal,
    Step,
    Vote,
    VoteType,
    decode_proposal,
    decode_vote,
    proposal_digest,
    vote_digest,
)
from consensus.signer import Signer, SignOutcome
from consensus.validators import ValidatorSet
from consensus.votes import RoundVotes

# A Byzantine proposer may send different proposals to different peers; we keep a few per
# round so that whichever one gathers a quorum can still be decided here.
MAX_PROPOSALS_PER_ROUND = 4
# Heights beyond the current one whose messages are kept for later (see _ahead).
FUTURE_HEIGHTS = 2


@dataclass(frozen=True, slots=True)
class RoundState:
    """A read-only view of where the machine is (for the node's status API and tests)."""

    height: int
    round: int
    step: Step
    locked_round: int
    locked_hash: bytes
    valid_round: int
    valid_hash: bytes
    decided: bool


class ConsensusMachine:
    """One validator's (or observer's) consensus instance. Feed events with `handle`.

    `ignored` counts dropped messages by reason (metric labels: malformed, bad_signature,
    wrong_chain, not_validator, wrong_proposer, old_height, future_height, not_started,
    duplicate, conflicting_vote, conflicting_proposal, block_mismatch,
    too_many_future_rounds, bad_commit, sign_refused; and, counted by the host on the same
    Counter, malformed_block and too_many_blocks); `verifications` counts ed25519 checks made.
    `accepted` names the proposal the last `handle` kept, `counted` the vote (see there).
    """

    def __init__(self, chain_id: str, signer: Signer | None, config: ConsensusConfig | None = None) -> None:
        self.chain_id = chain_id
        self.signer = signer
        self.public_key = signer.public_key if signer else b""
        self.config = config or ConsensusConfig()
        self.ignored: Counter[str] = Counter()
        self.verifications = 0
        self.evidence_reported = 0
        self.height = 0
        self.round = 0
        self.step = Step.PROPOSE
        self.validators: ValidatorSet | None = None
        self.decision: Decide | None = None
        self._out: list[Action] = []
        # (height, round, block_hash) of the received proposal the last handle() holds (new,
        # or a duplicate of one held), for this height or buffered for one just ahead: the
        # host keeps the block bytes of exactly these (consensus.host), so whatever the
        # machine refused is never stored.
        self.accepted: tuple[int, int, bytes] | None = None
        # Another validator's vote the last handle() counted as its first at that round and
        # type of this height: the host passes exactly these on (consensus.host.Heard).
        self.counted: Vote | None = None
        # Messages for heights just ahead (h+1 .. h+FUTURE_HEIGHTS), kept for StartHeight:
        # a validator still committing h-1 while the others already decide h+1 would
        # otherwise lose h+1's proposal and votes and could only follow by certificate.
        self._ahead: dict[int, list[tuple[bytes, ProposalReceived | VoteReceived]]] = {}
        self._ahead_by: dict[bytes, int] = {}  # sender -> messages buffered
        self._reset_height()

    # ---- public -------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Apply one event; return the actions to execute, in order."""
        self._out = []
        self.accepted = None
        self.counted = None
        if isinstance(event, VoteReceived):
            self._on_vote(event)
        elif isinstance(event, ProposalReceived):
            self._on_proposal(event)
        elif isinstance(event, TimeoutFired):
            self._on_timeout(event)
        elif isinstance(event, BlockValidated):
            self._on_validated(event)
        elif isinstance(event, BlockBuilt):
            self._on_built(event)
        elif isinstance(event, CommitReceived):
            self._on_commit(event)
        elif isinstance(event, StartHeight):
            self._on_start_height(event)
        else:
            raise TypeError(f"not a consensus event: {event!r}")
        self._progress()
        out, self._out = self._out, []
        return out

    @property
    def awaiting_block(self) -> int | None:
        """The round whose RequestBlock is unanswered, if any."""
        return self._awaiting_block

    def validity(self, block_hash: bytes) -> bool | None:
        """What the node answered for this block at this height (None: not asked/answered)."""
        return self._validity.get(block_hash)

    def awaiting_validation(self, block_hash: bytes) -> bool:
        """RequestValidation was emitted for this block and BlockValidated not yet fed."""
        return block_hash in self._validation_requested and block_hash not in self._validity

    def vote_of(self, validator: bytes, round_: int, vote_type: VoteType) -> bytes | None:
        """The first signed vote received from this validator at (current height, round, type)."""
        votes = self._votes.get((round_, vote_type))
        vote = votes.by_validator.get(validator) if votes else None
        return vote.raw if vote else None

    def votes_for(self, round_: int, vote_type: VoteType, block_hash: bytes) -> list[bytes]:
        """The signed votes held for this hash at (current height, round, type): what a gossip
        layer relays, e.g. the prevotes that prove a lock (round = valid_round)."""
        votes = self._votes.get((round_, vote_type))
        return votes.votes_for(block_hash) if votes else []

    def held_messages(self) -> list[Vote | Proposal]:
        """The votes (each validator's first per round and type) and proposals (the first
        per round) held for the current height, own ones included."""
        held: list[Vote | Proposal] = [
            v for tally in self._votes.values() for v in tally.by_validator.values()
        ]
        return held + list(self._first_proposal.values())

    @property
    def next_height_buffered(self) -> int:
        """Messages held for the next height: each from a validator, signature checked. A
        node waiting to start that height can take a non-zero count as a validator's sign
        that the network has moved on."""
        return len(self._ahead.get(self.height + 1, ()))

    def round_summary(self) -> str:
        """One line on what the current round has seen, for the log when it times out."""
        proposal = self._first_proposal.get(self.round)
        parts = [f"proposal={'yes' if proposal else 'no'}"]
        if proposal is not None:
            parts.append(f"valid={self._validity.get(proposal.block_hash, 'pending')}")
        for vote_type in (VoteType.PREVOTE, VoteType.PRECOMMIT):
            votes = self._votes.get((self.round, vote_type))
            parts.append(f"{vote_type.name.lower()}_power={votes.power if votes else 0}")
        return " ".join(parts)

    def state(self) -> RoundState:
        return RoundState(
            self.height,
            self.round,
            self.step,
            self.locked_round,
            self.locked_hash,
            self.valid_round,
            self.valid_hash,
            self.decision is not None,
        )

    # ---- per-height state -----------------------------------------------------------

    def _reset_height(self) -> None:
        self.locked_round = -1
        self.locked_hash = NIL
        self.valid_round = -1
        self.valid_hash = NIL
        self._votes: dict[tuple[int, VoteType], RoundVotes] = {}
        self._first_proposal: dict[int, Proposal] = {}
        self._proposed: dict[int, dict[bytes, Proposal]] = {}
        self._known_blocks: set[bytes] = set()
        self._validity: dict[bytes, bool] = {}
        self._validation_requested: set[bytes] = set()
        self._participants: dict[int, dict[bytes, int]] = {}  # round -> voter -> power
        self._skip_rounds: set[int] = set()  # rounds with > 1/3 participation
        self._commit_candidates: list[tuple[int, bytes]] = []  # (round, hash) with quorum precommits
        self._future_rounds: dict[bytes, set[int]] = {}
        self._evidence_sent: set[tuple[bytes, int, VoteType]] = set()
        self._prevote_timeout_set: set[int] = set()
        self._precommit_timeout_set: set[int] = set()
        self._locked_or_valid_set_this_round: set[int] = set()
        self._propose_extended: set[int] = set()
        self._awaiting_block: int | None = None

    def _on_start_height(self, ev: StartHeight) -> None:
        if ev.height <= self.height:
            raise ValueError(f"StartHeight({ev.height}) does not move past height {self.height}")
        buffered = [event for _, event in self._ahead.pop(ev.height, [])]
        self._ahead = {h: msgs for h, msgs in self._ahead.items() if h > ev.height}
        self._ahead_by = {}
        for msgs in self._ahead.values():
            for who, _ in msgs:
                self._ahead_by[who] = self._ahead_by.get(who, 0) + 1
        self.height = ev.height
        self.validators = ev.validators
        self.decision = None
        self._reset_height()
        start_round = 0
        if self.signer and self.signer.state.height == ev.height:
            # Restarting inside a height we signed in: resume at that round with the lock we
            # had, so nothing we say now can contradict what we said before the crash.
            st = self.signer.state
            self.locked_round, self.locked_hash = st.locked_round, st.locked_hash
            self.valid_round, self.valid_hash = st.valid_round, st.valid_hash
            start_round = st.round
        self._start_round(start_round)
        for event in buffered:
            if isinstance(event, VoteReceived):
                self._on_vote(event)
            else:
                self._on_proposal(event)

    # ---- messages -----------------------------------------------------------------

    def _admit(
        self,
        event: ProposalReceived | VoteReceived,
        chain_id: str,
        height: int,
        sender: bytes,
        verify: Callable[[], bool],
    ) -> str:
        """The prologue votes and proposals share after decoding: this chain, then the height
        window (_admit_height). Returns "now", "later" (kept for a next height) or ""."""
        if chain_id != self.chain_id:
            self.ignored["wrong_chain"] += 1
            return ""
        return self._admit_height(height, event, sender, verify)

    def _signature_ok(self, own: bool, verify: Callable[[], bool]) -> bool:
        """Check the signature last, once the cheap checks passed (our own messages were
        signed here: nothing to check). Counted in `verifications`."""
        if own:
            return True
        self.verifications += 1
        if verify():
            return True
        self.ignored["bad_signature"] += 1
        return False

    def _admit_height(
        self,
        height: int,
        event: ProposalReceived | VoteReceived,
        sender: bytes,
        verify: Callable[[], bool],
    ) -> str:
        """"now" for a message of the current height, "later" for one kept (below), "" for
        one dropped (counted). A message for one of the next
        FUTURE_HEIGHTS heights is kept for StartHeight, but only from a validator (of the
        current set: a validator added by the block being decided is heard from again in
        the next round), only with a valid signature, and at most a fair share of the buffer
        per validator, so that nobody can crowd out the honest validators' messages."""
        if self.validators is None:
            self.ignored["not_started"] += 1
            return ""
        if height == self.height:
            return "now"
        if self.height < height <= self.height + FUTURE_HEIGHTS:
            if sender not in self.validators:
                self.ignored["not_validator"] += 1
                return ""
            share = max(4, self.config.next_height_buffer // len(self.validators))
            held = self._ahead_by.get(sender, 0)
            total = sum(len(msgs) for msgs in self._ahead.values())
            if held >= share or total >= self.config.next_height_buffer:
                self.ignored["future_height"] += 1
                return ""
            self.verifications += 1
            if not verify():
                self.ignored["bad_signature"] += 1
                return ""
            self._ahead.setdefault(height, []).append((sender, event))
            self._ahead_by[sender] = held + 1
            return "later"
        if height > self.height:
            self.ignored["future_height"] += 1
        else:
            self.ignored["old_height"] += 1
        return ""

    def _round_has_room(self, who: bytes, round_: int) -> bool:
        """Bound how many rounds ahead of ours one validator can make us keep messages for.
        Only checked here; `_note_round` records the round once the signature verified, so
        forgeries in a validator's name cannot use up its budget."""
        if round_ <= self.round or round_ in self._future_rounds.get(who, ()):
            return True
        if len(self._future_rounds.get(who, ())) >= self.config.max_future_rounds_per_validator:
            self.ignored["too_many_future_rounds"] += 1
            return False
        return True

    def _note_round(self, who: bytes, round_: int) -> None:
        if round_ > self.round:
            self._future_rounds.setdefault(who, set()).add(round_)

    def _participate(self, who: bytes, round_: int, power: int) -> None:
        voters = self._participants.setdefault(round_, {})
        if who in voters:
            return
        voters[who] = power
        assert self.validators is not None
        if round_ > self.round and self.validators.has_one_third(sum(voters.values())):
            self._skip_rounds.add(round_)

    def _on_vote(self, ev: VoteReceived, own: bool = False) -> None:
        try:
            vote = decode_vote(ev.message, verify=False)
        except InvalidMessage as exc:
            self.ignored[exc.reason] += 1
            return
        def verify() -> bool:
            return crypto.verify(vote.validator, vote_digest(vote.body), vote.signature)

        if self._admit(ev, vote.chain_id, vote.height, vote.validator, verify) != "now":
            return
        assert self.validators is not None
        power = self.validators.power_of(vote.validator)
        if power == 0:
            self.ignored["not_validator"] += 1
            return
        key = (vote.round, vote.type)
        votes = self._votes.get(key)
        earlier = votes.by_validator.get(vote.validator) if votes else None
        if earlier is not None and (earlier.body == vote.body or votes.has(vote.validator, vote.block_hash)):
            self.ignored["duplicate"] += 1
            return
        if earlier is None and not self._round_has_room(vote.validator, vote.round):
            return
        if not self._signature_ok(own, verify):
            return
        if earlier is None:
            self._note_round(vote.validator, vote.round)
        if earlier is not None:
            self.ignored["conflicting_vote"] += 1
            self._report_double_vote(earlier, vote)
            # Count the second vote too (see RoundVotes), but only for values that can
            # matter -- nil or a block proposed at this height -- so an equivocator
            # cannot make us store an unbounded number of votes.
            if vote.block_hash and vote.block_hash not in self._known_blocks:
                return
        if votes is None:
            votes = self._votes[key] = RoundVotes()
        total = votes.add(vote, power)
        if earlier is None and not own:
            self.counted = vote
        self._participate(vote.validator, vote.round, power)
        if (
            vote.type is VoteType.PRECOMMIT
            and vote.block_hash
            and self.validators.has_quorum(total)
            and not self.validators.has_quorum(total - power)
        ):
            self._commit_candidates.append((vote.round, vote.block_hash))

    def _report_double_vote(self, a: Vote, b: Vote) -> None:
        key = (a.validator, a.round, a.type)
        if key in self._evidence_sent:
            return
        self._evidence_sent.add(key)
        self.evidence_reported += 1
        self._out.append(ReportEvidence(encode_duplicate_vote(a.raw, b.raw)))

    def _on_proposal(self, ev: ProposalReceived, own: bool = False) -> None:
        try:
            p = decode_proposal(ev.message, verify=False)
        except InvalidMessage as exc:
            self.ignored[exc.reason] += 1
            return
        def verify() -> bool:
            return crypto.verify(p.proposer, proposal_digest(p.body), p.signature)

        admitted = self._admit(ev, p.chain_id, p.height, p.proposer, verify)
        if admitted == "later" and ev.block_hash == p.block_hash:
            self.accepted = (p.height, p.round, p.block_hash)
        if admitted != "now":
            return
        assert self.validators is not None
        if p.proposer != self.validators.proposer(p.height, p.round):
            self.ignored["wrong_proposer" if p.proposer in self.validators else "not_validator"] += 1
            return
        if ev.block_hash != p.block_hash:
            self.ignored["block_mismatch"] += 1
            return
        proposed = self._proposed.get(p.round, {})
        earlier = proposed.get(p.block_hash)
        if earlier is not None:
            if earlier.body == p.body:
                # Held already (its signature checked): the host may still lack the block
                # bytes, e.g. after a restart replayed the proposal from the WAL.
                self.accepted = (p.height, p.round, p.block_hash)
            self.ignored["duplicate" if earlier.body == p.body else "conflicting_proposal"] += 1
            return
        if len(proposed) >= MAX_PROPOSALS_PER_ROUND:
            self.ignored["conflicting_proposal"] += 1
            return
        if not proposed and not self._round_has_room(p.proposer, p.round):
            return
        if not self._signature_ok(own, verify):
            return
        if not proposed:
            self._note_round(p.proposer, p.round)
        if proposed:
            # Equivocating proposer: keep the block (a quorum may form on it) but the
            # first proposal stays the one this validator acts on in the propose step.
            self.ignored["conflicting_proposal"] += 1
        self._proposed.setdefault(p.round, {})[p.block_hash] = p
        self._first_proposal.setdefault(p.round, p)
        if not own:
            self.accepted = (p.height, p.round, p.block_hash)
        self._known_blocks.add(p.block_hash)
        self._participate(p.proposer, p.round, self.validators.power_of(p.proposer))
        self._ask_validity(p.block_hash)

    def _ask_validity(self, block_hash: bytes) -> bool | None:
        valid = self._validity.get(block_hash)
        if valid is None and block_hash not in self._validation_requested:
            self._validation_requested.add(block_hash)
            self._out.append(RequestValidation(block_hash))
        return valid

    def _on_validated(self, ev: BlockValidated) -> None:
        if ev.block_hash in self._validation_requested or ev.block_hash in self._known_blocks:
            self._validity[ev.block_hash] = ev.valid

    def _on_built(self, ev: BlockBuilt) -> None:
        if (
            self._awaiting_block != ev.round
            or (ev.height, ev.round) != (self.height, self.round)
            or self.step is not Step.PROPOSE
            or self.decision is not None
        ):
            return  # a block for a round we have left
        self._awaiting_block = None
        self._known_blocks.add(ev.block_hash)
        self._validity[ev.block_hash] = True  # our own node built it on its state
        self._propose(ev.block_hash, -1)

    def _on_commit(self, ev: CommitReceived) -> None:
        if self.validators is None or self.decision is not None:
            return
        try:
            verified = verify_commit(
                ev.certificate, self.validators, self.chain_id, self.height, ev.block_hash
            )
        except CommitError:
            self.ignored["bad_commit"] += 1
            return
        self.verifications += len(verified.signers)
        self._decide(verified.round, ev.block_hash, ev.certificate)

    def _on_timeout(self, ev: TimeoutFired) -> None:
        if ev.height != self.height or ev.round != self.round or self.decision is not None:
            return
        if ev.step is Step.PROPOSE and self.step is Step.PROPOSE:  # line 57
            proposal = self._first_proposal.get(self.round)
            if (
                proposal is not None
                and proposal.block_hash in self._validation_requested
                and proposal.block_hash not in self._validity
                and self.round not in self._propose_extended
            ):
                # The proposal arrived in time and our own node is still executing it (a
                # big block on a busy machine): a nil prevote now would fail a round the
                # proposer did nothing wrong in. Wait once more; liveness stays bounded.
                self._propose_extended.add(self.round)
                wait = self.config.timeout_ms(Step.PROPOSE, self.round)
                self._out.append(ScheduleTimeout(self.height, self.round, Step.PROPOSE, wait))
                return
            self._vote(VoteType.PREVOTE, NIL)
            self.step = Step.PREVOTE
        elif ev.step is Step.PREVOTE and self.step is Step.PREVOTE:  # line 61
            self._vote(VoteType.PRECOMMIT, NIL)
            self.step = Step.PRECOMMIT
        elif ev.step is Step.PRECOMMIT:  # line 65
            self._start_round(self.round + 1)

    # ---- own messages ---------------------------------------------------------------

    def _start_round(self, round_: int) -> None:  # line 11
        assert self.validators is not None
        self.round = round_
        self.step = Step.PROPOSE
        self._awaiting_block = None
        self._skip_rounds = {r for r in self._skip_rounds if r > round_}
        for rounds in self._future_rounds.values():
            rounds.difference_update([r for r in rounds if r <= round_])
        if self.signer and self.validators.proposer(self.height, round_) == self.public_key:
            if self.valid_round >= 0 and self.valid_hash in self._known_blocks:
                self._propose(self.valid_hash, self.valid_round)
            else:
                self._awaiting_block = round_
                self._out.append(RequestBlock(self.height, round_))
        self._out.append(
            ScheduleTimeout(self.height, round_, Step.PROPOSE, self.config.timeout_ms(Step.PROPOSE, round_))
        )

    def _signed(self, outcome: SignOutcome) -> bytes | None:
        if outcome.message is None:
            self.ignored["sign_refused"] += 1
            return None
        self._out.append(PersistSignState(outcome.state.encode()))
        return outcome.message

    def _propose(self, block_hash: bytes, pol_round: int) -> None:
        assert self.signer is not None
        self.signer.update_locks(self.locked_round, self.locked_hash, self.valid_round, self.valid_hash)
        message = self._signed(
            self.signer.sign_proposal(self.chain_id, self.height, self.round, pol_round, block_hash)
        )
        if message is None:
            return
        # After a restart the signer may hand back the proposal it signed before the
        # crash; that one (and its block) is what we stand by.
        sent_hash = decode_proposal(message, verify=False).block_hash
        self._out.append(BroadcastProposal(message, sent_hash))
        self._on_proposal(ProposalReceived(message, sent_hash), own=True)

    def _vote(self, vote_type: VoteType, block_hash: bytes) -> None:
        if self.signer is None or self.validators is None or self.public_key not in self.validators:
            return  # an observer follows consensus without voting
        self.signer.update_locks(self.locked_round, self.locked_hash, self.valid_round, self.valid_hash)
        message = self._signed(
            self.signer.sign_vote(self.chain_id, self.height, self.round, vote_type, block_hash)
        )
        if message is None:
            return
        self._out.append(BroadcastVote(message))
        self._on_vote(VoteReceived(message), own=True)

    # ---- the upon-rules ---------------------------------------------------------------

    def _progress(self) -> None:
        """Fire every enabled rule until none is: a step change can enable another."""
        if self.validators is None:
            return
        while self.decision is None:
            if self._try_decide():
                return
            if self._skip_rounds:  # line 55
                self._start_round(max(self._skip_rounds))
                continue
            changed = False
            if self.step is Step.PROPOSE:
                changed = self._try_prevote_proposal()
            if not changed and self.step is not Step.PROPOSE:
                changed = self._try_lock()
            if not changed and self.step is Step.PREVOTE:
                changed = self._try_precommit_nil()
            self._schedule_vote_timeouts()
            if not changed:
                return

    def _try_decide(self) -> bool:  # line 49
        for round_, block_hash in self._commit_candidates:
            if block_hash not in self._known_blocks:
                continue  # wait for the block (proposal gossip or block sync)
            if self._ask_validity(block_hash) is not True:
                continue
            votes = self._votes[(round_, VoteType.PRECOMMIT)]
            certificate = encode_commit(self.height, round_, block_hash, votes.votes_for(block_hash))
            self._decide(round_, block_hash, certificate)
            return True
        return False

    def _decide(self, round_: int, block_hash: bytes, certificate: bytes) -> None:
        self.decision = Decide(self.height, round_, block_hash, certificate)
        self._out.append(self.decision)

    def lock_allows(self, block_hash: bytes, pol_round: int) -> bool:
        """The locking rule (lines 23 and 29): prevote for v only when not locked, locked on
        v, or v has a proof of lock newer than ours. The safety of the protocol rests here."""
        if pol_round < 0:
            return self.locked_round == -1 or self.locked_hash == block_hash
        return self.locked_round <= pol_round or self.locked_hash == block_hash

    def _try_prevote_proposal(self) -> bool:  # lines 22 and 28
        p = self._first_proposal.get(self.round)
        if p is None:
            return False
        v = p.block_hash
        if p.pol_round >= 0:
            assert self.validators is not None
            pol = self._votes.get((p.pol_round, VoteType.PREVOTE))
            if pol is None or not self.validators.has_quorum(pol.power_by_hash.get(v, 0)):
                return False  # no proof of lock (yet): only timeoutPropose moves us on
        valid = self._validity.get(v)
        if valid is None:
            return False  # validation requested when the proposal arrived
        self._vote(VoteType.PREVOTE, v if valid and self.lock_allows(v, p.pol_round) else NIL)
        self.step = Step.PREVOTE
        return True

    def _try_lock(self) -> bool:  # line 36
        if self.round in self._locked_or_valid_set_this_round:
            return False
        votes = self._votes.get((self.round, VoteType.PREVOTE))
        proposed = self._proposed.get(self.round)
        if votes is None or not proposed:
            return False
        assert self.validators is not None
        for v, power in votes.power_by_hash.items():
            if v and v in proposed and self.validators.has_quorum(power) and self._validity.get(v) is True:
                self._locked_or_valid_set_this_round.add(self.round)
                if self.step is Step.PREVOTE:
                    self.locked_round, self.locked_hash = self.round, v
                    self._vote(VoteType.PRECOMMIT, v)
                    self.step = Step.PRECOMMIT
                self.valid_round, self.valid_hash = self.round, v
                return True
        return False

    def _try_precommit_nil(self) -> bool:  # line 44
        votes = self._votes.get((self.round, VoteType.PREVOTE))
        assert self.validators is not None
        if votes is None or not self.validators.has_quorum(votes.power_by_hash.get(NIL, 0)):
            return False
        self._vote(VoteType.PRECOMMIT, NIL)
        self.step = Step.PRECOMMIT
        return True

    def _schedule_vote_timeouts(self) -> None:  # lines 34 and 47
        assert self.validators is not None
        r = self.round
        if self.step is Step.PREVOTE and r not in self._prevote_timeout_set:
            votes = self._votes.get((r, VoteType.PREVOTE))
            if votes is not None and self.validators.has_quorum(votes.power):
                self._prevote_timeout_set.add(r)
                self._out.append(
                    ScheduleTimeout(self.height, r, Step.PREVOTE, self.config.timeout_ms(Step.PREVOTE, r))
                )
        if r not in self._precommit_timeout_set:
            votes = self._votes.get((r, VoteType.PRECOMMIT))
            if votes is not None and self.validators.has_quorum(votes.power):
                self._precommit_timeout_set.add(r)
                self._out.append(
                    ScheduleTimeout(self.height, r, Step.PRECOMMIT, self.config.timeout_ms(Step.PRECOMMIT, r))
                )
