"""``python -m arbtui.tui.screenshots [--out screenshots]``: pictures of the console for the README.

A deterministic trading session on the real pipeline: a throwaway SQLite ledger, the dry-run broker, the
engine hosted by the console, fills recorded through the ledger exactly as chain intake records them
(each with its Pyth price). The clocks and execution ids are pinned, so the pictures change only when
the console does; the inventory pane reads fixed vaults beside the dry-run broker's positions. Writes
``main.svg`` (the main screen), ``hedge-modal.svg`` (the manual hedge's
confirmation) and ``main.png`` (rasterised with resvg, ``pip install resvg-py``).
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from textual.pilot import Pilot

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.clock import StoppedClock
from arbtui.domain.ids import CountingIds
from arbtui.domain.onchain_trade import Enrich, OnChainFill, PythPrice
from arbtui.domain.values import BlockRef, Direction, PriceUsdc, Shares, Symbol, TradeId
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.reporting.inventory import USDC, Holding, InventoryReader, Line, Policy, assess_all
from arbtui.store.ledger import Ledger
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.widgets.live_inventory import LiveInventoryPane

SIZE = (120, 36)
SESSION_START = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
NOW = SESSION_START + timedelta(minutes=5)
FIRST_BLOCK = 41_000_001
OPTIONS = EngineOptions(
    check_interval_s=3600.0,  # no periodic scan: every execution id is drawn in the same order
    shutdown_timeout_s=2.0,
    executions=ExecutionOptions(
        poll_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05, market_recheck_s=0.05
    ),
)
SESSION = (  # symbol, shares, our side, price, Pyth price
    ("AAPL", "0.6", Direction.SELL, "231.40", "231.38"),
    ("MSFT", "1.25", Direction.BUY, "412.05", "412.11"),
    ("AAPL", "0.7", Direction.SELL, "231.55", "231.50"),
    ("NVDA", "0.3", Direction.BUY, "118.20", "118.24"),
    ("TSLA", "2.5", Direction.SELL, "251.10", "251.02"),
    ("GOOG", "0.45", Direction.SELL, "171.30", "171.27"),
)


VAULTS = {"AAPL": "1", "MSFT": "30.5", "TSLA": "2.5", "USDC": "120000"}
"""Our orderbook vaults in the pictures' inventory pane, beside the dry-run broker's own positions and
cash: MSFT drifts."""


CLOCK = StoppedClock(NOW)
"""The engine's and the ledger's clock, stopped at :data:`NOW`."""


def screenshot_ids() -> CountingIds:
    """Execution ids drawn from a counter (the same on every run)."""
    return CountingIds(lambda n: str(uuid.uuid5(uuid.NAMESPACE_URL, f"arbtui:screenshots:{n}")))


def session_fill(n: int, symbol: str, amount: str, direction: Direction, price: str) -> OnChainFill:
    """The ``n``-th fill of the session, in block ``FIRST_BLOCK + n - 1``; raw amounts consistent (18 dp)."""
    shares = Shares(amount)
    usdc = PriceUsdc(price).notional(shares)
    number = FIRST_BLOCK + n - 1
    return OnChainFill(
        trade_id=TradeId(f"0x{0xA7B1_0000 + n:064x}", 2),
        symbol=Symbol(symbol),
        token_symbol=f"t{symbol}",
        token_address=f"0x{sum(map(ord, symbol)):040x}",
        direction=direction,
        amount=shares,
        usdc_amount=usdc,
        price_usdc=PriceUsdc.per_share(usdc, shares),
        shares_raw=shares.to_base_units(18),
        share_decimals=18,
        usdc_raw=usdc.to_base_units(18),
        usdc_decimals=18,
        block_number=number,
        block_hash=_block(number).hash,
        block_timestamp=SESSION_START + timedelta(seconds=2 * n),
        source_event="TakeOrderV2",
    )


def _block(number: int) -> BlockRef:
    return BlockRef(number, f"0x{number:064x}")


def _pyth(symbol: str, price: str, n: int) -> Enrich:
    value = int(Decimal(price) * 10**8)
    feed = f"0x{sum(map(ord, symbol)):064x}"
    at = int((SESSION_START + timedelta(seconds=2 * n)).timestamp())
    return Enrich(
        gas_used=183_402, pyth_price=PythPrice(feed_id=feed, value=value, conf=9_000, expo=-8, publish_time=at)
    )


async def _until(pilot: Pilot[Any], condition: Callable[[], bool], limit_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not condition():
        if loop.time() > deadline:
            raise RuntimeError("the console did not reach the state to picture")
        await pilot.pause(0.02)


async def trade(pilot: Pilot[Any]) -> None:
    """The session: fills recorded one block at a time, each hedged as its threshold calls for. The market
    is shut when TSLA fills: its hedge waits (a warning in the alert log) until the market opens."""
    app = pilot.app
    assert isinstance(app, ArbtuiApp)
    engine = app.engine
    assert isinstance(engine, Engine)
    await _until(pilot, app.engine_started.is_set)

    def idle() -> bool:
        return not app.view.in_flight and not engine.executions.in_flight

    broker = engine.broker
    assert isinstance(broker, DryRunBroker)
    for n, (symbol, amount, direction, price, pyth) in enumerate(SESSION, start=1):
        fill = session_fill(n, symbol, amount, direction, price)
        broker.set_market_open(symbol != "TSLA")
        await engine.ledger.record_range([fill], [], _block(fill.block_number))
        await engine.ledger.enrich(fill.trade_id, _pyth(symbol, pyth, n))
        if symbol == "TSLA":
            await _until(pilot, lambda: any(entry.alert.key == "market_closed" for entry in app.view.alerts))
            broker.set_market_open(True)
        await _until(pilot, idle)
    await _until(pilot, lambda: len(app.view.fills) == len(SESSION) and len(app.view.alerts) == 2)
    await _until(pilot, lambda: app.status is not None and app.status.market_open)  # the startup scan's clock
    await _until(pilot, lambda: all(v.state.enriched for v in app.view.fills))
    await pilot.pause(0.2)


def inventory_of(broker: DryRunBroker) -> InventoryReader:
    """The inventory pane's reader: :data:`VAULTS` onchain, the broker's positions and cash as it reports them."""

    async def read() -> list[Line]:
        held = {str(p.symbol): p.quantity.value for p in await broker.positions()}
        cash = (await broker.balances()).cash.value
        equities = [Holding(a, Decimal(v), held.get(a, Decimal(0)), Decimal(0)) for a, v in VAULTS.items() if a != USDC]
        return assess_all([*equities, Holding(USDC, Decimal(VAULTS[USDC]), cash)], Policy())

    return read


async def inventory_read(pilot: Pilot[Any]) -> None:
    """Until the inventory pane shows what the broker holds after the session's hedges."""
    pane = pilot.app.query_one(LiveInventoryPane)
    await _until(pilot, lambda: {line.holding.asset: line.holding.broker for line in pane.lines}.get("TSLA") == 2)


async def open_hedge_confirmation(pilot: Pilot[Any]) -> None:
    """`h`, then the form (SELL 3 NVDA, a reason) up to the confirmation that repeats the order."""
    await pilot.press("h")
    await pilot.pause(0.1)
    await pilot.press(*"nvda", "tab", "enter")
    await pilot.pause(0.1)
    await pilot.press("down", "down", "enter", "tab", "3", "tab", *"rebalance before the close", "enter")
    await pilot.pause(0.2)


async def render() -> tuple[str, str]:
    """The main screen after the session, and the manual hedge's confirmation, as SVG."""
    with tempfile.TemporaryDirectory(prefix="arbtui-screenshots-") as tmp:
        broker = DryRunBroker()
        ledger = await Ledger.open(Path(tmp) / "ledger.db", broker.kind, clock=CLOCK, ids=screenshot_ids())
        engine = Engine(ledger, broker, OPTIONS)
        app = ArbtuiApp(
            engine,
            actor="console:operator",
            clock=lambda: NOW + timedelta(minutes=1),
            frame_s=0.0,
            inventory=inventory_of(broker),
        )
        try:
            async with app.run_test(size=SIZE) as pilot:
                await trade(pilot)
                await inventory_read(pilot)
                main = app.export_screenshot(title="arbtui — operator console")
                await open_hedge_confirmation(pilot)
                modal = app.export_screenshot(title="arbtui — manual hedge")
                await app.stop_engine()
        finally:
            await app.stop_engine()
            await engine.ledger.close()
    return main, modal


def shoot(out: Path) -> list[Path]:
    """Render the pictures into ``out``; returns the files written."""
    main, modal = asyncio.run(render())
    out.mkdir(parents=True, exist_ok=True)
    written = [out / "main.svg", out / "hedge-modal.svg", out / "main.png"]
    written[0].write_text(main, encoding="utf-8")
    written[1].write_text(modal, encoding="utf-8")
    written[2].write_bytes(rasterise(main))
    return written


def rasterise(svg: str) -> bytes:
    """The SVG as a PNG at twice its size, text in DejaVu Sans Mono (Debian's fonts-dejavu-core)."""
    try:
        import resvg_py
    except ImportError as exc:
        raise SystemExit("main.png needs resvg: pip install resvg-py (make screenshots installs it)") from exc
    png = resvg_py.svg_to_bytes(
        svg_string=svg,
        font_family="DejaVu Sans Mono",
        monospace_family="DejaVu Sans Mono",
        sans_serif_family="DejaVu Sans",
        zoom=2,
    )
    return bytes(png)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=Path("screenshots"), help="directory for the pictures")
    args = parser.parse_args(argv)
    for path in shoot(args.out):
        print(path)


if __name__ == "__main__":
    main()
