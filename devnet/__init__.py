"""Local devnet: keys, genesis, process supervision, load generation."""
