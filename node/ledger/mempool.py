"""Pending transactions: bounded, first come first served, no two pending spends of one output.

Admission checks a transaction against committed state only (outputs of pending transactions
cannot be spent until they commit, which keeps eviction simple and exact: a pending
transaction can only become invalid through a committed block, never through another
pending one). Signatures are verified by the caller before `add` (on a thread pool, through
the shared signature cache), so nothing here does crypto.

After each commit, `on_commit` removes what the block included and evicts the pending
transactions that spend an output the block spent (they can never become valid). One that
a block made invalid in a subtler way (its payer's daily total or its payee's balance
moved past a tier limit) is not re-checked here, which would cost a rules run per pending
transaction per block: the proposer's block building skips it and it is rejected then.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from node.ledger.errors import Code, LedgerError
from node.ledger.txcodec import DecodedTx
from node.ledger.types import OutPoint


class MempoolFull(Exception):
    """The mempool is at its count or byte bound; the client should retry later."""


@dataclass(frozen=True, slots=True)
class MempoolLimits:
    max_txs: int = 50_000
    max_bytes: int = 64 * 1024 * 1024
    max_per_signer: int = 1_000


class Mempool:
    def __init__(self, limits: MempoolLimits) -> None:
        self.limits = limits
        self._txs: OrderedDict[bytes, DecodedTx] = OrderedDict()
        # The same transactions keyed by their exact bytes: a block carrying them is then
        # executed without decoding them again.
        self.by_raw: dict[bytes, DecodedTx] = {}
        self._spent_by: dict[OutPoint, bytes] = {}
        self._per_signer: dict[bytes, int] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._txs)

    def __contains__(self, txid: bytes) -> bool:
        return txid in self._txs

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def get(self, txid: bytes) -> DecodedTx | None:
        return self._txs.get(txid)

    def add(self, tx: DecodedTx, check: Callable[[DecodedTx], None]) -> None:
        """Admit `tx` (signatures already verified). `check` runs the ledger rules against
        committed state and raises LedgerError; it is only called once cheap checks pass."""
        if tx.txid in self._txs:
            raise LedgerError(Code.DUPLICATE, f"transaction {tx.txid.hex()} is already pending")
        if len(self._txs) >= self.limits.max_txs or self._bytes + len(tx.raw) > self.limits.max_bytes:
            raise MempoolFull(
                f"mempool is full ({len(self._txs)} transactions, {self._bytes} bytes); retry later"
            )
        for outpoint in tx.inputs:
            other = self._spent_by.get(outpoint)
            if other is not None:
                raise LedgerError(
                    Code.DOUBLE_SPEND,
                    f"output {outpoint.txid.hex()}:{outpoint.index} is already spent by pending "
                    f"transaction {other.hex()}",
                )
        signer = _signer(tx)
        if self._per_signer.get(signer, 0) >= self.limits.max_per_signer:
            raise MempoolFull(
                f"signer already has {self.limits.max_per_signer} pending transactions; "
                "wait for some to commit"
            )
        check(tx)
        self._txs[tx.txid] = tx
        self.by_raw[tx.raw] = tx
        for outpoint in tx.inputs:
            self._spent_by[outpoint] = tx.txid
        self._per_signer[signer] = self._per_signer.get(signer, 0) + 1
        self._bytes += len(tx.raw)

    def reap(self, max_txs: int, max_bytes: int) -> list[DecodedTx]:
        """The oldest pending transactions that fit the block limits, in arrival order."""
        picked: list[DecodedTx] = []
        total = 0
        for tx in self._txs.values():
            if len(picked) >= max_txs:
                break
            if total + len(tx.raw) > max_bytes:
                continue
            picked.append(tx)
            total += len(tx.raw)
        return picked

    def remove(self, txid: bytes) -> DecodedTx | None:
        tx = self._txs.pop(txid, None)
        if tx is None:
            return None
        self.by_raw.pop(tx.raw, None)
        for outpoint in tx.inputs:
            if self._spent_by.get(outpoint) == txid:
                del self._spent_by[outpoint]
        signer = _signer(tx)
        left = self._per_signer[signer] - 1
        if left:
            self._per_signer[signer] = left
        else:
            del self._per_signer[signer]
        self._bytes -= len(tx.raw)
        return tx

    def on_commit(
        self,
        committed_txids: Iterable[bytes],
        spent: Iterable[OutPoint],
        check: Callable[[DecodedTx], None],
    ) -> list[tuple[DecodedTx, LedgerError]]:
        """Drop what a block included; re-check the pending spends of outputs it spent.

        Returns the evicted transactions with the reason, so waiting clients can be told.
        """
        for txid in committed_txids:
            self.remove(txid)
        suspects: dict[bytes, DecodedTx] = {}
        for outpoint in spent:
            txid = self._spent_by.get(outpoint)
            if txid is not None:
                suspects[txid] = self._txs[txid]
        evicted: list[tuple[DecodedTx, LedgerError]] = []
        for tx in suspects.values():
            try:
                check(tx)
            except LedgerError as err:
                self.remove(tx.txid)
                evicted.append((tx, err))
        return evicted


def _signer(tx: DecodedTx) -> bytes:
    """The party a pending-count cap applies to: the payer, institution or first issuer."""
    return tx.signers[0] if tx.signers else b""
