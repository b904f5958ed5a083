"""Shared by the table panes: bring a DataTable to exactly the given rows, keeping the cursor on its row."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.widgets import DataTable
from textual.widgets.data_table import RowKey

Cell = str | Text
Row = tuple[str, Sequence[Cell]]
"""A row key and its cells."""


def sync_rows(table: DataTable[Cell], rows: Sequence[Row]) -> None:
    """Same keys in the same order: only changed cells are updated. Otherwise the rows are rebuilt and
    the cursor follows the row it was on (tables are bounded, so a rebuild is cheap)."""
    current = [key.value for key in table.rows]
    wanted = [key for key, _ in rows]
    columns = list(table.columns)
    if current == wanted:
        for key, cells in rows:
            for column, cell in zip(columns, cells, strict=True):
                if table.get_cell(key, column) != cell:
                    table.update_cell(key, column, cell)
        return
    selected = _selected_key(table)
    table.clear()
    for key, cells in rows:
        table.add_row(*cells, key=key)
    if selected is not None and selected in wanted:
        table.move_cursor(row=wanted.index(selected), animate=False)


def _selected_key(table: DataTable[Cell]) -> str | None:
    if table.row_count == 0 or not table.is_valid_row_index(table.cursor_row):
        return None
    key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return key.value
