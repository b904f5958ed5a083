"""``arbtui report exposure``: the ledger's Position and OffchainOrder events → :mod:`arbtui.domain.exposure`
→ rows.

The ledger keeps every event (append-only), so each symbol's unhedged shares are replayed from its first
event, with the partial broker fills of its executions; the figure itself is computed by the pure
:func:`~arbtui.domain.exposure.time_weighted`, the one the benchmark prints too.
"""

from __future__ import annotations

import itertools
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from arbtui.domain import offchain_order, position
from arbtui.domain.events import AggregateSpec
from arbtui.domain.exposure import (
    ExposureChange,
    ExposureReport,
    HedgeProgress,
    SessionExposure,
    exposure_changes,
    hedge_progress,
)
from arbtui.domain.values import canonical
from arbtui.store.codec import decode_event

HEADER = ("session", "hours", "unhedged_usd_hours", "average_unhedged_usd", "seconds", "unhedged_usd_seconds")
"""CSV and JSON: the exact integrals (seconds, USD·seconds) beside the divided figures (6 decimals)."""
TABLE_HEADER = ("session", "hours", "unhedged_usd_hours", "average_unhedged_usd")
"""The table, for people: the divided figures to the cent."""
CALENDAR_MARGIN = timedelta(days=7)
"""The calendar is read this far past both ends of the period, so the closed stretches at its edges are
whole (a weekend is told by its Saturday)."""
CENT = Decimal("0.01")


def ledger_changes(conn: sqlite3.Connection, symbol: str | None = None) -> list[ExposureChange]:
    """Every symbol's (or ``symbol``'s) exposure changes from its Position events, with the broker fills
    of each execution as its OffchainOrder recorded them (a hedge filled in parts)."""
    progress = _progress(conn)
    changes: list[ExposureChange] = []
    for ticker, group in _grouped(conn, position.AGGREGATE, symbol):
        events = (_decoded(position.SPEC, ticker, row, position.PositionEvent) for row in group)
        changes.extend(exposure_changes(ticker, events, progress))
    return changes


PARTIAL_EVENTS = ("PartiallyFilled", "AttemptPartiallyFilled", "AttemptEnded")
"""The OffchainOrder events that can record a fill before the execution's end. An execution without any
filled only at its end, which the Position's own ``OffChainOrderFilled`` (same transaction) counts."""


def _progress(conn: sqlite3.Connection) -> dict[str, list[HedgeProgress]]:
    """Per execution that filled in parts, each change of its cumulative broker fill."""
    marks = ", ".join("?" for _ in PARTIAL_EVENTS)
    partial = (
        f"SELECT aggregate_id FROM events WHERE aggregate_type = ? AND event_type IN ({marks})",
        (offchain_order.AGGREGATE, *PARTIAL_EVENTS),
    )
    progress: dict[str, list[HedgeProgress]] = {}
    for execution, group in _grouped(conn, offchain_order.AGGREGATE, None, among=partial):
        events = (_decoded(offchain_order.SPEC, execution, row, offchain_order.OffchainOrderEvent) for row in group)
        parts = list(hedge_progress(execution, events))
        if parts:
            progress[execution] = parts
    return progress


Row = tuple[str, int, str, str, str]


def _grouped(
    conn: sqlite3.Connection,
    aggregate_type: str,
    aggregate_id: str | None,
    *,
    among: tuple[str, tuple[str, ...]] | None = None,
) -> Iterator[tuple[str, Iterator[Row]]]:
    """An aggregate type's event rows, by aggregate in sequence order: one aggregate with
    ``aggregate_id``, those a subquery selects with ``among`` (its SQL and parameters)."""
    clauses, params = ["aggregate_type = ?"], [aggregate_type]
    if aggregate_id is not None:
        clauses.append("aggregate_id = ?")
        params.append(aggregate_id.upper())
    if among is not None:
        clauses.append(f"aggregate_id IN ({among[0]})")
        params.extend(among[1])
    cursor = conn.execute(
        "SELECT aggregate_id, sequence, event_type, event_version, payload FROM events"
        f" WHERE {' AND '.join(clauses)} ORDER BY aggregate_id, sequence",
        params,
    )
    yield from itertools.groupby(cursor, key=lambda row: str(row[0]))


def _decoded(spec: AggregateSpec[Any, Any], aggregate_id: str, row: Row, kind: Any) -> Any:
    _, sequence, event_type, version, payload = row
    event = decode_event(spec, aggregate_id, int(sequence), str(event_type), str(version), payload)
    assert isinstance(event, kind)  # decoded by the aggregate's own spec: one of its events
    return event


def rows(report: ExposureReport) -> list[tuple[str, ...]]:
    """:data:`HEADER` rows: one per session, then ``total``."""
    return [_row(row) for row in (*report.sessions, report.total)]


def table_rows(report: ExposureReport) -> list[tuple[str, ...]]:
    """:data:`TABLE_HEADER` rows, to the cent."""
    return [
        (row.label, _cents(row.hours), _cents(row.usd_hours), _cents(row.average_usd))
        for row in (*report.sessions, report.total)
    ]


def _row(row: SessionExposure) -> tuple[str, ...]:
    return (
        row.label,
        canonical(row.hours),
        canonical(row.usd_hours),
        canonical(row.average_usd),
        canonical(row.seconds),
        canonical(row.usd_seconds),
    )


def _cents(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN):,}"


def period(since: datetime, until: datetime) -> str:
    """The title's period, to the minute, in UTC."""
    return f"{since:%Y-%m-%d %H:%M} to {until:%Y-%m-%d %H:%M} UTC"
