"""A one-validator chain on a real LevelDB store for programmable-money tests: blocks are
proposed, validated as a follower would, certified by the validator and committed."""

from __future__ import annotations

from pathlib import Path

import nacl.signing

from consensus.commit import encode_commit
from consensus.messages import VoteType, sign_vote
from consensus.validators import ValidatorSet
from node.ledger.blocks import decode_block
from node.ledger.crypto import sha256
from node.ledger.genesis import make_genesis
from node.ledger.keys import KeyPair
from node.ledger.sigcache import SignatureCache
from node.ledger.store import Store
from node.ledger.transition import build_block, validate_block
from proto import ledger_pb2

T0 = 1_767_240_000_000
YUAN = 100


def key(n: int) -> KeyPair:
    return KeyPair.from_seed(bytes([n]) * 32)


ISSUER, BANK, VALIDATOR = key(1), key(10), key(50)
PARENT, SCHOOL, BUS = key(20), key(21), key(22)
GENESIS = make_genesis(issuers=[ISSUER], institutions=[BANK], validators=[VALIDATOR], issue_threshold=1,
                       chain_id="cbdc-prog-store", genesis_time_ms=T0)
VALIDATORS = ValidatorSet([(v.public_key, v.power) for v in GENESIS.validators])
CHAIN = GENESIS.chain_id


class Chain:
    def __init__(self, path: Path) -> None:
        self.store = Store.open(str(path), GENESIS)
        self.sigcache = SignatureCache()
        self.nonce = 0

    def n(self) -> int:
        self.nonce += 1
        return self.nonce

    def block(self, txs: list[bytes], days: int = 0) -> None:
        """Propose (every tx must be accepted), validate as a follower would, and commit."""
        height = self.store.height + 1
        executed, skipped = build_block(
            self.store, txs, GENESIS, height=height, time_ms=T0 + days * 86_400_000 + height * 1000,
            proposer=VALIDATOR.public, validators_hash=VALIDATORS.hash(), evidence=(), sigcache=self.sigcache,
        )
        validated = validate_block(
            self.store, executed.block_bytes, GENESIS, expected_height=height, validators=VALIDATORS,
            min_time_ms=self.store.tip().time_ms, sigcache=SignatureCache(),
        )
        assert not skipped, skipped[0][1].message
        digest = sha256(decode_block(executed.block_bytes)[0].header)
        signing = nacl.signing.SigningKey(VALIDATOR.seed)
        vote = sign_vote(signing, CHAIN, height, 0, VoteType.PRECOMMIT, digest)
        self.store.commit(validated, encode_commit(height, 0, digest, [vote]))


def body(raw_tx: bytes) -> bytes:
    return ledger_pb2.Transaction.FromString(raw_tx).body
