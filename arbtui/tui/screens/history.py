"""History: one position as it was at a past instant, replayed from the ledger over a read-only connection."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Input, Label, Static

from arbtui.domain.position import Position
from arbtui.engine.ports import ReadModel
from arbtui.tui.model import position_row
from arbtui.tui.widgets.accumulators import POSITION_COLUMNS


class HistoryScreen(ModalScreen[None]):
    """Type a symbol and an ISO instant (empty = now); Enter replays the position's events up to it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    class Replayed(Message):
        """The replay worker's result. Handled by ``HistoryScreen.on_history_screen_replayed``."""

        def __init__(self, state: Position, version: int, until: datetime | None) -> None:
            super().__init__()
            self.state = state
            self.version = version
            self.until = until

    def __init__(self, ledger: ReadModel, symbol: str | None = None) -> None:
        super().__init__()
        self._ledger = ledger
        self._symbol = symbol or ""

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label("Position at an instant (read-only replay of the ledger)", classes="question")
            yield Input(self._symbol, placeholder="symbol", id="symbol")
            yield Input(placeholder="instant, ISO 8601 UTC (empty: now)", id="until")
            yield Static("", id="result")
            yield Label("Enter to replay · Escape to close", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        symbol = self.query_one("#symbol", Input).value.strip().upper()
        text = self.query_one("#until", Input).value.strip()
        try:
            until = datetime.fromisoformat(text) if text else None
        except ValueError:
            self.notify(f"not an instant: {text!r}", severity="error")
            return
        if until is not None and until.tzinfo is None:
            until = until.replace(tzinfo=UTC)
        if symbol:
            self._replay(symbol, until)

    @work(thread=True, exclusive=True)
    def _replay(self, symbol: str, until: datetime | None) -> None:
        state, version = self._ledger.position_at(symbol, until)
        self.post_message(self.Replayed(state, version, until))

    def on_history_screen_replayed(self, message: HistoryScreen.Replayed) -> None:
        state, version, until = message.state, message.version, message.until
        when = until.isoformat() if until else "now"
        if version == 0:
            text = f"{state.symbol}: no events at or before {when}"
        else:
            pairs = zip(POSITION_COLUMNS, position_row(state, exact=True), strict=True)
            text = f"{state.symbol} at {when} ({version} events)\n" + "\n".join(f"  {k:<11} {v}" for k, v in pairs)
            text += f"\n  {'hedged':<11} {state.hedged}"
        self.query_one("#result", Static).update(text)

    def action_close(self) -> None:
        self.dismiss(None)
