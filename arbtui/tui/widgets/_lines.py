"""A line-rendered table for the high-rate panes: each row is rendered once, when its cells change, into a
:class:`Strip`; a repaint only crops and colours the visible strips. A Textual ``DataTable`` re-renders
every visible cell through Rich whenever any cell changes (bench/console: that was most of a frame).

Looks like the ``DataTable`` it replaces (bold header on a panel, zebra rows, a row cursor that is bright
when the pane has focus) and scrolls the same way (keys, mouse wheel; the header stays on top)."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from arbtui import display
from arbtui.tui.widgets._table import Cell, Row

__all__ = ["Cell", "LineTable", "Row"]

PADDING = 1
"""Blank cells each side of a column, as a DataTable pads them (but none after the last column)."""


class LineTable(ScrollView, can_focus=True):
    """Rows of cells under a header. ``set_rows`` replaces the rows; only rows whose cells changed are
    rendered again, and only when a column must widen are all of them re-rendered.

    The cursor stays on its row's key while the pane has focus (``follow_key=True``: the operator is
    selecting a row); otherwise it keeps its position, so rows arriving on top stay in view (a
    newest-first feed, where every new row pushes the others down)."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {"linetable--header", "linetable--even-row", "linetable--cursor"}
    DEFAULT_CSS = """
    LineTable {
        background: $surface;
        color: $foreground;
        &:focus {
            background-tint: $foreground 5%;
            & > .linetable--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .linetable--header { background-tint: $foreground 5%; }
        }
        &:dark > .linetable--even-row { background: $surface-darken-1 40%; }
        & > .linetable--header { text-style: bold; background: $panel; color: $foreground; }
        & > .linetable--even-row { background: $surface-lighten-1 50%; }
        & > .linetable--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
    }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up", "cursor(-1)", "Up", show=False),
        Binding("down", "cursor(1)", "Down", show=False),
        Binding("pageup", "page(-1)", "Page up", show=False),
        Binding("pagedown", "page(1)", "Page down", show=False),
        Binding("home", "cursor_to(0)", "Top", show=False),
        Binding("end", "cursor_to(-1)", "Bottom", show=False),
    ]

    cursor_row: reactive[int] = reactive(0)

    def __init__(
        self,
        columns: Sequence[str],
        *,
        widths: dict[str, int] | None = None,
        numbers: Collection[str] = (),
        zebra_stripes: bool = False,
        follow_key: bool = True,
        shrink: bool = False,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.columns = tuple(columns)
        self.shrink = shrink
        """Columns fit the rows shown now, narrower too (a pane redrawn rarely, not a feed)."""
        self._fixed = tuple((widths or {}).get(name) for name in self.columns)
        self._numbers = tuple(index for index, name in enumerate(self.columns) if name in numbers)
        """Columns of formatted numbers, lined up on their decimal points (:func:`arbtui.display.align`)."""
        self.zebra_stripes = zebra_stripes
        self.follow_key = follow_key
        self._rows: list[Row] = []
        self._strips: dict[str, tuple[Sequence[Cell], Strip]] = {}
        self._widths: tuple[int, ...] = ()
        self._widths = self._measure([])
        self._header: Strip | None = None
        """Rendered when first drawn (it needs the app's console), again when a column widens."""

    # --- rows ---------------------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows)

    def get_row_at(self, index: int) -> Sequence[Cell]:
        """The cells of the row at ``index`` (0 is the top row)."""
        return self._rows[index][1]

    def get_row(self, key: str) -> Sequence[Cell]:
        """The cells of the row ``key`` (as shown: number columns padded to line up)."""
        for row_key, cells in self._rows:
            if row_key == key:
                return cells
        raise KeyError(key)

    @property
    def cursor_key(self) -> str | None:
        """The key of the row under the cursor, if any."""
        return self._rows[self.cursor_row][0] if 0 <= self.cursor_row < len(self._rows) else None

    def set_rows(self, rows: Sequence[Row]) -> None:
        """Show exactly ``rows``, top to bottom; a no-op when nothing changed. The number columns are
        aligned on their decimal points over the rows given."""
        if self._numbers:
            rows = _aligned(rows, self._numbers)
        if len(rows) == len(self._rows) and all(
            key == old_key and list(cells) == list(old_cells)
            for (key, cells), (old_key, old_cells) in zip(rows, self._rows, strict=True)
        ):
            return
        selected = self.cursor_key
        widths = self._measure(rows)
        if widths != self._widths:
            self._widths = widths
            self._strips.clear()
            self._header = None
        strips: dict[str, tuple[Sequence[Cell], Strip]] = {}
        for key, cells in rows:
            cached = self._strips.get(key)
            if cached is None or list(cached[0]) != list(cells):
                cached = (tuple(cells), self._render_row(cells))
            strips[key] = cached
        self._strips = strips  # only the rows shown: the cache is as bounded as they are
        self._rows = [(key, tuple(cells)) for key, cells in rows]
        self._size_to_rows()
        keys = [key for key, _ in self._rows]
        if self.follow_key and self.has_focus and selected in keys:
            self.cursor_row = keys.index(selected)
        else:
            self.cursor_row = min(self.cursor_row, max(len(keys) - 1, 0))
        self.refresh()

    def on_mount(self) -> None:
        self._size_to_rows()

    def _size_to_rows(self) -> None:
        width = sum(self._widths) + 2 * PADDING * len(self._widths) - PADDING  # the last column: no pad after it
        self.virtual_size = Size(max(width, 0), len(self._rows) + 1)

    def _measure(self, rows: Sequence[Row]) -> tuple[int, ...]:
        """Column widths: fixed, or as wide as the widest cell seen so far (never narrower: columns that
        shrank and grew back as values changed would make the table jump) — or shown now, with ``shrink``."""
        widths = [fixed or len(name) for name, fixed in zip(self.columns, self._fixed, strict=True)]
        for index, width in enumerate(() if self.shrink else self._widths):
            widths[index] = max(widths[index], width)
        for _, cells in rows:
            for index, cell in enumerate(cells):
                if self._fixed[index] is None:
                    widths[index] = max(widths[index], _cell_len(cell))
        return tuple(widths)

    def _render_row(self, cells: Sequence[Cell]) -> Strip:
        line = Text(no_wrap=True, end="")
        pad = " " * PADDING
        for cell, width in zip(cells, self._widths, strict=True):
            text = cell if isinstance(cell, Text) else Text(cell)
            text = text[:width] if text.cell_len > width else text
            line.append(pad)
            line.append_text(text)
            line.append(" " * (width - text.cell_len) + pad)
        line.right_crop(PADDING)  # a pad after the last column would only push the pane into scrolling
        segments = list(line.render(self.app.console))
        return Strip(segments, line.cell_len)

    # --- rendering ----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            if self._header is None:
                self._header = self._render_row(self.columns)
            style = base + self.get_component_rich_style("linetable--header")
            header = self._header.crop_extend(scroll_x, scroll_x + width, None).apply_style(style)
            beyond = scroll_x + width < self.virtual_size.width
            return _with_scroll_hints(header, width, left=scroll_x > 0, right=beyond)
        index = y - 1 + scroll_y
        if index >= len(self._rows):
            return Strip.blank(width, base)
        strip = self._strips[self._rows[index][0]][1].crop_extend(scroll_x, scroll_x + width, None)
        if index == self.cursor_row:
            cursor = self.get_component_rich_style("linetable--cursor")
            return Strip(Segment.apply_style(strip, base + cursor, post_style=cursor), width)
        if self.zebra_stripes and index % 2 == 0:  # as a DataTable stripes them: 0, 2, 4…
            return strip.apply_style(base + self.get_component_rich_style("linetable--even-row"))
        return strip.apply_style(base)

    # --- cursor -------------------------------------------------------------------------------

    def watch_cursor_row(self, old: int, new: int) -> None:
        self.refresh()
        self.call_after_refresh(self._scroll_to_cursor)  # once a new virtual size is laid out

    def _scroll_to_cursor(self) -> None:
        visible = max(self.scrollable_content_region.height - 1, 1)
        if self.cursor_row < self.scroll_y:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= self.scroll_y + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def _move_to(self, row: int) -> None:
        if self._rows:
            self.cursor_row = max(0, min(row, len(self._rows) - 1))

    def action_cursor(self, step: int) -> None:
        self._move_to(self.cursor_row + step)

    def action_cursor_to(self, row: int) -> None:
        self._move_to(row if row >= 0 else len(self._rows) - 1)

    def action_page(self, pages: int) -> None:
        self._move_to(self.cursor_row + pages * max(self.scrollable_content_region.height - 1, 1))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y >= 1:  # not the header
            self._move_to(offset.y - 1 + int(self.scroll_y))


SCROLL_HINT_STYLE = Style(bold=True, reverse=True)


def _with_scroll_hints(header: Strip, width: int, *, left: bool, right: bool) -> Strip:
    """The header with ``◂`` / ``▸`` at its ends where columns lie beyond the pane's edge: a column that
    does not fit is never cut silently — the pane scrolls sideways (←/→, shift+wheel) and says so."""
    if width < 3 or not (left or right):
        return header
    parts = []
    if left:
        parts.append(Strip([Segment("◂", SCROLL_HINT_STYLE)], 1))
    parts.append(header.crop(1 if left else 0, width - 1 if right else width))
    if right:
        parts.append(Strip([Segment("▸", SCROLL_HINT_STYLE)], 1))
    return Strip.join(parts)


def _aligned(rows: Sequence[Row], columns: Sequence[int]) -> list[Row]:
    """``rows`` with each of ``columns`` padded so that its numbers line up (a styled cell keeps its style)."""
    cells = [list(row_cells) for _, row_cells in rows]
    for column in columns:
        texts = display.align([cell.plain if isinstance(cell, Text) else cell for cell in (c[column] for c in cells)])
        for row_cells, text in zip(cells, texts, strict=True):
            cell = row_cells[column]
            row_cells[column] = Text(text, style=cell.style) if isinstance(cell, Text) else text
    return [(key, row_cells) for (key, _), row_cells in zip(rows, cells, strict=True)]


def _cell_len(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else len(cell)
