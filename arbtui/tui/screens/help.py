"""The help screen: what each key does, and the rules the console follows."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Markdown

HELP = """\
# arbtui console

| key | action |
|-----|--------|
| `p` | pause hedging — every symbol, or the one selected in *Accumulators* when it has focus |
| `r` | resume — every symbol, or the selected one |
| `k` | engage the kill switch (no hedge at all, manual included); when engaged, clear it |
| `h` | manual hedge: symbol, side, shares, reason, then a confirmation in words |
| `f` | filter alerts: all → warnings and worse → critical only |
| `y` | history: a position as it was at a past instant (read-only) |
| `tab` | move between panes |
| `?` | this help |
| `q` | quit: stops the engine gracefully (asks first while executions are in flight) |

Every action is recorded with your name (`console:<login>`) and the reason you give.
Fills keep being recorded while hedging is paused; a resume re-evaluates positions at once.
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog wide"):
            yield Markdown(HELP)

    def action_close(self) -> None:
        self.dismiss(None)
