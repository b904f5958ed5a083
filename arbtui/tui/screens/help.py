"""The help screen: every key of the screen it was opened on, read from the bindings themselves (so it
cannot drift from what the keys do), and the rules the console follows."""

from __future__ import annotations

from dataclasses import dataclass
from itertools import groupby
from typing import Any, ClassVar

from rich.table import Table
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.dom import DOMNode
from textual.screen import ModalScreen, Screen
from textual.widget import Widget
from textual.widgets import Label, Static

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
    tooltip: str = ""
    """The binding's longer explanation, when it has one (the help shows it beside the description)."""


def keys_of(screen: Screen[Any]) -> tuple[KeyHelp, ...]:
    """Every key of ``screen`` as it stands: what the focused widget, the screen and (below a modal) the
    app bind now, and the app's priority keys (they act on every screen); then the console's own keys of
    each pane that has no focus (they act once it has), added to the same key's line when it does the
    same there (``Onchain fills; when focused: Accumulators, Broker orders``)."""
    app = screen.app
    places: dict[tuple[str, str], list[str]] = {}
    """``(key, description)`` → where it acts, in order of discovery."""
    unfocused: dict[tuple[str, str], list[str]] = {}
    shown: dict[tuple[str, str], tuple[str, bool, str]] = {}
    """``(key, description)`` → (the key as shown, whether it acts now, its tooltip)."""

    def key(binding: Binding) -> tuple[str, str]:
        found = (binding.key, binding.description or binding.action)
        shown.setdefault(found, (app.get_key_display(binding), True, binding.tooltip))
        return found

    for active in screen.active_bindings.values():
        found = key(active.binding)
        shown[found] = (shown[found][0], active.enabled, shown[found][2])
        places.setdefault(found, []).append(_where(active.node, screen))
    for _, binding in app._bindings:
        if binding.priority and binding.key not in screen.active_bindings:
            places.setdefault(key(binding), []).append("everywhere")
    focused = set(screen.focused.ancestors_with_self) if screen.focused is not None else set()
    for widget in screen.query(Widget):
        if widget.can_focus and widget not in focused:
            for binding in _own_bindings(widget):
                found = key(binding)
                if "everywhere" not in places.get(found, ()):  # a pane's copy of a console key (`f`)
                    unfocused.setdefault(found, []).append(_name(widget))
    rows: list[KeyHelp] = []
    for found in [*places, *(k for k in unfocused if k not in places)]:
        where = list(places.get(found, []))
        if found in unfocused:
            where.append("when focused: " + ", ".join(dict.fromkeys(unfocused[found])))
        display, enabled, tooltip = shown[found]
        rows.append(KeyHelp(display, found[1], "; ".join(where), enabled, tooltip))
    first = {where: index for index, where in reversed(list(enumerate(row.where for row in rows)))}
    return tuple(sorted(rows, key=lambda row: (_rank(row.where), first[row.where])))


def _rank(where: str) -> int:
    """The console's keys first, then the panes', then the screen's own (focus, copy)."""
    return 0 if where.startswith("everywhere") else 2 if where == "this screen" else 1


def _own_bindings(widget: Widget) -> list[Binding]:
    """The keys the console's own classes give ``widget`` (Textual's built-in widgets' navigation keys are
    listed for the focused widget only)."""
    found: list[Binding] = []
    for cls in reversed(type(widget).__mro__):
        if cls.__module__.startswith("arbtui.") and "BINDINGS" in vars(cls):
            found.extend(Binding.make_bindings(vars(cls)["BINDINGS"]))
    return found


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
        with VerticalScroll(classes="dialog wide"):
            yield Label(f"Keys: {self._title}", classes="question")
            for where, keys in groupby(self.keys, key=lambda k: k.where):
                yield Static(_table(where, list(keys)), classes="keys")
            yield Static(Text(RULES, style="italic"), id="rules")

    def action_close(self) -> None:
        self.dismiss(None)


def _table(where: str, keys: list[KeyHelp]) -> Table:
    """One group of keys under where they act."""
    table = Table(title=where, title_justify="left", title_style="bold", expand=True, box=None, show_header=False)
    table.add_column("key", style="bold cyan", no_wrap=True, width=10)
    table.add_column("action", ratio=1)
    for key in keys:
        action = Text(key.description, style="bold" if key.enabled else "dim")
        if key.tooltip:
            action.append(f": {key.tooltip}")
        if not key.enabled:
            action.append(" (not now)", style="dim")
        table.add_row(key.key, action)
    return table
