"""Inventory pane: per asset, onchain vs broker, the onchain ratio, drift and the suggested transfer
(:mod:`arbtui.reporting.inventory`). It renders lines; whoever reads the venues feeds it."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable

from arbtui import display
from arbtui.reporting.inventory import HEADER, Line
from arbtui.tui.widgets._table import Cell, sync_rows

AMOUNTS = (1, 2, 3, 4)
"""onchain, broker, total, unhedged: lined up on their decimal points (USDC in cents, equities in shares)."""


class InventoryPane(DataTable[Cell]):
    """One row per asset; a drifting asset's alert cell in red, with what to move."""

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self.add_columns(*(name.replace("_", " ") for name in HEADER))

    def show(self, lines: Sequence[Line]) -> None:
        texts = [list(line.row(shown=True)) for line in lines]
        for column in AMOUNTS:
            for row_texts, text in zip(texts, display.align([t[column] for t in texts]), strict=True):
                row_texts[column] = text
        rows = []
        for line, row_texts in zip(lines, texts, strict=True):
            cells: list[Cell] = list(row_texts)
            cells[7] = Text(str(cells[7]), style="bold red" if line.alert else "green")
            rows.append((line.holding.asset, cells))
        sync_rows(self, rows)
