"""The PnL screen on a real engine (dry-run broker, temp SQLite ledger): per-symbol realized PnL from the
books, the open shares valued at the latest Pyth price, the cumulative chart against time, the inventory
pane fed by the inventory module. Every figure is checked against the exact ledger value, rounded as
:mod:`arbtui.display` says."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner
from textual.widgets import Static
from textual_plotext import PlotextPlot

from arbtui import display
from arbtui.cli import main
from arbtui.domain.onchain_trade import Enrich, OnChainFill, PythMethod, PythPrice
from arbtui.domain.values import EXACT, Direction, PriceUsdc, Usdc
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.inventory import Holding, Line, Policy, assess_all
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.screens.pnl import TOTAL, PnlScreen, read_pnl
from arbtui.tui.widgets import StatusBar
from arbtui.tui.widgets._lines import LineTable
from arbtui.tui.widgets.inventory import InventoryPane
from tests.builders import T0, block, make_fill
from tests.tui.conftest import until


def _cells(table: LineTable, key: str) -> list[str]:
    """A row's cells as text, padding (decimal-point alignment) stripped."""
    return [str(cell).strip() for cell in table.get_row(key)]


def _long_fill(n: int, shares: str, usdc: str, *, symbol: str = "AAPL", block_number: int = 1) -> OnChainFill:
    """A SELL of ``shares`` (18 decimals) for ``usdc``: a price of 60 significant digits."""
    fill = make_fill(n, shares, Direction.SELL, symbol=symbol, price="1", block_number=block_number)
    paid = Usdc(usdc)
    return fill.model_copy(
        update={
            "usdc_amount": paid,
            "usdc_raw": paid.to_base_units(18),
            "price_usdc": PriceUsdc.per_share(paid, fill.amount),
            "block_timestamp": T0 + timedelta(minutes=n),
        }
    )


def _pyth(price: str, minute: int) -> Enrich:
    value = int(Decimal(price) * 10**8)
    at = int((T0 + timedelta(minutes=minute)).timestamp())
    return Enrich(
        gas_used=1,
        pyth_price=PythPrice(
            feed_id="0x" + "ab" * 32, value=value, conf=1, expo=-8, publish_time=at, method=PythMethod.TRACE
        ),
    )


def _json_report(ledger: Path, *args: str) -> list[dict[str, str]]:
    result = CliRunner().invoke(main, ["--db", str(ledger), "report", *args, "--format", "json"])
    assert result.exit_code == 0, result.output
    rows: list[dict[str, str]] = json.loads(result.output)
    return rows


async def test_pnl_figures_are_the_exact_ledger_values_rounded_and_unrealized_is_valued_at_pyth(
    engine: Engine,
) -> None:
    """AAPL: two 18-decimal SELLs at 60-digit prices (the second with a later Pyth read), each followed by a
    hedge BUY of 1 the dry-run broker fills at the last fill's price (FIFO leaves the rest of the second
    sale open). The realized PnL (dozens of digits in the ledger) reads in cents; the
    open short of the carry is valued at the Pyth price published last, exactly, then rounded; the total
    row adds them up. NVDA is flat with no Pyth price: unrealized 0.00, nothing unpriced."""
    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(200, 50)) as pilot:
        await until(pilot, lambda: len(app.screen.query(StatusBar)) == 1)
        await until(pilot, app.engine_started.is_set)
        first = _long_fill(1, "1.451534588906221945", "335.89")
        second = _long_fill(2, "0.972222222222222221", "225.13", block_number=2)
        nvda_fill = make_fill(3, "1", Direction.BUY, symbol="NVDA", price="0.51234", block_number=3)

        def trades() -> list[int]:
            return [s.trades for s in read_pnl(engine.read_model).symbols]

        await engine.ledger.record_range([first], [], block(1))
        await engine.ledger.enrich(first.trade_id, _pyth("231.37", 1))
        await until(pilot, lambda: trades() == [2])  # the fill and its hedge of 1
        await engine.ledger.record_range([second], [], block(2))
        await engine.ledger.enrich(second.trade_id, _pyth("231.5123456", 2))  # published last: the mark
        await until(pilot, lambda: trades() == [4])
        await engine.ledger.record_range([nvda_fill], [], block(3))
        await until(pilot, lambda: trades() == [4, 2])
        ledger = Path(engine.store.path)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        screen = app.screen
        assert isinstance(screen, PnlScreen)
        table = screen.query_one("#pnl-totals", LineTable)
        await until(pilot, lambda: table.row_count == 3)

        rows = _json_report(ledger, "pnl", "--symbol", "AAPL")
        realized = Decimal(rows[-1]["cumulative_pnl"])  # exact, from the view
        assert len(rows[-1]["cumulative_pnl"]) > 40  # many digits in the ledger
        carry = Decimal(rows[-1]["net_position_after"])  # the open short left after the hedge of 2
        assert carry == EXACT.subtract(Decimal(2), Decimal("2.423756811128444166"))
        # the open lot is the rest of the second sale (FIFO), at its own price
        sold_at = PriceUsdc.per_share(second.usdc_amount, second.amount).value
        value = EXACT.multiply(EXACT.subtract(Decimal("231.5123456"), sold_at), carry)
        aapl = _cells(table, "AAPL")
        assert aapl == [
            "AAPL",
            "4",
            str(sum(row["realized_pnl"].startswith("-") for row in rows)),
            display.usd(realized),
            display.shares(carry),
            "231.51",
            "14:32:00",
            display.usd(value),
            display.usd(EXACT.add(realized, value)),
        ]
        nvda_rows = _json_report(ledger, "pnl", "--symbol", "NVDA")
        nvda = _cells(table, "NVDA")
        assert nvda[3] == display.usd(Decimal(nvda_rows[-1]["cumulative_pnl"]))
        assert nvda[4:] == ["0", "", "", "0.00", nvda[3]]  # flat: nothing to value, no Pyth price needed
        total = _cells(table, TOTAL)
        nvda_realized = Decimal(nvda_rows[-1]["cumulative_pnl"])
        assert total[3] == display.usd(EXACT.add(realized, nvda_realized))
        assert total[7] == display.usd(value)
        assert total[8] == display.usd(EXACT.add(EXACT.add(realized, nvda_realized), value))
        note = str(screen.query_one("#pnl-note", Static).render())
        assert "latest Pyth price" in note
        assert "not valued" not in note
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PnlScreen))


async def test_open_shares_without_a_pyth_price_are_not_valued_and_say_so(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await engine.ledger.record_range([make_fill(1, "0.4", Direction.SELL, price="200")], [], block(1))
        await until(pilot, lambda: [s.trades for s in read_pnl(engine.read_model).symbols] == [1])
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        table = app.screen.query_one("#pnl-totals", LineTable)
        await until(pilot, lambda: table.row_count == 2)
        assert _cells(table, "AAPL")[4:] == ["-0.4", "", "", "—", "—"]
        note = str(app.screen.query_one("#pnl-note", Static).render())
        assert "no Pyth price yet for AAPL" in note


async def test_the_chart_runs_against_time(engine: Engine) -> None:
    """The chart's points are (trade time, cumulative realized PnL); its x axis is labelled in clock time,
    its y axis in cents."""
    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await engine.ledger.record_range([make_fill(1, "1.5", Direction.SELL, price="200")], [], block(1))
        await engine.ledger.record_range(
            [make_fill(2, "2", Direction.BUY, symbol="NVDA", price="120", block_number=2)], [], block(2)
        )
        ledger = Path(engine.store.path)
        await until(pilot, lambda: [s.trades for s in read_pnl(engine.read_model).symbols] == [2, 2])
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        screen = app.screen
        assert isinstance(screen, PnlScreen)
        await until(pilot, lambda: screen.shown is not None and len(screen.shown.series) == 2)
        assert screen.shown is not None
        for symbol, points in screen.shown.series.items():
            rows = _json_report(ledger, "pnl", "--symbol", symbol)
            assert [(at.strftime("%Y-%m-%d %H:%M:%S.%f"), str(v)) for at, v in points] == [
                (r["timestamp"], r["cumulative_pnl"]) for r in rows
            ]
        picture = screen.query_one("#pnl-chart", PlotextPlot).plt.build()
        first = min(at for points in screen.shown.series.values() for at, _ in points)
        assert first.strftime("%H:%M:%S") in picture
        assert "time (UTC)" in picture
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PnlScreen))


async def test_inventory_pane_shows_drift_from_the_inventory_module(engine: Engine) -> None:
    """Amounts as people read them, lined up: equities in shares (6 decimals), USDC in cents."""
    lines = assess_all(
        [
            Holding("AAPL", Decimal("7.123456789012345678"), Decimal(3), Decimal("-0.5")),
            Holding("USDC", Decimal("500.004"), Decimal(500)),
        ],
        Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2")),
    )

    async def inventory() -> list[Line]:
        return lines

    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.screen.query(StatusBar)) == 1)  # the console is up
        await app.push_screen(PnlScreen(engine.read_model, inventory=inventory))
        pane = app.screen.query_one(InventoryPane)
        await until(pilot, lambda: pane.row_count == 2)
        assert [str(c).strip() for c in pane.get_row("AAPL")][:3] == ["AAPL", "7.123457", "3"]
        assert [str(c).strip() for c in pane.get_row("USDC")][:3] == ["USDC", "500.00", "500.00"]
        assert str(pane.get_row("AAPL")[7]) == "DRIFT"
        assert str(pane.get_row("USDC")[7]) == "ok"
        status = app.screen.query_one("#pnl-status", Static)
        await until(pilot, lambda: "inventory drift: AAPL" in str(status.render()))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, PnlScreen))
