"""Detail of one fill, broker order or position (Enter on a pane's row), read from the ledger over a
read-only connection in a thread worker: the exact values, the events with time, actor and step latency,
the fills ↔ executions links, and the CLI command that prints the same thing
(:mod:`arbtui.reporting.detail` renders both). It reads again whenever the console's view holds a newer
version of that aggregate, so an order's timeline grows while it is open."""

from __future__ import annotations

from typing import ClassVar, assert_never

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList, Static
from textual.worker import Worker, WorkerState

from arbtui.engine.ports import Detail, ReadModel, StoreError
from arbtui.reporting.detail import Kind, Related, command, related, sections
from arbtui.tui.model import ConsoleView

TITLES = {Kind.FILL: "Fill", Kind.ORDER: "Broker order", Kind.POSITION: "Position"}


class DetailScreen(ModalScreen[None]):
    """One aggregate's detail. ``c`` copies its id, ``x`` the CLI command; ``?`` lists the keys."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("c", "copy_id", "Copy id"),
        Binding("x", "copy_command", "Copy command", tooltip="the arbtui command that prints this detail"),
        Binding("question_mark", "help", "Keys", key_display="?"),
    ]

    class Loaded(Message):
        """The read worker's result: the detail and its rendered text, or (``detail`` None) what to say
        instead — not in the ledger, or the ledger could not be read. Handled by
        ``DetailScreen.on_detail_screen_loaded``."""

        def __init__(self, detail: Detail | None, text: Text, related: tuple[Related, ...] = ()) -> None:
            super().__init__()
            self.detail = detail
            self.text = text
            self.related = related

    def __init__(self, ledger: ReadModel, kind: Kind, key: str) -> None:
        super().__init__()
        self._ledger = ledger
        self.kind = kind
        self.key = key
        """The aggregate's id, in full (what ``c`` copies)."""
        self.command = command(kind, key, ledger.path)
        """The CLI command that prints the same detail (what ``x`` copies)."""
        self.help_title = f"{TITLES[kind].lower()} detail"
        self.detail: Detail | None = None
        """What the ledger answered (None until read, or when it has no such aggregate)."""
        self._reading = False
        self._stale = False

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog wide"):
            yield Label(f"{TITLES[self.kind]} {self.key}", classes="question", id="title")
            with VerticalScroll(id="body"):
                yield Static("reading the ledger…", id="content")
            yield RelatedList(id="related")
            yield Static(Text(f"$ {self.command}", style="cyan"), id="command")
            yield Label("c copy id · x copy command · tab: linked records · ? keys · Escape close", classes="hint")

    def on_mount(self) -> None:
        self.query_one("#body", VerticalScroll).focus()  # arrows scroll the detail; tab reaches the links
        self._start_read()

    def _start_read(self) -> None:
        """One read at a time: asked again while one runs, it runs once more when that one ends (a position
        that takes a fill every frame is re-read back to back, never by a pile of threads)."""
        if self._reading:
            self._stale = True
            return
        self._reading = True
        self._read()

    @work(thread=True, exit_on_error=False)  # a detail that fails never stops the console
    def _read(self) -> None:
        """Read and render off the UI thread (a position's 50 events are a few hundred lines)."""
        try:
            found = self._ledger.detail(self.kind.aggregate_type, self.key, limit=self.kind.limit)
        except StoreError as exc:
            self.post_message(self.Loaded(None, Text(f"cannot read the ledger: {exc}", style="bold red")))
            return
        if found is None:
            self.post_message(self.Loaded(None, Text(f"no {self.kind.value} {self.key} in the ledger", style="yellow")))
        else:
            self.post_message(self.Loaded(found, render(self.kind, found), related(self.kind, found)))

    def on_detail_screen_loaded(self, message: DetailScreen.Loaded) -> None:
        self._read_done()
        self.detail = message.detail
        self.query_one("#content", Static).update(message.text)
        self.query_one(RelatedList).show(message.related)

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a linked record: its own detail, on top of this one (Escape comes back)."""
        target = self.query_one(RelatedList).target(event.option_index)
        if target is not None:
            self.app.push_screen(DetailScreen(self._ledger, target.kind, target.key))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A read that failed on something other than the ledger (a bug): said here, in one line; the
        console and the engine carry on."""
        if event.state is WorkerState.ERROR:
            self._read_done()
            error = event.worker.error
            text = f"cannot show this detail: {type(error).__name__}: {error}"
            self.query_one("#content", Static).update(Text(text, style="bold red"))

    def follow(self, view: ConsoleView) -> None:
        """A new console view: read the ledger again when it holds a newer version of this aggregate (an
        order's timeline grows while the detail is open). Called by ``ArbtuiApp.on_view_changed``."""
        version = shown_version(view, self.kind, self.key)
        if version is not None and (self.detail is None or version > self.detail.version):
            self._start_read()

    def _read_done(self) -> None:
        self._reading = False
        if self._stale:
            self._stale = False
            self._start_read()

    def action_copy_id(self) -> None:
        self.app.copy_to_clipboard(self.key)
        self.notify(f"copied {self.key}")

    def action_copy_command(self) -> None:
        self.app.copy_to_clipboard(self.command)
        self.notify(f"copied: {self.command}")

    def action_help(self) -> None:
        from arbtui.tui.screens.help import HelpScreen

        self.app.push_screen(HelpScreen.of(self))

    def action_close(self) -> None:
        self.dismiss(None)


class RelatedList(OptionList):
    """The records this detail links to; Enter opens one, ``c`` copies its id. Hidden when there are none."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("c", "copy_related", "Copy its id", tooltip="the highlighted record's full id to the clipboard"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.border_title = "Linked records (Enter opens)"
        self._targets: tuple[Related, ...] = ()
        self.display = False

    def show(self, targets: tuple[Related, ...]) -> None:
        if targets == self._targets:
            return
        self._targets = targets
        self.clear_options()
        self.add_options(f"{TITLES[t.kind].lower():<12} {t.key}  {t.label}" for t in targets)
        self.highlighted = 0 if targets else None
        self.display = bool(targets)

    def target(self, index: int | None) -> Related | None:
        return self._targets[index] if index is not None and 0 <= index < len(self._targets) else None

    def action_copy_related(self) -> None:
        if (target := self.target(self.highlighted)) is not None:
            self.app.copy_to_clipboard(target.key)
            self.notify(f"copied {target.key}")


def shown_version(view: ConsoleView, kind: Kind, key: str) -> int | None:
    """The version of ``kind:key`` the console's view holds (None when the view does not hold it)."""
    match kind:
        case Kind.POSITION:
            position = view.positions.get(key)
            return None if position is None else position.version
        case Kind.ORDER:
            return next((row.version for row in view.orders if row.state.execution_id == key), None)
        case Kind.FILL:
            return next((row.version for row in view.fills if row.state.trade_id == key), None)
        case _:
            assert_never(kind)


def render(kind: Kind, detail: Detail) -> Text:
    """The sections with their titles in bold: the same lines ``arbtui show`` prints."""
    out = Text()
    for index, section in enumerate(sections(kind, detail)):
        title, *body = section.lines()
        if index:
            out.append("\n\n")
        out.append(title, style="bold")
        for line in body:
            out.append("\n" + line)
    return out
