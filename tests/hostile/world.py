"""Fixed keys, a genesis and a small real LevelDB chain for the hostile-input tests.

Deterministic keys keep every hypothesis failure reproducible. The chain (`ChainFixture`)
is a real Store in a temp dir with a few committed blocks, so decoded blocks are validated
against real state: UTXOs that exist, registered wallets, a tip with a real hash.
"""

from __future__ import annotations

from pathlib import Path

import nacl.signing
from hypothesis import strategies as st

from consensus.evidence import encode_duplicate_vote
from consensus.messages import NIL, VoteType, sign_vote
from consensus.validators import ValidatorSet
from node.client.txbuild import build_issue, build_register, build_transfer
from node.ledger.genesis import Genesis, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.transition import ExecutedBlock, Skipped, build_block, validate_block
from node.ledger.txcodec import decode_tx
from node.ledger.types import OutPoint
from tests.support import cast
from tests.support.cast import BLOCK_MS, T0, key

CHAIN_ID = "cbdc-hostile"
ISSUERS = cast.issuers()
BANKS = cast.institutions()
WALLETS = cast.wallets(4)
VALIDATORS = cast.validators(4)
OUTSIDER = key(cast.OUTSIDER)

GENESIS: Genesis = make_genesis(
    issuers=ISSUERS,
    institutions=BANKS,
    validators=VALIDATORS,
    issue_threshold=2,
    chain_id=CHAIN_ID,
    genesis_time_ms=T0,
)
VALIDATOR_SET = ValidatorSet([(v.public_key, v.power) for v in GENESIS.validators])


def double_vote(validator: KeyPair, height: int) -> bytes:
    """Evidence (valid against VALIDATOR_SET) that `validator` prevoted twice at `height`."""
    signing = nacl.signing.SigningKey(validator.seed)
    votes = [sign_vote(signing, CHAIN_ID, height, 0, VoteType.PREVOTE, b) for b in (bytes(32), NIL)]
    return encode_duplicate_vote(*votes)


class ChainFixture:
    """A real store with: an issue to both banks, four registered wallets, and one transfer
    from bank 0 paying each wallet 10 coins. `coins[wallet index]` lists the spendable
    (outpoint, amount) of each wallet."""

    def __init__(self, path: Path) -> None:
        self.store = Store.open(str(path), GENESIS)
        self.sigcache = SignatureCache()
        issue = build_issue(CHAIN_ID, [(BANKS[0].public, 10_000_000), (BANKS[1].public, 10_000_000)],
                            ISSUERS[:2], nonce=1)
        self.commit([issue])
        self.commit([build_register(CHAIN_ID, BANKS[i % 2], w.public, 2, nonce=10 + i)
                     for i, w in enumerate(WALLETS)])
        issue_txid = _txid(issue)
        outputs = [(w.public, 1_000 + j) for w in WALLETS for j in range(10)]
        total = sum(a for _, a in outputs)
        pay = build_transfer(CHAIN_ID, BANKS[0], [OutPoint(issue_txid, 0)],
                             [*outputs, (BANKS[0].public, 10_000_000 - total)], nonce=20)
        self.commit([pay])
        pay_txid = _txid(pay)
        self.coins: list[list[tuple[OutPoint, int]]] = [
            [(OutPoint(pay_txid, i * 10 + j), 1_000 + j) for j in range(10)] for i in range(len(WALLETS))
        ]

    def next_time(self) -> int:
        return T0 + (self.store.height + 1) * BLOCK_MS

    def build(self, txs: list[bytes], evidence: list[bytes] | None = None) -> ExecutedBlock:
        return self.build_skipping(txs, evidence)[0]

    def build_skipping(
        self, txs: list[bytes], evidence: list[bytes] | None = None
    ) -> tuple[ExecutedBlock, list[Skipped]]:
        return build_block(
            self.store,
            txs,
            GENESIS,
            height=self.store.height + 1,
            time_ms=self.next_time(),
            proposer=VALIDATORS[0].public,
            validators_hash=VALIDATOR_SET.hash(),
            evidence=evidence or [],
            sigcache=self.sigcache,
        )

    def validate(self, block_bytes: bytes, sigcache: SignatureCache | None = None) -> ExecutedBlock:
        return validate_block(
            self.store,
            block_bytes,
            GENESIS,
            expected_height=self.store.height + 1,
            validators=VALIDATOR_SET,
            min_time_ms=self.store.tip().time_ms,
            sigcache=sigcache or self.sigcache,
        )

    def commit(self, txs: list[bytes]) -> None:
        built, skipped = self.build_skipping(txs)
        assert not skipped, skipped
        self.store.commit(self.validate(built.block_bytes), b"cert")

    def close(self) -> None:
        self.store.close()


def _txid(raw: bytes) -> bytes:
    return decode_tx(raw, GENESIS).txid


@st.composite
def mostly(draw: st.DrawFn, valid: st.SearchStrategy, invalid: st.SearchStrategy):
    """`valid` about three times in four: structured fuzzing that keeps most fields
    plausible reaches the checks behind the first field. (st.one_of would pick each
    distinct branch equally often.) Shrinks towards `valid`."""
    return draw(invalid) if draw(st.integers(0, 3)) == 3 else draw(valid)


def mutate(data: st.DataObject, raw: bytes, max_ops: int = 4) -> bytes:
    """`raw` after 1..max_ops random byte edits (bit flips, special bytes, cuts, inserts)."""
    buf = bytearray(raw)
    for _ in range(data.draw(st.integers(1, max_ops), label="ops")):
        op = data.draw(st.sampled_from(["flip", "set", "cut", "insert", "delete"]), label="op")
        pos = data.draw(st.integers(0, max(0, len(buf) - 1)), label="pos")
        if op == "flip" and buf:
            buf[pos] ^= 1 << data.draw(st.integers(0, 7))
        elif op == "set" and buf:
            buf[pos] = data.draw(st.sampled_from([0x00, 0x01, 0x7F, 0x80, 0xFF]))
        elif op == "cut":
            del buf[pos:]
        elif op == "insert":
            buf[pos:pos] = data.draw(st.binary(min_size=1, max_size=6))
        elif op == "delete":
            del buf[pos : pos + data.draw(st.integers(1, 8))]
    return bytes(buf)
