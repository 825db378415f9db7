"""Ready-made locks for the pilot cases: multi-signature wallets, escrow, vouchers.

Each returns canonical lock bytes (node.ledger.conditions.encode_lock); pay money into one
with txbuild.locked_output and spend it with txbuild.build_spend_locked, naming the clause
by its index (the constants below).
"""

from __future__ import annotations

from collections.abc import Sequence

from node.ledger.conditions import (
    AfterTime,
    All,
    AnyOf,
    BeforeTime,
    Clause,
    Multi,
    Pk,
    Policy,
    encode_lock,
    lock_address,
)

# Clause indexes of escrow_lock (AUTO_RELEASE and DISPUTE only with auto_release_ms).
RELEASE, REFUND, SETTLE, AUTO_RELEASE, DISPUTE = 0, 1, 2, 3, 4
# Clause index of settlement_lock: the arbiter decides a disputed escrow.
DECIDE = 0
# Clause index of multisig_lock and voucher_lock.
SPEND = 0


def multisig_lock(k: int, keys: Sequence[bytes], memo: str = "") -> bytes:
    """k of `keys` spend, anywhere (an enterprise treasury, a supplier account)."""
    return encode_lock([Clause("spend", Multi(k, tuple(keys)), ())], memo=memo)


def escrow_lock(
    payer: bytes,
    payee: bytes,
    deadline_ms: int,
    *,
    confirmer: bytes | None = None,
    arbiter: bytes | None = None,
    auto_release_ms: int | None = None,
    memo: str = "",
) -> bytes:
    """Prepaid escrow, one lock for every installment (pay one output per installment):

    0 release: the payer's (or the named confirmer's) signature pays the payee;
    1 refund:  from the deadline on, anyone may return what is left to the payer;
    2 settle:  the arbiter (if any) pays either party, to settle a dispute.

    With `auto_release_ms` (which needs an arbiter, and must come before the deadline):

    3 auto-release: from that date until the deadline, anyone may pay the payee;
    4 dispute: before that date, the payer (or the confirmer) moves installments to the
      arbiter's settlement_lock, out of the auto-release's reach.
    """
    release: Policy = Pk(payer) if confirmer is None else AnyOf((Pk(payer), Pk(confirmer)))
    clauses = [
        Clause("release", release, (payee,)),
        Clause("refund", AfterTime(deadline_ms), (payer,)),
    ]
    if arbiter is not None:
        clauses.append(Clause("settle", Pk(arbiter), (payer, payee)))
    if auto_release_ms is not None:
        if arbiter is None:
            raise ValueError("an escrow that releases automatically needs an arbiter to settle disputes")
        if not 0 < auto_release_ms < deadline_ms:
            raise ValueError("the automatic release must come before the deadline")
        court = lock_address(settlement_lock(payer, payee, arbiter, memo))
        clauses.append(
            Clause("auto-release", All((AfterTime(auto_release_ms), BeforeTime(deadline_ms))), (payee,))
        )
        clauses.append(Clause("dispute", All((release, BeforeTime(auto_release_ms))), (court,)))
    return encode_lock(clauses, memo=memo)


def settlement_lock(payer: bytes, payee: bytes, arbiter: bytes, memo: str = "") -> bytes:
    """Where a disputed escrow's installments wait: only the arbiter pays them, to either
    party. A function of the escrow's parties, so both sides can rebuild it."""
    return encode_lock([Clause("decide", Pk(arbiter), (payer, payee))], memo=memo)


def earmark_lock(holder: bytes, purpose: str, memo: str = "") -> bytes:
    """Money of `purpose` held by `holder` (registered for the purpose); the holder spends it
    only within the purpose or by an allowed exit."""
    return encode_lock([Clause("spend", Pk(holder), ())], memo=memo, purpose=purpose)


def voucher_lock(
    holder: bytes, issuer: bytes, expires_at_ms: int, merchants: Sequence[bytes] = (), memo: str = ""
) -> bytes:
    """A consumption voucher: the holder spends it (at `merchants` only, when given) until
    it expires; after that only the reclaim to the issuing institution, by anyone."""
    return encode_lock(
        [Clause("spend", Pk(holder), tuple(merchants))],
        voucher_issuer=issuer,
        expires_at_ms=expires_at_ms,
        memo=memo,
    )
