"""``arbtui report exposure``: the ledger's Position events → :mod:`arbtui.domain.exposure` → rows.

The ledger keeps every Position event (append-only), so each symbol's unhedged shares are replayed from
its first event; the figure itself is computed by the pure :func:`~arbtui.domain.exposure.time_weighted`,
the one the benchmark prints too.
"""

from __future__ import annotations

import itertools
import sqlite3
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal

from arbtui.domain import position
from arbtui.domain.exposure import ExposureChange, ExposureReport, SessionExposure, exposure_changes
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
    """Every symbol's (or ``symbol``'s) exposure changes from its Position events, in sequence order."""
    where, params = ("", ()) if symbol is None else (" AND aggregate_id = ?", (symbol.upper(),))
    cursor = conn.execute(
        "SELECT aggregate_id, sequence, event_type, event_version, payload FROM events"
        f" WHERE aggregate_type = ?{where} ORDER BY aggregate_id, sequence",
        (position.AGGREGATE, *params),
    )
    changes: list[ExposureChange] = []
    for ticker, group in itertools.groupby(cursor, key=lambda row: str(row[0])):
        events = (
            _decoded(ticker, int(seq), str(kind), str(version), payload) for _, seq, kind, version, payload in group
        )
        changes.extend(exposure_changes(ticker, events))
    return changes


def _decoded(symbol: str, sequence: int, event_type: str, version: str, payload: str) -> position.PositionEvent:
    event = decode_event(position.SPEC, symbol, sequence, event_type, version, payload)
    assert isinstance(event, position.PositionEvent)  # decoded by the Position spec: one of its events
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
