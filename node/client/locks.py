"""Ready-made locks for the pilot cases: multi-signature wallets, escrow, vouchers.

Each returns canonical lock bytes (node.ledger.conditions.encode_lock); pay money into one
with txbuild.locked_output and spend it with txbuild.build_spend_locked, naming the clause
by its index (the constants below).
"""

from __future__ import annotations

from collections.abc import Sequence

from node.ledger.conditions import AfterTime, AnyOf, Clause, Multi, Pk, Policy, encode_lock

# Clause indexes of escrow_lock.
RELEASE, REFUND, SETTLE = 0, 1, 2
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
    memo: str = "",
) -> bytes:
    """Prepaid escrow, one lock for every installment (pay one output per installment):

    0 release: the payer's (or the named confirmer's) signature pays the payee;
    1 refund:  from the deadline on, anyone may return what is left to the payer;
    2 settle:  the arbiter (if any) pays either party, to settle a dispute.
    """
    release: Policy = Pk(payer) if confirmer is None else AnyOf((Pk(payer), Pk(confirmer)))
    clauses = [
        Clause("release", release, (payee,)),
        Clause("refund", AfterTime(deadline_ms), (payer,)),
    ]
    if arbiter is not None:
        clauses.append(Clause("settle", Pk(arbiter), (payer, payee)))
    return encode_lock(clauses, memo=memo)


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
