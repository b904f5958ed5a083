"""The operator console: hosts the engine in its own event loop and renders what the engine's bus publishes.

Thin composition: the panes (``widgets/``) render rows, the model (``model.py``) folds bus messages
(:data:`~arbtui.engine.messages.EngineMessage`: commits, alerts, readiness, the market, intake's reports)
into an immutable view, and the workers here do the I/O — starting and stopping the engine, reading the
bus, sending operator commands through ``engine.control`` — and only post messages. Only the handlers
(``on_view_changed``, ``on_command_finished``, ``on_engine_halted``) touch widgets; Enter on a pane's row
(``on_detail_requested``) opens its detail, which reads the ledger through the read-model port.
"""

from __future__ import annotations

import asyncio
import gc
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar, TypeVar

from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Footer

from arbtui.domain.errors import DomainError
from arbtui.domain.values import Symbol
from arbtui.engine.bus import Subscription
from arbtui.engine.ports import HostedEngine, StoreError
from arbtui.reporting.inventory import InventoryReader
from arbtui.tui.messages import CommandFinished, DetailRequested, EngineHalted, EngineStatus, ViewChanged
from arbtui.tui.model import MAX_FILLS, MAX_ORDERS, ConsoleView, fold, seeded
from arbtui.tui.screens import (
    ConfirmScreen,
    DetailScreen,
    HedgeRequest,
    HedgeScreen,
    HelpScreen,
    HistoryScreen,
    ReasonScreen,
)
from arbtui.tui.widgets import AccumulatorsPane, AlertLog, ControlBanner, FillsPane, OrdersPane, StatusBar
from arbtui.tui.widgets.alert_log import FILTER_TIP
from arbtui.tui.widgets.live_inventory import LiveInventoryPane

BURST = 1000
"""Bus messages folded into one view before it is posted (a burst of fills is one repaint)."""
FRAME_S = 0.05
"""At most one view per 50 ms: under a stream of fills the console repaints 20 times a second with
everything that arrived meanwhile, instead of once per fill (bench/console measures the lag)."""
HEDGE_AGE_TICK_S = 1.0
"""How often the open hedges' age is redrawn while one is open."""


def console_actor() -> str:
    """``console:<login>``: who the audit trail names for actions taken here."""
    return f"console:{getpass.getuser()}"


Pane = TypeVar("Pane", bound=Widget)

OPERATOR_ACTIONS = frozenset({"pause", "resume", "kill", "hedge"})
"""The actions that change what the bot does; a read-only console has none of them."""


class ArbtuiApp(App[int]):
    """``ArbtuiApp(engine).run()``: starts the engine on mount, stops it gracefully on quit.
    The return code is 0, or 1 when the engine halted on a fault."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("p", "pause", "Pause", tooltip="every symbol, or the one selected in Accumulators (a reason; audited)"),
        Binding(
            "r", "resume", "Resume", tooltip="every symbol, or the selected one; what is past threshold hedges at once"
        ),
        Binding("k", "kill", "Kill", tooltip="kill switch: no hedge at all, manual included; again to clear it"),
        Binding("h", "hedge", "Hedge", tooltip="symbol, side, shares, reason, then a confirmation in words"),
        # works from any pane; the footer shows it while the alert log has focus (declared there too)
        Binding("f", "filter_alerts", "Filter", show=False, tooltip=FILTER_TIP),
        Binding("y", "history", "History", show=False, tooltip="a position as it was at a past instant (read-only)"),
        Binding("g", "pnl", "PnL", show=False, tooltip="PnL per symbol, its chart, inventory across venues"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="the keys of the current screen"),
        Binding("q", "quit", "Quit", tooltip="stops the engine gracefully (asks first while executions are in flight)"),
    ]
    CSS_PATH = Path(__file__).with_name("app.tcss")  # absolute: subclasses elsewhere (bench) find it too
    HORIZONTAL_BREAKPOINTS = [  # noqa: RUF012  (Textual declares it as an instance attribute)
        (0, "-narrow"),
        (110, "-wide"),
    ]
    TITLE = "arbtui"

    def __init__(
        self,
        engine: HostedEngine,
        *,
        actor: str | None = None,
        clock: Callable[[], datetime] | None = None,
        frame_s: float = FRAME_S,
        inventory: InventoryReader | None = None,
        read_only: bool = False,
    ) -> None:
        super().__init__()
        self.engine = engine
        self.read_only = read_only
        """Panes only: no key reaches pause, resume, kill or hedge (``arbtui serve --read-only``)."""
        self.inventory = inventory
        self.actor = actor or console_actor()
        self.clock = clock or (lambda: datetime.now(UTC))
        self.frame_s = frame_s
        self.view = ConsoleView()
        """The last view rendered (read by actions and tests; replaced, never mutated)."""
        self.status: EngineStatus | None = None
        """What the status bar shows, from the view's readiness and market (``None`` until the first)."""
        self.seeded = asyncio.Event()
        self.engine_started = asyncio.Event()
        self._engine_stopped = False

    def compose(self) -> ComposeResult:
        with Vertical(id="top"):
            yield StatusBar(id="status")
            yield ControlBanner(id="banner")
        with Grid(id="panes", classes="" if self.inventory is None else "-inventory"):
            yield FillsPane(id="fills")
            yield AccumulatorsPane(id="accumulators")
            yield OrdersPane(id="orders")
            if self.inventory is not None:  # no [inventory.vaults]: no pane
                yield LiveInventoryPane(self.inventory, clock=self.clock, id="live-inventory")
            yield AlertLog(id="alerts")
        yield Footer(show_command_palette=False)  # ctrl+p still opens it (`?` lists it): room for the pane's keys

    def on_mount(self) -> None:
        # The console owns its process. Everything built so far (modules, Textual's widgets, the engine)
        # lives as long as it does: keep that out of the collector's scans, and collect the youngest
        # generation less often — the collector's pauses were the worst frame times (bench/console: p99
        # 411 → 143 ms at 200 fills/s).
        gc.freeze()
        _, young, old = gc.get_threshold()
        gc.set_threshold(50_000, young, old)
        self._pane(ControlBanner).display = False
        self._pane(StatusBar).show(None, self.view.unhedged_usd(), 0)
        self.set_interval(HEDGE_AGE_TICK_S, self._refresh_hedge_ages)
        subscription = self.engine.subscribe()  # before the seed and the start: nothing is missed
        self._listen(subscription)
        self._run_engine()

    # --- workers: I/O only, they post messages ------------------------------------------------

    @work(group="bus", exit_on_error=True)
    async def _listen(self, subscription: Subscription) -> None:
        view = seeded(await asyncio.to_thread(self.engine.read_model.seed, fills=MAX_FILLS, orders=MAX_ORDERS))
        self.post_message(ViewChanged(view))
        self.seeded.set()
        while True:
            shown = view
            view = fold(view, await subscription.get(), self.clock)
            for _ in range(BURST):
                try:
                    message = subscription.queue.get_nowait()
                except asyncio.QueueEmpty:
                    break
                view = fold(view, message, self.clock)
            if view is not shown:  # messages that change nothing shown (most of intake's) repaint nothing
                self.post_message(ViewChanged(view))
            await asyncio.sleep(self.frame_s)

    @work(group="engine", exit_on_error=True)
    async def _run_engine(self) -> None:
        await self.seeded.wait()
        await self.engine.start()
        self.engine_started.set()
        await self.engine.wait()
        if self.engine.fault is not None:
            self.post_message(EngineHalted(repr(self.engine.fault)))

    @work(group="commands")
    async def _command(self, done: str, command: Callable[[], Awaitable[object]]) -> None:
        try:
            await command()
        except (DomainError, StoreError) as exc:
            self.post_message(CommandFinished(str(exc), refused=True))
        else:
            self.post_message(CommandFinished(done, refused=False))

    @work(group="engine", exclusive=True)
    async def _stop_and_exit(self) -> None:
        await self.stop_engine()
        self.exit(1 if self.engine.fault is not None else 0)

    async def on_unmount(self) -> None:
        """However the app ends (quit, ctrl+c, a test harness), the engine stops gracefully."""
        await self.stop_engine()

    async def stop_engine(self) -> bool:
        """Stop the engine once (idempotent). True when every broker call in flight finished in time."""
        if self._engine_stopped:
            return True
        self._engine_stopped = True
        return await self.engine.stop()

    # --- handlers: the only code that changes widgets -----------------------------------------

    def _pane(self, kind: type[Pane]) -> Pane:
        """A pane of the console's own screen, whichever screen (a modal, the PnL screen) is on top."""
        return self.screen_stack[0].query_one(kind)

    def on_view_changed(self, message: ViewChanged) -> None:
        hedge_filled = message.view.hedge_fills != self.view.hedge_fills
        view = self.view = message.view
        try:
            fills = self._pane(FillsPane)
        except (IndexError, NoMatches):
            return  # a view that arrived while the console closes: its panes are gone
        if hedge_filled and self.inventory is not None:  # the broker's side moved: read it again
            self._pane(LiveInventoryPane).read_now()
        fills.show(view.fills)
        self._pane(AccumulatorsPane).show(view.positions, view.control, view.open_hedges(), self.clock())
        self._pane(OrdersPane).show(view.orders)
        self._pane(AlertLog).show(view.alerts)
        self._pane(ControlBanner).show(view.control)
        if view.readiness is not None:
            self.status = EngineStatus(
                view.readiness,
                self.engine.venue,
                view.market,
                node_inconsistencies=view.node_inconsistencies,
                alerts_undelivered=view.alerts_undelivered,
                session=view.session,
            )
        self._pane(StatusBar).show(self.status, view.unhedged_usd(), len(view.in_flight))
        for screen in self.screen_stack[1:]:
            if isinstance(screen, DetailScreen):
                screen.follow(view)

    def _refresh_hedge_ages(self) -> None:
        """An open hedge's age moves with time, not with news: while one is open, the accumulators are
        drawn again each tick (only the rows whose cells changed are rendered)."""
        view = self.view
        if not view.in_flight:
            return
        try:
            pane = self._pane(AccumulatorsPane)
        except (IndexError, NoMatches):
            return
        pane.show(view.positions, view.control, view.open_hedges(), self.clock())

    def on_command_finished(self, message: CommandFinished) -> None:
        self.notify(message.text, severity="error" if message.refused else "information")

    def on_detail_requested(self, message: DetailRequested) -> None:
        self.push_screen(DetailScreen(self.engine.read_model, message.kind, message.key))

    def on_engine_halted(self, message: EngineHalted) -> None:
        self.notify(f"engine halted: {message.reason}", severity="error", timeout=3600)

    # --- actions ------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A read-only console has no operator actions (hidden from the footer, and never run)."""
        return not (self.read_only and action in OPERATOR_ACTIONS)

    def _refused_read_only(self) -> bool:
        if self.read_only:
            self.notify("read-only console: pause, resume, kill and hedge are disabled", severity="error")
        return self.read_only

    def _selected_symbol(self) -> str | None:
        pane = self._pane(AccumulatorsPane)
        return pane.selected_symbol if pane.has_focus else None

    def action_pause(self) -> None:
        if self._refused_read_only():
            return
        symbol = self._selected_symbol()
        target = symbol or "every symbol"

        def send(reason: str | None) -> None:
            if reason is not None:
                self._command(
                    f"paused {target}",
                    lambda: self.engine.control.pause(_ticker(symbol), actor=self.actor, reason=reason),
                )

        self.push_screen(ReasonScreen(f"Pause hedging for {target}?", "paused from the console"), send)

    def action_resume(self) -> None:
        if self._refused_read_only():
            return
        symbol = self._selected_symbol()
        target = symbol or "every symbol"

        def send(reason: str | None) -> None:
            if reason is not None:
                self._command(
                    f"resumed {target}",
                    lambda: self.engine.control.resume(_ticker(symbol), actor=self.actor, reason=reason),
                )

        self.push_screen(ReasonScreen(f"Resume hedging for {target}?", "resumed from the console"), send)

    def action_kill(self) -> None:
        if self._refused_read_only():
            return
        if self.view.control.kill_switch is not None:

            def clear(reason: str | None) -> None:
                if reason is not None:
                    self._command(
                        "kill switch cleared",
                        lambda: self.engine.control.clear_kill_switch(actor=self.actor, reason=reason),
                    )

            self.push_screen(ReasonScreen("Clear the kill switch? Hedging starts again.", ""), clear)
            return

        def engage(reason: str | None) -> None:
            if reason is not None:
                self._command(
                    "kill switch engaged",
                    lambda: self.engine.control.engage_kill_switch(actor=self.actor, reason=reason),
                )

        self.push_screen(ReasonScreen("ENGAGE THE KILL SWITCH? No hedge at all, manual included.", ""), engage)

    def action_hedge(self) -> None:
        if self._refused_read_only():
            return

        def send(request: HedgeRequest | None) -> None:
            if request is None:
                return
            self._command(
                f"hedge sent: {request.in_words(self.engine.venue)}",
                lambda: self.engine.control.manual_hedge(
                    request.symbol,
                    request.direction,
                    request.shares,
                    actor=self.actor,
                    reason=request.reason,
                    allow_overhedge=request.allow_overhedge,
                ),
            )

        self.push_screen(HedgeScreen(self.engine.venue, self._selected_symbol()), send)

    def action_filter_alerts(self) -> None:
        shown = self._pane(AlertLog).cycle_filter()
        self.notify(f"alerts: {shown.value} and worse")

    def action_history(self) -> None:
        self.push_screen(HistoryScreen(self.engine.read_model, self._selected_symbol()))

    def action_pnl(self) -> None:
        from arbtui.tui.screens.pnl import PnlScreen

        self.push_screen(PnlScreen(self.engine.read_model, self.inventory))

    def action_help(self) -> None:
        self.push_screen(HelpScreen.of(self.screen))

    def key_question_mark(self) -> None:
        """``?`` that no binding took: on a dialog that does not bind it (the PnL screen, a confirmation),
        the keys of that dialog. A text field that has focus takes ``?`` as text first."""
        if not isinstance(self.screen, HelpScreen):
            self.action_help()

    async def action_quit(self) -> None:
        in_flight = len(self.view.in_flight) or self.engine.in_flight
        if not in_flight:
            self._stop_and_exit()
            return

        def answer(quit_anyway: bool | None) -> None:
            if quit_anyway:
                self._stop_and_exit()

        grace = self.engine.shutdown_timeout_s
        question = (
            f"{in_flight} execution(s) in flight. Quit anyway?\n"
            f"Broker calls get up to {grace:.0f} s to finish; anything unfinished resumes from the ledger next start."
        )
        self.push_screen(ConfirmScreen(question, yes="Quit"), answer)


def _ticker(symbol: str | None) -> Symbol | None:
    return Symbol(symbol) if symbol else None
