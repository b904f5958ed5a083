"""The help screen: every key of the screen it was opened on, read from the bindings themselves (so it
cannot drift from what the keys do), and the rules the console follows."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Static

RULES = (
    "Every action is recorded with your name (console:<login>) and the reason you give. Fills keep being"
    " recorded while hedging is paused; a resume re-evaluates positions at once."
)


@dataclass(frozen=True)
class KeyHelp:
    """One key: what it shows as, what it does, where it applies, and whether it acts right now."""

    key: str
    description: str
    where: str
    enabled: bool = True


def keys_of(screen: Screen[Any]) -> tuple[KeyHelp, ...]:
    """Every key of ``screen`` as it stands: what the focused widget, the screen and (below a modal) the
    app bind now, the app's priority keys (they act on every screen), then — on a screen with panes —
    each other pane's own keys, which act once it has focus."""
    app = screen.app
    rows: list[KeyHelp] = []
    seen: set[tuple[str, str]] = set()

    def add(node: DOMNode, binding: Binding, enabled: bool, where: str | None = None) -> None:
        place = where or _where(node, screen)
        if (binding.key, place) in seen:
            return
        seen.add((binding.key, place))
        rows.append(KeyHelp(app.get_key_display(binding), binding.description or binding.action, place, enabled))

    for active in screen.active_bindings.values():
        add(active.node, active.binding, active.enabled)
    for _, binding in app._bindings:
        if binding.priority and binding.key not in screen.active_bindings:
            add(app, binding, True)
    focused = set(screen.focused.ancestors_with_self) if screen.focused is not None else set()
    for widget in screen.query(Widget):
        if widget.can_focus and widget not in focused:
            for _, binding in widget._bindings:
                add(widget, binding, True, f"{_name(widget)} (when focused)")
    return tuple(rows)


def _where(node: DOMNode, screen: Screen[Any]) -> str:
    if isinstance(node, App):
        return "everywhere"
    if node is screen:
        return "this screen"
    return _name(node)


def _name(node: DOMNode) -> str:
    title = getattr(node, "border_title", None)
    return str(title) if title else type(node).__name__


class HelpScreen(ModalScreen[None]):
    """The keys of the screen beneath, as :func:`keys_of` found them when it opened."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,q,question_mark", "close", "Close")]

    def __init__(self, keys: tuple[KeyHelp, ...], title: str) -> None:
        super().__init__()
        self.keys = keys
        self._title = title

    @classmethod
    def of(cls, screen: Screen[Any]) -> HelpScreen:
        """Help for ``screen`` (the one the operator pressed ``?`` on)."""
        title = getattr(screen, "help_title", None) or (
            "console" if screen is screen.app.screen_stack[0] else type(screen).__name__
        )
        return cls(keys_of(screen), str(title))

    def compose(self) -> ComposeResult:
        table = Table(title=f"keys: {self._title}", title_justify="left", expand=True, box=None)
        table.add_column("key", style="bold cyan", no_wrap=True)
        table.add_column("action")
        table.add_column("where", style="dim")
        for key in self.keys:
            action = key.description if key.enabled else f"{key.description} (not now)"
            table.add_row(key.key, Text(action, style="" if key.enabled else "dim"), key.where)
        with VerticalScroll(classes="dialog wide"):
            yield Static(table, id="keys")
            yield Static(Text(RULES, style="italic"), id="rules")

    def action_close(self) -> None:
        self.dismiss(None)
