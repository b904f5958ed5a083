"""A pane whose rows are ledger aggregates: Enter opens the row's detail, ``c`` copies its id. The keys are
declared here, on the pane, so the footer shows them exactly while such a pane has focus."""

from __future__ import annotations

from typing import ClassVar

from textual.binding import Binding, BindingType

from arbtui.reporting.detail import Kind
from arbtui.tui.messages import DetailRequested
from arbtui.tui.widgets._lines import LineTable


class DetailTable(LineTable):
    """A :class:`LineTable` whose row keys are the ids of ``detail_kind`` aggregates (trade ids,
    execution ids, symbols)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "detail", "Detail", tooltip="the row's values, events and links, read from the ledger"),
        Binding(
            "c", "copy_id", "Copy id", show=False, tooltip="the row's full id to the clipboard"
        ),  # `?` lists it; the footer keeps room for `?` at 80 columns
    ]

    detail_kind: ClassVar[Kind]

    def action_detail(self) -> None:
        """Ask the app to open the selected row's detail (``ArbtuiApp.on_detail_requested``)."""
        if (key := self.cursor_key) is not None:
            self.post_message(DetailRequested(self.detail_kind, key))

    def action_copy_id(self) -> None:
        """The selected row's full id to the clipboard (the pane shows it shortened)."""
        if (key := self.cursor_key) is not None:
            self.app.copy_to_clipboard(key)
            self.notify(f"copied {key}")
