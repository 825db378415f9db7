"""Everything with I/O around the pure consensus library: the ledger, the network faces and
the validator process.

Rooms (each with a ruff.toml that keeps its imports honest)
-----------------------------------------------------------
- ``ledger/``   the ledger core: bytes in, values or named refusals out; no gRPC, no event
  loop. ``transition`` is the ONE block transition (build, validate with evidence, verify a
  committed block) every path uses: consensus, pushed commits, block sync, benchmarks and the
  auditor's replay. ``store`` writes a committed block as one synced LevelDB batch.
- ``net/``      the faces on the network: the public API (``api``), the validator streams
  (``peers/``: handshake, pure bundle framing, streams, network), block sync
  (``block_sync``), pushes of committed blocks to a validator just behind (``commit_push``).
- ``client/``   what clients of a node use (gRPC client, transaction builders); the node
  process never imports it.
- ``testing/``  test-only fault injection; never imported by the node (see ``hooks``).
- ``bench/``    the measurements behind ``cbdc bench``.
- ``signer/``   the remote signer process (``cbdc signer``) and the node's client of it.

The process (this folder)
-------------------------
- ``service``         wires store, ledger service, driver, peers, sync and servers; start/stop order.
- ``ledger_service``  LedgerService: admission (with the catch-up retry), build/validate/commit
  through the transition on the worker pool, clients waiting on outcomes.
- ``driver``          executes the effects of consensus.host.ConsensusHost: fsync of the
  sign-state before a signature leaves, WAL, timers, pool work, peers, commits.
- ``consensus_disk``  the sign-state file and the consensus WAL file.
- ``hooks``           where test-only faults reach the node: no-ops unless installed.
- ``config``, ``logs``, ``metrics``, ``health`` (readiness), ``audit`` (independent replay and
  inclusion proofs), ``trace`` (provenance and flows of money for supervisors).
"""
