"""A small network on a real LevelDB store, and a generator of random (valid and invalid)
transactions against its committed state. Used by the store properties and by the crash
child process, which is why it takes a plain `random.Random` (hypothesis supplies one too).
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from concurrent.futures import Executor

from consensus.validators import ValidatorSet
from node.client.txbuild import build_issue, build_redeem, build_register, build_transfer, encode_tx
from node.ledger.genesis import Genesis, LedgerParams, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.sigcache import SignatureCache
from node.ledger.state import Overlay
from node.ledger.store import CACHE_ENTRIES, Store
from node.ledger.transition import ExecutedBlock, build_block, validate_block
from node.ledger.types import OutPoint
from proto import ledger_pb2
from tests.support import cast
from tests.support.cast import BLOCK_MS, T0, key


class Net:
    """3 issuers (2-of-3), 2 institutions, a few wallet keys, an outsider."""

    def __init__(self, n_wallets: int = 5, params: LedgerParams | None = None) -> None:
        self.issuers = cast.issuers()
        self.banks = cast.institutions()
        self.wallets = cast.wallets(n_wallets)
        self.outsider = key(cast.OUTSIDER)
        self.proposer = key(cast.PROPOSER)
        self.genesis: Genesis = make_genesis(
            issuers=self.issuers,
            institutions=self.banks,
            validators=[self.proposer],
            issue_threshold=2,
            chain_id="cbdc-store-test",
            genesis_time_ms=T0,
            params=params,
        )
        self.chain = self.genesis.chain_id


class Node:
    """A store plus the proposer and validator paths, as the node drives them."""

    def __init__(
        self,
        path: str,
        net: Net,
        executor: Executor | None = None,
        cache_entries: int = CACHE_ENTRIES,
        validators: ValidatorSet | None = None,
    ) -> None:
        """`validators`: the set deciding every height (default: the genesis one)."""
        self.net = net
        genesis_set = ValidatorSet([(v.public_key, v.power) for v in net.genesis.validators])
        self.validators = validators or genesis_set
        self.store = Store.open(path, net.genesis, cache_entries=cache_entries)
        self.sigcache = SignatureCache()
        self.executor = executor

    def close(self) -> None:
        self.store.close()

    def next_time(self) -> int:
        return T0 + (self.store.height + 1) * BLOCK_MS

    def propose(self, candidates: Sequence[bytes], evidence: Sequence[bytes] = ()) -> ExecutedBlock:
        """The proposer's block (the candidates it skipped: `propose_skipping`)."""
        return self.propose_skipping(candidates, evidence)[0]

    def propose_skipping(self, candidates: Sequence[bytes], evidence: Sequence[bytes] = ()):
        return build_block(
            self.store,
            candidates,
            self.net.genesis,
            height=self.store.height + 1,
            time_ms=self.next_time(),
            proposer=self.net.proposer.public,
            validators_hash=self.validators.hash(),
            evidence=evidence,
            sigcache=self.sigcache,
            executor=self.executor,
        )

    def validate(self, block_bytes: bytes, sigcache: SignatureCache | None = None) -> ExecutedBlock:
        return validate_block(
            self.store,
            block_bytes,
            self.net.genesis,
            expected_height=self.store.height + 1,
            validators=self.validators,
            min_time_ms=self.store.tip().time_ms,
            sigcache=sigcache if sigcache is not None else self.sigcache,
            executor=self.executor,
        )

    def commit(self, block_bytes: bytes, commit: bytes = b"cert") -> Overlay:
        """Validate (as a follower would) and commit; returns the committed overlay."""
        executed = self.validate(block_bytes)
        self.store.commit(executed, commit)
        return executed.overlay


def sum_utxos(store: Store) -> int:
    return sum(out.amount for _, out in store.utxos())


class TxFactory:
    """Random transactions against a store's committed state. About a third are invalid in
    a way the rules must catch; the valid ones may still conflict within a block (two spends
    of one output), which the proposer must leave out."""

    INVALID_KINDS = ("bad_signature", "wrong_chain", "garbage", "unknown_input", "spent_input",
                     "unregistered", "overdraw", "not_owner")

    def __init__(self, net: Net, store: Store) -> None:
        self.net = net
        self.store = store
        self.spent_history: list[OutPoint] = []
        self._nonce = 0

    def nonce(self, rng: random.Random) -> int:
        self._nonce += 1
        return self._nonce * 1_000 + rng.randrange(1_000)

    def note_committed(self, overlay: Overlay) -> None:
        self.spent_history.extend(overlay.spent)

    # --- valid kinds ----------------------------------------------------------------------
    def issue(self, rng: random.Random) -> bytes:
        bank = rng.choice(self.net.banks)
        outputs = [(bank.public, rng.randint(1, 2_000_000)) for _ in range(rng.randint(1, 3))]
        signers = rng.sample(self.net.issuers, rng.choice((2, 3)))
        return build_issue(self.net.chain, outputs, signers, self.nonce(rng))

    def register(self, rng: random.Random) -> bytes:
        wallet = rng.choice(self.net.wallets)
        existing = self.store.wallet(wallet.public)
        bank = rng.choice(self.net.banks) if existing is None else self._bank(existing.institution)
        tier = rng.choice(sorted(self.net.genesis.tiers))
        return build_register(self.net.chain, bank, wallet.public, tier, nonce=self.nonce(rng))

    def _bank(self, public: bytes) -> KeyPair:
        return next(b for b in self.net.banks if b.public == public)

    def _funded(self, rng: random.Random, senders: Sequence[KeyPair]) -> tuple[KeyPair, list] | None:
        funded = [(k, u) for k in senders if (u := self.store.utxos_of(k.public, limit=8))]
        return rng.choice(funded) if funded else None

    def transfer(self, rng: random.Random) -> bytes | None:
        pick = self._funded(rng, self.net.banks + self.net.wallets)
        if pick is None:
            return None
        sender, utxos = pick
        inputs = rng.sample(utxos, rng.randint(1, min(2, len(utxos))))
        total = sum(out.amount for _, out in inputs)
        registered = [w for w in self.net.wallets if self.store.wallet(w.public) is not None]
        payees = [k for k in registered + self.net.banks if k.public != sender.public]
        if not payees:
            return None
        payee = rng.choice(payees)
        amount = rng.randint(1, total)
        outputs = [(payee.public, amount)]
        if total > amount:
            outputs.append((sender.public, total - amount))
        return build_transfer(self.net.chain, sender, [op for op, _ in inputs], outputs, self.nonce(rng))

    def redeem(self, rng: random.Random) -> bytes | None:
        pick = self._funded(rng, self.net.banks)
        if pick is None:
            return None
        bank, utxos = pick
        op, out = rng.choice(utxos)
        amount = rng.randint(1, out.amount)
        change = [(bank.public, out.amount - amount)] if out.amount > amount else []
        return build_redeem(self.net.chain, bank, [op], amount, change, self.nonce(rng))

    def valid(self, rng: random.Random) -> bytes:
        makers = (self.issue, self.register, self.transfer, self.transfer, self.transfer, self.redeem)
        while True:
            raw = rng.choice(makers)(rng)
            if raw is not None:
                return raw

    # --- invalid kinds ----------------------------------------------------------------------
    def invalid(self, rng: random.Random, kind: str | None = None) -> bytes:
        """A transaction no state can accept (except `spent_input`/`overdraw`/... which no
        state derived from this store's history can)."""
        kind = kind or rng.choice(self.INVALID_KINDS)
        chain = self.net.chain
        if kind == "bad_signature":
            tx = ledger_pb2.Transaction.FromString(self.issue(rng))
            sigs = list(tx.signatures)
            i = rng.randrange(len(sigs))
            sig = bytearray(sigs[i])
            sig[rng.randrange(64)] ^= 1 << rng.randrange(8)
            sigs[i] = bytes(sig)
            return encode_tx(tx.body, sigs)
        if kind == "wrong_chain":
            bank = rng.choice(self.net.banks)
            return build_issue("other-chain", [(bank.public, 5)], self.net.issuers[:2], self.nonce(rng))
        if kind == "garbage":
            return rng.randbytes(rng.randint(0, 60))
        if kind == "unknown_input":
            bank = rng.choice(self.net.banks)
            op = OutPoint(rng.randbytes(32), rng.randrange(4))
            return build_transfer(chain, bank, [op], [(bank.public, 10)], self.nonce(rng))
        if kind == "spent_input" and self.spent_history:
            op = rng.choice(self.spent_history)
            for k in self.net.banks + self.net.wallets:  # signed by whoever owned it: still spent
                return build_transfer(chain, k, [op], [(k.public, 1)], self.nonce(rng))
        if kind == "unregistered":
            pick = self._funded(rng, self.net.banks)
            if pick is not None:
                bank, utxos = pick
                op, out = utxos[0]
                outsider = self.net.outsider.public
                return build_transfer(chain, bank, [op], [(outsider, out.amount)], self.nonce(rng))
        if kind == "overdraw":
            pick = self._funded(rng, self.net.banks + self.net.wallets)
            if pick is not None:
                sender, utxos = pick
                op, out = utxos[0]
                return build_transfer(chain, sender, [op], [(sender.public, out.amount + 1)], self.nonce(rng))
        if kind == "not_owner":
            pick = self._funded(rng, self.net.banks)
            if pick is not None:
                bank, utxos = pick
                thief = next(b for b in self.net.banks if b.public != bank.public)
                op, out = utxos[0]
                return build_transfer(chain, thief, [op], [(thief.public, out.amount)], self.nonce(rng))
        # Fallback for kinds that need state the store does not have yet.
        return self.invalid(rng, "bad_signature")

    def candidates(self, rng: random.Random, n: int, invalid_share: float = 0.3) -> list[bytes]:
        return [self.invalid(rng) if rng.random() < invalid_share else self.valid(rng) for _ in range(n)]
