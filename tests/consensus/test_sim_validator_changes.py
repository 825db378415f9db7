"""The simulator with validator-set changes: a Byzantine validator leaving the set, the
number of tolerated faults changing with the set (Byzantine nodes that join later), and
crashes and partitions across the change. Agreement, validity, no honest equivocation and
termination after GST are checked by the simulator on every run."""

from __future__ import annotations

import pytest

from consensus.sim import Faults, SimConfig, run_simulation

STORMY = Faults(drop=0.1, duplicate=0.1, max_delay_ms=500, gst_ms=5000, crashes=2)


def check(config: SimConfig):
    result = run_simulation(config)
    assert result.ok, result.report()
    return result


@pytest.mark.parametrize("seed", range(12))
def test_a_byzantine_validator_leaves_and_an_observer_joins(seed: int) -> None:
    # Node 3 double-votes; from height 3 it is out of the set and node 4 (which followed
    # the chain without voting) is in.
    result = check(SimConfig(
        seed=seed, powers=(1, 1, 1, 1, 0), byzantine=((3, "double_voter"),),
        validator_changes=((3, (1, 1, 1, 0, 1)),), heights=5, faults=STORMY,
    ))
    assert all(len(d) >= 5 for d in result.decisions.values())


@pytest.mark.parametrize("seed", range(12))
def test_f_grows_with_the_set(seed: int) -> None:
    # Four validators tolerate one fault; from height 3 seven tolerate two, and the two
    # Byzantine nodes (silent, then lock-breaking) are among them.
    check(SimConfig(
        seed=seed, powers=(1, 1, 1, 1, 0, 0, 0),
        byzantine=((5, "lock_breaker"), (6, "equivocating_proposer")),
        validator_changes=((3, (1, 1, 1, 1, 1, 1, 1)),), heights=5,
        faults=Faults(drop=0.1, max_delay_ms=300, gst_ms=3000, crashes=1, partition=seed % 3 == 0),
    ))


@pytest.mark.parametrize("seed", range(12))
def test_powers_shift_over_several_changes(seed: int) -> None:
    check(SimConfig(
        seed=seed, powers=(3, 3, 1, 1, 0), byzantine=((2, "noisy"),),
        validator_changes=((2, (3, 3, 1, 1, 1)), (4, (2, 3, 1, 1, 2)), (5, (2, 3, 0, 1, 2))),
        heights=6, faults=STORMY,
    ))


def test_a_byzantine_third_in_any_set_is_refused() -> None:
    # Node 3 holds a quarter of the genesis set's power but a third of the set from height 3.
    config = SimConfig(seed=1, powers=(1, 1, 1, 1), byzantine=((3, "silent"),),
                       validator_changes=((3, (1, 1, 0, 1)),))
    with pytest.raises(ValueError, match="from height 3"):
        run_simulation(config)
