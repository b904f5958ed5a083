"""A read-only view of the bot's SQLite ledger for the end-to-end and chaos tests: it reads the event
log and the views with ``mode=ro`` while the bot runs (or after), never through the bot's own code."""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

TERMINAL = ("FILLED", "FAILED", "CANCELLED")
OPEN = ("PENDING", "SUBMITTED", "PARTIALLY_FILLED")


@contextlib.contextmanager
def _readonly(db: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
    try:
        yield conn
    finally:
        conn.close()


@dataclass(frozen=True)
class Execution:
    execution_id: str
    symbol: str
    direction: str
    shares: Decimal
    shares_filled: Decimal
    status: str
    broker_order_id: str | None


class LedgerView:
    """Reads the bot's SQLite ledger read-only while the bot runs (or after)."""

    def __init__(self, db: Path) -> None:
        self.db = db

    def query(self, sql: str, *params: object) -> list[tuple[Any, ...]]:
        if not self.db.exists():
            return []
        try:
            with _readonly(self.db) as conn:
                return list(conn.execute(sql, params).fetchall())
        except sqlite3.OperationalError as exc:
            if "no such table" in str(exc):
                return []
            raise

    def filled_counts(self) -> Counter[str]:
        """Filled events per onchain trade id, from the event log itself."""
        rows = self.query(
            "SELECT aggregate_id, count(*) FROM events"
            " WHERE aggregate_type = 'OnChainTrade' AND event_type = 'Filled' GROUP BY aggregate_id"
        )
        return Counter({str(a): int(n) for a, n in rows})

    def fill_count(self) -> int:
        rows = self.query("SELECT count(*) FROM events WHERE aggregate_type = 'OnChainTrade' AND event_type = 'Filled'")
        return int(rows[0][0]) if rows else 0

    def executions(self) -> list[Execution]:
        rows = self.query("SELECT view_id, payload FROM offchain_trade_view")
        result = []
        for view_id, payload in rows:
            p = json.loads(payload)
            result.append(
                Execution(
                    execution_id=str(view_id),
                    symbol=str(p["symbol"]),
                    direction=str(p["direction"]),
                    shares=Decimal(p["shares"]),
                    shares_filled=Decimal(p["shares_filled"]),
                    status=str(p["status"]),
                    broker_order_id=p.get("broker_order_id"),
                )
            )
        return result

    def positions(self) -> dict[str, dict[str, Any]]:
        return {str(v): json.loads(p) for v, p in self.query("SELECT view_id, payload FROM position_view")}

    def settled(self, expected_fills: int) -> bool:
        """Every fill recorded, no execution open, no position with a pending execution or ≥ 1 share net."""
        if self.fill_count() < expected_fills:
            return False
        if any(e.status not in TERMINAL for e in self.executions()):
            return False
        for pos in self.positions().values():
            if pos["pending_execution_id"] is not None or abs(Decimal(pos["net_position"])) >= 1:
                return False
        return True

    def trade_event_counts(self, event_type: str) -> Counter[str]:
        """``event_type`` events (``Filled``, ``Reorged``…) per onchain trade id."""
        rows = self.query(
            "SELECT aggregate_id, count(*) FROM events"
            " WHERE aggregate_type = 'OnChainTrade' AND event_type = ? GROUP BY aggregate_id",
            event_type,
        )
        return Counter({str(a): int(n) for a, n in rows})

    def live_counts(self) -> Counter[str]:
        """How many times each trade currently counts in its position: ``Filled`` minus ``Reorged``
        events (a fill retracted by a reorg and re-included by the new branch counts once)."""
        live = self.trade_event_counts("Filled")
        live.subtract(self.trade_event_counts("Reorged"))
        return live
