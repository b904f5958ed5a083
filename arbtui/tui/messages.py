"""Messages the console's workers post to the app. Only the app's handlers change widgets."""

from __future__ import annotations

from dataclasses import dataclass

from textual.message import Message

from arbtui.brokers.base import MarketClock
from arbtui.domain.sessions import SessionNow
from arbtui.engine.ports import Readiness
from arbtui.reporting.detail import Kind
from arbtui.tui.model import ConsoleView


@dataclass(frozen=True)
class EngineStatus:
    """What the status bar shows besides the ledger: readiness, the venue and its market."""

    readiness: Readiness
    broker: str
    market: MarketClock | None
    """The broker clock's latest answer (``None`` until the engine's first scan asked it)."""
    bus_dropped: int = 0
    node_inconsistencies: int = 0
    """Times the node's log answers were found incomplete (shown beside the chain status)."""
    alerts_undelivered: int = 0
    """Alerts a sink never received (failed or dropped), since the engine started."""
    session: SessionNow | None = None
    """The session now and its next transition (``POST → CLOSED 20:00 ET``), ``None`` until known."""

    @property
    def market_open(self) -> bool:
        return self.market is not None and self.market.is_open


class ViewChanged(Message):
    """A new :class:`ConsoleView` folded from the bus. Handled by ``ArbtuiApp.on_view_changed``.

    Each one is a complete picture, so a burst of fills collapses into one repaint."""

    def __init__(self, view: ConsoleView) -> None:
        super().__init__()
        self.view = view

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, ViewChanged)


class CommandFinished(Message):
    """An operator command came back: done, or refused with the engine's one-line reason.
    Handled by ``ArbtuiApp.on_command_finished``."""

    def __init__(self, text: str, *, refused: bool) -> None:
        super().__init__()
        self.text = text
        self.refused = refused


class EngineHalted(Message):
    """The engine stopped on a fault. Handled by ``ArbtuiApp.on_engine_halted``."""

    def __init__(self, reason: str) -> None:
        super().__init__()
        self.reason = reason


class DetailRequested(Message):
    """Enter on a pane's row: show that fill, order or position. Handled by ``ArbtuiApp.on_detail_requested``."""

    def __init__(self, kind: Kind, key: str) -> None:
        super().__init__()
        self.kind = kind
        self.key = key
