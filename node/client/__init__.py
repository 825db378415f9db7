"""What clients of a node use: the gRPC client (``connection``) and transaction builders
(``txbuild``). The CLI, the devnet tooling, benchmarks and tests import these; the node
process never does."""
