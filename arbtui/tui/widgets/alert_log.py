"""The alert log: newest last, coloured by severity, each with the action that resolves it."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.events import Resize
from textual.widgets import RichLog

from arbtui.engine.alerts import Severity
from arbtui.tui.model import SEVERITY_RANK, AlertEntry

SEVERITY_STYLE = {Severity.INFO: "green", Severity.WARNING: "yellow", Severity.CRITICAL: "bold red"}
FILTERS = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
"""`f` cycles the lowest severity shown: everything, warnings and worse, critical only."""
FILTER_TIP = "alerts shown: all → warnings and worse → critical only"


class AlertLog(RichLog):
    """Alerts as the engine raised them. Keeps its own count of what it has written, so a new view
    appends only the alerts it has not shown yet; a filter change rewrites the log."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("f", "app.filter_alerts", "Filter", tooltip=FILTER_TIP)]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=True, markup=False, max_lines=1000, auto_scroll=True)
        self.border_title = "Alerts"
        self.minimum = Severity.INFO
        self._entries: tuple[AlertEntry, ...] = ()
        self._written = 0
        self._wrapped_at: int | None = None

    def show(self, entries: tuple[AlertEntry, ...]) -> None:
        if len(entries) < self._written or entries[: self._written] != self._entries[: self._written]:
            self._written = 0  # the bounded list rolled over: rewrite
            self.clear()
        self._entries = entries
        for entry in entries[self._written :]:
            self._write(entry)
        self._written = len(entries)

    def cycle_filter(self) -> Severity:
        self.minimum = FILTERS[(FILTERS.index(self.minimum) + 1) % len(FILTERS)]
        self.border_subtitle = "" if self.minimum is Severity.INFO else f"≥ {self.minimum.value}"
        self._rewrite()
        return self.minimum

    def on_resize(self, event: Resize) -> None:
        """Lines are wrapped to the pane's width: a new width wraps them again (RichLog's own resize
        handler runs as well)."""
        if self._wrapped_at != self._width():
            self._rewrite()

    def _rewrite(self) -> None:
        self.clear()
        for entry in self._entries:
            self._write(entry)

    def _width(self) -> int | None:
        """The pane's text width, once laid out (the app console's width is not the pane's)."""
        width = self.scrollable_content_region.width
        return width if width > 0 else None

    def _write(self, entry: AlertEntry) -> None:
        alert = entry.alert
        if SEVERITY_RANK[alert.severity] < SEVERITY_RANK[self.minimum]:
            return
        line = Text()
        line.append(entry.at.strftime("%H:%M:%S "), style="dim")
        label = "RECOVERED" if alert.recovered else alert.severity.value.upper()
        line.append(f"{label:<9} ", style=SEVERITY_STYLE[alert.severity])
        line.append(alert.message)
        if alert.action:
            line.append(f"  → {alert.action}", style="italic cyan")
        self._wrapped_at = self._width()
        self.write(line, width=self._wrapped_at)
