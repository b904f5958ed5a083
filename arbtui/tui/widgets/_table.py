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


def selected_key(table: DataTable[Cell]) -> str | None:
    """The key of the row under the cursor, if any."""
    return _selected_key(table)


def _selected_key(table: DataTable[Cell]) -> str | None:
    if table.row_count == 0 or not table.is_valid_row_index(table.cursor_row):
        return None
    key: RowKey = table.coordinate_to_cell_key(table.cursor_coordinate).row_key
    return key.value


def sync_slots(table: DataTable[Cell], rows: Sequence[Sequence[Cell]]) -> None:
    """Show ``rows`` top to bottom in rows keyed by position (for a newest-first feed: a new fill shifts
    every row down). Only changed cells are written, and a column is re-measured only when a cell
    outgrows it, so an update costs a few dictionary writes per row, never a rebuild of the table."""
    while table.row_count > len(rows):
        table.remove_row(str(table.row_count - 1))
    columns = list(table.columns.values())
    for index, cells in enumerate(rows):
        key = str(index)
        if index >= table.row_count:
            table.add_row(*cells, key=key)
            continue
        for column, cell in zip(columns, cells, strict=True):
            if table.get_cell(key, column.key) != cell:
                wider = _cell_width(cell) > column.content_width
                table.update_cell(key, column.key, cell, update_width=wider)


def _cell_width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)
