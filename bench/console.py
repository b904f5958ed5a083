"""Console benchmark: at 200 fills/s from the engine, does the console's refresh keep up, and does its
memory stay flat once its tables are full?

* **Feed**: real ledger writes. The console runs headless (``App.run_test``) and hosts a real engine
  (dry-run broker, temp SQLite ledger); fills go through ``Ledger.record_range`` one durable transaction
  each, on a 200/s schedule, so the bus carries exactly what production publishes (the fill's
  ``OnChainTrade`` and its ``Position`` commit) and the console shares its event loop with the engine and
  the ledger as in production. Fills alternate SELL/BUY of 0.01 shares per symbol: positions stay under
  the hedge threshold, so the load is fills, not hedges (bench/engine measures hedging).
* **Lag**: from the engine publishing a fill on its bus (a stamping ``Bus``) to the first screen refresh
  that includes it (``call_after_refresh`` queued by the view update that carries it: it runs after the
  compositor has rendered the frame). Headless, the frame is composed but not written to a terminal.
* **Memory**: RSS when 10 %, 50 % and 100 % of the fills have been shown; tables are bounded, so the
  growth from 10 % to 100 % should be ~0 (what remains is the ledger's own caches and SQLite's).
* **Baseline**, same run: the same message rate through a bare Textual app with one DataTable (newest row
  on top, 200 rows kept) and no arbtui code, on ``min(fills, --baseline-fills)`` messages.

Run: ``.venv/bin/python -m bench.console [--fills 100000]`` (writes ``bench/results/console.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from array import array
from pathlib import Path
from typing import Any

from loguru import logger
from textual.app import App, ComposeResult
from textual.message import Message
from textual.widgets import DataTable

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain import onchain_trade
from arbtui.domain.values import Direction
from arbtui.engine.bus import Bus
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.messages import Committed, EngineMessage
from arbtui.store.ledger import Ledger
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.messages import ViewChanged
from bench.engine import percentile, rss_mb
from bench.report import Figure, save, table
from tests.builders import block, make_fill

QUICK_ARGS = ("--fills", "2000", "--baseline-fills", "1000")
RATE = 200.0
SIZE = (120, 40)
SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "GOOG", "AMZN", "META", "GME")
BOUNDED_ROWS = 200


def fill_number(trade_id: str) -> int:
    """The ``n`` of ``make_fill(n, …)`` from its trade id (``0x<n as 64 hex>:<log index>``)."""
    return int(trade_id[2:66], 16)


class Stamps:
    """Publish and paint times per fill number, preallocated (the bench's own memory stays flat)."""

    def __init__(self, count: int) -> None:
        self.published = array("d", bytes(8 * (count + 1)))
        self.painted = array("d", bytes(8 * (count + 1)))
        self.painted_upto = 0

    def paint(self, newest: int) -> None:
        now = time.perf_counter()
        for n in range(self.painted_upto + 1, newest + 1):
            self.painted[n] = now
        self.painted_upto = max(self.painted_upto, newest)

    def lags_ms(self, first: int, last: int) -> list[float]:
        unstamped = [n for n in range(first, last + 1) if not self.published[n]]
        if unstamped:  # a lag from time zero would be a figure of hours: refuse to print one
            raise RuntimeError(f"{len(unstamped)} fills were never seen published (first: {unstamped[0]})")
        return [(self.painted[n] - self.published[n]) * 1000 for n in range(first, last + 1)]


class StampingBus(Bus):
    """The engine's bus, noting when each fill is published."""

    def __init__(self, stamps: Stamps) -> None:
        super().__init__()
        self.stamps = stamps

    def publish(self, message: EngineMessage) -> None:
        if isinstance(message, Committed):
            now = time.perf_counter()
            for change in message.changes:
                if change.aggregate_type == onchain_trade.AGGREGATE:
                    self.stamps.published[fill_number(change.aggregate_id)] = now
        super().publish(message)


class TimedConsole(ArbtuiApp):
    """The console, unchanged, plus one more handler for the view update (Textual calls the console's
    own ``on_view_changed`` as well): note the newest fill once the frame that shows it is rendered."""

    def __init__(self, engine: Engine, stamps: Stamps) -> None:
        super().__init__(engine, actor="console:bench")
        self.stamps = stamps

    def on_view_changed(self, message: ViewChanged) -> None:
        if message.view.fills:
            newest = fill_number(message.view.fills[0].state.trade_id)
            self.call_after_refresh(self.stamps.paint, newest)


async def _wait(condition: Any, within_s: float, what: str) -> None:
    deadline = time.perf_counter() + within_s
    while not condition():
        if time.perf_counter() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


async def on_schedule(count: int, send: Any) -> float:
    """Call ``await send(n)`` for n = 1..count at :data:`RATE` per second; returns the achieved rate."""
    start = time.perf_counter()
    for n in range(1, count + 1):
        delay = start + (n - 1) / RATE - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await send(n)
    return count / (time.perf_counter() - start)


async def console_run(db: Path, count: int) -> tuple[list[float], dict[int, float], float, float]:
    """(lags ms, RSS MB at each checkpoint, RSS MB once mounted, achieved fills/s)."""
    stamps = Stamps(count)
    broker = DryRunBroker()
    engine = Engine(
        await Ledger.open(db, broker.kind), broker, EngineOptions(check_interval_s=3600), bus=StampingBus(stamps)
    )
    app = TimedConsole(engine, stamps)
    checkpoints = sorted({max(1, count // 10), max(1, count // 2), count})
    rss: dict[int, float] = {}
    try:
        async with app.run_test(size=SIZE):
            await _wait(app.engine_started.is_set, 30, "the engine to start")
            mounted = rss_mb()

            async def send(n: int) -> None:
                side = Direction.SELL if n % 2 else Direction.BUY  # pairs cancel: no hedge
                symbol = SYMBOLS[(n - 1) // 2 % len(SYMBOLS)]
                await engine.ledger.record_range(
                    [make_fill(n, "0.01", side, symbol=symbol, block_number=n)], [], block(n)
                )
                if n in checkpoints:
                    await _wait(lambda: stamps.painted_upto >= n, 30, f"fill {n} on screen")
                    rss[n] = rss_mb()

            rate = await on_schedule(count, send)
            await app.stop_engine()
    finally:
        await engine.ledger.close()
    if engine.fault is not None:
        raise RuntimeError(f"the engine halted: {engine.fault!r}")
    return stamps.lags_ms(1, count), rss, mounted, rate


class Row(Message):
    def __init__(self, n: int, published: float) -> None:
        super().__init__()
        self.n = n
        self.published = published


class BareTable(App[None]):
    """No arbtui: a worker reads a queue (as the console reads its bus) and posts one message per
    burst; the handler appends the newest row to one DataTable and drops the oldest past 200 rows."""

    def __init__(self, queue: asyncio.Queue[tuple[int, float]], stamps: Stamps) -> None:
        super().__init__()
        self.queue = queue
        self.stamps = stamps

    def compose(self) -> ComposeResult:
        yield DataTable[str](zebra_stripes=True)

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name in ("time", "block", "symbol", "side", "shares", "price", "pyth", "tx"):
            table.add_column(name, key=name)
        self.run_worker(self._read(), exit_on_error=True)

    async def _read(self) -> None:
        while True:
            n, published = await self.queue.get()
            while not self.queue.empty():
                n, published = self.queue.get_nowait()
            self.post_message(Row(n, published))

    def on_row(self, message: Row) -> None:
        table: DataTable[str] = self.query_one(DataTable)
        n = message.n
        table.add_row(
            "14:30:00", str(n), SYMBOLS[n % len(SYMBOLS)], "SELL", "0.01", "200.00", "—", f"0x{n:04x}…", key=str(n)
        )
        if table.row_count > BOUNDED_ROWS:
            table.remove_row(next(iter(table.rows)))
        self.call_after_refresh(self.stamps.paint, n)


async def baseline_run(count: int) -> list[float]:
    stamps = Stamps(count)
    queue: asyncio.Queue[tuple[int, float]] = asyncio.Queue()
    app = BareTable(queue, stamps)
    async with app.run_test(size=SIZE):

        async def send(n: int) -> None:
            stamps.published[n] = now = time.perf_counter()
            queue.put_nowait((n, now))

        await on_schedule(count, send)
        await _wait(lambda: stamps.painted_upto >= count, 30, "the last row on screen")
    return stamps.lags_ms(1, count)


async def main(args: argparse.Namespace) -> list[Figure]:
    logger.remove()  # the engine's log lines would cost more than the console
    logger.add(sys.stderr, level="WARNING")
    count = args.fills
    base_count = min(count, args.baseline_fills)
    print(f"baseline: {base_count:,} rows at {RATE:.0f}/s through a bare Textual DataTable", file=sys.stderr)
    base = await baseline_run(base_count)
    print(f"console: {count:,} fills at {RATE:.0f}/s through the ledger, engine and console", file=sys.stderr)
    with tempfile.TemporaryDirectory(prefix="arbtui-bench-", dir=Path.cwd()) as tmp:
        lags, rss, mounted, rate = await console_run(Path(tmp) / "console.db", count)
    first, *_, last = sorted(rss)
    print(
        f"achieved {rate:.0f} fills/s; RSS mounted {mounted:.0f} MB, "
        + ", ".join(f"after {n:,} fills {mb:.0f} MB" for n, mb in sorted(rss.items())),
        file=sys.stderr,
    )
    p50, p99, b50, b99 = statistics.median(lags), percentile(lags, 99), statistics.median(base), percentile(base, 99)
    return [
        Figure("fill→screen p50", p50, "ms", b50, "bare DataTable p50", None, False),
        Figure("fill→screen p99", p99, "ms", b99, "bare DataTable p99", 100.0, False, "value"),
        Figure(f"RSS after {last:,} fills", rss[last], "MB", rss[first], f"RSS after {first:,}", None, False),
        Figure(
            f"RSS growth {first:,}→{last:,} fills", rss[last] - rss[first], "MB", None, "", args.flat_mb, False, "value"
        ),
    ]


def cli() -> None:
    parser = argparse.ArgumentParser(description="console refresh lag and memory at 200 fills/s")
    parser.add_argument("--fills", type=int, default=100_000, help="fills fed to the console (default 100,000)")
    parser.add_argument("--baseline-fills", type=int, default=20_000, help="rows for the bare-Textual baseline")
    parser.add_argument("--flat-mb", type=float, default=10.0, help="RSS growth allowed once tables are full")
    args = parser.parse_args()
    if args.fills < 10:
        parser.error("--fills must be at least 10")
    figures = asyncio.run(main(args))
    print(table(f"console: {args.fills:,} fills at {RATE:.0f}/s", figures))
    save("console", figures, fills=args.fills, baseline_fills=min(args.fills, args.baseline_fills), rate=RATE)


if __name__ == "__main__":
    cli()
