"""Event store guarantees on a real SQLite file: snapshots, optimistic concurrency, corruption and
schema guards, locked databases, prefix replay and rebuilt views."""

from __future__ import annotations

import asyncio
import random
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from arbtui.clock import SystemClock
from arbtui.domain import control, onchain_trade, position
from arbtui.domain.errors import ControlStateConflict
from arbtui.domain.flows import Change, witness_fill
from arbtui.domain.ids import RandomIds
from arbtui.domain.values import Audit, BrokerKind, Direction, Symbol
from arbtui.store.errors import (
    ConcurrencyConflict,
    CorruptEvent,
    DatabaseUnavailable,
    MigrationChanged,
    SchemaTooNew,
    UnknownEventType,
)
from arbtui.store.event_store import Committed, EventStore, UnitOfWork
from arbtui.store.ledger import Ledger
from arbtui.store.log import LogReader, fold_rows
from arbtui.store.migrate import connect_sync, load_migrations, migrate
from arbtui.store.rebuild import check_views, rebuild_views
from tests.builders import block, make_fill
from tests.integration.store.conftest import rows, settle

CLOCK = SystemClock()
IDS = RandomIds()

SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "GOOG"]


def _context(hedging_allowed: bool = True) -> position.HedgeContext:
    return position.HedgeContext(
        hedging_allowed=hedging_allowed, broker=BrokerKind.DRY_RUN, execution_id=IDS.execution_id(), at=CLOCK.now()
    )


async def test_snapshot_plus_tail_equals_full_replay(db_path: Path) -> None:
    ledger = Ledger(await EventStore.open(db_path, snapshot_every=10))
    for n in range(1, 58):
        await ledger.record_range([make_fill(n, "0.35", random.Random(n).choice(list(Direction)))], [], block(n))
        await settle(ledger, "AAPL")
    await ledger.close()
    ((last_sequence,),) = rows(db_path, "SELECT last_sequence FROM snapshots WHERE aggregate_id = 'AAPL'")
    total = rows(db_path, "SELECT max(sequence) FROM events WHERE aggregate_id = 'AAPL'")[0][0]
    assert isinstance(last_sequence, int)
    assert isinstance(total, int)
    assert 0 < last_sequence < total  # a real tail after the snapshot

    fresh = await EventStore.open(db_path)  # new cache: loads snapshot + tail
    try:
        from_snapshot = await fresh.load(position.SPEC, "AAPL")
    finally:
        await fresh.close()
    conn = connect_sync(db_path, readonly=True)
    full = LogReader(conn).replay(position.AGGREGATE, "AAPL")
    conn.close()
    assert from_snapshot == full


async def test_unreadable_snapshot_falls_back_to_full_replay(db_path: Path) -> None:
    ledger = Ledger(await EventStore.open(db_path, snapshot_every=2))
    for n in range(1, 6):
        await ledger.record_range([make_fill(n, "0.3")], [], block(n))
    await ledger.close()
    conn = sqlite3.connect(db_path)
    conn.execute('UPDATE snapshots SET payload = \'{"v": "0", "state": {}}\'')
    conn.commit()
    conn.close()
    fresh = await EventStore.open(db_path)
    try:
        loaded = await fresh.load(position.SPEC, "AAPL")
    finally:
        await fresh.close()
    conn = connect_sync(db_path, readonly=True)
    assert loaded == LogReader(conn).replay(position.AGGREGATE, "AAPL")
    conn.close()
    state, version = loaded
    assert (str(state.net), str(state.reserved), version) == ("-0.5", "-1", 6)  # 5 fills + 1 placement


async def test_two_writers_racing_on_one_aggregate(db_path: Path) -> None:
    """Both decide on the same version; one commits, the other's insert is refused by the key, and it
    runs again on fresh state: no event lost, none duplicated."""
    first, second = await EventStore.open(db_path), await EventStore.open(db_path)
    barrier = asyncio.Barrier(2)
    attempts = {"first": 0, "second": 0}

    def writer(name: str, n: int, *, race: bool = True) -> Any:
        async def work(uow: UnitOfWork) -> None:
            attempts[name] += 1
            fill = make_fill(n, "0.6")
            trade = await uow.load(onchain_trade.SPEC, str(fill.trade_id))
            pos = await uow.load(position.SPEC, "AAPL")
            if race and attempts[name] == 1:
                await barrier.wait()  # both have loaded version N before either commits
            uow.record(witness_fill(trade, pos, fill, _context(hedging_allowed=False)))

        return work

    try:
        await first.run(writer("first", 1, race=False))  # warm: AAPL exists at version 1 in both caches after loads
        await asyncio.gather(second.load(position.SPEC, "AAPL"), first.load(position.SPEC, "AAPL"))
        attempts.update(first=0, second=0)
        await asyncio.gather(first.run(writer("first", 2)), second.run(writer("second", 3)))
    finally:
        await first.close()
        await second.close()
    assert sorted(attempts.values()) == [1, 2]  # exactly one of them retried
    sequences = rows(db_path, "SELECT sequence FROM events WHERE aggregate_type = 'Position' ORDER BY sequence")
    assert sequences == [(1,), (2,), (3,)]
    ((payload_net,),) = rows(db_path, "SELECT json_extract(payload, '$.net_position') FROM position_view")
    assert payload_net == "-1.8"


async def test_conflict_is_raised_after_the_last_attempt(db_path: Path) -> None:
    store, other = await EventStore.open(db_path), await EventStore.open(db_path)
    try:
        await other.run(_pause("AAPL"))
        stale, _ = await store.load(control.SPEC, control.CONTROL_ID)  # version 1, cached
        await other.run(_resume("AAPL"))  # version 2, behind the cache's back

        async def work(uow: UnitOfWork) -> None:
            state = await uow.load(control.SPEC, control.CONTROL_ID)
            assert state == stale
            audit = Audit(actor="t", reason="r", at=CLOCK.now())
            events = control.decide(state, control.Resume(symbol=Symbol("AAPL"), audit=audit))
            uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(events))])

        with pytest.raises(ConcurrencyConflict, match="Control control: sequence 2"):
            await store.run(work, attempts=1)
    finally:
        await store.close()
        await other.close()


def _pause(symbol: str) -> Any:
    async def work(uow: UnitOfWork) -> None:
        state = await uow.load(control.SPEC, control.CONTROL_ID)
        audit = Audit(actor="ops", reason="test", at=CLOCK.now())
        events = control.decide(state, control.Pause(symbol=Symbol(symbol), audit=audit))
        uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(events))])

    return work


def _resume(symbol: str) -> Any:
    async def work(uow: UnitOfWork) -> None:
        state = await uow.load(control.SPEC, control.CONTROL_ID)
        audit = Audit(actor="ops", reason="test", at=CLOCK.now())
        events = control.decide(state, control.Resume(symbol=Symbol(symbol), audit=audit))
        uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(events))])

    return work


async def _with_bad_event(db_path: Path, event_type: str, version: str, payload: str) -> None:
    ledger = await Ledger.open(db_path)
    await ledger.record_range([make_fill(1, "0.3")], [], block(1))
    await ledger.close()
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO events VALUES ('Position', 'AAPL', 2, ?, ?, ?, '{}')", (event_type, version, payload))
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("event_type", "version", "payload", "error", "message"),
    [
        ("OnChainFillAcknowledged", "1.0", '{"trade_id": 5}', CorruptEvent, "Position AAPL sequence 2: .*invalid"),
        ("OnChainFillAcknowledged", "1.0", "not json", CorruptEvent, "Position AAPL sequence 2: .*invalid"),
        ("PositionTeleported", "1.0", "{}", UnknownEventType, "Position AAPL sequence 2: unknown event type"),
        ("ThresholdUpdated", "9.0", "{}", UnknownEventType, "Position AAPL sequence 2: .*version '9.0'"),
    ],
)
async def test_bad_stored_event_is_a_clear_error_and_nothing_is_written(
    db_path: Path, event_type: str, version: str, payload: str, error: type[Exception], message: str
) -> None:
    await _with_bad_event(db_path, event_type, version, payload)
    before = rows(db_path, "SELECT count(*) FROM events")
    ledger = await Ledger.open(db_path)
    try:
        with pytest.raises(error, match=message):
            await ledger.record_range([make_fill(2, "0.9")], [], block(2))
    finally:
        await ledger.close()
    assert rows(db_path, "SELECT count(*) FROM events") == before  # no partial write
    assert rows(db_path, "SELECT max(block_number) FROM chain_checkpoints") == [(1,)]
    conn = connect_sync(db_path, readonly=True)
    with pytest.raises(error, match=message):
        rebuild_views(connect_sync(db_path))
    conn.close()


async def test_sequence_gap_is_corruption(db_path: Path) -> None:
    await _with_bad_event(db_path, "OnChainFillAcknowledged", "1.0", "{}")
    conn = sqlite3.connect(db_path)
    rows_ = conn.execute(
        "SELECT sequence + 5, event_type, event_version, payload FROM events WHERE aggregate_id = 'AAPL' LIMIT 1"
    ).fetchall()
    conn.close()
    with pytest.raises(CorruptEvent, match="Position AAPL sequence 6: expected sequence 1"):
        fold_rows(position.SPEC, "AAPL", position.initial("AAPL"), 0, rows_)


async def test_database_from_a_newer_schema_is_refused(db_path: Path) -> None:
    migrate(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("INSERT INTO schema_migrations VALUES (99, 'future', 'x', '2030-01-01')")
    conn.commit()
    conn.close()
    known = len(load_migrations())
    with pytest.raises(SchemaTooNew, match=f"schema is at version 99 but this arbtui knows up to {known}:"):
        await EventStore.open(db_path)


async def test_edited_migration_is_refused(db_path: Path) -> None:
    migrate(db_path)
    conn = sqlite3.connect(db_path)
    conn.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 2")
    conn.commit()
    conn.close()
    with pytest.raises(MigrationChanged, match=r"0002_views\.sql changed"):
        migrate(db_path)


async def test_migrating_twice_applies_nothing_the_second_time(db_path: Path) -> None:
    assert [m.version for m in migrate(db_path)] == [m.version for m in load_migrations()]
    assert migrate(db_path) == []


async def test_not_a_database_is_a_clear_error(tmp_path: Path) -> None:
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    with pytest.raises(DatabaseUnavailable, match=r"junk\.db"):
        await EventStore.open(junk)


async def test_locked_database_fails_cleanly_then_recovers(db_path: Path) -> None:
    ledger = await Ledger.open(db_path, busy_timeout_ms=200)
    await ledger.record_range([make_fill(1, "0.3")], [], block(1))
    blocker = sqlite3.connect(db_path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(DatabaseUnavailable, match="locked"):
            await ledger.record_range([make_fill(2, "0.3")], [], block(2))
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert rows(db_path, "SELECT count(*) FROM events WHERE aggregate_id LIKE '%2:0'") == [(0,)]
    # the same fill goes through once the lock is gone, exactly once
    assert len(await ledger.record_range([make_fill(2, "0.3")], [], block(2))) == 1
    state, _ = await ledger.store.load(position.SPEC, "AAPL")
    await ledger.close()
    assert str(state.net) == "-0.6"


async def _random_run(ledger: Ledger, fills: int, seed: int) -> None:
    rng = random.Random(seed)
    for n in range(1, fills + 1):
        symbol = rng.choice(SYMBOLS)
        amount = str(rng.randint(1, 2_000_000) / 1_000_000) if rng.random() < 0.8 else str(rng.randint(1, 3))
        fill = make_fill(n, amount, rng.choice(list(Direction)), symbol=symbol, block_number=n)
        await ledger.record_range([fill], [], block(n))
        roll = rng.random()
        if roll < 0.4:
            await settle(ledger, symbol)
        elif roll < 0.5:
            await settle(ledger, symbol, filled="0")
        if rng.random() < 0.02:
            await ledger.rewind(block(n - 1), reorg_depth=1, detected_at_block=n)


@pytest.mark.slow
async def test_rebuild_check_passes_after_a_long_random_run_and_catches_tampering(db_path: Path) -> None:
    ledger = await Ledger.open(db_path)
    await _random_run(ledger, 800, seed=7)
    await ledger.close()
    assert check_views(db_path) == []

    conn = sqlite3.connect(db_path)
    (victim,) = conn.execute("SELECT view_id FROM onchain_trade_view LIMIT 1").fetchone()
    conn.execute("DELETE FROM onchain_trade_view WHERE view_id = ?", (victim,))
    conn.execute("UPDATE position_view SET payload = json_set(payload, '$.net_position', '0') WHERE view_id = 'MSFT'")
    conn.execute("INSERT INTO offchain_trade_view (view_id, version, payload) VALUES ('ghost', 1, '{}')")
    conn.commit()
    conn.close()
    problems = {(d.table, d.view_id, d.problem) for d in check_views(db_path)}
    assert problems == {
        ("onchain_trade_view", victim, "missing"),
        ("position_view", "MSFT", "differs"),
        ("offchain_trade_view", "ghost", "extra"),
    }
    writer = connect_sync(db_path)
    rebuild_views(writer)
    writer.close()
    assert check_views(db_path) == []


async def test_replaying_any_prefix_gives_the_state_the_live_run_had(db_path: Path) -> None:
    ledger = await Ledger.open(db_path)
    seen: list[tuple[int, str, Any]] = []

    def remember(committed: list[Committed]) -> None:
        (high,) = sqlite3.connect(db_path).execute("SELECT max(rowid) FROM events").fetchone()
        seen.extend((high, c.aggregate_id, (c.state, c.version)) for c in committed if c.aggregate_type == "Position")

    ledger.store.listeners.append(remember)
    await _random_run(ledger, 150, seed=11)
    await ledger.close()
    assert len(seen) > 150
    conn = connect_sync(db_path, readonly=True)
    for high, symbol, live in seen:
        stream = conn.execute(
            "SELECT sequence, event_type, event_version, payload FROM events"
            " WHERE aggregate_type = 'Position' AND aggregate_id = ? AND rowid <= ? ORDER BY sequence",
            (symbol, high),
        ).fetchall()
        assert fold_rows(position.SPEC, symbol, position.initial(symbol), 0, stream) == live
    conn.close()


async def test_a_rule_refusal_on_a_stale_cache_is_decided_again_on_fresh_state(db_path: Path) -> None:
    """Another process resumed AAPL behind this store's cache: pausing AAPL again must not be refused as
    'already paused' on the stale cached state."""
    store, other = await EventStore.open(db_path), await EventStore.open(db_path)
    try:
        await store.run(_pause("AAPL"))  # cached here: AAPL paused
        await other.run(_resume("AAPL"))  # the other writer resumes it
        await store.run(_pause("AAPL"))  # stale cache says "already paused"; fresh state says not
        state, version = await store.load(control.SPEC, control.CONTROL_ID)
        assert ("AAPL" in state.paused_symbols, version) == (True, 3)
        with pytest.raises(ControlStateConflict, match="already paused"):  # a real refusal still refuses
            await store.run(_pause("AAPL"))
    finally:
        await store.close()
        await other.close()
