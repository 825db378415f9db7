"""The double-sign guard's bookkeeping and the signer's withholding (pure, no I/O)."""

from __future__ import annotations

import pytest

from consensus.messages import VoteType
from consensus.signer import DoubleSignGuard, Signer
from tests.consensus.consensus_helpers import CHAIN, block, key

A = block("A")


def test_a_withholding_signer_signs_nothing_not_even_a_stored_repeat() -> None:
    s = Signer(key(1))
    first = s.sign_vote(CHAIN, 5, 0, VoteType.PREVOTE, A)
    assert first.message is not None
    s.withholding = True
    assert s.sign_vote(CHAIN, 5, 0, VoteType.PREVOTE, A).message is None
    assert s.sign_vote(CHAIN, 6, 0, VoteType.PREVOTE, A).message is None
    assert s.sign_proposal(CHAIN, 6, 0, -1, A).message is None
    assert s.state == first.state  # nothing recorded while withholding
    s.withholding = False
    assert s.sign_vote(CHAIN, 6, 0, VoteType.PREVOTE, A).message is not None


def test_the_guard_releases_after_n_heights_decided_without_its_key() -> None:
    guard = DoubleSignGuard(3)
    assert not guard.armed
    assert guard.arm("restored")
    assert guard.armed and guard.remaining == 3
    assert not guard.watched(False)
    assert not guard.watched(False)
    assert guard.watched(False)  # the third releases
    assert not guard.armed
    assert not guard.watched(False)  # nothing to release any more


def test_its_own_key_in_a_certificate_restarts_the_count() -> None:
    guard = DoubleSignGuard(2)
    guard.arm("restored")
    assert not guard.watched(False)
    assert not guard.watched(True)  # another process signs with this key
    assert guard.remaining == 2 and "did not sign" in guard.reason
    assert not guard.watched(False)
    assert guard.watched(False)


def test_zero_heights_turns_the_guard_off() -> None:
    guard = DoubleSignGuard(0)
    assert not guard.arm("restored")
    assert not guard.armed
    with pytest.raises(ValueError):
        DoubleSignGuard(-1)
