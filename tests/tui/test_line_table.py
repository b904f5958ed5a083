"""The line-rendered table behind the fills and accumulators panes: what it shows, where its cursor goes,
and that a new row costs one rendered row (the others keep the strips they were rendered into)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text
from textual.app import App, ComposeResult

from arbtui.tui.widgets._lines import Cell, LineTable, Row

COLUMNS = ("symbol", "net", "note")


class Host(App[None]):
    def __init__(self, *, follow_key: bool) -> None:
        super().__init__()
        self.follow_key = follow_key

    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, widths={"note": 6}, zebra_stripes=True, follow_key=self.follow_key)


def rows(*symbols: str, net: str = "1") -> list[Row]:
    return [(symbol, [symbol, net, Text("ok", style="green")]) for symbol in symbols]


def lines(table: LineTable) -> list[str]:
    return [table.render_line(y).text.rstrip() for y in range(table.row_count + 1)]


def cells(table: LineTable, index: int) -> Sequence[Cell]:
    return table.get_row_at(index)


async def test_shows_the_header_and_rows_top_to_bottom_padded_to_the_widest_cell() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows([("AAPL", ["AAPL", "-0.25", "ok"]), ("GME", ["GME", "3", Text("paused", style="yellow")])])
        await pilot.pause()
        assert lines(table) == [
            " symbol  net    note",
            " AAPL    -0.25  ok",
            " GME     3      paused",
        ]
        assert cells(table, 1)[0] == "GME"


async def test_a_fixed_width_column_truncates_and_content_widths_never_shrink() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows([("A", ["A", "-1234.5", "toolongnote"])])
        table.set_rows([("A", ["A", "1", "x"])])
        await pilot.pause()
        assert lines(table) == [" symbol  net      note", " A       1        x"]
        table.set_rows([("A", ["A", "1", "toolongnote"])])
        await pilot.pause()
        assert lines(table)[1] == " A       1        toolon"


class Shrinking(App[None]):
    def compose(self) -> ComposeResult:
        yield LineTable(COLUMNS, shrink=True)


async def test_with_shrink_the_columns_fit_the_rows_shown_now() -> None:
    """The inventory pane's table: a figure that got shorter takes its column back with it."""
    app = Shrinking()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows([("USDC", ["USDC", "99929.2775", "ok"])])
        table.set_rows([("USDC", ["USDC", "1", "ok"])])
        await pilot.pause()
        assert lines(table) == [" symbol  net  note", " USDC    1    ok"]


async def test_a_new_row_on_top_renders_only_itself() -> None:
    app = Host(follow_key=False)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("B", "A"))
        before = {key: table._strips[key][1] for key in ("A", "B")}
        table.set_rows(rows("C", "B", "A"))
        assert all(table._strips[key][1] is strip for key, strip in before.items())
        c_before = table._strips["C"][1]
        table.set_rows(rows("C", net="2") + rows("B", "A"))  # C changed: only C is rendered again
        assert table._strips["C"][1] is not c_before
        assert all(table._strips[key][1] is strip for key, strip in before.items())
        await pilot.pause()
        assert [line.split()[:2] for line in lines(table)[1:]] == [["C", "2"], ["B", "1"], ["A", "1"]]


async def test_the_strips_kept_are_those_of_the_rows_shown() -> None:
    app = Host(follow_key=False)
    async with app.run_test(size=(60, 10)):
        table = app.query_one(LineTable)
        for n in range(200):
            table.set_rows(rows(*(f"S{m}" for m in range(n, n + 5))))
        assert sorted(table._strips) == sorted(f"S{m}" for m in range(199, 204))


async def test_the_cursor_follows_its_key_in_a_selection() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("AAPL", "MSFT", "NVDA"))
        table.focus()
        await pilot.press("down")
        assert table.cursor_key == "MSFT"
        table.set_rows(rows("AAPL", "GME", "MSFT", "NVDA"))
        assert table.cursor_key == "MSFT"
        table.set_rows(rows("AAPL"))
        assert table.cursor_key == "AAPL"
        await pilot.press("end")
        assert table.cursor_row == 0


async def test_without_focus_the_cursor_keeps_its_line_so_new_rows_on_top_stay_in_view() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        app.set_focus(None)  # the operator is elsewhere (the only widget got focus on mount)
        await pilot.pause()
        table.set_rows(rows("e1"))
        table.set_rows(rows("e2", "e1"))
        assert table.cursor_key == "e2"
        assert table.cursor_row == 0


async def test_the_cursor_keeps_its_line_in_a_feed() -> None:
    app = Host(follow_key=False)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("1"))
        table.focus()
        table.set_rows(rows("2", "1"))
        assert table.cursor_key == "2"
        await pilot.press("end")
        assert table.cursor_key == "1"
        await pilot.press("home", "down")
        assert table.cursor_row == 1


async def test_the_cursor_scrolls_into_view_below_the_header() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 6)) as pilot:  # 6 lines: the header and 5 rows
        table = app.query_one(LineTable)
        table.set_rows(rows(*(f"S{n:02}" for n in range(20))))
        table.focus()
        await pilot.press("end")
        await pilot.pause()
        height = table.scrollable_content_region.height
        assert table.cursor_key == "S19"
        assert table.render_line(0).text.split()[0] == "symbol"
        assert table.render_line(height - 1).text.split()[0] == "S19"
        await pilot.press("pageup")
        assert table.cursor_row == 19 - (height - 1)


async def test_a_click_on_a_row_moves_the_cursor_there_and_the_header_is_not_a_row() -> None:
    app = Host(follow_key=True)
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(rows("AAPL", "MSFT", "NVDA"))
        await pilot.pause()
        await pilot.click(LineTable, offset=(2, 3))  # line 3: the third row
        assert table.cursor_key == "NVDA"
        await pilot.click(LineTable, offset=(2, 0))
        assert table.cursor_key == "NVDA"


class Numbers(App[None]):
    def compose(self) -> ComposeResult:
        yield LineTable(("symbol", "net", "carry", "note"), numbers=("net", "carry"))


async def test_number_columns_line_up_on_the_decimal_point_and_keep_their_style() -> None:
    app = Numbers()
    async with app.run_test(size=(60, 10)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows(
            [
                ("AAPL", ["AAPL", Text("-0.423757", style="bold"), "1234.5", "x"]),
                ("MSFT", ["MSFT", "<0.000001", "2", "y"]),
                ("TSLA", ["TSLA", "-12", "0.25", "z"]),
            ]
        )
        await pilot.pause()
        assert lines(table) == [
            " symbol  net         carry    note",
            " AAPL     -0.423757  1234.5   x",
            " MSFT     <0.000001     2     y",
            " TSLA    -12            0.25  z",
        ]
        net = table.get_row("AAPL")[1]
        assert isinstance(net, Text)
        assert net.style == "bold"


async def test_columns_beyond_the_pane_are_announced_and_reached_by_scrolling_sideways() -> None:
    """A column that does not fit is never cut silently: the header ends with ▸ while columns lie to the
    right, and starts with ◂ once scrolled (→ key); at a width that holds every column, neither shows."""
    app = Host(follow_key=True)
    async with app.run_test(size=(16, 6)) as pilot:
        table = app.query_one(LineTable)
        table.set_rows([("AAPL", ["AAPL", "-1.451535", "ok"])])
        table.focus()
        await pilot.pause()
        header = table.render_line(0).text
        assert header.endswith("▸")
        assert not header.startswith("◂")
        for _ in range(20):
            await pilot.press("right")
        await pilot.pause()
        header = table.render_line(0).text
        assert header.startswith("◂")
        assert not header.endswith("▸")
        assert "note" in header
    async with Host(follow_key=True).run_test(size=(60, 6)) as pilot:
        table = pilot.app.query_one(LineTable)
        table.set_rows([("AAPL", ["AAPL", "-1.451535", "ok"])])
        await pilot.pause()
        assert "▸" not in table.render_line(0).text
        assert "◂" not in table.render_line(0).text
