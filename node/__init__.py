"""Everything with I/O: ledger rules, LevelDB store, mempool, gRPC services, the node process."""
