"""Enter on a pane's row opens that fill's, order's or position's detail, read from the ledger: the values
shown are the ledger's exact ones, an order's timeline lists every event of its ``OffchainOrder`` in
order; ``c``/``x`` copy the id and the CLI command; ``?`` lists the keys of the screen it is pressed on,
read from the bindings. A real engine on a temp SQLite ledger and the dry-run broker, nothing mocked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import Input, Static

from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.offchain_order import OrderStatus
from arbtui.domain.onchain_trade import Enrich, PythMethod, PythPrice, Unwrapped
from arbtui.domain.values import Direction, Shares, Symbol
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.detail import Kind, command
from arbtui.store.log import LogReader
from arbtui.store.migrate import connect_sync
from arbtui.store.read_model import LedgerReadModel
from arbtui.tui import ArbtuiApp
from arbtui.tui.screens import DetailScreen, HelpScreen, ReasonScreen
from arbtui.tui.screens.detail import RelatedList
from arbtui.tui.screens.pnl import PnlScreen
from arbtui.tui.widgets import AccumulatorsPane, AlertLog, FillsPane, OrdersPane
from arbtui.tui.widgets._detail import DetailTable
from arbtui.tui.widgets._lines import LineTable
from tests.builders import block, make_fill
from tests.tui.conftest import ACTOR, until

PRICE = PythPrice(
    feed_id="0x" + "ab" * 32,
    value=18712345678,
    conf=1234,
    expo=-8,
    publish_time=1_790_000_000,
    method=PythMethod.BLOCK_END,
)


def _wrapped_fill() -> onchain_trade.OnChainFill:
    """2.5 tAAPL underlying for 2 wtAAPL at 1.25 (the V6 demo's wrapper), read from a ``TakeOrderV3``."""
    fill = make_fill(1, "2.5", Direction.SELL, price="187.123456", block_number=41)
    return fill.model_copy(
        update={
            "token_symbol": "wtAAPL",
            "source_event": "TakeOrderV3",
            "orderbook": "0x" + "0b" * 20,
            "unwrapped": Unwrapped(
                wrapper_amount=Shares("2"),
                wrapper_raw=2 * 10**18,
                wrapper_decimals=18,
                asset_address="0x" + "a1" * 20,
                asset_symbol="tAAPL",
                rate=Decimal("1.25"),
            ),
        }
    )


async def _open_detail(pilot: Pilot[int], pane: LineTable, key: str) -> DetailScreen:
    """Focus ``pane``, put the cursor on ``key``'s row, press Enter; the detail once it has read the ledger."""
    app = pilot.app
    await until(pilot, lambda: pane.cursor_key is not None)
    pane.focus()
    await pilot.press("home")
    while pane.cursor_key != key:
        before = pane.cursor_row
        await pilot.press("down")
        assert pane.cursor_row != before, f"{key} is not a row of the pane"
    await pilot.press("enter")
    await until(pilot, lambda: isinstance(app.screen, DetailScreen))
    screen = app.screen
    assert isinstance(screen, DetailScreen)
    await until(pilot, lambda: screen.detail is not None)
    return screen


def step_of(text: str, event_type: str) -> list[str]:
    """The lines of the first timeline step of ``event_type`` — its head line, then its fields (stripped)."""
    lines = [line.strip() for line in text.splitlines()]
    start = next(i for i, line in enumerate(lines) if line.startswith("#") and f"  {event_type}" in line)
    end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("#") or not lines[i]), len(lines))
    return lines[start:end]


def _shown(screen: DetailScreen) -> str:
    return str(screen.query_one("#content", Static).render())


def _ledger_events(db: Path, aggregate_type: str, aggregate_id: str) -> list[tuple[int, str, dict[str, object]]]:
    conn = connect_sync(db, readonly=True)
    try:
        events = LogReader(conn).events(aggregate_type=aggregate_type, aggregate_id=aggregate_id)
    finally:
        conn.close()
    return [(e.sequence, e.event.event_type(), e.metadata) for e in events]


async def test_enter_on_a_fill_shows_the_ledgers_exact_values_and_the_executions_it_went_into(
    engine: Engine,
) -> None:
    wrapped = _wrapped_fill()
    await engine.ledger.record_range([wrapped], [], block(41))  # net −2.5 → BUY 2, carry −0.5
    await engine.ledger.enrich(wrapped.trade_id, Enrich(gas_used=123456, pyth_price=PRICE, detail=""))
    trade_id = str(wrapped.trade_id)
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        pane = app.query_one(FillsPane)
        await until(pilot, lambda: pane.row_count == 1)
        screen = await _open_detail(pilot, pane, trade_id)
        stored, version = await engine.store.load(onchain_trade.SPEC, trade_id)
        assert screen.detail is not None
        assert (screen.detail.state, screen.detail.version) == (stored, version)
        shown = _shown(screen)
        fill = stored.fill
        assert fill is not None
        for exact in (
            trade_id,
            fill.trade_id.tx_hash,
            f"log index          {fill.trade_id.log_index}",
            f"block              {fill.block_number}",
            "orderbook version  V5/V6 (TakeOrderV3)",
            f"orderbook          {'0x' + '0b' * 20}",
            f"{fill.token_symbol} {fill.token_address}",
            f"shares             {fill.amount}",
            f"shares raw         {fill.shares_raw} (18 decimals)",
            f"USDC raw           {fill.usdc_raw} (18 decimals)",
            f"price USDC/share   {fill.price_usdc}",
            "wrapper amount      2 wtAAPL",
            f"wrapper raw         {2 * 10**18} (18 decimals)",
            "rate                1.25 tAAPL per wtAAPL",
            f"value         {PRICE.value}",
            f"conf          {PRICE.conf}",
            f"expo          {PRICE.expo}",
            f"publish time  {PRICE.publish_time} (2026-09-21T14:13:20Z)",
            "price         187.12345678",
            "read by       block_end: getPriceUnsafe by eth_call at the end of block 41",
        ):
            assert exact in shown, exact
        [hedge] = [v.state for v in app.view.orders]
        assert f"{hedge.execution_id}  2 shares · BUY · placed on threshold" in shown
        await app.stop_engine()


async def test_enter_on_an_order_lists_every_event_of_it_in_order_with_time_actor_and_step_latency(
    engine: Engine,
) -> None:
    await engine.ledger.record_range([make_fill(1, "0.4", Direction.SELL)], [], block(1))  # net −0.4, a price
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        execution = await engine.control.manual_hedge(
            Symbol("AAPL"), Direction.BUY, Shares("0.4"), actor=ACTOR, reason="rebalance"
        )
        await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders), 15)
        screen = await _open_detail(pilot, app.query_one(OrdersPane), execution)
        logged = _ledger_events(engine.store.path, offchain_order.AGGREGATE, execution)
        assert [step[1] for step in logged] == ["Placed", "Submitted", "OrderFilled"]
        assert screen.detail is not None
        assert [(e.sequence, e.event.event_type()) for e in screen.detail.events] == [s[:2] for s in logged]
        lines = _shown(screen).splitlines()
        timeline = [line for line in lines if line.lstrip().startswith("#")]
        assert [line.split()[0] for line in timeline] == [f"#{n}" for n, _, _ in logged]
        times = [datetime.fromisoformat(str(meta["recorded_at"])) for _, _, meta in logged]
        for line, (_, event_type, _), at, previous in zip(timeline, logged, times, [None, *times], strict=False):
            assert event_type in line
            assert at.astimezone(UTC).isoformat().replace("+00:00", "Z") in line
            if previous is not None:  # the time since this order's previous event, exact
                gap = Decimal((at - previous) // timedelta(microseconds=1)).scaleb(-6)
                assert f"+{gap.normalize() if gap else 0:f}s" in line
        assert f"  {ACTOR}  Placed" in timeline[0]  # the operator placed it…
        assert "  engine  Submitted" in timeline[1]  # …the bot drove it at the broker
        stored, _ = await engine.store.load(offchain_order.SPEC, execution)
        assert f"broker order id  {stored.broker_order_id}" in _shown(screen)
        assert stored.price_cents is not None
        assert f"{stored.price_cents.to_price()} USD/share ({stored.price_cents} cents)" in _shown(screen)
        await app.stop_engine()


async def test_enter_on_an_accumulator_shows_the_positions_events_and_the_threshold_decisions(
    engine: Engine,
) -> None:
    await engine.ledger.record_range([make_fill(1, "0.75", symbol="MSFT", price="410.5")], [], block(1))
    await engine.ledger.record_range([make_fill(2, "0.5", symbol="MSFT", price="410.5")], [], block(2))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders), 15)
        screen = await _open_detail(pilot, app.query_one(AccumulatorsPane), "MSFT")
        stored, version = await engine.store.load(position.SPEC, "MSFT")
        assert screen.detail is not None
        assert screen.detail.version <= version  # the read may precede a later event; never more
        shown = _shown(screen)
        logged = _ledger_events(engine.store.path, position.AGGREGATE, "MSFT")[: screen.detail.version]
        for sequence, event_type, _ in logged:
            assert any(line.lstrip().startswith(f"#{sequence} ") and event_type in line for line in shown.splitlines())
        placed = step_of(shown, "OffChainOrderPlaced")
        assert "OffChainOrderPlaced  (via block:2)" in placed[0]  # the commit that decided it
        fields = dict(line.split(None, 1) for line in placed[1:])
        assert fields["trigger_reason"] == "threshold"  # why
        first, second = (str(make_fill(n, "1", symbol="MSFT").trade_id) for n in (1, 2))
        assert (fields["contributions[0].source"], fields["contributions[0].shares"]) == (first, "-0.75")
        assert (fields["contributions[1].source"], fields["contributions[1].shares"]) == (second, "-0.25")
        assert f"net (to hedge)  {stored.net}" in shown
        await app.stop_engine()


async def test_c_copies_the_full_id_and_x_the_command_that_prints_the_same_detail(engine: Engine) -> None:
    fill = make_fill(1, "0.5", symbol="NVDA")
    await engine.ledger.record_range([fill], [], block(1))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        pane = app.query_one(FillsPane)
        await until(pilot, lambda: pane.row_count == 1)
        pane.focus()
        await pilot.press("c")  # on the pane: the selected row's id, in full (the pane shows it short)
        assert app.clipboard == str(fill.trade_id)
        screen = await _open_detail(pilot, pane, str(fill.trade_id))
        await pilot.press("x")
        assert app.clipboard == command(Kind.FILL, str(fill.trade_id), engine.store.path)
        assert app.clipboard in str(screen.query_one("#command", Static).render())
        app.copy_to_clipboard("")
        await pilot.press("c")
        assert app.clipboard == str(fill.trade_id)
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))
        await app.stop_engine()


async def test_question_mark_lists_every_key_of_the_main_screen_from_its_bindings(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        app.query_one(FillsPane).focus()
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {(k.key, k.description, k.where) for k in help_screen.keys}
        for binding in ArbtuiApp.BINDINGS:  # every key of the app, as declared
            assert isinstance(binding, Binding)
            shown = app.get_key_display(binding)
            assert (shown, binding.description, "everywhere") in listed, binding
        tables = "Onchain fills; when focused: Accumulators, Broker orders"  # the other panes' own keys too
        assert (app.get_key_display(_binding(DetailTable, "enter")), "Detail", tables) in listed
        assert ("c", "Copy id", tables) in listed
        assert (app.get_key_display(Binding("down", "")), "Down", tables) in listed
        assert next(k.where for k in help_screen.keys) == "everywhere"  # the console's keys first
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, HelpScreen))
        await app.stop_engine()


async def test_question_mark_on_a_detail_lists_the_details_own_keys(engine: Engine) -> None:
    await engine.ledger.record_range([make_fill(1, "0.5", symbol="NVDA")], [], block(1))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await _open_detail(pilot, app.query_one(AccumulatorsPane), "NVDA")
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {(k.key, k.description) for k in help_screen.keys}
        for binding in DetailScreen.BINDINGS:
            assert isinstance(binding, Binding)
            assert (app.get_key_display(binding), binding.description) in listed
        assert not any(k.description == "Pause" for k in help_screen.keys)  # the app's keys stop at a modal
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen))
        await app.stop_engine()


async def test_the_footer_shows_a_panes_own_keys_only_while_it_has_focus(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        app.query_one(OrdersPane).focus()
        await pilot.pause()
        active = app.screen.active_bindings
        assert isinstance(active["enter"].node, OrdersPane)
        assert active["enter"].binding.show
        assert not active["f"].binding.show  # the alert filter works from here, shown where it applies:
        app.query_one(AlertLog).focus()
        await pilot.pause()
        active = app.screen.active_bindings
        assert "enter" not in active
        assert isinstance(active["f"].node, AlertLog)
        assert active["f"].binding.show
        app.query_one(AccumulatorsPane).focus()  # p and r act on the selected symbol here, and say so
        await pilot.pause()
        active = app.screen.active_bindings
        assert (active["p"].binding.description, active["r"].binding.description) == ("Pause symbol", "Resume symbol")
        await app.stop_engine()


def _binding(widget: type[LineTable], key: str) -> Binding:
    [found] = [b for b in widget.BINDINGS if isinstance(b, Binding) and b.key == key]
    return found


async def test_question_mark_on_a_dialog_that_does_not_bind_it_lists_that_dialogs_keys(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("g")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        listed = {(k.key, k.description, k.where) for k in help_screen.keys}
        assert (app.get_key_display(Binding("escape", "")), "Close", "this screen") in listed
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, PnlScreen))
        await pilot.press("y")  # not a key of the PnL screen: nothing opens
        await pilot.pause(0.05)
        assert isinstance(app.screen, PnlScreen)
        await app.stop_engine()


async def test_question_mark_typed_in_a_reason_is_text_not_help(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("p")
        await until(pilot, lambda: isinstance(app.screen, ReasonScreen))
        await pilot.press("question_mark")
        await pilot.pause(0.05)
        assert isinstance(app.screen, ReasonScreen)
        assert app.screen.query_one(Input).value.endswith("?")
        await pilot.press("escape")
        await app.stop_engine()


async def test_an_open_detail_follows_the_ledger_when_its_aggregate_changes(engine: Engine) -> None:
    await engine.ledger.record_range([make_fill(1, "0.25", symbol="NVDA")], [], block(1))
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        screen = await _open_detail(pilot, app.query_one(AccumulatorsPane), "NVDA")
        assert screen.detail is not None
        before = screen.detail.version
        await engine.ledger.record_range([make_fill(2, "0.5", symbol="NVDA", block_number=2)], [], block(2))
        await until(pilot, lambda: screen.detail is not None and screen.detail.version > before)
        _, version = await engine.store.load(position.SPEC, "NVDA")
        assert screen.detail.version == version
        assert f"#{version} " in _shown(screen)
        assert "net (to hedge)  -0.75" in _shown(screen)
        await app.stop_engine()


async def test_a_ledger_that_cannot_be_read_is_one_line_in_the_detail_and_the_console_carries_on(
    engine: Engine, tmp_path: Path
) -> None:
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        screen = DetailScreen(LedgerReadModel(tmp_path / "gone" / "ledger.db"), Kind.POSITION, "AAPL")
        await app.push_screen(screen)
        await until(pilot, lambda: "cannot read the ledger" in _shown(screen))
        assert f"cannot open database {tmp_path / 'gone' / 'ledger.db'}" in _shown(screen)
        assert len(_shown(screen).splitlines()) == 1
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, DetailScreen))
        assert app.is_running
        assert engine.fault is None
        await app.stop_engine()


async def test_a_linked_record_opens_on_enter_and_c_there_copies_its_id(engine: Engine) -> None:
    first, second = make_fill(1, "0.75", symbol="MSFT"), make_fill(2, "0.5", symbol="MSFT", block_number=2)
    await engine.ledger.record_range([first], [], block(1))
    await engine.ledger.record_range([second], [], block(2))  # net −1.25: BUY 1 from 0.75 of the first, 0.25 of this
    app = ArbtuiApp(engine, actor=ACTOR)
    async with app.run_test(size=(160, 50)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await until(pilot, lambda: any(v.state.status is OrderStatus.FILLED for v in app.view.orders), 15)
        [hedge] = [v.state for v in app.view.orders]
        fill_detail = await _open_detail(pilot, app.query_one(FillsPane), str(second.trade_id))
        related = fill_detail.query_one(RelatedList)
        await until(pilot, lambda: related.option_count == 1)
        await pilot.press("tab")
        assert related.has_focus
        await pilot.press("c")
        assert app.clipboard == hedge.execution_id
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, DetailScreen) and app.screen is not fill_detail)
        order_detail = app.screen
        assert isinstance(order_detail, DetailScreen)
        assert (order_detail.kind, order_detail.key) == (Kind.ORDER, hedge.execution_id)
        await until(pilot, lambda: order_detail.detail is not None)
        stored, _ = await engine.store.load(offchain_order.SPEC, hedge.execution_id)
        assert order_detail.detail is not None
        assert order_detail.detail.state == stored
        shares = {link.trade_id: str(link.shares) for link in order_detail.detail.links}
        assert shares == {str(first.trade_id): "0.75", str(second.trade_id): "0.25"}
        await pilot.press("escape")
        await until(pilot, lambda: app.screen is fill_detail)
        await app.stop_engine()


async def test_a_read_only_consoles_help_lists_no_operator_action(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor=ACTOR, read_only=True)
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        described = {k.description for k in help_screen.keys}
        assert {"Help", "Quit", "History", "PnL"} <= described
        assert not described & {"Pause", "Resume", "Kill", "Hedge"}
        await app.stop_engine()
