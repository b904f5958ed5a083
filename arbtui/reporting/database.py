"""The reporter's connection: read-only, so a report never takes the writer's lock.

The ledger runs in WAL mode, where readers never block the writer nor the writer them; every report
reads inside one read transaction (one consistent snapshot, never a half-written commit).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from arbtui.store.errors import DatabaseUnavailable
from arbtui.store.migrate import connect_readonly

REQUIRED = ("metrics_pnl_view", "unified_trade_view", "position_view")
BUSY_TIMEOUT_MS = 5000


class ReportError(Exception):
    """A report cannot be made; the message is one line for the operator."""


def open_readonly(path: Path | str, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> sqlite3.Connection:
    """Open the ledger at ``path`` read-only (``mode=ro``, or ``immutable=1`` on read-only storage: see
    :func:`arbtui.store.migrate.connect_readonly`); a missing, locked, corrupt or foreign file is a
    :class:`ReportError`."""
    path = Path(path)
    if not path.is_file():
        raise ReportError(f"no database at {path} (pass --db, or run the bot first)")
    try:
        conn = connect_readonly(path, busy_timeout_ms=busy_timeout_ms, check_same_thread=False)
    except DatabaseUnavailable as exc:
        raise ReportError(str(exc)) from exc
    try:
        found = {
            str(name) for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type IN ('table', 'view')")
        }
    except sqlite3.Error as exc:
        conn.close()
        raise ReportError(f"cannot read database {path}: {_reason(exc)}") from exc
    missing = [name for name in REQUIRED if name not in found]
    if missing:
        conn.close()
        raise ReportError(f"{path} is not an arbtui ledger (no {', '.join(missing)}; run `arbtui db migrate`)")
    return conn


@contextmanager
def snapshot(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One read transaction: every query inside sees the same committed state."""
    try:
        conn.execute("BEGIN")
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the ledger: {_reason(exc)}") from exc
    try:
        yield conn
    except sqlite3.Error as exc:
        raise ReportError(f"cannot read the ledger: {_reason(exc)}") from exc
    finally:
        if conn.in_transaction:
            conn.execute("COMMIT")


def _reason(exc: sqlite3.Error) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"{text} (another process holds it exclusively; try again)"
    if "not a database" in text or "malformed" in text:
        return f"{text} (the file is damaged or not an SQLite database)"
    return text
