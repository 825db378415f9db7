"""Where a height's time goes at this validator: the phases it passed and how long each took.

A validator's view of one height, in the order it passes them:

    wait       after the previous commit, until this height started (timeout_commit, or
               until enough transactions were pending, or a peer started it)
    propose    until this validator prevoted: waiting for the proposal and executing it
               (or building its own)
    prevote    until it precommitted: two thirds of the prevotes
    precommit  until the decision: two thirds of the precommits
    commit     writing the block (one synced batch), updating the mempool, answering clients

A later round of the same height adds to the same phases. `execute` is not a phase but the
part of `propose` spent building or validating the block on the worker thread, and
`proposal_at` is when a peer's proposal for the height reached this node, from the height's
start (negative if it came while this node still waited; none on its own proposal's heights):
between the two lie the proposal's transfer, and this node's queue before it was judged. The driver
logs the phases with each commit and feeds them to the step histogram, so a slow height can be
placed (a late proposal, a slow execution, a slow vote round) on a live network and in a
benchmark's logs alike.
"""

from __future__ import annotations

import time
from collections.abc import Callable

PHASES = ("wait", "propose", "prevote", "precommit", "commit")
# What the commit log line carries, each as `<name>_ms` (devnet.height_log reads them back),
# beside `proposal_at_ms`.
LOGGED = (*PHASES, "execute")


class HeightClock:
    def __init__(self, observe: Callable[[str, float], None] | None = None) -> None:
        """`observe(phase, seconds)` is called as each phase ends (a metrics histogram)."""
        self._observe = observe
        self._phase: str | None = None
        self._started = time.monotonic()
        self._spent: dict[str, float] = {}
        self._height = 0
        self._began = self._started
        self._proposal_at: float | None = None
        self._early: dict[int, float] = {}  # proposals for heights not begun yet: arrival

    @property
    def phase(self) -> str | None:
        return self._phase

    def enter(self, phase: str) -> None:
        """End the current phase (adding its time to this height's) and start `phase`."""
        now = time.monotonic()
        if self._phase is not None:
            seconds = now - self._started
            self._spent[self._phase] = self._spent.get(self._phase, 0.0) + seconds
            if self._observe is not None:
                self._observe(self._phase, seconds)
        self._phase, self._started = phase, now

    def begin_height(self, height: int) -> None:
        """`height` starts; the wait that preceded it is the first of its phases."""
        self.enter("propose")
        self._height, self._began = height, self._started
        early = self._early.pop(height, None)
        self._early = {h: t for h, t in self._early.items() if h > height}
        self._proposal_at = None if early is None else early - self._began

    def proposal_arrived(self, height: int) -> None:
        """A peer's proposal for `height` reached this node (the first of the height counts)."""
        now = time.monotonic()
        if height == self._height:
            if self._proposal_at is None:
                self._proposal_at = now - self._began
        elif self._height < height <= self._height + 2:
            self._early.setdefault(height, now)

    def end_height(self) -> dict[str, float | None]:
        """The height is committed: its phases (milliseconds to 0.1, for the commit log line;
        a vote round on loopback can take under one); the wait for the next one starts."""
        self.enter("wait")
        # Every phase, 0 where none passed (a lone validator goes from propose to decided
        # within one step).
        spent: dict[str, float | None] = {
            f"{p}_ms": round(self._spent.get(p, 0.0) * 1000, 1) for p in LOGGED
        }
        spent["proposal_at_ms"] = None if self._proposal_at is None else round(self._proposal_at * 1000, 1)
        self._spent = {}
        return spent

    def executed(self, seconds: float) -> None:
        """Time this height's block took to build or validate (part of `propose`)."""
        self._spent["execute"] = self._spent.get("execute", 0.0) + seconds
