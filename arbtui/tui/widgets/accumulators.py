"""The accumulators pane: one row per symbol — what is left to hedge and what is in flight (its type:
market or limit @ price, and its age)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType

from arbtui.domain.control import Control
from arbtui.domain.offchain_order import OffchainOrder
from arbtui.domain.position import Position
from arbtui.reporting.detail import Kind
from arbtui.tui.model import Versioned, hedge_cells, position_row
from arbtui.tui.widgets._detail import DetailTable
from arbtui.tui.widgets._lines import Cell, Row

POSITION_COLUMNS = ("symbol", "net", "carry", "resvd", "pending", "thresh", "hedged at")
"""The position's own cells (:func:`~arbtui.tui.model.position_row`; the history screen shows these)."""
COLUMNS = (*POSITION_COLUMNS, "hedge", "age")
"""Its open hedge's type and age after them (:func:`~arbtui.tui.model.hedge_cells`)."""
NUMBERS = ("net", "carry", "resvd")
WIDTHS = {"pending": 9, "hedge": 16, "age": 6}
"""Fixed, as wide as a short execution id: a column sized by what it once held would jump between an
execution's pending and done states, and depend on which of them happened to be repainted."""


class AccumulatorsPane(DetailTable):
    """Per symbol: net, carry, reserved shares and the pending execution, threshold, last hedge, the open
    hedge's type and age. A paused symbol's name is shown in yellow with a ‖ mark."""

    BINDINGS: ClassVar[list[BindingType]] = [  # the app's actions, which take the selected symbol while this has focus
        Binding("p", "app.pause", "Pause symbol", tooltip="the selected symbol only (a reason; audited)"),
        Binding(
            "r", "app.resume", "Resume symbol", tooltip="the selected symbol only; past threshold, it hedges at once"
        ),
    ]

    detail_kind = Kind.POSITION

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, widths=WIDTHS, numbers=NUMBERS, id=id)
        self.border_title = "Accumulators"

    @property
    def selected_symbol(self) -> str | None:
        """The symbol under the cursor (what `p` and `r` act on while this pane has focus)."""
        return self.cursor_key

    def show(
        self,
        positions: Mapping[str, Versioned],
        control: Control,
        hedges: Mapping[str, OffchainOrder] | None = None,
        now: datetime | None = None,
    ) -> None:
        """``hedges``: the open executions by id (:meth:`ConsoleView.open_hedges`); ``now``: the console's
        clock, for the hedges' age."""
        rows: list[Row] = []
        moment = now or datetime.now(UTC)
        for symbol in sorted(positions):
            pos: Position = positions[symbol].state
            cells: list[Cell] = [*position_row(pos), *hedge_cells(pos, hedges or {}, moment)]
            if symbol in control.paused_symbols:
                cells[0] = Text(f"{symbol} ‖", style="bold yellow")
            if not pos.net.is_zero:
                cells[1] = Text(str(cells[1]), style="bold")
            rows.append((symbol, cells))
        self.set_rows(rows)
