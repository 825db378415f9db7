"""Deterministic simulation of a validator network (see world.py), used by the tests,
the soak run and `cbdc bench consensus`."""

from consensus.sim.world import Faults, SimConfig, SimResult, run_simulation

__all__ = ["Faults", "SimConfig", "SimResult", "run_simulation"]
