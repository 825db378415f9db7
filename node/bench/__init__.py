"""Benchmark logic behind `cbdc bench ...` (the CLI only formats what these return)."""
