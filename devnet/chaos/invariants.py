"""The invariants a chaos or fault run checks afterwards (ChainAuditor), and the offline audit
of every node's store once the nodes are stopped (audit_stores).

- every node holds the same block hash and state root at every height;
- every transaction a client saw committed is committed on every node;
- issued - redeemed == outstanding on every node (and, offline after the run, == the sum of
  every unspent output and of every balance);
- no honest validator key signed two different votes for one height/round/type (every
  precommit of every commit certificate and every vote in evidence is collected);
- evidence names only misbehaving validators, at most once per (validator, height).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from consensus.messages import InvalidMessage, decode_vote
from devnet.network import client_for
from devnet.processes import DevnetRecord, NodeRecord
from node.client.connection import Rejected, Unreachable
from node.ledger.blocks import Certificate, decode_committed_block
from node.ledger.crypto import sha256
from node.ledger.errors import LedgerError
from proto import consensus_pb2, ledger_pb2, node_pb2


@dataclass
class EvidenceSeen:
    validator: bytes
    height: int  # of the double vote
    block_height: int  # of the block carrying it


class ChainAuditor:
    """Reads every node's blocks (incrementally: each call fetches only what is new) and
    checks the invariants; `violations` lists what broke, in words."""

    def __init__(self, nodes: list[NodeRecord], byzantine: set[bytes] | None = None) -> None:
        self.nodes = nodes
        self.byzantine = set(byzantine or ())
        self.canonical: list[tuple[bytes, bytes]] = []  # (block hash, state root) by height - 1
        self.checked: dict[str, int] = {}
        self.txids: set[bytes] = set()
        self.votes: dict[tuple[bytes, int, int, int], set[bytes]] = {}
        self.evidence: list[EvidenceSeen] = []
        self.violations: list[str] = []
        self.checks: dict[str, bool] = {}

    def _violate(self, check: str, message: str) -> None:
        self.checks[check] = False
        if message not in self.violations:
            self.violations.append(message)

    def _passed(self, check: str) -> None:
        self.checks.setdefault(check, True)

    def _vote(self, raw: bytes, where: str) -> None:
        try:
            vote = decode_vote(raw)
        except InvalidMessage as err:
            self._violate("signatures", f"{where}: a stored vote does not verify: {err}")
            return
        self.votes.setdefault((vote.validator, vote.height, vote.round, int(vote.type)), set()).add(
            vote.block_hash
        )

    def _index(self, height: int, block: ledger_pb2.Block, digest: bytes, certificate: bytes) -> None:
        try:
            cert = Certificate.decode(certificate)
        except LedgerError as err:
            self._violate("same_chain", f"block {height}: {err.message}")
            return
        if cert.height != height or cert.block_hash != digest:
            self._violate("same_chain", f"block {height}: its certificate is for another block")
        for raw in cert.precommits:
            self._vote(raw, f"certificate of block {height}")
        for item in block.evidence:
            ev = consensus_pb2.Evidence.FromString(item)
            votes = [ev.duplicate_vote.vote_a, ev.duplicate_vote.vote_b]
            for raw in votes:
                self._vote(raw, f"evidence in block {height}")
            try:
                first = decode_vote(votes[0])
            except InvalidMessage:
                continue
            self.evidence.append(EvidenceSeen(first.validator, first.height, height))
        for raw in block.txs:
            self.txids.add(sha256(ledger_pb2.Transaction.FromString(raw).body))

    def sync(self, nodes: list[NodeRecord] | None = None) -> int:
        """Fetch what is new on each (reachable) node and compare it with the chain seen so far;
        returns the lowest tip among the nodes read."""
        lowest: int | None = None
        for node in nodes or self.nodes:
            try:
                with client_for(node, timeout=30) as client:
                    tip = client.status().height
                    start = self.checked.get(node.name, 0) + 1
                    if tip >= start:
                        for msg in client.blocks(start, tip):
                            self._compare(node, msg)
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            lowest = tip if lowest is None else min(lowest, tip)
        self._passed("same_chain")
        return lowest or 0

    def _compare(self, node: NodeRecord, msg: node_pb2.CommittedBlockMsg) -> None:
        height = msg.height
        committed = decode_committed_block(msg.committed_block)
        block, header, certificate = committed.block, committed.header, committed.certificate
        digest = committed.block_hash
        if digest != msg.block_hash or header.height != height:
            self._violate("same_chain", f"{node.name}: block {height} is not what its header says")
        entry = (digest, bytes(header.state_root))
        if height <= len(self.canonical):
            if self.canonical[height - 1] != entry:
                self._violate(
                    "same_chain",
                    f"FORK: {node.name} holds block {digest.hex()[:16]} (state root "
                    f"{entry[1].hex()[:16]}) at height {height}, another node "
                    f"{self.canonical[height - 1][0].hex()[:16]}",
                )
        elif height == len(self.canonical) + 1:
            self.canonical.append(entry)
            self._index(height, block, digest, certificate)
        self.checked[node.name] = height

    def check_committed_present(self, txids: list[bytes], nodes: list[NodeRecord] | None = None) -> None:
        """Every transaction a client saw committed is committed on every node."""
        missing_chain = [t for t in txids if t not in self.txids]
        if missing_chain:
            self._violate(
                "committed_present",
                f"{len(missing_chain)} transactions clients saw committed are in no block read",
            )
        for node in nodes or self.nodes:
            try:
                with client_for(node, timeout=30) as client:
                    missing = [t for t in txids if client.wait(t, 0).status != node_pb2.TX_STATUS_COMMITTED]
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            if missing:
                self._violate(
                    "committed_present",
                    f"{node.name} lacks {len(missing)} of {len(txids)} transactions clients saw committed",
                )
        self._passed("committed_present")

    def check_supply(self, nodes: list[NodeRecord] | None = None) -> None:
        """issued - redeemed == outstanding on every node; equal supply at equal heights."""
        by_height: dict[int, set[tuple[int, int]]] = {}
        for node in nodes or self.nodes:
            try:
                with client_for(node, timeout=10) as client:
                    supply = client.supply()
            except (Unreachable, Rejected) as err:
                self._violate("reachable", f"{node.name} did not answer: {err}")
                continue
            if supply.issued - supply.redeemed != supply.outstanding:
                self._violate(
                    "supply",
                    f"{node.name}: issued {supply.issued} - redeemed {supply.redeemed} != "
                    f"outstanding {supply.outstanding}",
                )
            by_height.setdefault(supply.height, set()).add((supply.issued, supply.redeemed))
        for height, values in by_height.items():
            if len(values) > 1:
                self._violate("supply", f"nodes at height {height} report different supplies: {values}")
        self._passed("supply")

    def check_signatures(self) -> None:
        """No honest key signed two different votes for one (height, round, type); evidence
        names only Byzantine keys, once per (validator, height)."""
        for (validator, height, round_, kind), hashes in self.votes.items():
            if len(hashes) > 1 and validator not in self.byzantine:
                self._violate(
                    "no_double_signing",
                    f"honest validator {validator.hex()[:16]} signed {len(hashes)} different "
                    f"{'prevotes' if kind == 1 else 'precommits'} at height {height} round {round_}",
                )
        seen: dict[tuple[bytes, int], int] = {}
        for item in self.evidence:
            if item.validator not in self.byzantine:
                self._violate(
                    "evidence",
                    f"evidence in block {item.block_height} blames honest validator "
                    f"{item.validator.hex()[:16]}",
                )
            key = (item.validator, item.height)
            if key in seen:
                self._violate(
                    "evidence",
                    f"evidence against {item.validator.hex()[:16]} at height {item.height} is committed "
                    f"twice (blocks {seen[key]} and {item.block_height})",
                )
            seen[key] = item.block_height
        self._passed("no_double_signing")
        self._passed("evidence")

    def check_all(self, committed: list[bytes], nodes: list[NodeRecord] | None = None) -> list[str]:
        self.sync(nodes)
        self.check_committed_present(committed, nodes)
        self.check_supply(nodes)
        self.check_signatures()
        return self.violations

    def evidence_heights(self, validator: bytes) -> list[int]:
        return sorted(e.height for e in self.evidence if e.validator == validator)


def audit_stores(record: DevnetRecord, genesis_path: Path) -> list[str]:
    """Offline, with every node stopped: each store checks itself (state root recomputed from
    scratch over every UTXO and wallet, sum of unspent outputs == issued - redeemed, balances ==
    UTXO sums, address index complete), and stores at the same height hold the same tip.
    (Stores are not byte-identical: each node keeps the commit certificate it assembled, and
    two certificates for one block may carry different sets of precommits.)"""
    from node.ledger.genesis import Genesis
    from node.ledger.store import Store
    from node.ledger.store_audit import audit_store

    genesis = Genesis.load(genesis_path)
    problems: list[str] = []
    tips: dict[int, set[tuple[bytes, bytes]]] = {}
    for node in record.nodes:
        path = Path(node.home) / "data" / "ledger"
        if not path.exists():
            continue
        with Store.open(str(path), genesis) as store:
            problems += [f"{node.name}: {p}" for p in audit_store(store)]
            tip = store.tip()
            tips.setdefault(tip.height, set()).add((tip.block_hash, tip.state_root))
    for height, values in tips.items():
        if len(values) > 1:
            problems.append(f"stores at height {height} hold different tips")
    return problems

