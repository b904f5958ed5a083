"""The PnL report over a large ledger: time and peak memory beside a plain SQL scan of the same rows.

Figures, each beside a baseline measured in the same run on the same database file:

* **PnL report time** — ``arbtui report pnl --format csv`` as the CLI runs it (read-only connection,
  one snapshot, rows streamed from the cursor, totals per symbol folded on the way, CSV written to
  ``/dev/null``), against the plain SQL scan a dashboard would run over the same rows —
  ``SELECT * FROM metrics_pnl_view`` (the seed's columns) in the same order, fetched and dropped.
  Target: ≤ 3× the scan. For information, the same report against the stored rows alone
  (``SELECT view_id, version, payload``: nothing extracted from the JSON).
* **PnL report peak RSS** — of a child process that only runs the report, against a child that only
  runs the scan. Target: ≤ 2× the scan's (bounded: streaming, nothing accumulates per row).

The ledger's ``metrics_pnl_view`` is filled with the rows the projection writes (``arbtui.store.pnl_rows``
over the domain's FIFO book, five symbols, onchain fills hedged by broker fills), inserted directly:
building a million trades through the durable path would take most of an hour and measure the writer.

Run: ``.venv/bin/python -m bench.reports [--trades N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

from arbtui.domain import pnl
from arbtui.domain.values import Cents, Direction, PriceUsdc, Shares, Venue
from arbtui.reporting import reports
from arbtui.reporting.database import open_readonly, snapshot
from arbtui.reporting.render import write_csv
from arbtui.store.codec import dumps
from arbtui.store.migrate import connect_sync, migrate
from arbtui.store.pnl_rows import PNL_TABLE, payload
from bench.report import Figure, save, table

QUICK_ARGS = ("--trades", "20000")
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "GOOG")
T0 = datetime(2026, 1, 5, 14, 30, tzinfo=UTC)
CHUNK = 10_000
SCAN_SQL = "SELECT * FROM metrics_pnl_view ORDER BY timestamp, symbol, version"
"""The baseline: the plain SQL a dashboard runs over the same rows (the seed's columns), same order."""
BARE_SQL = "SELECT view_id, version, payload FROM metrics_pnl_view ORDER BY timestamp, symbol, version"
"""For information: the stored rows alone, no column extracted."""


def generate(trades: int, seed: int = 7) -> Iterator[list[tuple[str, int, str]]]:
    """``metrics_pnl_view`` rows in chunks: per symbol, fractional onchain fills, and a broker fill of
    floor(|position|) at a nearby price whenever the position reaches a whole share."""
    rng = random.Random(seed)
    books = {symbol: pnl.PnlBook() for symbol in SYMBOLS}
    chunk: list[tuple[str, int, str]] = []
    for n in range(trades):
        symbol = SYMBOLS[n % len(SYMBOLS)]
        book = books[symbol]
        at = T0 + timedelta(seconds=n)
        whole = abs(book.position).floor_whole()
        if whole.is_positive and rng.random() < 0.5:
            direction = Direction.SELL if book.position.is_positive else Direction.BUY
            trade = pnl.Trade.trusted(
                venue=Venue.OFFCHAIN,
                ref=f"exec-{n}",
                direction=direction,
                shares=whole,
                price=Cents(15_000 + rng.randrange(-300, 300)).to_price(),
                at=at,
            )
        else:
            trade = pnl.Trade.trusted(
                venue=Venue.ONCHAIN,
                ref=f"0x{n:064x}:0",
                direction=Direction.SELL if rng.random() < 0.7 else Direction.BUY,
                shares=Shares(f"0.{rng.randrange(1, 1000):03d}"),
                price=PriceUsdc(f"{150 + rng.randrange(-3, 3)}.{rng.randrange(0, 100):02d}"),
                at=at,
            )
        after = pnl.apply(book, trade)
        row = pnl.row(symbol, trade, book, after)
        books[symbol] = after
        sequence = after.trades * 2
        chunk.append((f"{symbol}:{row.number}", sequence, dumps(payload(row, sequence))))
        if len(chunk) >= CHUNK:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def build(path: Path, trades: int) -> None:
    migrate(path)
    conn = connect_sync(path)
    try:
        conn.execute("PRAGMA synchronous=OFF")
        conn.execute("BEGIN")
        for chunk in generate(trades):
            conn.executemany(f"INSERT INTO {PNL_TABLE} (view_id, version, payload) VALUES (?, ?, ?)", chunk)
        conn.execute("COMMIT")
    finally:
        conn.close()


def scan(path: Path, sql: str = SCAN_SQL) -> int:
    """The baseline: the same rows in the same order, fetched and dropped."""
    conn = open_readonly(path)
    count = 0
    try:
        with snapshot(conn):
            cursor = conn.execute(sql)
            while batch := cursor.fetchmany(reports.FETCH):
                count += len(batch)
    finally:
        conn.close()
    return count


def report(path: Path) -> int:
    """What ``arbtui report pnl --format csv > /dev/null`` does."""
    conn = open_readonly(path)
    try:
        with snapshot(conn), open(os.devnull, "w") as sink:
            totals = reports.PnlTotals()
            count = write_csv(reports.PNL_HEADER, (totals.add(batch) for batch in reports.pnl(conn)), sink)
            write_csv(reports.SUMMARY_HEADER, [totals.rows()], sink)
    finally:
        conn.close()
    return count


def child(kind: str, path: Path) -> None:
    """Run one side alone and print its time, row count and peak RSS (JSON)."""
    started = time.perf_counter()
    count = {"scan": scan, "bare": lambda p: scan(p, BARE_SQL), "report": report}[kind](path)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"rows": count, "seconds": seconds, "peak_mb": peak_mb}))


def run_child(kind: str, path: Path) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.reports", "--child", kind, str(path)], check=True, capture_output=True, text=True
    )
    result: dict[str, float] = json.loads(done.stdout)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--trades", type=int, default=1_000_000, help="PnL rows in the ledger")
    parser.add_argument("--rounds", type=int, default=3, help="alternating scan/report runs; the best of each")
    parser.add_argument("--child", nargs=2, metavar=("KIND", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], Path(args.child[1]))
        return
    with tempfile.TemporaryDirectory(prefix="arbtui-bench-", dir=Path.cwd()) as tmp:
        path = Path(tmp) / "ledger.db"
        print(f"ledger with {args.trades:,} PnL rows", file=sys.stderr)
        build(path, args.trades)
        scans, runs, bares = [], [], []
        for _ in range(args.rounds):  # interleaved, so load on the shared machine hits both alike
            scans.append(run_child("scan", path))
            runs.append(run_child("report", path))
            bares.append(run_child("bare", path))
    if {s["rows"] for s in scans} | {r["rows"] for r in runs} != {args.trades}:
        raise SystemExit(f"row counts differ: scan {scans[0]['rows']}, report {runs[0]['rows']}")
    best_scan = min(s["seconds"] for s in scans)
    best_report = min(r["seconds"] for r in runs)
    figures = [
        Figure("PnL report time", best_report, "s", best_scan, "plain SQL scan, same rows", 3, False),
        Figure(
            "PnL report peak RSS",
            max(r["peak_mb"] for r in runs),
            "MB",
            max(s["peak_mb"] for s in scans),
            "plain SQL scan peak RSS",
            2,
            False,
        ),
        Figure(
            "PnL report time, vs the stored rows alone",
            best_report,
            "s",
            min(b["seconds"] for b in bares),
            "SELECT view_id, version, payload",
            None,
            False,
        ),
    ]
    print(table(f"reports — PnL report over {args.trades:,} trades", figures))
    print(f"wrote {save('reports', figures, trades=args.trades)}")


if __name__ == "__main__":
    main()
