"""Programmable money on a real LevelDB store: the state root commits to locks (through the
owners of locked outputs) and to the purpose registry (keyed records), the incremental root
equals the one recomputed from scratch, a refused spend leaves the store byte-identical, and
`audit verify` replays the chain (conditions and purposes included) to the same tip."""

from __future__ import annotations

from pathlib import Path

from node.audit import verify_store
from node.client.locks import RELEASE, SPEND, earmark_lock, escrow_lock
from node.client.txbuild import (
    build_define_purpose,
    build_issue,
    build_register,
    build_register_for_purpose,
    build_spend_locked,
    build_transfer,
    locked_output,
)
from node.ledger.crypto import sha256
from node.ledger.purposes import MERCHANT, earmarked_key, purpose_key, read_earmarked
from node.ledger.store import Store
from node.ledger.transition import build_block
from node.ledger.types import OutPoint

from .prog_chain import (
    BANK,
    BUS,
    CHAIN,
    GENESIS,
    ISSUER,
    PARENT,
    SCHOOL,
    T0,
    VALIDATOR,
    VALIDATORS,
    YUAN,
    Chain,
)
from .prog_chain import body as _body


def test_locks_and_purposes_are_in_the_state_root_and_replay(tmp_path: Path) -> None:
    path = tmp_path / "ledger"
    chain = Chain(path)
    store = chain.store
    issue = build_issue(CHAIN, [(BANK.public, 10_000 * YUAN)], [ISSUER], chain.n())
    regs = [build_register(CHAIN, BANK, k.public, 1, nonce=chain.n()) for k in (PARENT, SCHOOL, BUS)]
    chain.block([issue, *regs])
    src = OutPoint(sha256(_body(issue)), 0)
    define = build_define_purpose(CHAIN, BANK, "carbon-airdrop", "public transport", chain.n())
    chain.block([define])
    before_registry = store.state_root()
    chain.block([build_register_for_purpose(CHAIN, BANK, "carbon-airdrop", BUS.public, MERCHANT, chain.n())])
    assert store.state_root() != before_registry  # the registry is committed to
    assert store.record(purpose_key("carbon-airdrop")) is not None

    escrow = escrow_lock(PARENT.public, SCHOOL.public, T0 + 30 * 86_400_000)
    bus_lock = earmark_lock(BUS.public, "carbon-airdrop")
    outs = [(PARENT.public, 3_000 * YUAN), locked_output(bus_lock, 100 * YUAN), (BANK.public, 6_900 * YUAN)]
    fund = build_transfer(CHAIN, BANK, [src], outs, chain.n())
    chain.block([fund])
    fund_id = sha256(_body(fund))
    lock_in = build_transfer(CHAIN, PARENT, [OutPoint(fund_id, 0)], [locked_output(escrow, 1_000 * YUAN)] * 3,
                             chain.n())
    chain.block([lock_in])
    lessons = [OutPoint(sha256(_body(lock_in)), i) for i in range(3)]
    to_school, to_bank = [(SCHOOL.public, 1_000 * YUAN)], [(BANK.public, 100 * YUAN)]
    release = build_spend_locked(CHAIN, escrow, RELEASE, [lessons[0]], to_school, [PARENT], chain.n())
    settle = build_spend_locked(CHAIN, bus_lock, SPEND, [OutPoint(fund_id, 1)], to_bank, [BUS], chain.n())
    chain.block([release, settle])
    assert store.balance(SCHOOL.public) == 1_000 * YUAN

    # A refused spend (the refund before the deadline): the proposer skips it, nothing changes.
    fingerprint, root = store.fingerprint(), store.state_root()
    early_refund = build_spend_locked(CHAIN, escrow, 1, [lessons[1]], [(PARENT.public, 1_000 * YUAN)], [],
                                      chain.n())
    executed, skipped = build_block(
        store, [early_refund], GENESIS, height=store.height + 1, time_ms=store.tip().time_ms + 1000,
        proposer=VALIDATOR.public, validators_hash=VALIDATORS.hash(), evidence=(), sigcache=chain.sigcache,
    )
    assert len(skipped) == 1 and not executed.overlay.txids
    assert (store.fingerprint(), store.state_root()) == (fingerprint, root)
    # After the deadline it goes through.
    chain.block([early_refund], days=31)

    assert store.recompute_state_root() == store.tip().state_root
    store.close()
    report = verify_store(path, GENESIS)
    assert report.ok, report.failure
    assert report.heights == 7


def test_a_keyed_record_read_before_a_block_writes_it_is_read_anew_after(tmp_path: Path) -> None:
    """The store caches keyed records, absent ones included (every payment to a capped wallet
    reads the payee's earmarked total): a block that creates, changes or deletes a record
    must be what the next read sees, as a fresh store over the same data sees it."""
    chain = Chain(tmp_path / "ledger")
    store = chain.store
    issue = build_issue(CHAIN, [(BANK.public, 10_000 * YUAN)], [ISSUER], chain.n())
    chain.block([issue, *[build_register(CHAIN, BANK, k.public, 1, nonce=chain.n()) for k in (PARENT, BUS)]])
    chain.block([build_define_purpose(CHAIN, BANK, "carbon-airdrop", "public transport", chain.n())])
    chain.block([build_register_for_purpose(CHAIN, BANK, "carbon-airdrop", BUS.public, MERCHANT, chain.n())])
    assert read_earmarked(store, BUS.public) == 0  # absent: now cached as absent
    assert store.record(earmarked_key(BUS.public)) is None

    bus_lock = earmark_lock(BUS.public, "carbon-airdrop")
    outs = [locked_output(bus_lock, 100 * YUAN), locked_output(bus_lock, 50 * YUAN),
            (BANK.public, 9_850 * YUAN)]
    fund = build_transfer(CHAIN, BANK, [OutPoint(sha256(_body(issue)), 0)], outs, chain.n())
    chain.block([fund])
    assert read_earmarked(store, BUS.public) == 150 * YUAN  # created
    fund_id = sha256(_body(fund))
    to_bank = [(BANK.public, 100 * YUAN)]
    spend = build_spend_locked(CHAIN, bus_lock, SPEND, [OutPoint(fund_id, 0)], to_bank, [BUS], chain.n())
    chain.block([spend])
    assert read_earmarked(store, BUS.public) == 50 * YUAN  # changed
    to_bank = [(BANK.public, 50 * YUAN)]
    spend = build_spend_locked(CHAIN, bus_lock, SPEND, [OutPoint(fund_id, 1)], to_bank, [BUS], chain.n())
    chain.block([spend])
    assert read_earmarked(store, BUS.public) == 0  # deleted
    assert store.record(earmarked_key(BUS.public)) is None
    records = dict(store.records())
    store.close()
    with Store.open(str(tmp_path / "ledger"), GENESIS) as fresh:
        assert dict(fresh.records()) == records
        assert fresh.record(earmarked_key(BUS.public)) is None
        assert fresh.recompute_state_root() == fresh.tip().state_root


def test_a_snapshot_carries_the_purpose_registry(tmp_path: Path) -> None:
    """Keyed records are state: a snapshot holds them, and the restored store's recomputed
    root (which covers them) equals the certified one."""
    from node.ledger.snapshot import restore_snapshot, snapshot_file_chunks, write_snapshot
    from node.ledger.store import P_RECORD, Store

    chain = Chain(tmp_path / "ledger")
    issue = build_issue(CHAIN, [(BANK.public, 10_000 * YUAN)], [ISSUER], chain.n())
    chain.block([issue, build_register(CHAIN, BANK, BUS.public, 1, nonce=chain.n())])
    chain.block([build_define_purpose(CHAIN, BANK, "carbon-airdrop", "public transport", chain.n())])
    chain.block([build_register_for_purpose(CHAIN, BANK, "carbon-airdrop", BUS.public, MERCHANT, chain.n())])
    source = chain.store
    info = write_snapshot(source, str(tmp_path / "state.snap"))
    restore_snapshot(snapshot_file_chunks(str(tmp_path / "state.snap")), str(tmp_path / "restored"), GENESIS)
    with Store.open(str(tmp_path / "restored"), GENESIS) as restored:
        assert restored.recompute_state_root() == info.state_root == source.state_root()
        assert restored.record(purpose_key("carbon-airdrop")) == source.record(purpose_key("carbon-airdrop"))
        assert [row for row in restored._db.iterator(prefix=P_RECORD)] == [
            row for row in source._db.iterator(prefix=P_RECORD)
        ]
    source.close()
