"""A small network for rule tests: 3 issuers (2-of-3), 2 institutions, 4 wallet keys, an
outsider, a dict-backed state, and helpers that build, check and commit transactions."""

from __future__ import annotations

from node.client.txbuild import build_issue, build_register, build_transfer
from node.ledger.errors import Code, LedgerError
from node.ledger.genesis import Genesis, LedgerParams, Tier, make_genesis
from node.ledger.keys import KeyPair
from node.ledger.rules import BlockContext, apply_tx, check_tx
from node.ledger.state import Overlay
from node.ledger.txcodec import DecodedTx, decode_tx, verify_signatures
from node.ledger.types import OutPoint, Output
from tests.support import cast
from tests.support.cast import T0, key

from .memstate import MemState


class World:
    def __init__(
        self,
        tiers: dict[int, Tier] | None = None,
        params: LedgerParams | None = None,
    ) -> None:
        self.issuers = cast.issuers()
        self.banks = cast.institutions()
        self.wallets = cast.wallets(4)
        self.outsider = key(cast.OUTSIDER)
        self.genesis: Genesis = make_genesis(
            issuers=self.issuers,
            institutions=self.banks,
            issue_threshold=2,
            tiers=tiers,
            params=params,
            genesis_time_ms=T0,
        )
        self.chain = self.genesis.chain_id
        self.state = MemState()
        self.ctx = BlockContext(1, T0)
        self._nonce = 0

    def nonce(self) -> int:
        self._nonce += 1
        return self._nonce

    # --- pipeline: decode -> verify -> rules --------------------------------------------
    def decode(self, raw: bytes) -> DecodedTx:
        tx = decode_tx(raw, self.genesis)
        verify_signatures(tx, self.chain)
        return tx

    def check(self, raw: bytes, ctx: BlockContext | None = None) -> DecodedTx:
        tx = self.decode(raw)
        check_tx(self.state, tx, self.genesis, ctx or self.ctx)
        return tx

    def apply(self, raw: bytes, ctx: BlockContext | None = None) -> DecodedTx:
        """Apply one transaction as a block of its own and commit it."""
        tx = self.decode(raw)
        overlay = Overlay(self.state)
        apply_tx(overlay, tx, self.genesis, ctx or self.ctx)
        self.state.commit(overlay)
        return tx

    def rejects(self, raw: bytes, code: Code, ctx: BlockContext | None = None) -> LedgerError:
        """Assert the whole pipeline rejects `raw` with `code` and changes nothing."""
        before = self.state.snapshot()
        try:
            self.apply(raw, ctx)
        except LedgerError as e:
            assert e.code == code, f"expected {code}, got {e.code}: {e.message}"
            assert self.state.snapshot() == before
            return e
        raise AssertionError(f"expected {code}, but the transaction was accepted")

    # --- common steps ---------------------------------------------------------------------
    def issue(self, amount: int, bank: int = 0) -> OutPoint:
        raw = build_issue(self.chain, [(self.banks[bank].public, amount)], self.issuers[:2], self.nonce())
        return OutPoint(self.apply(raw).txid, 0)

    def register(self, wallet: KeyPair, tier: int, bank: int = 0) -> None:
        self.apply(build_register(self.chain, self.banks[bank], wallet.public, tier, nonce=self.nonce()))

    def fund(self, wallet: KeyPair, amount: int, bank: int = 0) -> OutPoint:
        """Issue `amount` to a bank and pay it all to `wallet` (already registered)."""
        src = self.issue(amount, bank)
        raw = build_transfer(self.chain, self.banks[bank], [src], [(wallet.public, amount)], self.nonce())
        return OutPoint(self.apply(raw).txid, 0)

    def pay(self, sender: KeyPair, inputs: list[OutPoint], outputs: list[tuple[bytes, int]]) -> bytes:
        """A signed transfer (not applied)."""
        outs = [Output(owner, amount) for owner, amount in outputs]
        return build_transfer(self.chain, sender, inputs, outs, self.nonce())
