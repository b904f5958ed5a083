"""The console's safety keys change what the engine does, not only what the screen says: a pause holds
new hedges until `r`, the kill switch (`k`) refuses even a manual hedge until it is cleared."""

from __future__ import annotations

from pathlib import Path

from textual.notifications import SeverityLevel
from textual.pilot import Pilot
from textual.widgets import Input, Select

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain.offchain_order import OffchainOrder, OrderStatus
from arbtui.domain.values import Direction, Symbol
from arbtui.engine.lifecycle import Engine
from arbtui.tui import ArbtuiApp
from arbtui.tui.screens import HedgeScreen, ReasonScreen
from tests.builders import block, make_fill
from tests.tui.conftest import ACTOR, open_engine, until


def _notes(app: ArbtuiApp, severity: SeverityLevel) -> list[str]:
    return [note.message for note in app._notifications if note.severity == severity]


def _manual_filled(app: ArbtuiApp) -> list[OffchainOrder]:
    return [
        v.state for v in app.view.orders if v.state.trigger_reason == "manual" and v.state.status is OrderStatus.FILLED
    ]


async def _manual_hedge_events(engine: Engine) -> int:
    rows = await engine.store.query("SELECT count(*) FROM events WHERE event_type = 'ManualHedgeRequested'")
    return int(rows[0][0])


async def _send_manual_buy(pilot: Pilot[int], symbol: str, shares: str) -> None:
    """`h`, then the form: symbol, side buy, shares, a reason; `y` on the confirmation."""
    app = pilot.app
    await pilot.press("h")
    await until(pilot, lambda: isinstance(app.screen, HedgeScreen))
    await pilot.press(*symbol.lower(), "tab", "enter")
    await pilot.pause(0.1)
    await pilot.press("down", "enter")
    assert app.screen.query_one("#side", Select).value is Direction.BUY
    app.screen.query_one("#shares", Input).focus()
    await pilot.press(*shares, "tab", *"drill", "enter")
    await pilot.press("y")
    await until(pilot, lambda: not isinstance(app.screen, HedgeScreen))


async def test_pause_holds_new_hedges_until_resume(tmp_path: Path) -> None:
    broker = DryRunBroker()
    engine = await open_engine(tmp_path / "ledger.db", broker)
    app = ArbtuiApp(engine, actor=ACTOR)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, app.engine_started.is_set)
            await pilot.press("p", "enter")
            await until(pilot, lambda: app.view.control.paused_all is not None)
            await engine.ledger.record_range([make_fill(1, "1.5")], [], block(1))
            await until(pilot, lambda: "AAPL" in app.view.positions)
            for _ in range(5):  # the periodic check, run by hand: it finds the position past its threshold
                await engine.scan("test: still paused?")
            assert broker.submissions == 0
            assert not app.view.orders
            assert str(app.view.positions["AAPL"].state.net) == "-1.5"

            await pilot.press("r", "enter")
            await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders))
            assert broker.submissions == 1
            orders: list[OffchainOrder] = [versioned.state for versioned in app.view.orders]
            [order] = orders
            assert (order.direction, str(order.shares)) == (Direction.BUY, "1")
            await app.stop_engine()
    finally:
        await engine.ledger.close()


async def test_kill_switch_refuses_a_manual_hedge_until_cleared(tmp_path: Path) -> None:
    broker = DryRunBroker()
    engine = await open_engine(tmp_path / "ledger.db", broker)
    app = ArbtuiApp(engine, actor=ACTOR)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, app.engine_started.is_set)
            # gives AAPL a price, and (paused) an open net a manual BUY 2 stays within
            await engine.control.pause(Symbol("AAPL"), actor=ACTOR, reason="hold the net for the test")
            await engine.ledger.record_range([make_fill(1, "2.4")], [], block(1))
            await until(pilot, lambda: "AAPL" in app.view.positions)

            await pilot.press("k")
            await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
            await pilot.press("enter")  # no reason: refused, the dialog stays
            assert isinstance(app.screen, ReasonScreen)
            await pilot.press(*"drill", "enter")
            await until(pilot, lambda: app.view.control.kill_switch is not None)
            assert app.view.control.kill_switch is not None
            assert app.view.control.kill_switch.actor == ACTOR
            assert app.query_one("#banner").display

            await _send_manual_buy(pilot, "AAPL", "2")
            await until(pilot, lambda: bool(_notes(app, "error")))
            assert "kill" in _notes(app, "error")[0].lower()
            assert broker.submissions == 0
            assert await _manual_hedge_events(engine) == 0

            await pilot.press("k")  # engaged: `k` now offers to clear it
            await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
            await pilot.press(*"drill over", "enter")
            await until(pilot, lambda: app.view.control.kill_switch is None)

            await _send_manual_buy(pilot, "AAPL", "2")
            await until(pilot, lambda: bool(_manual_filled(app)), 15)
            [manual] = _manual_filled(app)
            assert (manual.direction, str(manual.shares)) == (Direction.BUY, "2")
            assert await _manual_hedge_events(engine) == 1
            await app.stop_engine()
    finally:
        await engine.ledger.close()
