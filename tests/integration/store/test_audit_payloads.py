"""The audit inside stored control events and snapshots: the one domain ``Audit`` writes the bytes the
ledgers already hold, and reads them back. The golden strings were written by the code before ``Audit``
moved to :mod:`arbtui.domain.values` (events are immutable: these must never change)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from arbtui.domain import control
from arbtui.domain.flows import Change
from arbtui.domain.values import Audit, Direction, ExecutionId, Shares, Symbol
from arbtui.store.codec import decode_event, decode_state, encode_event, encode_state
from arbtui.store.event_store import EventStore, UnitOfWork
from tests.integration.store.conftest import rows

AUDIT = Audit(actor="ops", reason='earnings — "call"', at=datetime(2025, 1, 2, 14, 30, 0, 123456, tzinfo=UTC))
STORED_AUDIT = '{"actor":"ops","reason":"earnings — \\"call\\"","at":"2025-01-02T14:30:00.123456Z"}'
EVENTS: list[tuple[control.ControlEvent, str, str]] = [
    (
        control.HedgingPaused(symbol=Symbol("AAPL"), audit=AUDIT),
        "HedgingPaused",
        '{"symbol":"AAPL","audit":' + STORED_AUDIT + "}",
    ),
    (control.KillSwitchEngagedEvent(audit=AUDIT), "KillSwitchEngaged", '{"audit":' + STORED_AUDIT + "}"),
    (
        control.ManualHedgeRequested(
            symbol=Symbol("AAPL"),
            direction=Direction.BUY,
            shares=Shares("1.5"),
            execution_id=ExecutionId("00000000-0000-4000-8000-000000000001"),
            audit=AUDIT,
        ),
        "ManualHedgeRequested",
        '{"symbol":"AAPL","direction":"BUY","shares":"1.5","execution_id":"00000000-0000-4000-8000-000000000001",'
        '"audit":' + STORED_AUDIT + "}",
    ),
]
SNAPSHOT_AUDIT = '{"actor":"ops","reason":"earnings \\u2014 \\"call\\"","at":"2025-01-02T14:30:00.123456Z"}'
STORED_SNAPSHOT = (
    '{"v":"1","state":{"paused_all":null,"paused_symbols":{"AAPL":'
    + SNAPSHOT_AUDIT
    + '},"kill_switch":'
    + SNAPSHOT_AUDIT
    + "}}"
)


def test_control_events_encode_and_decode_as_stored() -> None:
    for event, event_type, payload in EVENTS:
        assert encode_event(event) == (event_type, "1.0", payload)
        assert decode_event(control.SPEC, control.CONTROL_ID, 1, event_type, "1.0", payload) == event


def test_the_control_snapshot_keeps_its_bytes() -> None:
    state = control.SPEC.fold(control.initial(control.CONTROL_ID), [event for event, _, _ in EVENTS])
    assert encode_state(control.SPEC, state) == STORED_SNAPSHOT
    assert decode_state(control.SPEC, STORED_SNAPSHOT) == state
    assert state.kill_switch == AUDIT


async def test_a_ledger_stores_the_same_payloads_and_folds_them_back(db_path: Path) -> None:
    store = await EventStore.open(db_path)
    try:

        async def work(uow: UnitOfWork) -> None:
            await uow.load(control.SPEC, control.CONTROL_ID)
            uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(event for event, _, _ in EVENTS))])

        await store.run(work)
        state, _ = await store.load(control.SPEC, control.CONTROL_ID)
    finally:
        await store.close()
    stored = rows(db_path, "SELECT event_type, payload FROM events WHERE aggregate_type = 'Control' ORDER BY sequence")
    assert stored == [(event_type, payload) for _, event_type, payload in EVENTS]
    assert (state.paused_symbols, state.kill_switch) == ({"AAPL": AUDIT}, AUDIT)
