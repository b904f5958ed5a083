"""The manual hedge modal: symbol, side, shares, reason (and, ticked on purpose, over-hedge) — then a
confirmation that says the order in words."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from textual import events
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label, Select

from arbtui.domain.values import Direction, InvalidAmount, InvalidSymbol, Shares, Symbol


@dataclass(frozen=True)
class HedgeRequest:
    """A manual hedge the operator confirmed."""

    symbol: Symbol
    direction: Direction
    shares: Shares
    reason: str
    allow_overhedge: bool = False
    """Beyond the open net too; the engine then pauses automatic hedging of the symbol (as the CLI's
    ``--allow-overhedge``)."""

    def in_words(self, venue: str) -> str:
        verb = "BUY" if self.direction is Direction.BUY else "SELL"
        words = f"{verb} {self.shares} shares of {self.symbol} at market on {venue}. Reason: {self.reason}"
        if self.allow_overhedge:
            words += f"\nMay exceed the open net: automatic hedging of {self.symbol} will be paused."
        return words


class HedgeScreen(ModalScreen[HedgeRequest | None]):
    """Two steps: the form, then the order repeated in words (y sends, n goes back to the form)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, venue: str, symbol: str | None = None) -> None:
        super().__init__()
        self._venue = venue
        self._symbol = symbol or ""
        self._request: HedgeRequest | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="form"):
            yield Label(f"Manual hedge on {self._venue}", classes="question")
            yield Input(self._symbol, placeholder="symbol (e.g. AAPL)", id="symbol")
            yield Select([("buy", Direction.BUY), ("sell", Direction.SELL)], prompt="side", id="side")
            yield Input(placeholder="shares (e.g. 1.5)", id="shares")
            yield Input(placeholder="reason (recorded with your name)", id="reason")
            yield Checkbox("over-hedge: allow beyond the open net (pauses automatic hedging)", id="overhedge")
            with Horizontal(classes="buttons"):
                yield Button("Review", variant="primary", id="review")
                yield Button("Cancel", id="cancel")
        with Vertical(classes="dialog", id="confirm"):
            yield Label("", id="words", classes="question")
            with Horizontal(classes="buttons"):
                yield Button("Send (y)", variant="error", id="send")
                yield Button("Edit (n)", variant="primary", id="edit")

    def on_mount(self) -> None:
        self.query_one("#confirm").display = False
        self.query_one("#symbol" if not self._symbol else "#side").focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._review()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        match event.button.id:
            case "review":
                self._review()
            case "cancel":
                self.dismiss(None)
            case "send":
                self.dismiss(self._request)
            case "edit":
                self._edit()

    def on_key(self, event: events.Key) -> None:
        if self._request is None or event.key not in ("y", "n"):
            return
        event.stop()
        if event.key == "y":
            self.dismiss(self._request)
        else:
            self._edit()

    def action_cancel(self) -> None:
        if self._request is not None:
            self._edit()
        else:
            self.dismiss(None)

    def _review(self) -> None:
        try:
            request = self._read()
        except ValueError as exc:
            self.notify(str(exc), severity="error")
            return
        self._request = request
        self.query_one("#words", Label).update(f"{request.in_words(self._venue)}\n\nSend this order?")
        self.query_one("#form").display = False
        self.query_one("#confirm").display = True
        self.query_one("#edit", Button).focus()

    def _edit(self) -> None:
        self._request = None
        self.query_one("#confirm").display = False
        self.query_one("#form").display = True
        self.query_one("#shares", Input).focus()

    def _read(self) -> HedgeRequest:
        try:
            symbol = Symbol(self.query_one("#symbol", Input).value.strip().upper())
        except InvalidSymbol as exc:
            raise ValueError(f"symbol: {exc}") from exc
        side = self.query_one("#side", Select).value
        if not isinstance(side, Direction):
            raise ValueError("choose a side: buy or sell")
        try:
            shares = Shares(self.query_one("#shares", Input).value.strip())
        except (InvalidAmount, ValueError) as exc:
            raise ValueError(f"shares: {exc}") from exc
        if not shares.is_positive:
            raise ValueError("shares must be positive")
        reason = self.query_one("#reason", Input).value.strip()
        if not reason:
            raise ValueError("a reason is required")
        return HedgeRequest(symbol, side, shares, reason, self.query_one("#overhedge", Checkbox).value)
