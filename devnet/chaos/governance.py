"""Governance changes among the chaos faults: validator-set changes committed on the live
chain, and checked afterwards against every node's governance record and headers.

One change at a time, each signed by the devnet's authority (2 of the central bank's 3
issuer keys) and refused by nobody because it is chosen within the ledger's bounds
(node/ledger/governance_rules.py: at least min(4, genesis validators) stay, at most a third
of the previous total power is removed or added per step). A change committed at H decides
from H+2. Kinds (GovernanceChaos.step picks one):

- remove and re-add: a validator leaves the set and, once the removal decides, comes back
  (needs 5 validators: 4 must stay);
- power: a validator's power moves between 10 and 13 (and back);
- kill at the change height: a change for validator V submitted to V itself, then V is
  SIGKILLed while it decides the height before the change takes effect, or the change
  height itself, and restarted (it replays its WAL and rejoins under the new set);
- partition across a change: one node is cut off (through the link proxies) while a change
  is committed and takes effect, then the links heal and it catches up across the change,
  checking each certificate against the set of its height.

`verify` then checks that every node reports the same validator-set history, that each
set's first header names it (validators_hash) and the header before announces it
(next_validators_hash), and that each change submitted here is in force from H+2.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devnet import network
from devnet.chaos.report import ChaosReport
from devnet.homes import ISSUE_THRESHOLD
from devnet.network import CHAIN_ID, client_for
from devnet.processes import DevnetRecord, NodeRecord, is_running, kill, spawn
from devnet.proxy import LinkProxies
from node.client import govbuild
from node.client.connection import Rejected, Unreachable
from node.ledger.blocks import decode_committed_block
from node.ledger.crypto import sha256
from node.ledger.genesis import Genesis
from proto import ledger_pb2, node_pb2

POWER = 10  # every devnet validator's genesis power
RAISED = 13  # a power change moves 3: within a third of any total the devnet can reach


@dataclass
class Change:
    kind: str  # "remove", "re-add" or "power"
    validator: str  # node name
    key: bytes
    power: int  # the new power (0: out of the set)
    txid: bytes
    height: int = 0  # the block committing it (0: not seen committed yet)


class GovernanceChaos:
    """Validator-set changes, one at a time, among the faults of devnet.chaos.faults.Chaos."""

    def __init__(
        self,
        record: DevnetRecord,
        directory: Path,
        proxies: LinkProxies | None,
        report: ChaosReport,
        rng: random.Random,
        note: Callable[[str], None],
        record_changed: Callable[[], None],
    ) -> None:
        self.record = record
        self.proxies = proxies
        self.report = report
        self.rng = rng
        self.note = note
        self.record_changed = record_changed
        self.genesis = Genesis.load(directory / "genesis.json")
        self.authority = network.load_keys(directory).issuers[:ISSUE_THRESHOLD]
        self.by_key = {v.public_key: self._node(v.name) for v in self.genesis.validators}
        self.fewest = min(4, len(self.genesis.validators))
        self.changes: list[Change] = []

    def _node(self, name: str) -> NodeRecord:
        return next(n for n in self.record.nodes if n.name == name)

    # -- the set now scheduled ------------------------------------------------------------

    def scheduled(self) -> dict[bytes, int]:
        """The last validator set the chain has scheduled (key -> power), from a live node."""
        for node in self.record.nodes:
            if not is_running(node):
                continue
            try:
                with client_for(node, timeout=10) as client:
                    sets = client.governance().validator_sets
            except (Unreachable, Rejected):
                continue
            if sets:
                return {v.public_key: v.power for v in sets[-1].validators}
        return {v.public_key: v.power for v in self.genesis.validators}

    def _fits(self, before: dict[bytes, int], key: bytes, power: int) -> bool:
        after = {**before, key: power}
        after = {k: p for k, p in after.items() if p > 0}
        total = sum(before.values())
        moved = abs(power - before.get(key, 0))
        return len(after) >= self.fewest and 3 * moved <= total

    def _options(self, before: dict[bytes, int]) -> list[tuple[str, bytes, int]]:
        """Every single change the bounds allow now: (kind, key, new power)."""
        out: list[tuple[str, bytes, int]] = []
        for key in self.by_key:
            power = before.get(key, 0)
            if power == 0:
                out.append(("re-add", key, POWER))
            else:
                out.append(("power", key, RAISED if power == POWER else POWER))
                out.append(("remove", key, 0))
        return [o for o in out if self._fits(before, o[1], o[2])]

    # -- faults -----------------------------------------------------------------------------

    def step(self) -> None:
        kinds = ["remove_and_readd", "power", "kill_at_change"]
        if self.proxies is not None:
            kinds.append("partition_across_change")
        getattr(self, f"_{self.rng.choice(kinds)}")()

    def _remove_and_readd(self) -> None:
        before = self.scheduled()
        options = self._options(before)
        readd = [o for o in options if o[0] == "re-add"]
        if readd:  # one left earlier (its re-add was lost to a fault): bring it back first
            self._change(*self.rng.choice(readd))
            return
        removals = [o for o in options if o[0] == "remove"]
        if not removals:
            self.note("governance: no validator can leave within the bounds (4 must stay); changing a power")
            self._power()
            return
        _, key, _ = self.rng.choice(removals)
        change = self._change("remove", key, 0)
        if change is None or not change.height:
            return
        self._wait_tip(change.height + 3, [n for n in self.record.nodes if is_running(n)], 30)
        time.sleep(self.rng.uniform(0.5, 2.0))
        self._change("re-add", key, POWER)

    def _power(self) -> None:
        options = [o for o in self._options(self.scheduled()) if o[0] in ("power", "re-add")]
        if options:
            self._change(*self.rng.choice(options))

    def _kill_at_change(self) -> None:
        options = self._options(self.scheduled())
        if not options:
            return
        kind, key, power = self.rng.choice(options)
        victim = self.by_key[key]
        if not is_running(victim):
            return
        # Submitted to the victim itself: WaitTransaction answers once the victim has stored
        # block H, so it is then deciding H+1, the last height of the old set.
        at_change = self.rng.random() < 0.5
        change = self._change(kind, key, power, via=victim)
        if change is None or not change.height:
            return
        effective = change.height + 2
        want = effective - 1 if at_change else effective - 2  # the victim's stored tip
        deadline = time.monotonic() + 15
        tip = network.node_height(victim) or 0
        while tip < want and time.monotonic() < deadline:
            time.sleep(0.01)
            tip = network.node_height(victim) or 0
        kill(victim)
        deciding = tip + 1
        self.report.kills += 1
        where = {effective: "the change height", effective - 1: "the height before the change"}.get(deciding)
        if where is None:
            self.note(f"governance: {victim.name} killed deciding height {deciding}, past the change "
                      f"height {effective} (the chain was faster than the poll)")
        else:
            self.report.kills_at_change += 1
            self.note(f"governance: SIGKILL {victim.name} deciding height {deciding}, {where} "
                      f"({kind}: its power is {power} from height {effective})")
        time.sleep(self.rng.uniform(0.2, 2.0))
        spawn(victim)
        self.report.restarts += 1
        self.record_changed()

    def _partition_across_change(self) -> None:
        assert self.proxies is not None
        before = self.scheduled()
        options = self._options(before)
        self.rng.shuffle(options)
        plans = [(o, self._can_be_cut_off(before, {**before, o[1]: o[2]})) for o in options]
        plans = [(o, lone) for o, lone in plans if lone]
        if not plans:
            return
        (kind, key, power), lone = plans[0]
        alone = self.rng.choice(lone)
        rest = [n for n in self.record.nodes if n.name != alone]
        self.proxies.partition([alone], [n.name for n in rest])
        try:
            via = self.rng.choice([n for n in rest if is_running(n)])
            change = self._change(kind, key, power, via=via)
            if change is not None and change.height:
                self._wait_tip(change.height + 3, [n for n in rest if is_running(n)], 30)
                self.report.partitions_across_change += 1
        finally:
            time.sleep(self.rng.uniform(0.5, 1.5))
            self.proxies.heal()
            self.report.partitions_healed += 1
        self.note(f"governance: partition {alone} | rest across the change, healed")

    def _can_be_cut_off(self, before: dict[bytes, int], after: dict[bytes, int]) -> list[str]:
        """Nodes whose absence leaves more than 2/3 of both sets' power connected."""
        def without(name: str, powers: dict[bytes, int]) -> bool:
            total = sum(powers.values())
            key = next((k for k, node in self.by_key.items() if node.name == name), b"")
            return 3 * (total - powers.get(key, 0)) > 2 * total

        return [n.name for n in self.record.nodes if without(n.name, before) and without(n.name, after)]

    # -- submitting -------------------------------------------------------------------------

    def _change(self, kind: str, key: bytes, power: int, via: NodeRecord | None = None) -> Change | None:
        """Submit one validator update and wait for its commit; the Change, or None if refused."""
        node = self.by_key[key]
        signers = [k.public for k in self.authority]
        nonce = int.from_bytes(os.urandom(6), "big")
        update = (key, power, node.name if power else "")
        body = govbuild.validators_body(CHAIN_ID, signers, [update], nonce=nonce)
        tx = govbuild.build(CHAIN_ID, body, self.authority)
        change = Change(kind, node.name, key, power, sha256(ledger_pb2.Transaction.FromString(tx).body))
        live = [n for n in self.record.nodes if is_running(n)]
        via = via or self.rng.choice(live)
        try:
            with client_for(via, timeout=30) as client:
                outcome = client.submit_and_wait(tx, timeout=30)
        except Rejected as err:
            self.report.governance_refused += 1
            self.note(f"governance: {kind} {node.name} refused: {err}")
            return None
        except Unreachable as err:
            self.note(f"governance: {kind} {node.name} not submitted ({via.name} did not answer: {err})")
            return None
        self.changes.append(change)
        self.report.governance_submitted += 1
        if outcome.status == node_pb2.TX_STATUS_COMMITTED:
            change.height = outcome.inclusion.height
            self.note(f"governance: {kind} {node.name} (power {power}) committed at height {change.height}, "
                      f"decides from {change.height + 2}")
        else:
            self.note(f"governance: {kind} {node.name} submitted, not committed within 30 s "
                      "(checked at the end)")
        return change

    @staticmethod
    def _wait_tip(height: int, nodes: list[NodeRecord], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            heights = [network.node_height(n) for n in nodes]
            if all(h is not None and h >= height for h in heights):
                return
            time.sleep(0.2)

    # -- afterwards -------------------------------------------------------------------------

    def verify(self, nodes: list[NodeRecord]) -> list[str]:
        """With the nodes converged: the same validator-set history on every node, each set
        named by the header of its first height and announced by the header before, and
        every change submitted here in force from two blocks after the one committing it.
        Sets report.governance_changes (changes seen in force); returns the violations."""
        problems: list[str] = []
        histories: dict[str, list[tuple[int, bytes]]] = {}
        sets: list[node_pb2.ValidatorSetInfo] = []
        for node in nodes:
            with client_for(node, timeout=30) as client:
                info = client.governance()
            histories[node.name] = [
                (s.effective_height, bytes(s.validators_hash)) for s in info.validator_sets
            ]
            sets = list(info.validator_sets)
        if len({tuple(h) for h in histories.values()}) > 1:
            problems.append(f"nodes report different validator-set histories: {sorted(histories.items())}")
        with client_for(nodes[0], timeout=30) as client:
            tip = client.status().height

            def header(height: int):
                return decode_committed_block(client.block(height).committed_block).header

            for s in sets:
                if s.effective_height > tip or s.effective_height < 2:
                    continue
                if bytes(header(s.effective_height).validators_hash) != bytes(s.validators_hash):
                    problems.append(f"block {s.effective_height}: its header names another validator set "
                                    "than the one scheduled from it")
                if bytes(header(s.effective_height - 1).next_validators_hash) != bytes(s.validators_hash):
                    problems.append(f"block {s.effective_height - 1}: its header does not announce the set "
                                    f"deciding from {s.effective_height}")
            applied = 0
            for change in self.changes:
                if not change.height:
                    outcome = client.wait(change.txid, 0)
                    if outcome.status != node_pb2.TX_STATUS_COMMITTED:
                        continue  # lost with a mempool (a client resubmits): not applied
                    change.height = outcome.inclusion.height
                effective = change.height + 2
                if effective > tip:
                    continue
                in_force = max(
                    (s for s in sets if s.effective_height <= effective), key=lambda s: s.effective_height
                )
                power = next((v.power for v in in_force.validators if v.public_key == change.key), 0)
                if power != change.power:
                    problems.append(
                        f"{change.kind} of {change.validator} committed at {change.height}: the set "
                        f"deciding {effective} gives it power {power}, not {change.power}"
                    )
                    continue
                applied += 1
                if change.kind == "remove":
                    self.report.validator_removals += 1
                elif change.kind == "re-add":
                    self.report.validator_readds += 1
                else:
                    self.report.power_changes += 1
        self.report.governance_changes = applied
        return problems
