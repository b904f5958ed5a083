"""Behaviour of the console, driven by keys through Pilot, asserted on the engine's own state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from pydantic import SecretStr
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widgets import Checkbox, Input, Select

from arbtui.brokers.alpaca import AlpacaBroker
from arbtui.brokers.alpaca.client import AlpacaConfig
from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import control, offchain_order
from arbtui.domain.offchain_order import OrderStatus
from arbtui.domain.values import Direction, Symbol
from arbtui.engine.alerts import Alert, Severity
from arbtui.engine.lifecycle import Engine
from arbtui.tui import ArbtuiApp
from arbtui.tui.screens import ConfirmScreen, HedgeScreen, HelpScreen, ReasonScreen
from arbtui.tui.widgets import AccumulatorsPane, AlertLog, FillsPane, StatusBar
from tests.builders import block, make_fill
from tests.tui.conftest import ACTOR, open_engine, until


async def _controls(engine: Engine) -> control.Control:
    state, _ = await engine.store.load(control.SPEC, control.CONTROL_ID)
    return state


async def test_p_records_a_pause_through_the_engine(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press("enter")  # the suggested reason
        await until(pilot, lambda: app.view.control.paused_all is not None)
        paused = (await _controls(engine)).paused_all
        assert paused is not None
        assert (paused.actor, paused.reason) == (ACTOR, "paused from the console")
        assert app.query_one("#banner").display
        await app.stop_engine()


async def test_escape_on_the_reason_records_nothing(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("k", "escape")
        await pilot.pause(0.2)
        assert (await _controls(engine)).kill_switch is None
        await app.stop_engine()


async def _fill_hedge_form(pilot: Pilot[int], shares: str, reason: str) -> None:
    """`h`, then symbol AAPL, side buy, ``shares`` and ``reason``: the review step (the order in words)."""
    app = pilot.app
    await pilot.press("h")
    await until(pilot, lambda: isinstance(app.screen, HedgeScreen))
    await pilot.press(*"aapl", "tab", "enter")  # symbol; side: open the list…
    await pilot.pause(0.1)
    await pilot.press("down", "enter")  # …and pick "buy"
    assert app.screen.query_one("#side", Select).value is Direction.BUY
    app.screen.query_one("#shares", Input).focus()
    await pilot.press(*shares, "tab", *reason)


async def test_hedge_modal_within_the_open_net_fills_on_the_dry_run_broker(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await engine.ledger.record_range([make_fill(1, "0.4", Direction.SELL)], [], block(1))  # net −0.4, a price
        await until(pilot, lambda: "AAPL" in app.view.positions)
        await _fill_hedge_form(pilot, "0.4", "rebalance after outage")
        await pilot.press("enter")
        words = str(app.screen.query_one("#words").render())
        assert "BUY 0.4 shares of AAPL at market on dry_run" in words
        assert "open net" not in words
        await pilot.press("y")
        await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders), 15)
        [manual] = [v.state for v in app.view.orders if v.state.trigger_reason == "manual"]
        order, _ = await engine.store.load(offchain_order.SPEC, manual.execution_id)
        assert (order.status, order.direction, str(order.shares)) == (OrderStatus.FILLED, Direction.BUY, "0.4")
        rows = await engine.store.query(
            "SELECT json_extract(payload, '$.audit.actor'), json_extract(payload, '$.audit.reason') FROM events"
            " WHERE event_type = 'ManualHedgeRequested'"
        )
        assert [tuple(r) for r in rows] == [(ACTOR, "rebalance after outage")]
        assert Symbol("AAPL") not in (await _controls(engine)).paused_symbols
        await app.stop_engine()


async def test_hedge_modal_beyond_the_open_net_needs_the_over_hedge_box_which_pauses_the_symbol(
    engine: Engine,
) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await engine.ledger.record_range([make_fill(1, "0.4", Direction.SELL)], [], block(1))  # net −0.4, a price
        await until(pilot, lambda: "AAPL" in app.view.positions)

        await _fill_hedge_form(pilot, "2", "rebalance after outage")
        await pilot.press("enter", "y")  # box not ticked: the engine refuses, nothing is recorded
        await until(pilot, lambda: any(n.severity == "error" for n in app._notifications))
        [refusal] = [n.message for n in app._notifications if n.severity == "error"]
        assert "open net is -0.4" in refusal
        assert "--allow-overhedge" in refusal
        assert not app.view.orders
        assert not await engine.store.query("SELECT 1 FROM events WHERE event_type = 'ManualHedgeRequested'")

        await _fill_hedge_form(pilot, "2", "rebalance after outage")
        app.screen.query_one("#overhedge", Checkbox).focus()
        await pilot.press("space", "shift+tab", "enter")  # tick it; back on the reason, Enter reviews
        words = str(app.screen.query_one("#words").render())
        assert "BUY 2 shares of AAPL at market on dry_run" in words
        assert "automatic hedging of AAPL will be paused" in words
        await pilot.press("y")
        await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders), 15)
        [manual] = [v.state for v in app.view.orders if v.state.trigger_reason == "manual"]
        assert (manual.direction, str(manual.shares)) == (Direction.BUY, "2")
        paused = (await _controls(engine)).paused_symbols[Symbol("AAPL")]
        assert paused.actor == ACTOR
        assert "over-hedge by hand" in paused.reason
        await app.stop_engine()


async def test_quit_with_an_execution_in_flight_asks_first(tmp_path: Path) -> None:
    broker = DryRunBroker(DryRunConfig(market_open=False))  # the hedge waits for the open: in flight
    engine = await open_engine(tmp_path / "ledger.db", broker)
    app = ArbtuiApp(engine, actor=ACTOR)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, app.engine_started.is_set)
            await engine.ledger.record_range([make_fill(1, "1.5")], [], block(1))
            await until(pilot, lambda: len(app.view.in_flight) == 1)
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")  # stay
            await pilot.pause(0.1)
            assert app.is_running
            assert not isinstance(app.screen, ConfirmScreen)
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("y")  # quit anyway: the engine stops gracefully, the order stays in the ledger
            await until(pilot, lambda: not app.is_running)
        assert app.return_code == 0
    finally:
        await engine.ledger.close()


async def test_quit_without_executions_in_flight_stops_at_once(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("q")
        await until(pilot, lambda: not app.is_running)
    assert app.return_code == 0


async def test_fills_recorded_by_the_ledger_appear_newest_first(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        for n in range(1, 4):
            fill = make_fill(n, "0.25", Direction.BUY, symbol="MSFT", price="410.5", block_number=100 + n)
            await engine.ledger.record_range([fill], [], block(100 + n))
        pane = app.query_one(FillsPane)
        await until(pilot, lambda: pane.row_count == 3)
        blocks = [pane.get_row_at(i)[1] for i in range(3)]
        assert blocks == ["103", "102", "101"]
        assert pane.get_row_at(0)[5] == "410.50"
        assert app.view.unhedged_usd() == Decimal("0.75") * Decimal("410.5")
        await app.stop_engine()


async def test_console_opened_on_an_existing_ledger_shows_its_history(engine: Engine) -> None:
    await engine.ledger.record_range([make_fill(1, "0.5", symbol="NVDA", block_number=7)], [], block(7))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.seeded.is_set)
        await until(pilot, lambda: app.query_one(FillsPane).row_count == 1)
        assert "NVDA" in app.view.positions
        await app.stop_engine()


async def test_f_filters_alerts_and_question_mark_opens_help(engine: Engine) -> None:

    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        engine.alerts.raise_(Alert("a", Severity.WARNING, "broker slow", action="wait"))
        engine.alerts.raise_(Alert("b", Severity.CRITICAL, "engine unhappy", action="call someone"))
        log = app.query_one(AlertLog)
        await until(pilot, lambda: len(log.lines) == 2)
        await pilot.press("f", "f")  # critical only
        await pilot.pause(0.05)
        assert len(log.lines) == 1
        assert "engine unhappy" in log.lines[0].text
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        await pilot.press("escape")
        await app.stop_engine()


async def test_r_on_a_selected_symbol_resumes_only_that_symbol(engine: Engine) -> None:

    await engine.ledger.record_range([make_fill(1, "0.5", symbol="MSFT")], [], block(1))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await engine.control.pause(Symbol("MSFT"), actor="ops", reason="check the feed")
        await until(pilot, lambda: "MSFT" in app.view.control.paused_symbols)
        app.query_one(AccumulatorsPane).focus()
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press("enter")
        await until(pilot, lambda: "MSFT" not in app.view.control.paused_symbols)
        assert (await _controls(engine)).paused_all is None
        await app.stop_engine()


async def test_history_replays_a_position_from_the_ledger(engine: Engine) -> None:
    await engine.ledger.record_range([make_fill(1, "0.5", symbol="NVDA")], [], block(1))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(100, 30)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("y")
        await pilot.pause(0.1)
        await pilot.press(*"nvda", "enter")
        result = app.screen.query_one("#result")
        await until(pilot, lambda: "NVDA at now" in str(result.render()))
        assert "-0.5" in str(result.render())
        await pilot.press("escape")
        await app.stop_engine()


async def test_alert_lines_wrap_to_the_pane_and_rewrap_when_it_widens(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, app.engine_started.is_set)
        action = "arbtui events --aggregate OnChainTrade:0x" + "ab" * 32 + ":3"
        engine.alerts.raise_(Alert("s", Severity.WARNING, "skipped fill: unknown token", action=action))
        log = app.query_one(AlertLog)
        await until(pilot, lambda: len(log.lines) > 1)
        narrow = len(log.lines)
        assert all(line.cell_length <= log.scrollable_content_region.width for line in log.lines)
        await pilot.resize_terminal(200, 40)
        await until(pilot, lambda: len(log.lines) < narrow)
        assert len(log.lines) == 1  # 200 columns hold the whole line
        await app.stop_engine()


async def test_a_status_line_wider_than_the_terminal_wraps_and_never_cuts_the_exposure(tmp_path: Path) -> None:
    """At 80 columns, a closed market's next open, alerts a sink missed, executions in flight and the
    unhedged exposure do not fit one line: the bar takes a second line instead of cutting the exposure."""
    server = AlpacaServer()
    await server.start()
    server.market_open = False
    server.next_open = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)
    broker = AlpacaBroker(
        AlpacaConfig(api_key=SecretStr(server.api_key), api_secret=SecretStr(server.api_secret), base_url=server.url)
    )
    engine = await open_engine(tmp_path / "ledger.db", broker)
    app = ArbtuiApp(engine, actor=ACTOR)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            await until(pilot, lambda: app.status is not None)
            assert app.status is not None
            bar = app.query_one(StatusBar)
            bar.show(replace(app.status, alerts_undelivered=3), Decimal("1234567.891"), 2)  # as a busy view would
            await until(pilot, lambda: bar.region.height == 2)
            shown = " ".join(strip.text for strip in bar.render_lines(Region(0, 0, bar.size.width, bar.size.height)))
            assert "2 in flight" in shown
            assert "unhedged $1,234,567.89" in shown
            await app.stop_engine()
    finally:
        await engine.ledger.close()
        await server.stop()


async def test_a_closed_weekend_with_nothing_pending_shows_closed_and_the_next_open(tmp_path: Path) -> None:
    """The status bar says what the broker's clock says (it once inferred "open" from the absence of a
    waiting hedge). Saturday, nothing in flight: CLOSED, opening Monday 09:30 in New York."""
    server = AlpacaServer()
    await server.start()
    server.market_open = False
    server.next_open = datetime(2026, 12, 7, 14, 30, tzinfo=UTC)  # Monday 09:30 ET
    broker = AlpacaBroker(
        AlpacaConfig(api_key=SecretStr(server.api_key), api_secret=SecretStr(server.api_secret), base_url=server.url)
    )
    engine = await open_engine(tmp_path / "ledger.db", broker)
    app = ArbtuiApp(engine, actor=ACTOR)
    try:
        async with app.run_test(size=(120, 24)) as pilot:
            await until(pilot, lambda: app.status is not None)
            assert not app.view.in_flight
            assert "market CLOSED · opens Mon 09:30 ET" in str(app.query_one(StatusBar).render())

            server.market_open = True  # the next scan asks the clock again
            await until(pilot, lambda: app.status is not None and app.status.market_open)
            await pilot.pause(0.1)
            assert "market open · closes" in str(app.query_one(StatusBar).render())
            await app.stop_engine()
    finally:
        await engine.ledger.close()
        await server.stop()
