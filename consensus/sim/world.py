"""A deterministic simulated network of validators, each running the real ConsensusHost
(consensus/host.py: the machine and the node's duties around it) the way node/driver.py does.

Everything that varies between runs comes from one seeded random.Random: message delays
(hence reordering), drops, duplicates, a partition, crash/restart points, Byzantine
choices. Time is simulated (an event heap ordered by (time, sequence)), so a run is a pure
function of its SimConfig and replays exactly from its seed.

The model follows the paper's partial synchrony: before the global stabilisation time
(GST) messages may be delayed by up to `max_delay_ms`, dropped, or cut by a partition;
from GST on every message arrives within `delta_ms`. Like a real gossip layer, a node that
has made no progress for a while re-sends its own messages of the current height and the
proposal it holds, and a node that hears a message from a height it has already decided
answers with that height's commit certificate and block (commit push / block sync).
Crashed honest validators lose everything but their sign-state, WAL and decided blocks, and
restart by WAL replay; a crash strikes between two events or at one of the driver's change
points (right after a WAL write, or after persisting the sign-state before the broadcast).
Crashes can also be planned at a height (CrashAt): where a validator-set change takes
effect and the height before it, at the height boundary, inside the height, or with the
height decided but not yet stored.

What the host must survive is modelled too: executing a block takes random time before GST
(so votes can decide a block before this validator has executed it), blocks arrive late or
only with a pushed commit, and validators push committed blocks to peers still deciding
(racing their own commits). Every commit must carry this validator's own execution of the
block, which catches a host that commits a block it never executed.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nacl.signing
from proto import consensus_pb2 as pb

from consensus.config import ConsensusConfig
from consensus.events import (
    BroadcastVote,
    PersistSignState,
    ReportEvidence,
    ScheduleTimeout,
    StartHeight,
    TimeoutFired,
    VoteReceived,
)
from consensus.evidence import verify_evidence
from consensus.host import (
    BuildBlock,
    Built,
    CommitArrived,
    CommitBlock,
    ConsensusHost,
    Effect,
    Heard,
    Notice,
    ProposalArrived,
    RelayVotes,
    SendProposal,
    ValidateBlock,
    Validated,
    WriteWal,
)
from consensus.machine import ConsensusMachine
from consensus.messages import Step, decode_proposal, decode_vote
from consensus.signer import Signer, SignState
from consensus.validators import ValidatorSet
from consensus.wal import EndHeight, WalCorruption, decode_records, encode_record

CHAIN_ID = "cbdc-sim"
MachineFactory = Callable[[str, Signer, ConsensusConfig], ConsensusMachine]
HostFactory = Callable[[ConsensusMachine], ConsensusHost]
BLOCK_PREFIX = b"sim-block:"  # a simulated block's bytes: this prefix and its hash
CHANGE_POINTS = ("between-events", "after-wal-write", "after-sign-before-broadcast")
# Where a planned crash (CrashAt) strikes in its height: "enter" right after the previous
# height is stored and before this one starts; the first WAL write, or the first persisted
# sign-state (before its broadcast), in this height; "before-commit" with this height
# decided and executed but not yet stored.
HEIGHT_POINTS = ("enter", "after-wal-write", "after-sign-before-broadcast", "before-commit")


def validator_key(index: int) -> nacl.signing.SigningKey:
    """Fixed keys per validator index (they do not need to vary between schedules)."""
    return nacl.signing.SigningKey(hashlib.sha256(b"cbdc-sim-validator-%d" % index).digest())


@dataclass(frozen=True)
class Faults:
    drop: float = 0.0  # probability a message sent before GST is lost
    duplicate: float = 0.0  # probability a message is delivered twice
    min_delay_ms: int = 1
    max_delay_ms: int = 20  # before GST (random delays reorder messages)
    delta_ms: int = 20  # after GST, every message arrives within this
    partition: bool = False  # split the validators in two sides until GST
    gst_ms: int = 0
    crashes: int = 0  # crash/restart cycles of honest validators before GST
    tear_wal: bool = True  # a crash may tear the last WAL record
    # Before GST executing a block takes up to this long (after it, a few ms): votes that
    # decide a block can then outrun this validator's own execution of it.
    max_validation_ms: int = 400
    # Chance that a validator pushes each committed block to all peers (commit_push), so
    # pushes race the peers' own decisions.
    push_commits: float = 0.3
    # Links that never deliver, in either direction, for the whole run (after GST too): a
    # firewall rule, or a peer entry still naming a validator's old key during a rolling
    # key rotation. What the two validators say reaches each other only through the others
    # (Node.pass_on, as node/net/pass_on.py does for peers that announce whom they cannot hear).
    cut: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class CrashAt:
    """Honest node `node` crashes at `height`, at `point` (HEIGHT_POINTS), and restarts from
    its WAL `down_ms` later. A point the node never reaches in that height (an observer
    signs nothing) never fires; SimResult.crashes lists those that did."""

    node: int
    height: int
    point: str
    down_ms: int = 1500


@dataclass(frozen=True)
class SimConfig:
    seed: int
    powers: tuple[int, ...] = (1, 1, 1, 1)
    byzantine: tuple[tuple[int, str], ...] = ()  # (validator index, strategy name)
    # Validator-set changes: (first height it decides, power of every node by index); power
    # 0 leaves a node out of the set (it follows the chain without voting). The node ledger
    # schedules a change committed at H for H+2, so every node knows each height's set when
    # it starts it; here the schedule is simply known to all. `powers` decides from height 1.
    validator_changes: tuple[tuple[int, tuple[int, ...]], ...] = ()
    heights: int = 2
    faults: Faults = field(default_factory=Faults)
    crash_at: tuple[CrashAt, ...] = ()
    consensus: ConsensusConfig = field(default_factory=ConsensusConfig)
    # Termination: a height that starts after GST is decided by every honest validator
    # within this many rounds (None: 2n + 2).
    max_rounds_after_gst: int | None = None
    gossip_interval_ms: int = 1000
    machine_factory: MachineFactory | None = field(default=None, compare=False)
    host_factory: HostFactory | None = field(default=None, compare=False)
    trace: bool = True


@dataclass(frozen=True, slots=True)
class NetMsg:
    kind: str  # "proposal", "vote", "votes" (several in one delivery), "commit", "status"
    data: Any  # bytes, or a tuple of vote bytes for "votes"
    block_hash: bytes
    src: int
    height: int
    block: bytes = b""  # block bytes of a proposal or commit (default: those of block_hash)


@dataclass
class SimResult:
    config: SimConfig
    violations: list[str]
    decisions: dict[int, dict[int, tuple[bytes, int]]]  # node -> height -> (hash, round)
    trace: list[tuple]
    end_time_ms: int
    events: int
    messages: int
    verifications: int
    warnings: list[str]
    evidence: dict[int, set[tuple[bytes, int, int, int]]]
    expected_evidence: set[tuple[int, tuple[bytes, int, int, int]]]
    crashes: list[CrashAt] = field(default_factory=list)  # the planned crashes that fired
    # Messages the honest machines running at the end dropped, by reason (machine.ignored).
    ignored: Counter[str] = field(default_factory=Counter)

    @property
    def ok(self) -> bool:
        return not self.violations

    def trace_text(self, last: int | None = None) -> str:
        lines = self.trace if last is None else self.trace[-last:]
        return "\n".join(format_trace_line(t) for t in lines)

    def digest(self) -> str:
        """A fingerprint of the whole run (for replay-exactness checks)."""
        h = hashlib.sha256()
        for t in self.trace:
            h.update(repr(t).encode())
        return h.hexdigest()

    def report(self, last: int = 60) -> str:
        return (
            f"simulation failed: seed={self.config.seed} config={self.config!r}\n"
            + "\n".join(f"  violation: {v}" for v in self.violations)
            + f"\n--- last {last} trace lines (replay: run_simulation(config)) ---\n"
            + self.trace_text(last)
        )


def format_trace_line(t: tuple) -> str:
    time_ms, node, what, *rest = t
    return f"{time_ms:>8} n{node:<2} {what} " + " ".join(
        x.hex()[:8] if isinstance(x, bytes) else str(x) for x in rest
    )


def _short(event: Any) -> tuple:
    if isinstance(event, NetMsg):
        if event.kind == "votes":
            return ("recv", "votes", event.src, len(event.data))
        return ("recv", event.kind, event.src, event.height, event.block_hash)
    if isinstance(event, TimeoutFired):
        return ("timeout", event.height, event.round, event.step.name)
    if isinstance(event, Validated):
        return ("validated", event.block_hash, event.result is not None)
    if isinstance(event, Built):
        return ("built", event.height, event.round, event.block_hash)
    if isinstance(event, StartHeight):
        return ("start", event.height)
    return (type(event).__name__,)


class Node:
    """An honest validator: the real ConsensusHost (and its machine) plus, in memory, what
    the node's driver does with its effects: a WAL, a sign-state, a block executor that
    takes random time, timers, a gossip layer."""

    def __init__(self, world: World, index: int) -> None:
        self.world = world
        self.index = index
        self.key = validator_key(index)
        self.public_key = bytes(self.key.verify_key)
        self.sign_state = b""  # "durable": survives crashes
        self.signed_history: set[bytes] = set()  # every message ever persisted before sending
        self.wal = bytearray()  # "durable" too, except a torn last record
        self.last_record = 0
        self.store: dict[int, tuple[bytes, bytes]] = {}  # decided height -> (hash, certificate)
        self.host: ConsensusHost | None = None
        self.up = False
        self.gen = 0
        self.armed: str | None = None  # a crash waiting for this change point
        self.planned: list[CrashAt] = []  # crashes planned at a height (SimConfig.crash_at)
        self.own: list[NetMsg] = []  # own messages of the current height, for re-sending
        self.lagging: dict[int, int] = {}  # peer -> a height it is behind at

    @property
    def machine(self) -> ConsensusMachine | None:
        return self.host.machine if self.host is not None else None

    # -- life cycle
    def boot(self) -> None:
        w = self.world
        state = SignState.decode(self.sign_state) if self.sign_state else None
        self.host = w.host_factory(w.machine_factory(CHAIN_ID, Signer(self.key, state), w.config.consensus))
        self.up = True
        self.armed = None
        try:
            contents = decode_records(bytes(self.wal))
        except WalCorruption as exc:
            w.violation(f"n{self.index}: {exc}")
            return
        if contents.warning:
            w.warnings.append(f"n{self.index}: {contents.warning}")
            del self.wal[contents.valid_length :]
        height = len(self.store)
        if height >= w.config.heights:
            return
        self.own = []
        start = StartHeight(height + 1, w.validators_at(height + 1))
        effects, result = self.host.start(contents.entries, start)
        w.log(self.index, "replayed", result.replayed, result.state.height, result.state.round)
        self.execute(effects)

    def crash(self) -> None:
        self.up = False
        self.gen += 1
        self.host = None
        self.armed = None
        if self.world.config.faults.tear_wal and self.last_record > 1 and self.world.rng.random() < 0.5:
            cut = self.world.rng.randrange(1, self.last_record)
            del self.wal[len(self.wal) - cut :]
            self.last_record = 0

    def change_point(self, point: str) -> bool:
        """A crash armed for this point (node/driver.py's fault hooks) happens here, and so
        does one planned for this point of the current height."""
        if self.armed != point:
            height = self.machine.height if self.machine is not None else 0
            return self.planned_crash(point, height)
        self.world.log(self.index, "crash", point)
        self.crash()
        return True

    def planned_crash(self, point: str, height: int) -> bool:
        """Crash here if a CrashAt names this point of this height (then restart later)."""
        if not self.up:
            return False
        for plan in self.planned:
            if (plan.point, plan.height) == (point, height):
                self.planned.remove(plan)
                self.world.crash_planned(self, plan)
                return True
        return False

    def append_wal(self, entry: Any) -> None:
        record = encode_record(entry)
        self.wal += record
        self.last_record = len(record)

    # -- inputs
    def deliver(self, event: Any) -> None:
        if not self.up or self.host is None:
            return
        if isinstance(event, NetMsg):
            self.receive(event)
            return
        if isinstance(event, StartHeight):
            self.own = []
        self.step(event)

    def step(self, item: Any) -> None:
        assert self.host is not None
        self.execute(self.host.step(item))

    def receive(self, msg: NetMsg) -> None:
        w = self.world
        if msg.kind == "status":
            if msg.height in self.store and msg.src != self.index:
                self.lagging[msg.src] = msg.height
            return
        if msg.kind == "commit":
            block = msg.block or w.block_bytes(msg.block_hash)
            self.step(CommitArrived(msg.data, block, w.hash_of(block), msg.height))
            return
        if msg.height in self.store and msg.src != self.index:
            # The sender is behind: it gets the commit on our next gossip tick (block sync).
            self.lagging[msg.src] = msg.height
        if msg.kind == "proposal":
            block = msg.block or w.block_bytes(msg.block_hash)
            self.step(ProposalArrived(msg.data, block, w.hash_of(block)))
        elif msg.kind == "vote":
            self.feed_vote(msg.data)
        else:
            for raw in msg.data:
                self.feed_vote(raw)
                if self.host is None:
                    return

    def feed_vote(self, raw: bytes) -> None:
        self.step(VoteReceived(raw))
        if self.host is not None:
            self.world.check_evidence_duty(self, raw)

    # -- outputs
    def execute(self, effects: list[Effect]) -> None:
        w = self.world
        for e in effects:
            if isinstance(e, WriteWal):
                self.append_wal(e.entry)
                if self.change_point("after-wal-write"):
                    return
            elif isinstance(e, PersistSignState):
                self.sign_state = e.data
                self.signed_history.add(SignState.decode(e.data).signed_message)
                if self.change_point("after-sign-before-broadcast"):
                    return
            elif isinstance(e, SendProposal | BroadcastVote):
                # Persist-before-send: the durable sign-state must already hold this message,
                # or be past its height, round and step. (A WAL replay that signs two
                # messages, say a prevote and a precommit, persists only the later state
                # before sending both; the signer then refuses anything at or below it.)
                if e.message not in self.signed_history and not self.persisted_past(e):
                    w.violation(f"n{self.index} broadcast a message its persisted sign-state does not hold")
                self.broadcast_own(e)
            elif isinstance(e, RelayVotes | Heard):
                self.say_again(e)
            elif isinstance(e, ScheduleTimeout):
                timeout = TimeoutFired(e.height, e.round, e.step)
                w.schedule(w.now + e.duration_ms, self.index, timeout, self.gen)
            elif isinstance(e, BuildBlock):
                block_hash = self.build_block(e)
                built = Built(e.height, e.round, block_hash, w.block_bytes(block_hash),
                              Executed(self.index, e.height, block_hash))
                w.schedule(w.now, self.index, built, self.gen)
            elif isinstance(e, ValidateBlock):
                w.schedule(w.now + w.validation_ms(), self.index, self.validate(e), self.gen)
            elif isinstance(e, CommitBlock):
                if self.planned_crash("before-commit", e.height):
                    return
                self.on_commit(e)
                if not self.up:
                    return
            elif isinstance(e, ReportEvidence):
                w.on_evidence(self.index, e.evidence)
            elif isinstance(e, Notice) and e.level != "info":
                w.log(self.index, "notice", e.level, e.text)

    def persisted_past(self, e: SendProposal | BroadcastVote) -> bool:
        """The durable sign-state is beyond this message's (height, round, step)."""
        if not self.sign_state:
            return False
        if isinstance(e, SendProposal):
            p = decode_proposal(e.message, verify=False)
            position = (p.height, p.round, Step.PROPOSE)
        else:
            v = decode_vote(e.message, verify=False)
            position = (v.height, v.round, v.type.step)
        return SignState.decode(self.sign_state).position() > position

    def say_again(self, e: SendProposal | BroadcastVote | RelayVotes | Heard) -> None:
        """Send what was said already (not through broadcast_own: no new own message): the
        proof of lock and repeats to every peer, what we heard to peers cut off from it."""
        w = self.world
        if isinstance(e, RelayVotes):
            height = self.machine.height if self.machine else 0
            w.broadcast(self.index, NetMsg("votes", e.votes, b"", self.index, height))
        elif isinstance(e, Heard):
            self.pass_on(e)
        else:
            w.broadcast(self.index, self.net_msg(e))

    def pass_on(self, e: Heard) -> None:
        """To peers cut off from its signer, as a node does for peers that announce they hear
        nothing from it (StatusAnnouncement.unheard; here the cut links are known)."""
        w = self.world
        signer = w.nodes_by_key.get(e.signer)
        height = self.machine.height if self.machine else 0
        for peer in range(len(w.nodes)):
            if peer != self.index and (peer, signer) in w.cut:
                if e.block:
                    digest = w.hash_of(e.block) or b""
                    msg = NetMsg("proposal", e.message, digest, self.index, height, e.block)
                else:
                    msg = NetMsg("vote", e.message, b"", self.index, height)
                w.send(self.index, peer, msg)

    def build_block(self, e: BuildBlock) -> bytes:
        return self.world.new_block(self.index, e.height, e.round, valid=True)

    def validate(self, e: ValidateBlock) -> Validated:
        w = self.world
        digest = w.hash_of(e.block)
        if digest == e.block_hash and w.block_validity.get(digest, False):
            return Validated(e.height, e.block_hash, Executed(self.index, e.height, digest))
        return Validated(e.height, e.block_hash, None, "invalid block")

    def broadcast_own(self, a: SendProposal | BroadcastVote) -> None:
        w = self.world
        w.check_equivocation(self, a)
        msg = self.net_msg(a)
        self.own.append(msg)
        w.broadcast(self.index, msg)

    def net_msg(self, a: SendProposal | BroadcastVote) -> NetMsg:
        m = self.machine
        height = m.height if m else 0
        if isinstance(a, SendProposal):
            return NetMsg("proposal", a.message, a.block_hash, self.index, height, a.block)
        return NetMsg("vote", a.message, b"", self.index, height)

    def on_commit(self, c: CommitBlock) -> None:
        w = self.world
        w.on_decision(self, c)
        self.store[c.height] = (c.block_hash, c.certificate)
        self.append_wal(EndHeight(c.height))
        self.own = []
        if w.rng.random() < w.config.faults.push_commits:
            # Peers still deciding this height may get the committed block pushed while
            # their own decision is under way (node/net/commit_push.py): a race to survive.
            w.broadcast(self.index, NetMsg("commit", c.certificate, c.block_hash, self.index, c.height))
        if self.planned_crash("enter", c.height + 1):
            return
        if c.height < w.config.heights:
            next_height = StartHeight(c.height + 1, w.validators_at(c.height + 1))
            w.schedule(w.now, self.index, next_height, self.gen)

    def gossip_tick(self) -> None:
        """While links are lossy (before the network is stable, and once just after), re-send
        own messages of the current height and the prevotes behind our valid value: what a
        node sends a peer whose stream (re)connects (node.driver.Driver.resend_to), which
        turns lossy links into the paper's "every message from a correct process eventually
        arrives". Once links are stable, only what ConsensusHost.repeat_if_stuck says, as
        the node does every second. Others' proposals and votes go only to peers cut off
        from their signer (pass_on), never to everyone: a node does not re-send them."""
        m = self.machine
        if not self.up or m is None:
            return
        w = self.world
        for peer, height in sorted(self.lagging.items()):
            block_hash, cert = self.store[height]
            w.send(self.index, peer, NetMsg("commit", cert, block_hash, self.index, height))
        self.lagging.clear()
        if m.decision is not None:
            if m.height not in self.store:
                # Decided but still without the executed block: announce our tip, so that
                # peers push the block (node/net/commit_push.py does this on a real node).
                w.broadcast(self.index, NetMsg("status", b"", b"", self.index, m.height))
            return
        assert self.host is not None
        stuck = self.host.repeat_if_stuck()  # every tick: it compares with the previous one
        reconnected = w.now <= w.stable_ms + w.config.gossip_interval_ms
        if reconnected:
            w.log(self.index, "resend", len(self.own))
            for msg in self.own:
                w.broadcast(self.index, msg)
        elif stuck:
            w.log(self.index, "repeat", len(stuck))
            for effect in stuck:
                self.say_again(effect)
        if not (reconnected and self.own):
            # Nothing of our own re-sent (links are stable, or an observer, or a validator
            # back from a crash that has not voted yet): announce the height we are at
            # instead, or peers that have stored it would never notice we are behind (on a
            # real node the heartbeat does this, and block sync follows).
            w.broadcast(self.index, NetMsg("status", b"", b"", self.index, m.height))
        # The prevotes that justify our valid value (CometBFT gossips the POL votes the same
        # way): peers that missed some of them could otherwise never accept a re-proposal of
        # a value that honest validators are locked on.
        pol = self.host.proof_of_lock()
        if pol and reconnected:
            w.broadcast(self.index, NetMsg("votes", pol, b"", self.index, m.height))


@dataclass(frozen=True, slots=True)
class Executed:
    """The simulator's executed block: what its validator hands the host for a block it
    built or validated, and the only thing CommitBlock may carry."""

    node: int
    height: int
    block_hash: bytes


class World:
    def __init__(self, config: SimConfig) -> None:
        from consensus.sim.byzantine import STRATEGIES  # strategies subclass Node

        self.config = config
        self.rng = random.Random(config.seed)
        self.machine_factory: MachineFactory = config.machine_factory or ConsensusMachine
        self.host_factory: HostFactory = config.host_factory or ConsensusHost
        n = len(config.powers)
        self.byzantine = dict(config.byzantine)
        self.nodes: list[Node] = [
            STRATEGIES[self.byzantine[i]](self, i) if i in self.byzantine else Node(self, i) for i in range(n)
        ]
        # (first height, set), ascending: the set deciding each height (validator_changes).
        self.sets: list[tuple[int, ValidatorSet]] = []
        for start, powers in ((1, config.powers), *config.validator_changes):
            if self.sets and start <= self.sets[-1][0]:
                raise ValueError("validator_changes must start at increasing heights above 1")
            members = [(node.public_key, p) for node, p in zip(self.nodes, powers, strict=True) if p > 0]
            chosen = ValidatorSet(members)
            byz_power = sum(chosen.power_of(self.nodes[i].public_key) for i in self.byzantine)
            if 3 * byz_power >= chosen.total_power:
                raise ValueError(
                    f"Byzantine validators must hold less than a third of the power (from height {start})"
                )
            self.sets.append((start, chosen))
        self.validators = self.sets[0][1]  # the genesis set
        self.honest = [i for i in range(n) if i not in self.byzantine]
        for plan in config.crash_at:
            if plan.node not in self.honest or plan.point not in HEIGHT_POINTS or plan.height < 1:
                raise ValueError(f"a planned crash needs an honest node, a height >= 1 and a point in "
                                 f"{HEIGHT_POINTS}: {plan!r}")
            self.nodes[plan.node].planned.append(plan)
        self.crashes: list[CrashAt] = []
        self.now = 0
        self.seq = 0
        self.queue: list[tuple[int, int, int, Any, int]] = []
        self.block_validity: dict[bytes, bool] = {}
        self.violations: list[str] = []
        self.warnings: list[str] = []
        self.trace: list[tuple] = []
        self.decided: dict[int, bytes] = {}  # height -> first honest decision
        self.decisions: dict[int, dict[int, tuple[bytes, int]]] = {i: {} for i in self.honest}
        self.height_started: dict[int, int] = {}  # height -> time first honest node started it
        self.sent_by_honest: dict[tuple, bytes] = {}
        self.evidence: dict[int, set[tuple[bytes, int, int, int]]] = {i: set() for i in range(n)}
        self.expected_evidence: set[tuple[int, tuple[bytes, int, int, int]]] = set()
        self.injected: dict[tuple[bytes, int, int, int], tuple[bytes, bytes]] = {}
        self.events = 0
        self.messages = 0
        self.side: dict[int, int] = {}
        f = config.faults
        self.cut = {(a, b) for a, b in f.cut} | {(b, a) for a, b in f.cut}
        if f.partition:
            order = list(range(n))
            self.rng.shuffle(order)
            cut = self.rng.randrange(1, n)
            self.side = {i: (0 if pos < cut else 1) for pos, i in enumerate(order)}

    # -- scheduling
    def schedule(self, at: int, node: int, item: Any, gen: int) -> None:
        self.seq += 1
        heapq.heappush(self.queue, (at, self.seq, node, item, gen))

    def log(self, node: int, *what: Any) -> None:
        if self.config.trace:
            self.trace.append((self.now, node, *what))

    def violation(self, text: str) -> None:
        self.violations.append(f"t={self.now}ms {text}")

    def send(self, src: int, dst: int, msg: NetMsg) -> None:
        f = self.config.faults
        rng = self.rng
        if (src, dst) in self.cut:
            return
        before_gst = self.now < f.gst_ms
        if before_gst:
            if self.side and self.side[src] != self.side[dst]:
                return
            if f.drop and rng.random() < f.drop:
                return
            delay = rng.randint(f.min_delay_ms, f.max_delay_ms)
        else:
            delay = rng.randint(f.min_delay_ms, max(f.min_delay_ms, f.delta_ms))
        self.schedule(self.now + delay, dst, msg, -1)
        if f.duplicate and rng.random() < f.duplicate:
            self.schedule(self.now + delay + rng.randint(0, f.max_delay_ms), dst, msg, -1)

    def broadcast(self, src: int, msg: NetMsg) -> None:
        for dst in range(len(self.nodes)):
            if dst != src:
                self.send(src, dst, msg)

    def new_block(self, proposer: int, height: int, round_: int, valid: bool) -> bytes:
        self.seq += 1
        block_hash = hashlib.sha256(b"block/%d/%d/%d/%d" % (proposer, height, round_, self.seq)).digest()
        self.block_validity[block_hash] = valid
        return block_hash

    @staticmethod
    def block_bytes(block_hash: bytes) -> bytes:
        return BLOCK_PREFIX + block_hash

    @staticmethod
    def hash_of(block: bytes) -> bytes | None:
        """What a node computes from block bytes (None: they do not decode)."""
        if not block.startswith(BLOCK_PREFIX) or len(block) != len(BLOCK_PREFIX) + 32:
            return None
        return block[len(BLOCK_PREFIX) :]

    def validation_ms(self) -> int:
        if self.now < self.config.faults.gst_ms:
            return self.rng.randint(0, self.config.faults.max_validation_ms)
        return self.rng.randrange(0, 3)

    @staticmethod
    def round_of_proposal(raw: bytes) -> int:
        return decode_proposal(raw, verify=False).round

    # -- invariants
    def check_equivocation(self, node: Node, a: SendProposal | BroadcastVote) -> None:
        if node.index in self.byzantine:
            return
        if isinstance(a, SendProposal):
            p = decode_proposal(a.message, verify=False)
            key: tuple = (node.index, p.height, p.round, 0)
            body = p.body
        else:
            v = decode_vote(a.message, verify=False)
            key = (node.index, v.height, v.round, int(v.type))
            body = v.body
        earlier = self.sent_by_honest.setdefault(key, body)
        if earlier != body:
            self.violation(
                f"honest n{node.index} equivocated at height {key[1]} round {key[2]} kind {key[3]}"
            )

    def on_decision(self, node: Node, d: CommitBlock) -> None:
        self.log(node.index, "DECIDE", d.height, d.round, d.block_hash)
        if node.index in self.byzantine:
            return
        if d.result != Executed(node.index, d.height, d.block_hash):
            self.violation(
                f"execution: n{node.index} committed block {d.block_hash.hex()[:8]} at height {d.height} "
                "that it never executed"
            )
        self.decisions[node.index][d.height] = (d.block_hash, d.round)
        first = self.decided.setdefault(d.height, d.block_hash)
        if first != d.block_hash:
            self.violation(
                f"agreement: n{node.index} decided {d.block_hash.hex()[:8]} at height {d.height}, "
                f"another honest validator decided {first.hex()[:8]}"
            )
        if not self.block_validity.get(d.block_hash, False):
            self.violation(f"validity: n{node.index} decided invalid block {d.block_hash.hex()[:8]}")

    def validators_at(self, height: int) -> ValidatorSet:
        """The set deciding `height`."""
        chosen = self.sets[0][1]
        for start, validators in self.sets:
            if start <= height:
                chosen = validators
        return chosen

    def crash_planned(self, node: Node, plan: CrashAt) -> None:
        """A planned crash fires: the node is down for plan.down_ms, and the network counts
        as stable (for the termination bound) only once it is back."""
        self.log(node.index, "crash", plan.point, plan.height)
        self.crashes.append(plan)
        node.crash()
        self.schedule(self.now + plan.down_ms, node.index, "restart", -1)
        self.stable_ms = max(self.stable_ms, self.now + plan.down_ms)

    def on_evidence(self, reporter: int, data: bytes) -> None:
        height = decode_vote(pb.Evidence.FromString(data).duplicate_vote.vote_a, verify=False).height
        dv = verify_evidence(data, self.validators_at(height), CHAIN_ID)
        key = (dv.validator, dv.height, dv.round, int(dv.vote_a.type))
        self.log(reporter, "EVIDENCE", dv.validator, dv.height, dv.round)
        self.evidence[reporter].add(key)
        accused = self.nodes_by_key.get(dv.validator)
        if accused in self.honest:
            self.violation(f"evidence against honest validator n{accused}")

    def inject_double_vote(self, raw_a: bytes, raw_b: bytes) -> None:
        v = decode_vote(raw_a, verify=False)
        self.injected[(v.validator, v.height, v.round, int(v.type))] = (raw_a, raw_b)

    def check_evidence_duty(self, node: Node, raw: bytes) -> None:
        """An honest node that holds one vote of an injected double vote and has just been
        handed the other, at that height, must have reported evidence."""
        if not self.injected or node.index in self.byzantine or node.machine is None:
            return
        v = decode_vote(raw, verify=False)
        key = (v.validator, v.height, v.round, int(v.type))
        pair = self.injected.get(key)
        if pair is None or node.machine.height != v.height:
            return
        other = pair[1] if raw == pair[0] else pair[0] if raw == pair[1] else None
        if other is not None and node.machine.vote_of(v.validator, v.round, v.type) == other:
            self.expected_evidence.add((node.index, key))

    # -- running
    def run(self) -> SimResult:
        cfg = self.config
        f = cfg.faults
        rng = self.rng
        self.nodes_by_key = {node.public_key: node.index for node in self.nodes}
        for node in self.nodes:
            self.schedule(0, node.index, "boot", 0)
        # Crashes happen before GST (or in the first seconds when GST is 0); the network
        # counts as stable once GST has passed and every crashed validator is back.
        self.stable_ms = f.gst_ms
        for _ in range(f.crashes):
            victim = rng.choice(self.honest)
            at = rng.randint(0, max(f.gst_ms, 5000))
            back = at + rng.randint(1, 3000)
            # Between two events, or at one of the driver's change points (the next time
            # the victim writes its WAL, or persists its sign-state before a broadcast).
            self.schedule(at, victim, "crash " + rng.choice(CHANGE_POINTS), -1)
            self.schedule(back, victim, "restart", -1)
            self.stable_ms = max(self.stable_ms, back)
        for node in self.nodes:
            self.schedule(f.gst_ms + rng.randint(0, cfg.gossip_interval_ms), node.index, "tick", -1)
        n = len(cfg.powers)
        rounds_bound = cfg.max_rounds_after_gst if cfg.max_rounds_after_gst is not None else 2 * n + 2
        c = cfg.consensus
        per_height = sum(
            c.propose_ms + c.prevote_ms + c.precommit_ms
            + r * (c.propose_delta_ms + c.prevote_delta_ms + c.precommit_delta_ms)
            + 4 * f.delta_ms + cfg.gossip_interval_ms
            for r in range(rounds_bound + 1)
        )
        while self.queue and not self.violations:
            at, _, idx, item, gen = heapq.heappop(self.queue)
            if at > self.stable_ms + cfg.heights * per_height:  # a planned crash moves it
                break
            self.now = at
            node = self.nodes[idx]
            self.events += 1
            if isinstance(item, str):
                self.lifecycle(node, item)
            elif gen != -1 and gen != node.gen:
                continue  # a timer or local answer from before a crash
            else:
                if isinstance(item, NetMsg):
                    self.messages += 1
                elif isinstance(item, StartHeight) and item.height not in self.height_started:
                    self.height_started[item.height] = self.now
                if cfg.trace:
                    self.trace.append((self.now, idx, *_short(item)))
                node.deliver(item)
            if self.all_decided():
                break
        self.final_checks(rounds_bound)
        verifications = sum(
            node.machine.verifications for node in self.nodes if node.machine is not None
        )
        return SimResult(
            cfg, self.violations, self.decisions, self.trace, self.now, self.events, self.messages,
            verifications, self.warnings, self.evidence, self.expected_evidence, self.crashes,
            sum((self.nodes[i].machine.ignored for i in self.honest if self.nodes[i].machine), Counter()),
        )

    def lifecycle(self, node: Node, what: str) -> None:
        if what != "tick":
            self.log(node.index, what)
        if what == "boot":
            if node.index not in self.byzantine or self.byzantine[node.index] != "silent":
                node.boot()
        elif what.startswith("crash ") and node.up:
            point = what.removeprefix("crash ")
            if point == "between-events":
                node.crash()
            else:
                node.armed = point
        elif what == "restart":
            if not node.up:
                node.boot()
            node.armed = None  # an armed crash whose point never came
        elif what == "tick" and not self.all_decided():
            node.gossip_tick()
            self.schedule(self.now + self.config.gossip_interval_ms, node.index, "tick", -1)

    def all_decided(self) -> bool:
        target = self.config.heights
        return all(len(self.decisions[i]) >= target for i in self.honest)

    def final_checks(self, rounds_bound: int) -> None:
        if self.violations:
            return
        for i in self.honest:
            missing = [h for h in range(1, self.config.heights + 1) if h not in self.decisions[i]]
            if missing:
                self.violation(f"termination: honest n{i} never decided heights {missing}")
        gst = self.stable_ms
        for i in self.honest:
            for h, (_, round_) in self.decisions[i].items():
                started = self.height_started.get(h)
                if started is not None and started >= gst and round_ > rounds_bound:
                    self.violation(
                        f"termination: n{i} needed round {round_} at height {h} started after GST "
                        f"(bound {rounds_bound})"
                    )
        for node_index, key in sorted(self.expected_evidence):
            if key not in self.evidence[node_index]:
                self.violation(
                    f"evidence: n{node_index} held both votes of a double vote by "
                    f"n{self.nodes_by_key[key[0]]} at {key[1:]} but reported nothing"
                )


def run_simulation(config: SimConfig) -> SimResult:
    """Run one schedule. The result is a pure function of `config` (seed included)."""
    return World(config).run()
