"""The PnL screen on a real engine (dry-run broker, temp SQLite ledger): totals and the cumulative
chart from the ledger read-only, the inventory pane fed by the inventory module."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from textual.widgets import DataTable, Static
from textual_plotext import PlotextPlot

from arbtui.domain.values import Direction
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.inventory import Holding, Line, Policy, assess_all
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.screens.pnl import PnlScreen, read_pnl
from arbtui.tui.widgets import StatusBar
from arbtui.tui.widgets.inventory import InventoryPane
from tests.builders import block, make_fill
from tests.tui.conftest import until


async def test_g_opens_pnl_totals_and_chart_after_hedged_fills(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.screen.query(StatusBar)) == 1)  # the console is up
        await until(pilot, app.engine_started.is_set)  # fills while it recovers would race its start-up
        await engine.ledger.record_range([make_fill(1, "1.5", Direction.SELL, price="200")], [], block(1))
        await engine.ledger.record_range(
            [make_fill(2, "2", Direction.BUY, symbol="NVDA", price="120", block_number=2)], [], block(2)
        )
        ledger = Path(engine.store.path)
        # the dry-run broker fills each hedge: 2 trades per symbol in metrics_pnl_view
        await until(pilot, lambda: [int(row[1]) for row in read_pnl(ledger).totals] == [2, 2])
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        screen = app.screen
        totals = screen.query_one("#pnl-totals", DataTable)
        await until(pilot, lambda: totals.row_count == 2)
        symbols = [str(totals.get_row_at(i)[0]) for i in range(totals.row_count)]
        assert symbols == ["AAPL", "NVDA"]
        snapshot = read_pnl(ledger)
        assert set(snapshot.series) == {"AAPL", "NVDA"}
        assert [len(v) for v in snapshot.series.values()] == [2, 2]
        assert screen.query_one("#pnl-chart", PlotextPlot).plt is not None
        assert "no vaults configured" in str(screen.query_one("#pnl-status", Static).render())
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PnlScreen))


async def test_inventory_pane_shows_drift_from_the_inventory_module(engine: Engine) -> None:
    lines = assess_all(
        [Holding("AAPL", Decimal(7), Decimal(3), Decimal("-0.5")), Holding("USDC", Decimal(500), Decimal(500))],
        Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2")),
    )

    async def inventory() -> list[Line]:
        return lines

    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.screen.query(StatusBar)) == 1)  # the console is up
        await app.push_screen(PnlScreen(Path(engine.store.path), inventory=inventory))
        pane = app.screen.query_one(InventoryPane)
        await until(pilot, lambda: pane.row_count == 2)
        assert [str(c) for c in pane.get_row("AAPL")][:3] == ["AAPL", "7", "3"]
        assert str(pane.get_row("AAPL")[7]) == "DRIFT"
        assert str(pane.get_row("USDC")[7]) == "ok"
        status = app.screen.query_one("#pnl-status", Static)
        await until(pilot, lambda: "inventory drift: AAPL" in str(status.render()))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PnlScreen))
