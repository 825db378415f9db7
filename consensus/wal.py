"""Write-ahead log records and their replay: pure bytes-in/bytes-out; the node does the I/O.

What the node writes, and when (each record is `encode_record(entry)` appended to the log;
consensus.host asks for the first two as WriteWal effects; EndHeight is part of CommitBlock):

- every event it feeds the machine, *before* feeding it (ProposalReceived, VoteReceived,
  TimeoutFired, BlockValidated, BlockBuilt, CommitReceived; StartHeight is not logged:
  the node derives it from its block store);
- `OwnMessage.of(action)` for each BroadcastProposal/BroadcastVote, after the
  PersistSignState before it and before sending (fsync here, as for the sign-state);
- `EndHeight(h)` once block h and its certificate are stored.

Framing: `length (u32 big-endian) | CRC32 of payload (u32 big-endian) | payload`, where the
payload is a serialized consensus WalRecord whose oneof names the record type.

On restart: `decode_records(data)` (a torn last record is dropped and reported in
`WalContents.warning`; the node truncates the file to `valid_length` before appending; a
damaged record before the tail raises WalCorruption, and the node must stop rather than
guess), then `replay(machine, contents.entries, StartHeight(store_height + 1, validators))`
on a machine whose Signer was loaded from the persisted sign-state. The machine is then at
the height, round and step it had, and `ReplayResult.actions` are the actions to execute
now (re-broadcast own messages, re-arm timers, outstanding requests, a Decide that was not
stored yet). Because every own message went through the signer, whose state was persisted
first, replay can never make the validator sign something conflicting.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from google.protobuf.message import DecodeError
from proto import consensus_pb2 as pb

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
from consensus.machine import ConsensusMachine, RoundState
from consensus.messages import Step, decode_proposal, decode_vote

_HEADER = struct.Struct(">II")
MAX_RECORD_SIZE = 64 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class OwnMessage:
    """A message this validator signed and is about to send."""

    message: bytes
    is_proposal: bool
    block_hash: bytes = b""

    @classmethod
    def of(cls, action: BroadcastProposal | BroadcastVote) -> OwnMessage:
        if isinstance(action, BroadcastProposal):
            return cls(action.message, True, action.block_hash)
        return cls(action.message, False)


@dataclass(frozen=True, slots=True)
class EndHeight:
    """Block `height` and its certificate are durably stored."""

    height: int


WalEntry = (
    ProposalReceived | VoteReceived | TimeoutFired | BlockValidated | BlockBuilt | CommitReceived
    | OwnMessage | EndHeight
)


class WalCorruption(Exception):
    """A record before the end of the log is damaged: the log cannot be trusted."""

    def __init__(self, offset: int, detail: str) -> None:
        super().__init__(
            f"consensus WAL is corrupt at byte {offset}: {detail}. Records after it cannot be "
            "trusted; stop the node and restore the WAL (or move it aside to resync this validator)"
        )
        self.offset = offset


class ReplayError(Exception):
    """The WAL does not fit the node's block store."""


@dataclass(frozen=True, slots=True)
class WalContents:
    entries: list[WalEntry]
    valid_length: int  # bytes of intact records: truncate the file here before appending
    warning: str | None  # set when a torn last record was dropped


def _to_record(entry: WalEntry) -> pb.WalRecord:
    if isinstance(entry, VoteReceived):
        return pb.WalRecord(vote=entry.message)
    if isinstance(entry, ProposalReceived):
        proposal = pb.WalProposal(signed_proposal=entry.message, block_hash=entry.block_hash)
        return pb.WalRecord(proposal=proposal)
    if isinstance(entry, TimeoutFired):
        timeout = pb.WalTimeout(height=entry.height, round=entry.round, step=int(entry.step))
        return pb.WalRecord(timeout=timeout)
    if isinstance(entry, BlockValidated):
        return pb.WalRecord(validation=pb.WalValidation(block_hash=entry.block_hash, valid=entry.valid))
    if isinstance(entry, BlockBuilt):
        return pb.WalRecord(
            block_built=pb.WalBlockBuilt(height=entry.height, round=entry.round, block_hash=entry.block_hash)
        )
    if isinstance(entry, CommitReceived):
        return pb.WalRecord(commit=pb.WalCommit(certificate=entry.certificate, block_hash=entry.block_hash))
    if isinstance(entry, OwnMessage):
        return pb.WalRecord(
            own_message=pb.WalOwnMessage(
                signed_message=entry.message, is_proposal=entry.is_proposal, block_hash=entry.block_hash
            )
        )
    if isinstance(entry, EndHeight):
        return pb.WalRecord(end_height=pb.WalEndHeight(height=entry.height))
    raise TypeError(f"not a WAL entry: {entry!r}")


def _from_record(rec: pb.WalRecord) -> WalEntry | None:
    kind = rec.WhichOneof("kind")
    if kind == "vote":
        return VoteReceived(rec.vote)
    if kind == "proposal":
        return ProposalReceived(rec.proposal.signed_proposal, rec.proposal.block_hash)
    if kind == "timeout":
        if rec.timeout.step not in (1, 2, 3):
            return None
        return TimeoutFired(rec.timeout.height, rec.timeout.round, Step(rec.timeout.step))
    if kind == "validation":
        return BlockValidated(rec.validation.block_hash, rec.validation.valid)
    if kind == "block_built":
        b = rec.block_built
        return BlockBuilt(b.height, b.round, b.block_hash)
    if kind == "commit":
        return CommitReceived(rec.commit.certificate, rec.commit.block_hash)
    if kind == "own_message":
        m = rec.own_message
        return OwnMessage(m.signed_message, m.is_proposal, m.block_hash)
    if kind == "end_height":
        return EndHeight(rec.end_height.height)
    return None


def encode_record(entry: WalEntry) -> bytes:
    """One framed record, ready to append."""
    payload = _to_record(entry).SerializeToString()
    return _HEADER.pack(len(payload), zlib.crc32(payload)) + payload


def decode_records(data: bytes) -> WalContents:
    """Parse a whole log. A torn last record is dropped with a warning; damage anywhere
    else raises WalCorruption."""
    entries: list[WalEntry] = []
    offset = 0
    size = len(data)
    while offset < size:
        if size - offset < _HEADER.size:
            return WalContents(entries, offset, _torn(offset, size, "incomplete record header"))
        length, crc = _HEADER.unpack_from(data, offset)
        if length == 0 and crc == 0 and not any(data[offset:]):
            return WalContents(entries, offset, _torn(offset, size, "zero-filled tail"))
        if length > MAX_RECORD_SIZE:
            raise WalCorruption(offset, f"record length {length} exceeds {MAX_RECORD_SIZE}")
        end = offset + _HEADER.size + length
        if end > size:
            return WalContents(entries, offset, _torn(offset, size, "record extends past the end"))
        payload = data[offset + _HEADER.size : end]
        if zlib.crc32(payload) != crc:
            if end == size:
                return WalContents(entries, offset, _torn(offset, size, "checksum mismatch in last record"))
            raise WalCorruption(offset, "checksum mismatch with more records after it")
        try:
            entry = _from_record(pb.WalRecord.FromString(payload))
        except DecodeError as exc:
            raise WalCorruption(offset, f"record passes its checksum but does not decode ({exc})") from None
        if entry is None:
            raise WalCorruption(offset, "record passes its checksum but has an unknown type")
        entries.append(entry)
        offset = end
    return WalContents(entries, offset, None)


def _torn(offset: int, size: int, why: str) -> str:
    return f"dropped a torn last WAL record at byte {offset} ({size - offset} bytes: {why})"


@dataclass(frozen=True, slots=True)
class ReplayResult:
    actions: list[Action]  # to execute now, in order
    replayed: int  # entries fed to the machine
    state: RoundState


def entries_for_height(entries: Sequence[WalEntry], store_height: int) -> list[WalEntry]:
    """The entries written after the node stored block `store_height`."""
    start = 0
    for i, entry in enumerate(entries):
        if isinstance(entry, EndHeight):
            if entry.height > store_height:
                raise ReplayError(
                    f"WAL says height {entry.height} was stored but the block store ends at {store_height}"
                )
            start = i + 1
    return list(entries[start:])


def _height_of(action: BroadcastProposal | BroadcastVote) -> int:
    if isinstance(action, BroadcastProposal):
        return decode_proposal(action.message, verify=False).height
    return decode_vote(action.message, verify=False).height


def replay(machine: ConsensusMachine, entries: Iterable[WalEntry], start: StartHeight) -> ReplayResult:
    """Rebuild `machine` (fresh, signer loaded from the persisted sign-state) from the log.

    Feeds StartHeight, then every entry after the last EndHeight below start.height (own
    messages are fed as if received), and keeps the actions still relevant afterwards.
    """
    todo = entries_for_height(list(entries), start.height - 1)
    produced: list[Action] = list(machine.handle(start))
    fired: set[tuple[int, int, Step]] = set()
    built = False
    resend: list[Action] = []
    for entry in todo:
        if isinstance(entry, OwnMessage):
            # Fed as if received, and sent again: peers may never have got it, and a vote
            # that exists only in our log cannot count towards anyone's quorum.
            if entry.is_proposal:
                event: Event = ProposalReceived(entry.message, entry.block_hash)
                resend.append(BroadcastProposal(entry.message, entry.block_hash))
            else:
                event = VoteReceived(entry.message)
                resend.append(BroadcastVote(entry.message))
        elif isinstance(entry, EndHeight):
            continue
        else:
            event = entry
            if isinstance(entry, TimeoutFired):
                fired.add((entry.height, entry.round, entry.step))
            built = built or isinstance(entry, BlockBuilt)
        produced.extend(machine.handle(event))
    state = machine.state()
    keep: list[Action] = []
    sent = {a.message for a in produced if isinstance(a, BroadcastProposal | BroadcastVote)}
    for action in resend:
        if action.message not in sent and _height_of(action) == state.height:
            sent.add(action.message)
            keep.append(action)
    last_persist: PersistSignState | None = None
    for action in produced:
        if isinstance(action, PersistSignState):
            last_persist = action
        elif isinstance(action, ScheduleTimeout):
            if (action.height, action.round) == (state.height, state.round) and (
                (action.height, action.round, action.step) not in fired
            ):
                keep.append(action)
        elif isinstance(action, RequestBlock):
            if machine.awaiting_block == action.round and action.round == state.round:
                keep.append(action)
        elif isinstance(action, RequestValidation):
            if machine.validity(action.block_hash) is None:
                keep.append(action)
        elif isinstance(action, BroadcastProposal | BroadcastVote | Decide | ReportEvidence):
            keep.append(action)
    if last_persist is not None:
        keep.insert(0, last_persist)
    return ReplayResult(keep, len(todo), state)
