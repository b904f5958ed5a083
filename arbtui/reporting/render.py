"""Writing a report: a rich table for people, CSV and JSON for spreadsheets. Rows stream through."""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from enum import StrEnum
from itertools import islice
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

TABLE_PAGE = 500
"""A table is printed in pages of this many rows (column widths are per page), so it streams too."""
RIGHT = frozenset(
    {
        "trades",
        "losing_trades",
        "quantity",
        "price_usd",
        "realized_pnl",
        "cumulative_pnl",
        "net_position",
        "net_position_after",
        "hours",
        "unhedged_usd_hours",
        "average_unhedged_usd",
        "seconds",
        "unhedged_usd_seconds",
    }
)


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
    Values are written as given (the views' exact decimal strings; ``None`` as empty / ``null``)."""
    if fmt is Format.CSV:
        return write_csv(header, batches, out)
    if fmt is Format.JSON:
        return write_json(header, _rows(batches), out)
    return write_table(header, _rows(batches), console or Console(file=out), title=title)


def _rows(batches: Batches) -> Iterator[Sequence[str | None]]:
    for batch in batches:
        yield from batch


def write_csv(header: Sequence[str], batches: Batches, out: TextIO) -> int:
    """CSV, one ``writerows`` per batch."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    count = 0
    for batch in batches:
        writer.writerows(batch)
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
    shown = Table(title=title or None, title_justify="left", header_style="bold")
    for name in header:
        label = name.replace("_", " ")
        shown.add_column(
            label,
            justify="right" if name in RIGHT else "left",
            overflow="fold",  # a narrow terminal wraps a value, never cuts it (money stays exact)
        )
    for row in rows:
        shown.add_row(*(_styled(name, value) for name, value in zip(header, row, strict=True)))
    return shown


SHORTENED = frozenset({"trade_id", "trade_ref"})
TIMES = frozenset({"timestamp"})


def _styled(name: str, value: str | None) -> Text:
    """Plain text (never markup: a value is shown as it is); losses in red. Long onchain trade ids are
    shortened to ``0x0000…0003:0`` and times cut to the second in tables (CSV and JSON carry them whole)."""
    text = "" if value is None else value
    if name in SHORTENED and text.startswith("0x") and len(text) > 20:
        head, _, tail = text.partition(":")
        text = f"{head[:6]}…{head[-4:]}" + (f":{tail}" if tail else "")
    elif name in TIMES and len(text) > 19:
        text = text[:19]  # to the second in tables; CSV and JSON keep the microseconds
    loss = name in ("realized_pnl", "cumulative_pnl") and text.startswith("-")
    return Text(text, style="red" if loss else "")
