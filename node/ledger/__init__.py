"""The ledger core: what a transaction, a block and the state are, and the rules between them.

Pure of the network and of the event loop (no gRPC, no asyncio; ruff.toml here enforces it):
everything here is called with bytes and returns values or raises LedgerError, so the same
code judges a block in consensus, catch-up, block sync, benchmarks and the auditor's replay.

- ``errors``     LedgerError and the stable machine codes (never rename one).
- ``crypto``     transaction signing on top of consensus.crypto (sizes, SHA-256, ed25519).
- ``address``    bech32m ``cbdc1...`` addresses.   ``keys``  key files.
- ``types``      OutPoint, Output, Wallet, Supply and their fixed encodings.
- ``genesis``    the genesis file: roles, tiers, chain parameters, its hash.
- ``txcodec``    transaction decoding and the stateless checks (DecodedTx).
- ``rules``      one function per transaction kind; check_tx = the same code on a dry run.
- ``state``      StateView, Overlay, DryRun.
- ``sigcache``/``sigverify``  signatures verified once per node, on other cores.
- ``mempool``    pending transactions, bounded.
- ``evidence``   double-vote evidence: the block rule and the pool.
- ``merkle``/``muhash``  transaction/evidence roots and the state's set hash.
- ``blocks``     blocks on the wire: encoding, decoding, CommittedBlock and Certificate.
- ``transition`` the one block transition every path uses: build, validate (evidence
                 included), verify a committed block; ExecutedBlock.
- ``state_root`` the state root and how a block's overlay moves it (StateDelta, MuHash memo).
- ``store``      LevelDB: one committed block = one synced write batch.
- ``store_audit`` the store's self-check (audit_store); ``store_migrate`` older store formats.
- ``snapshot``   consistent state snapshots: write from a running store, restore verified.
- ``governance``/``governance_codec``/``governance_rules``  roles and policy changed on the live chain.
- ``conditions``/``purposes``  programmable money: declarative locks, earmarked purposes.
"""
