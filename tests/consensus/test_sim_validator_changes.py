"""The simulator with validator-set changes: a Byzantine validator leaving the set (and
equivocating as it goes), the number of tolerated faults growing and shrinking with the
set, validators crashing exactly where a change takes effect (and the height before) and
rejoining from their WAL, partitions across the change, and random change schedules
within the ledger's bounds. Agreement, validity, no honest equivocation, evidence and
termination after GST are checked by the simulator on every run."""

from __future__ import annotations

from dataclasses import replace

import pytest

from consensus.host import ConsensusHost
from consensus.sim import CrashAt, Faults, SimConfig, run_simulation
from consensus.sim.world import HEIGHT_POINTS
from tests.consensus.sim_changes import random_change_config

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


# -- crashes where a change takes effect ------------------------------------------------
# Genesis: nodes 0-4 with power 2, node 5 an observer. From height CHANGE node 5 joins
# (power 2), node 4 leaves and node 0 goes to power 3: two units removed and three added
# of ten, within the ledger's bound of a third per step. ROLES names one node of each kind.
GENESIS = (2, 2, 2, 2, 2, 0)
CHANGE = 4
AFTER = (3, 2, 2, 2, 0, 2)
ROLES = {"joining": 5, "leaving": 4, "reweighted": 0, "bystander": 1}


def in_set(node: int, height: int) -> bool:
    return (AFTER if height >= CHANGE else GENESIS)[node] > 0


@pytest.mark.parametrize("point", HEIGHT_POINTS)
@pytest.mark.parametrize("height", [CHANGE - 1, CHANGE], ids=["height-before", "change-height"])
@pytest.mark.parametrize("role", ROLES)
def test_a_validator_crashes_where_its_change_takes_effect_and_rejoins_from_its_wal(role, height, point):
    victim = ROLES[role]
    plan = CrashAt(victim, height, point, down_ms=2000)
    # Calm: the crash must strike where planned (an observer signs nothing, so it cannot
    # crash after signing); stormy: the same crash amid drops, delays, a partition and a
    # random crash, on two schedules.
    calm = check(SimConfig(
        seed=1, powers=GENESIS, validator_changes=((CHANGE, AFTER),), heights=CHANGE + 2, crash_at=(plan,),
    ))
    signs = in_set(victim, height) or point != "after-sign-before-broadcast"
    assert calm.crashes == ([plan] if signs else [])
    boots = [t for t in calm.trace if t[1] == victim and t[2] == "replayed"]
    assert len(boots) == (2 if signs else 1)  # the restart rebuilt it from its WAL
    assert all(len(d) == CHANGE + 2 for d in calm.decisions.values())  # the victim too
    for seed in (2, 3):
        check(SimConfig(
            seed=seed, powers=GENESIS, validator_changes=((CHANGE, AFTER),), heights=CHANGE + 2,
            crash_at=(plan,), faults=Faults(drop=0.1, duplicate=0.1, max_delay_ms=300, gst_ms=4000,
                                            crashes=1, partition=seed == 3),
        ))


@pytest.mark.parametrize("seed", range(8))
def test_two_validators_crash_on_either_side_of_the_change(seed: int) -> None:
    # The leaving validator dies with the last height it decides undecided-but-not-stored,
    # the joining one as the first height it decides starts: neither is needed for a
    # quorum, and both must come back and agree.
    check(SimConfig(
        seed=seed, powers=GENESIS, validator_changes=((CHANGE, AFTER),), heights=CHANGE + 2,
        crash_at=(CrashAt(4, CHANGE - 1, "before-commit"), CrashAt(5, CHANGE, "enter")),
        faults=Faults(drop=0.1, max_delay_ms=300, gst_ms=3000),
    ))


# -- a Byzantine validator leaving while it equivocates ---------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_a_byzantine_validator_leaves_while_equivocating(seed: int) -> None:
    # Node 4 double-votes in every height it is in the set and, taken out from height
    # CHANGE, goes on signing votes for every block it hears of: none may count, and no
    # evidence may name it at a height whose set does not hold it. An honest validator
    # crashes at the change height meanwhile.
    result = check(SimConfig(
        seed=seed, powers=GENESIS, byzantine=((4, "leaver"),), validator_changes=((CHANGE, AFTER),),
        heights=CHANGE + 2, crash_at=(CrashAt(1, CHANGE, "after-wal-write"),),
        faults=Faults(drop=0.1, duplicate=0.1, max_delay_ms=300, gst_ms=3000),
    ))
    heights = {key[1] for found in result.evidence.values() for key in found}
    assert heights and max(heights) < CHANGE


def test_votes_of_a_validator_that_left_count_for_nothing() -> None:
    # With every message delivered, the leaver's votes after it left reach everyone: the
    # machines drop them (not_validator), no evidence names it there, and the later heights
    # are decided in round 0.
    result = check(SimConfig(
        seed=5, powers=GENESIS, byzantine=((4, "leaver"),), validator_changes=((CHANGE, AFTER),),
        heights=CHANGE + 2,
    ))
    assert result.ignored["not_validator"] > 0
    assert all(key[1] < CHANGE for found in result.evidence.values() for key in found)
    assert all(d[h][1] == 0 for d in result.decisions.values() for h in range(CHANGE, CHANGE + 3))


# -- f changing with the set ------------------------------------------------------------


@pytest.mark.parametrize("seed", range(10))
def test_f_shrinks_with_the_set(seed: int) -> None:
    # Seven validators tolerate two faults and two are Byzantine; from height 3 one of them
    # and one honest validator are out (five: f = 1), from height 5 another honest one
    # (four: f = 1), each step moving at most a third of the power. The Byzantine
    # validator that stays is at the threshold of every set; honest ones crash at both
    # change heights.
    check(SimConfig(
        seed=seed, powers=(1,) * 7, byzantine=((5, "equivocating_proposer"), (6, "double_voter")),
        validator_changes=((3, (1, 1, 1, 1, 1, 1, 0)), (5, (1, 1, 1, 0, 0, 1, 0))), heights=6,
        crash_at=(CrashAt(0, 3, "enter"), CrashAt(1, 5, "after-sign-before-broadcast")),
        faults=Faults(drop=0.1, max_delay_ms=300, gst_ms=3000, partition=seed % 2 == 0),
    ))


@pytest.mark.parametrize("seed", range(10))
def test_f_moves_with_power_changes(seed: int) -> None:
    # The same four validators; only powers change. Node 3 (Byzantine) holds 1 of 4, then
    # 2 of 7 (just under a third), then 1 of 7: the quorum and what one fault can do move.
    check(SimConfig(
        seed=seed, powers=(1, 1, 1, 1), byzantine=((3, "lock_breaker"),),
        validator_changes=((2, (2, 2, 1, 1)), (3, (2, 2, 1, 2)), (5, (2, 2, 2, 1))), heights=6,
        crash_at=(CrashAt(2, 3, "before-commit"),),
        faults=Faults(drop=0.1, max_delay_ms=300, gst_ms=3000),
    ))


# -- random change schedules ------------------------------------------------------------
CHANGE_SEEDS = 120
CHANGE_BAND = 20


@pytest.mark.parametrize(
    "first", range(0, CHANGE_SEEDS, CHANGE_BAND),
    ids=lambda first: f"changes-seeds{first}-{first + CHANGE_BAND - 1}",
)
def test_random_change_schedules(first: int) -> None:
    for seed in range(first, first + CHANGE_BAND):
        check(random_change_config(seed))


CHANGE_SOAK_BAND = 250


@pytest.mark.soak
@pytest.mark.parametrize(
    "first", range(200_000, 205_000, CHANGE_SOAK_BAND),
    ids=lambda first: f"changes-seeds{first}-{first + CHANGE_SOAK_BAND - 1}",
)
def test_soak_random_change_schedules(first: int) -> None:
    for seed in range(first, first + CHANGE_SOAK_BAND):
        check(random_change_config(seed))


# Change schedules (found by the soak run once the simulator stopped re-sending every
# message every second, which no node does) in which one validator's messages are needed for
# every quorum of a height but were dropped: it was catching up from three heights behind (a
# node keeps messages for its height and the next two), or it was joining the set (a node
# keeps early messages only from validators of its current set). The others then wait in
# that height and say nothing new, as no timeout is armed below a quorum, unless a stuck
# machine's messages are said again (ConsensusHost.repeat_if_stuck, every second on a node).
STUCK_WITHOUT_REPEATS = (200350, 200852, 201341, 203214, 204044)


@pytest.mark.parametrize("seed", STUCK_WITHOUT_REPEATS)
def test_validators_waiting_for_one_that_dropped_their_messages_say_them_again(seed: int) -> None:
    check(random_change_config(seed))


class SaysThingsOnce(ConsensusHost):
    """Test-only variant: never repeats what it said, however long the machine is stuck."""

    def repeat_if_stuck(self) -> list:
        super().repeat_if_stuck()
        return []


def test_the_harness_catches_validators_that_never_repeat_themselves() -> None:
    """Test of the test: without the repeats, the same schedules never decide a height."""
    for seed in STUCK_WITHOUT_REPEATS:
        result = run_simulation(replace(random_change_config(seed), host_factory=SaysThingsOnce))
        assert any("termination" in v for v in result.violations), seed
