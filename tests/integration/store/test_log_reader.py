"""The one log reader (``arbtui.store.log``) on a real ledger holding every kind of aggregate: it returns
each row of ``events`` once, in commit order, decoded; its sync and async faces agree; filters, ``until``
and ``limit`` select what they say; a replay is the live state; and ``arbtui events`` prints it."""

from __future__ import annotations

import json
import random
from datetime import datetime
from pathlib import Path

import aiosqlite
from click.testing import CliRunner

from arbtui.cli import main
from arbtui.clock import SystemClock
from arbtui.domain import AGGREGATES, control, offchain_order, onchain_trade, position
from arbtui.domain.flows import Change
from arbtui.domain.values import Audit, Direction, Symbol
from arbtui.store.event_store import EventStore, UnitOfWork
from arbtui.store.ledger import Ledger
from arbtui.store.log import AsyncLogReader, LogReader, StoredEvent
from arbtui.store.migrate import connect_sync
from tests.builders import block, make_fill
from tests.integration.store.conftest import rows, settle

TYPES = (position.AGGREGATE, onchain_trade.AGGREGATE, offchain_order.AGGREGATE, control.AGGREGATE)


async def _control(ledger: Ledger, command: control.ControlCommand) -> None:
    async def work(uow: UnitOfWork) -> None:
        state = await uow.load(control.SPEC, control.CONTROL_ID)
        uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(control.decide(state, command)))])

    await ledger.store.run(work)


async def _mixed_ledger(path: Path) -> None:
    """Fills of three symbols, hedges filled and failed, a pause and a resume, a reorg."""
    ledger = await Ledger.open(path)
    rng = random.Random(5)
    for n in range(1, 41):
        symbol = rng.choice(["AAPL", "MSFT", "NVDA"])
        fill = make_fill(n, str(rng.randint(1, 3)), rng.choice(list(Direction)), symbol=symbol, block_number=n)
        await ledger.record_range([fill], [], block(n))
        if rng.random() < 0.5:
            await settle(ledger, symbol, filled="0" if rng.random() < 0.2 else None)
        if n == 20:
            audit = Audit(actor="ops", reason="test", at=SystemClock().now())
            await _control(ledger, control.Pause(symbol=Symbol("MSFT"), audit=audit))
            await _control(ledger, control.Resume(symbol=Symbol("MSFT"), audit=audit))
        if n == 30:
            await ledger.rewind(block(n - 1), reorg_depth=1, detected_at_block=n)
    await ledger.close()


def _key(stored: StoredEvent) -> tuple[object, ...]:
    return (stored.position, stored.aggregate_type, stored.aggregate_id, stored.sequence, stored.event, stored.metadata)


async def test_the_reader_returns_every_event_once_in_commit_order_and_both_faces_agree(db_path: Path) -> None:
    await _mixed_ledger(db_path)
    raw = rows(
        db_path, "SELECT rowid, aggregate_type, aggregate_id, sequence, event_type, payload, metadata FROM events"
    )
    conn = connect_sync(db_path, readonly=True)
    store = await EventStore.open(db_path)
    reading = await aiosqlite.connect(db_path)
    try:
        log, live = LogReader(conn), AsyncLogReader(reading)
        everything = log.events()
        assert {stored.aggregate_type for stored in everything} == set(TYPES)
        assert [(s.position, s.aggregate_type, s.aggregate_id, s.sequence) for s in everything] == [
            tuple(row[:4]) for row in sorted(raw)
        ]
        for stored, row in zip(everything, sorted(raw), strict=True):
            assert stored.event.event_type() == row[4]
            assert json.loads(stored.event.model_dump_json()) == json.loads(str(row[5]))
            assert stored.metadata == json.loads(str(row[6]))
        assert [_key(s) for s in await live.events()] == [_key(s) for s in everything]
        assert [_key(s) for s in await store.read_log()] == [_key(s) for s in everything]

        instants = [datetime.fromisoformat(everything[i].recorded_at) for i in (0, 9, len(everything) // 2, -1)]
        for aggregate_type in (*TYPES, "Unknown", None):
            ids = sorted({s.aggregate_id for s in everything if s.aggregate_type == aggregate_type})
            if aggregate_type is not None:
                assert log.aggregate_ids(aggregate_type) == ids == await live.aggregate_ids(aggregate_type)
            for aggregate_id in (None, *ids[:3]):
                for until in (None, *instants):
                    wanted = [
                        s
                        for s in everything
                        if aggregate_type in (None, s.aggregate_type)
                        and aggregate_id in (None, s.aggregate_id)
                        and (until is None or datetime.fromisoformat(s.recorded_at) <= until)
                    ]
                    for limit in (None, 1, 7):
                        expected = [_key(s) for s in (wanted if limit is None else wanted[-limit:])]
                        sync = log.events(
                            aggregate_type=aggregate_type, aggregate_id=aggregate_id, until=until, limit=limit
                        )
                        assert [_key(s) for s in sync] == expected
                        from_async = await live.events(
                            aggregate_type=aggregate_type, aggregate_id=aggregate_id, until=until, limit=limit
                        )
                        assert [_key(s) for s in from_async] == expected
    finally:
        await reading.close()
        await store.close()
        conn.close()


async def test_a_replay_is_the_live_state_and_stops_at_an_instant(db_path: Path) -> None:
    await _mixed_ledger(db_path)
    conn = connect_sync(db_path, readonly=True)
    store = await EventStore.open(db_path)
    reading = await aiosqlite.connect(db_path)
    try:
        log, live = LogReader(conn), AsyncLogReader(reading)
        everything = log.events()
        middle = datetime.fromisoformat(everything[len(everything) // 2].recorded_at)
        for aggregate_type in TYPES:
            spec = AGGREGATES[aggregate_type]
            for aggregate_id in log.aggregate_ids(aggregate_type)[:5]:
                replayed = log.replay(aggregate_type, aggregate_id)
                assert replayed == await live.replay(aggregate_type, aggregate_id)
                assert replayed == await store.load(spec, aggregate_id)
                earlier = [
                    s.event
                    for s in everything
                    if (s.aggregate_type, s.aggregate_id) == (aggregate_type, aggregate_id)
                    and datetime.fromisoformat(s.recorded_at) <= middle
                ]
                state = spec.initial(aggregate_id)
                for event in earlier:
                    state = spec.evolve(state, event)
                assert log.replay(aggregate_type, aggregate_id, middle) == (state, len(earlier))
                assert await live.replay(aggregate_type, aggregate_id, middle) == (state, len(earlier))
    finally:
        await reading.close()
        await store.close()
        conn.close()


async def test_arbtui_events_prints_what_the_reader_reads(db_path: Path) -> None:
    await _mixed_ledger(db_path)
    conn = connect_sync(db_path, readonly=True)
    try:
        everything = LogReader(conn).events()
    finally:
        conn.close()
    printed = CliRunner().invoke(main, ["--db", str(db_path), "events", "--json"])
    assert printed.exit_code == 0, printed.output
    records = [json.loads(line) for line in printed.output.splitlines()]
    assert [(r["position"], r["aggregate_type"], r["aggregate_id"], r["sequence"]) for r in records] == [
        (s.position, s.aggregate_type, s.aggregate_id, s.sequence) for s in everything
    ]
    last = CliRunner().invoke(main, ["--db", str(db_path), "events", "--aggregate", "Control", "--limit", "1"])
    assert last.exit_code == 0, last.output
    (line,) = last.output.splitlines()
    assert "Control:control#2  HedgingResumed" in line
