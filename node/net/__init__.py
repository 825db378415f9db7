"""The node's faces on the network: the public API, the validator-to-validator streams, block
sync, commit pushes, transaction gossip, and the gRPC plumbing they share.

Nothing here writes the ledger itself: it hands bytes to the ledger service (node.ledger_service)
and to the consensus driver (node.driver); ruff.toml here keeps LevelDB out.
"""
