"""The broker orders pane: every execution, most recent first, its status coloured."""

from __future__ import annotations

from rich.text import Text

from arbtui.domain.offchain_order import OffchainOrder, OrderStatus
from arbtui.reporting.detail import Kind
from arbtui.tui.model import Versioned, order_row
from arbtui.tui.widgets._detail import DetailTable
from arbtui.tui.widgets._lines import Cell, Row

COLUMNS = ("exec", "symbol", "side", "shares", "status", "price", "latency")
NUMBERS = ("shares", "price")
WIDTHS = {"exec": 9, "status": 9}
"""Fixed: a short execution id, the longest status (SUBMITTED, CANCELLED). Sized by content, the status
column would stay as wide as the longest status it happened to repaint."""
STATUS_STYLE = {
    OrderStatus.PENDING: "yellow",
    OrderStatus.SUBMITTED: "cyan",
    OrderStatus.PARTIALLY_FILLED: "cyan",
    OrderStatus.FILLED: "green",
    OrderStatus.FAILED: "bold red",
    OrderStatus.CANCELLED: "magenta",
}


class OrdersPane(DetailTable):
    """Executions at the broker: id (short), symbol, side, shares, status, fill price, latency."""

    detail_kind = Kind.ORDER

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(COLUMNS, widths=WIDTHS, numbers=NUMBERS, zebra_stripes=True, id=id)
        self.border_title = "Broker orders"

    def show(self, orders: tuple[Versioned, ...]) -> None:
        rows: list[Row] = []
        for versioned in orders:
            order: OffchainOrder = versioned.state
            cells: list[Cell] = list(order_row(order))
            status = order.status or OrderStatus.PENDING
            cells[4] = Text(str(cells[4]), style=STATUS_STYLE[status])
            rows.append((order.execution_id, cells))
        self.set_rows(rows)
        in_flight = sum(1 for v in orders if v.state.status is not None and not v.state.status.is_terminal)
        self.border_subtitle = f"{in_flight} in flight" if in_flight else ""
