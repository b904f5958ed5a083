"""Writing a report: a rich table for people, CSV and JSON for spreadsheets. Rows stream through.

The rows arrive exact (the views' decimal strings). JSON writes them as they are; the table and CSV show
them as :mod:`arbtui.display` rounds for people — shares to 6 decimals, money in cents, prices on the
broker's tick (CSV without thousands separators, so spreadsheets read the numbers) — and the table lines
each number column up on its decimal point, losses in red and gains in green.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from enum import StrEnum
from itertools import islice
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from arbtui import display
from arbtui.domain.values import to_decimal

TABLE_PAGE = 500
"""A table is printed in pages of this many rows (column widths are per page), so it streams too."""
SHARES = frozenset({"quantity", "net_position", "net_position_after"})
PRICES = frozenset({"price_usd"})
PNL = frozenset({"realized_pnl", "cumulative_pnl"})
"""Money columns: cents, red below zero and green above."""
RIGHT = frozenset(
    {
        "trades",
        "losing_trades",
        *SHARES,
        *PRICES,
        *PNL,
        "onchain",
        "broker",
        "total",
        "unhedged",
        "onchain_ratio",
        "drift",
        "hours",
        "unhedged_usd_hours",
        "average_unhedged_usd",
        "seconds",
        "unhedged_usd_seconds",
    }
)
"""Number columns: right-aligned and lined up on their decimal points."""


class Format(StrEnum):
    TABLE = "table"
    CSV = "csv"
    JSON = "json"


Rows = Iterable[Sequence[str | None]]
Batches = Iterable[Sequence[Sequence[str | None]]]


def write(
    fmt: Format,
    header: Sequence[str],
    batches: Batches,
    out: TextIO,
    *,
    title: str = "",
    console: Console | None = None,
) -> int:
    """Write the rows of ``batches`` under ``header`` in ``fmt``; returns how many rows were written.
    JSON writes the values as given (the views' exact decimal strings; ``None`` as ``null``); the table
    and CSV show the number columns as :func:`shown` rounds them (``None`` as empty)."""
    if fmt is Format.CSV:
        return write_csv(header, batches, out)
    if fmt is Format.JSON:
        return write_json(header, _rows(batches), out)
    return write_table(header, _rows(batches), console or Console(file=out), title=title)


def _rows(batches: Batches) -> Iterator[Sequence[str | None]]:
    for batch in batches:
        yield from batch


def write_csv(header: Sequence[str], batches: Batches, out: TextIO) -> int:
    """CSV, one ``writerows`` per batch; numbers as :func:`shown` rounds them, without thousands separators."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    formats = _formats(header, grouping=False)
    count = 0
    for batch in batches:
        writer.writerows(_shown(formats, row) for row in batch)
        count += len(batch)
    return count


def write_json(header: Sequence[str], rows: Rows, out: TextIO) -> int:
    """A JSON array of objects, one per row, written as the rows arrive (strings, never floats)."""
    keys = [json.dumps(key) + ": " for key in header]
    count = 0
    out.write("[")
    for row in rows:
        out.write(",\n" if count else "\n")
        out.write("{" + ", ".join(k + json.dumps(v) for k, v in zip(keys, row, strict=True)) + "}")
        count += 1
    out.write("\n]\n" if count else "]\n")
    return count


def write_table(header: Sequence[str], rows: Rows, console: Console, *, title: str = "") -> int:
    iterator = iter(rows)
    count = 0
    while page := list(islice(iterator, TABLE_PAGE)):
        console.print(table(header, page, title=title if count == 0 else ""))
        count += len(page)
    if count == 0:
        console.print(f"{title}: nothing to show" if title else "nothing to show")
    return count


def table(header: Sequence[str], rows: Rows, *, title: str = "") -> Table:
    """The rows under ``header`` as a table: numbers as :func:`shown` rounds them, each number column
    lined up on its decimal point and flush right under its label.

    The number columns are padded here, to one width each, and left-justified: Rich strips the trailing
    spaces of a right-justified cell, which would undo the alignment of ``0.5`` under ``-1.451535``."""
    formats = _formats(header, grouping=True)
    exact = [tuple(row) for row in rows]
    texts = [["" if value is None else value for value in _shown(formats, row)] for row in exact]
    labels = [name.replace("_", " ") for name in header]
    for index, name in enumerate(header):
        if name in RIGHT:
            aligned = display.align([t[index] for t in texts])
            width = max([len(labels[index]), *map(len, aligned)])
            labels[index] = labels[index].rjust(width)
            for row_texts, text in zip(texts, aligned, strict=True):
                row_texts[index] = text.rjust(width)
    shown_table = Table(title=title or None, title_justify="left", header_style="bold")
    for label in labels:
        shown_table.add_column(label, overflow="fold")  # a narrow terminal wraps a value, never cuts it
    for row, row_texts in zip(exact, texts, strict=True):
        shown_table.add_row(*(_styled(*cell) for cell in zip(header, row, row_texts, strict=True)))
    return shown_table


Shown = Callable[[str], str]


def _formats(header: Sequence[str], *, grouping: bool) -> list[Shown | None]:
    """Per column, how its exact value is shown (``None``: as it is)."""
    return [shown(name, grouping=grouping) for name in header]


def shown(name: str, *, grouping: bool = True) -> Shown | None:
    """How a report column's exact decimal string reads in a table (``grouping``) or a CSV: shares, money
    or a price per :mod:`arbtui.display`; ``None`` for a column shown as it is."""
    if name in SHARES:
        return lambda value: display.shares(to_decimal(value))
    if name in PRICES:
        return lambda value: display.price(to_decimal(value), grouping=grouping)
    if name in PNL:
        return lambda value: display.usd(to_decimal(value), grouping=grouping)
    return None


def _shown(formats: Sequence[Shown | None], row: Sequence[str | None]) -> tuple[str | None, ...]:
    return tuple(
        value if value is None or shown_as is None else shown_as(value)
        for shown_as, value in zip(formats, row, strict=True)
    )


SHORTENED = frozenset({"trade_id", "trade_ref"})
TIMES = frozenset({"timestamp"})


def _styled(name: str, exact: str | None, text: str) -> Text:
    """Plain text (never markup: a value is shown as it is); money red below zero, green above. Long
    onchain trade ids are shortened to ``0x0000…0003:0`` and times cut to the second in tables (CSV and
    JSON carry them whole)."""
    if name in SHORTENED and text.startswith("0x") and len(text) > 20:
        head, _, tail = text.partition(":")
        text = f"{head[:6]}…{head[-4:]}" + (f":{tail}" if tail else "")
    elif name in TIMES and len(text) > 19:
        text = text[:19]  # to the second in tables; CSV and JSON keep the microseconds
    style = display.sign_style(to_decimal(exact)) if name in PNL and exact else ""
    return Text(text, style=style)
