"""Pictures of the console with the numbers that used to break it: 18-decimal share amounts, a wrapped
fill (wtAAPL at a wrapper rate of 1.25), prices of 60 significant digits (a FIFO PnL of dozens of digits),
a sub-dollar price, a carry of 1e-18 share and an inventory that drifts — at 80×24, 120×40 and 200×50.

What every picture must show: shares to at most 6 decimals lined up on their decimal points, money in
cents with thousands separators, prices on the broker's tick ($0.01, $0.0001 below $1), the 1e-18 carry
as ``<0.000001`` (never 0), and every column of every pane either visible or announced by ``▸`` at the
right end of the pane's header (the pane scrolls sideways). Same pinning as ``test_snapshots``:
terminal size, the engine's clock (stepped a minute per fill, so the PnL chart has a time axis) and
execution ids, the console's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from arbtui.domain.onchain_trade import Enrich, OnChainFill, PythMethod, PythPrice, Unwrapped
from arbtui.domain.values import Direction, PriceUsdc, Shares, Usdc
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.inventory import Holding, Line, Policy, assess_all
from arbtui.tui import ArbtuiApp
from arbtui.tui.screens.pnl import PnlScreen
from arbtui.tui.widgets import FillsPane
from arbtui.tui.widgets._lines import LineTable
from arbtui.tui.widgets.inventory import InventoryPane
from tests.builders import T0, block, make_fill
from tests.tui.conftest import STILL, Pinned, open_engine, until

SnapCompare = Callable[..., bool]
SIZES = [(80, 24), (120, 40), (200, 50)]


def _fill(n: int, symbol: str, shares: str, usdc: str, direction: Direction = Direction.SELL) -> OnChainFill:
    """``shares`` for ``usdc``: the price is their quotient (60 significant digits unless it divides)."""
    fill = make_fill(n, shares, direction, symbol=symbol, price="1", block_number=41_000_000 + n)
    paid = Usdc(usdc)
    return fill.model_copy(
        update={
            "usdc_amount": paid,
            "usdc_raw": paid.to_base_units(18),
            "price_usdc": PriceUsdc.per_share(paid, fill.amount),
            "block_timestamp": T0 + timedelta(minutes=n),
        }
    )


def _wrapped(n: int) -> OnChainFill:
    """0.777777777777777776 wtAAPL (an ERC-4626 wrapper at 1.25 tAAPL each) sold for 225.13 USDC: the
    fill carries the underlying 0.97222222222222222 shares, the wrapper amount beside them."""
    fill = _fill(n, "AAPL", "0.97222222222222222", "225.13")
    wrapper = Shares("0.777777777777777776")
    return fill.model_copy(
        update={
            "token_symbol": "wtAAPL",
            "unwrapped": Unwrapped(
                wrapper_amount=wrapper,
                wrapper_raw=wrapper.to_base_units(18),
                wrapper_decimals=18,
                asset_address="0x" + "aa" * 20,
                asset_symbol="tAAPL",
                rate=Decimal("1.25"),
            ),
        }
    )


def _pyth(price: str, n: int, method: PythMethod = PythMethod.TRACE) -> Enrich:
    value = int(Decimal(price) * 10**8)
    at = int((T0 + timedelta(minutes=n)).timestamp())
    return Enrich(
        gas_used=183_402,
        pyth_price=PythPrice(
            feed_id="0x" + "ab" * 32, value=value, conf=9_000, expo=-8, publish_time=at, method=method
        ),
    )


SESSION = [  # a fill, its Pyth read (None: not enriched)
    (_fill(1, "AAPL", "1.451534588906221945", "335.89"), _pyth("231.37", 1)),
    (_wrapped(2), _pyth("231.5123456", 2, PythMethod.BLOCK_END)),
    (_fill(3, "MSFT", "0.000000000000000001", "0.000000000000000412", Direction.BUY), _pyth("412.11", 3)),
    (_fill(4, "NVDA", "1234.567890123456789012", "632.52", Direction.BUY), _pyth("0.51237", 4)),
    (_fill(5, "TSLA", "2.5", "627.75"), None),
]
INVENTORY = [
    Holding("AAPL", Decimal("7.123456789012345678"), Decimal("1.451534588906221945"), Decimal("-0.423756811128444166")),
    Holding("NVDA", Decimal("1234.567890123456789012"), Decimal(1234), Decimal("0.567890123456789012")),
    Holding("USDC", Decimal("1234567.891234"), Decimal("98765.4321")),
]
"""AAPL and USDC drift from the 0.5 target; NVDA is balanced."""


async def inventory() -> list[Line]:
    return assess_all(INVENTORY, Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2")))


@pytest.fixture
def numbers(tmp_path: Path, pinned: Pinned) -> Iterator[tuple[ArbtuiApp, Pinned]]:
    engine = asyncio.run(open_engine(tmp_path / "ledger.db", options=STILL, pinned=pinned))
    app = ArbtuiApp(
        engine, actor="console:tester", clock=lambda: T0 + timedelta(minutes=9), frame_s=0.0, inventory=inventory
    )
    yield app, pinned
    asyncio.run(engine.ledger.close())


def _session(pinned: Pinned) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        """The fills one at a time (the engine's clock a minute on each), each hedged as its threshold calls
        for, then every fill shown with its Pyth price."""
        app = pilot.app
        assert isinstance(app, ArbtuiApp)
        engine = app.engine
        assert isinstance(engine, Engine)
        await until(pilot, app.engine_started.is_set)
        for n, (fill, pyth) in enumerate(SESSION, start=1):
            pinned.clock.at = T0 + timedelta(minutes=n)
            await engine.ledger.record_range([fill], [], block(fill.block_number))
            if pyth is not None:
                await engine.ledger.enrich(fill.trade_id, pyth)
            await until(pilot, lambda: not app.view.in_flight and not engine.executions.in_flight)
        await until(pilot, lambda: app.query_one(FillsPane).row_count == len(SESSION))
        await until(pilot, lambda: sum(1 for v in app.view.fills if v.state.enriched) == 4)
        await until(pilot, lambda: len(app.view.orders) == 4 and app.status is not None)
        await pilot.pause(0.1)

    return run


def _pnl(pinned: Pinned) -> Callable[[Pilot[Any]], Any]:
    async def run(pilot: Pilot[Any]) -> None:
        """After the session, `g`: the PnL screen with its books, chart and inventory read."""
        await _session(pinned)(pilot)
        await pilot.press("g")
        app = pilot.app
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        screen = app.screen
        assert isinstance(screen, PnlScreen)
        await until(pilot, lambda: screen.query_one("#pnl-totals", LineTable).row_count == 5)
        await until(pilot, lambda: screen.query_one(InventoryPane).row_count == 3)
        await pilot.pause(0.2)

    return run


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_main_screen_with_long_numbers(
    snap_compare: SnapCompare, numbers: tuple[ArbtuiApp, Pinned], size: tuple[int, int]
) -> None:
    """The main screen after the session. *Onchain fills*: TSLA 2.5 on top; NVDA 1234.56789 at 0.5123
    (the $0.0001 tick) with Pyth 0.5124; MSFT <0.000001 at 412.00; the wrapped fill as
    ``0.972222 (0.777778 wtAAPL)`` at 231.56 with Pyth ``231.51 ·b``; AAPL 1.451535 at 231.40 — shares and
    prices lined up on their points. *Accumulators*: AAPL -0.423757, MSFT <0.000001 (never 0), NVDA
    0.56789, TSLA -0.5, thresholds ``1 sh``. *Broker orders*: four FILLED hedges (NVDA SELL 1234 at
    0.5123, AAPL BUY 1 at 231.56 and 231.40, TSLA BUY 2 at 251.10). The status bar: unhedged $223.97. At 80
    columns the fills pane's header ends with ▸ (pyth and tx lie to the right); at 120 the accumulators'
    and the orders' headers do (hedged at, latency), each with a horizontal scrollbar; at 200 every column
    of every pane shows and no ▸ appears."""
    app, pinned = numbers
    assert snap_compare(app, terminal_size=size, run_before=_session(pinned))


@pytest.mark.parametrize("size", SIZES, ids=[f"{w}x{h}" for w, h in SIZES])
def test_pnl_screen_with_long_numbers(
    snap_compare: SnapCompare, numbers: tuple[ArbtuiApp, Pinned], size: tuple[int, int]
) -> None:
    """The PnL screen (`g`) after the session. The table: AAPL, MSFT, NVDA, TSLA and a bold *total* row;
    realized, unrealized and total in cents (red below zero, green above) although the ledger holds
    dozens of digits; open shares to 6 decimals; the latest Pyth price on the tick and its time (AAPL
    231.51 at 14:32:00, NVDA 0.5124); TSLA, which has no Pyth price, shows — for unrealized and total, and
    the note under the table says it is not valued. The chart's x axis is labelled in clock time (UTC) and
    its y axis in cents. Inventory: AAPL 7.123457 / 1.451535 and USDC 1,234,567.89 / 98,765.43 lined up
    on their points, both DRIFT (red where the cursor is not) with the suggested transfer rounded the same
    way (``move 2.835961 AAPL onchain → broker``, ``move 567,901.23 USDC …``), NVDA ok in green. At 80 and
    120 columns the tables too narrow for their columns end their headers with ▸; at 200 every column
    shows; at 80×24 the dialog scrolls down to the chart and inventory."""
    app, pinned = numbers
    assert snap_compare(app, terminal_size=size, run_before=_pnl(pinned))
