"""Ledger rules, codec, keys, addresses and genesis."""
