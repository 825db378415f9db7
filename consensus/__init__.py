"""Tendermint BFT consensus as a pure, deterministic state machine."""
