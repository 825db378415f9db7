"""Deterministic simulation of a validator network (see world.py), used by the tests,
the soak run and `cbdc bench consensus`."""

from consensus.sim.world import CrashAt, Faults, SimConfig, SimResult, run_simulation

__all__ = ["CrashAt", "Faults", "SimConfig", "SimResult", "run_simulation"]
