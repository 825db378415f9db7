"""Tunables of the state machine. Timeouts grow linearly with the round, so that after
the network stabilises some round lasts long enough for every honest message to arrive."""

from __future__ import annotations

from dataclasses import dataclass

from consensus.messages import Step


@dataclass(frozen=True, slots=True)
class ConsensusConfig:
    propose_ms: int = 3000
    propose_delta_ms: int = 500
    prevote_ms: int = 1000
    prevote_delta_ms: int = 500
    precommit_ms: int = 1000
    precommit_delta_ms: int = 500
    # A validator may hold messages in at most this many rounds ahead of ours at once
    # (CometBFT's "peer catch-up rounds"): bounds what a Byzantine voter can make us store.
    max_future_rounds_per_validator: int = 3
    # Messages for the next height are kept (up to this many) until StartHeight.
    next_height_buffer: int = 4096

    def timeout_ms(self, step: Step, round_: int) -> int:
        if step is Step.PROPOSE:
            return self.propose_ms + self.propose_delta_ms * round_
        if step is Step.PREVOTE:
            return self.prevote_ms + self.prevote_delta_ms * round_
        return self.precommit_ms + self.precommit_delta_ms * round_
