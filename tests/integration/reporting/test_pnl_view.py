"""metrics_pnl_view through the real ledger (SQLite file): hand-worked books to the cent, rebuilt exactly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from arbtui.domain.values import Direction
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import connect_sync
from arbtui.store.rebuild import check_views, rebuild_views
from tests.builders import block, make_fill
from tests.integration.reporting.conftest import rows, settle

COLUMNS = (
    "symbol, trade_type, trade_direction, quantity, price_per_share, realized_pnl, cumulative_pnl, net_position_after"
)


def pnl(db_path: Path, symbol: str) -> list[tuple[object, ...]]:
    """Exact payload strings, in trade order."""
    return [
        tuple(
            json.loads(str(payload))[k]
            for k in (
                "trade_type",
                "trade_direction",
                "quantity",
                "price_per_share",
                "realized_pnl",
                "cumulative_pnl",
                "net_position_after",
            )
        )
        for (payload,) in rows(db_path, "SELECT payload FROM metrics_pnl_view WHERE symbol = ? ORDER BY id", (symbol,))
    ]


async def test_fills_and_hedges_of_two_symbols_book_fifo_pnl(ledger: Ledger, db_path: Path) -> None:
    # AAPL: the seed's batching example — 0.3, 0.5, 0.4 sold onchain; 1 bought back at $149.50
    await ledger.record_range(
        [
            make_fill(1, "0.3", price="150", log_index=0),
            make_fill(1, "0.5", price="151", log_index=1),
            make_fill(1, "0.4", price="152", log_index=2),
        ],
        [],
        block(1),
    )
    assert await settle(ledger, "AAPL", price_cents="14950")
    # TSLA: bought 2.5 onchain at 250; the broker sells 2 but fills only 1, at $251.005
    await ledger.record_range(
        [make_fill(2, "2.5", Direction.BUY, symbol="TSLA", price="250", block_number=2)], [], block(2)
    )
    assert await settle(ledger, "TSLA", filled="1", price_cents="25100.5")

    assert pnl(db_path, "AAPL") == [
        ("ONCHAIN", "SELL", "0.3", "150", "0", "0", "-0.3"),
        ("ONCHAIN", "SELL", "0.5", "151", "0", "0", "-0.8"),
        ("ONCHAIN", "SELL", "0.4", "152", "0", "0", "-1.2"),
        ("OFFCHAIN", "BUY", "1", "149.5", "1.4", "1.4", "-0.2"),
    ]
    assert pnl(db_path, "TSLA") == [
        ("ONCHAIN", "BUY", "2.5", "250", "0", "0", "2.5"),
        ("OFFCHAIN", "SELL", "1", "251.005", "1.005", "1.005", "1.5"),
    ]
    # the seed's REAL columns, for dashboards
    assert rows(db_path, f"SELECT {COLUMNS} FROM metrics_pnl_view WHERE symbol = 'AAPL' ORDER BY id DESC LIMIT 1") == [
        ("AAPL", "OFFCHAIN", "BUY", 1.0, 149.5, 1.4, 1.4, -0.2)
    ]
    # a hedge leg is traceable: its trade_id is the execution (offchain_trade_view's view_id)
    assert rows(
        db_path,
        "SELECT o.status FROM metrics_pnl_view m JOIN offchain_trade_view o ON o.view_id = m.trade_id"
        " WHERE m.trade_type = 'OFFCHAIN' ORDER BY m.symbol",
    ) == [("FILLED",), ("CANCELLED",)]


async def test_rebuilding_views_reproduces_metrics_pnl_view_exactly(ledger: Ledger, db_path: Path) -> None:
    for n in range(1, 8):
        direction = Direction.SELL if n % 3 else Direction.BUY
        await ledger.record_range(
            [make_fill(n, f"0.{n}7", direction, price=f"{150 + n}.25", block_number=n)], [], block(n)
        )
        await settle(ledger, "AAPL", price_cents=f"{15000 + 13 * n}")
    await ledger.rewind(block(5), reorg_depth=2, detected_at_block=7)  # reversals are booked too
    live = rows(db_path, "SELECT view_id, version, payload FROM metrics_pnl_view ORDER BY view_id")
    assert len(live) >= 8
    assert check_views(db_path) == []
    conn = connect_sync(db_path)
    try:
        rebuild_views(conn)
    finally:
        conn.close()
    assert rows(db_path, "SELECT view_id, version, payload FROM metrics_pnl_view ORDER BY view_id") == live


async def test_check_views_reports_a_tampered_pnl_row(ledger: Ledger, db_path: Path) -> None:
    await ledger.record_range([make_fill(1, "1.5", price="200")], [], block(1))
    await settle(ledger, "AAPL", price_cents="19990")
    conn = connect_sync(db_path)
    try:
        conn.execute("UPDATE metrics_pnl_view SET payload = json_set(payload, '$.realized_pnl', '99') WHERE id = 2")
        conn.commit()
    finally:
        conn.close()
    assert [str(d) for d in check_views(db_path)] == ["metrics_pnl_view AAPL:2: differs"]


async def test_a_long_stream_is_rebuilt_in_batches_to_the_same_rows(
    ledger: Ledger, db_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rebuild writes a stream's PnL rows as they come (every BATCH rows), not all at its end."""
    for n in range(1, 41):
        direction = Direction.BUY if n % 5 == 0 else Direction.SELL
        await ledger.record_range([make_fill(n, f"0.{n % 9 + 1}", direction, block_number=n)], [], block(n))
        await settle(ledger, "AAPL", price_cents=f"{19_950 + n}")
    live = rows(db_path, "SELECT view_id, version, payload FROM metrics_pnl_view ORDER BY view_id")
    assert len(live) > 40
    monkeypatch.setattr("arbtui.store.rebuild.BATCH", 7)
    assert check_views(db_path) == []
