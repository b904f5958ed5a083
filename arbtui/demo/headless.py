"""``arbtui demo --headless``: the engine and the solver without the console, progress lines every few
seconds, a graceful stop (the solver stops first, then the engine is given time to record every fill
the solver sent and finish every hedge), and a short summary read back from the ledger."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from arbtui.demo.market import Book
from arbtui.demo.scenario import DemoWorld
from arbtui.demo.solver import Solver, SolverStats
from arbtui.domain.values import Shares
from arbtui.store.event_store import EventStore

PROGRESS_EVERY_S = 10.0
SETTLE_WITHIN_S = 30.0
OPEN_STATUSES = ("PENDING", "SUBMITTED", "PARTIALLY_FILLED")

Echo = Callable[[str], None]


@dataclass(frozen=True)
class PositionLine:
    symbol: str
    net: Shares
    hedged: Shares
    pending: bool


@dataclass(frozen=True)
class Summary:
    """What the ledger holds at the end of a run."""

    fills: int
    skipped: int
    hedges: dict[str, int] = field(default_factory=dict)
    """Executions by status."""
    positions: tuple[PositionLine, ...] = ()
    by_orderbook: dict[str, int] = field(default_factory=dict)
    """Fills recorded per orderbook address (lowercase)."""
    wrapped: int = 0
    """Fills recorded in a wrapped (ERC-4626) token."""

    @property
    def hedges_placed(self) -> int:
        return sum(self.hedges.values())

    @property
    def hedges_open(self) -> int:
        return sum(n for status, n in self.hedges.items() if status in OPEN_STATUSES)

    @property
    def settled(self) -> bool:
        """No hedge in flight and nothing at or past the one-share threshold left unhedged."""
        return self.hedges_open == 0 and all(not p.pending and abs(p.net) < Shares(1) for p in self.positions)


async def summarize(store: EventStore) -> Summary:
    async def count(event_type: str) -> int:
        rows = await store.query(
            "SELECT count(*) FROM events WHERE aggregate_type = 'OnChainTrade' AND event_type = ?", (event_type,)
        )
        return int(rows[0][0])

    hedges = await store.query("SELECT status, count(*) FROM offchain_trade_view GROUP BY status")
    books = await store.query(
        "SELECT json_extract(payload, '$.fill.orderbook'), count(*) FROM events"
        " WHERE aggregate_type = 'OnChainTrade' AND event_type = 'Filled' GROUP BY 1"
    )
    wrapped = await store.query(
        "SELECT count(*) FROM events WHERE aggregate_type = 'OnChainTrade' AND event_type = 'Filled'"
        " AND json_extract(payload, '$.fill.unwrapped') IS NOT NULL"
    )
    positions = []
    for symbol, payload in await store.query("SELECT view_id, payload FROM position_view ORDER BY view_id"):
        state = json.loads(payload)
        positions.append(
            PositionLine(
                str(symbol),
                Shares(Decimal(state["net_position"])),
                Shares(Decimal(state["hedged"])),
                state["pending_execution_id"] is not None,
            )
        )
    return Summary(
        fills=await count("Filled"),
        skipped=await count("FillSkipped"),
        hedges={str(status): int(n) for status, n in hedges},
        positions=tuple(positions),
        by_orderbook={str(book).lower(): int(n) for book, n in books if book is not None},
        wrapped=int(wrapped[0][0]),
    )


async def settle(world: DemoWorld, stats: SolverStats, within: float) -> Summary:
    """Wait (bounded) until intake recorded every block the solver wrote to and every hedge is done."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        cursor = await world.engine.ledger.cursor()
        summary = await summarize(world.engine.store)
        caught_up = cursor is not None and cursor.number >= stats.last_block
        if (caught_up and summary.settled) or loop.time() > deadline or world.engine.fault is not None:
            return summary
        await asyncio.sleep(0.1)


def report(summary: Summary, stats: SolverStats, books: Mapping[Book, str] | None = None) -> list[str]:
    """The summary's lines; ``books`` (each book's address) adds a line per orderbook."""
    filled = summary.hedges.get("FILLED", 0)
    lines = [
        f"fills recorded:  {summary.fills} (the solver sent {stats.fills} fills of our orders,"
        f" {stats.clears_both_ours} clears with both sides ours)",
    ]
    for book, address in (books or {}).items():
        lines.append(
            f"  {book.value.upper()} book {address}: {summary.by_orderbook.get(address.lower(), 0)} fills recorded"
            f" (the solver sent {stats.by_book.get(book, 0)})"
        )
    if stats.wrapped_fills or summary.wrapped:
        lines.append(
            f"  wrapped tokens: {summary.wrapped} fills recorded in underlying shares"
            f" (the solver sent {stats.wrapped_fills})"
        )
    lines += [
        f"fills skipped:   {summary.skipped} (the solver sent {stats.unknown_token_fills} in a token with no ticker;"
        f" {stats.other_owner_fills} fills of other owners' orders were not ours)",
        f"hedges placed:   {summary.hedges_placed}, filled {filled}"
        + (f", still open {summary.hedges_open}" if summary.hedges_open else ""),
    ]
    for p in summary.positions:
        lines.append(f"  {p.symbol:<6} carry {p.net}  hedged {p.hedged}" + ("  (hedge in flight)" if p.pending else ""))
    return lines


async def run_headless(world: DemoWorld, solver: Solver, duration: float | None, echo: Echo) -> int:
    """Run until ``duration`` seconds passed (None: until SIGINT/SIGTERM); 0 when everything settled."""
    engine = world.engine
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, stop.set)
    started = loop.time()
    await engine.start()
    solver_task = asyncio.create_task(solver.run(), name="solver")
    watched = [asyncio.create_task(stop.wait()), asyncio.create_task(engine.wait())]
    solver_error: BaseException | None = None
    try:
        while True:
            remaining = None if duration is None else duration - (loop.time() - started)
            if remaining is not None and remaining <= 0:
                break
            wait_for = PROGRESS_EVERY_S if remaining is None else min(PROGRESS_EVERY_S, remaining)
            done, _ = await asyncio.wait([*watched, solver_task], timeout=wait_for, return_when=asyncio.FIRST_COMPLETED)
            if done:
                break
            progress = await summarize(engine.store)
            echo(
                f"{loop.time() - started:5.0f} s: {progress.fills} fills, {progress.skipped} skipped,"
                f" {progress.hedges_placed} hedges ({progress.hedges.get('FILLED', 0)} filled)"
            )
    finally:
        for task in watched:
            task.cancel()
        solver.stop()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await solver_task
            except Exception as exc:  # noqa: BLE001 - reported below; the engine still stops gracefully
                solver_error = exc
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    echo("stopping: the solver stopped; waiting for the last fills and hedges to settle…")
    summary = await settle(world, solver.stats, SETTLE_WITHIN_S)
    clean = await engine.stop()
    summary = await summarize(engine.store)
    await engine.ledger.close()
    world.ledger_closed = True
    for line in report(summary, solver.stats, {book: world.book_address(book) for book in world.books}):
        echo(line)
    where = f"{world.db_path} (kept)" if world.kept else "deleted with the demo (keep it with --keep-db PATH)"
    echo(f"database:        {where}")
    if engine.fault is not None:
        echo(f"error: the engine halted: {engine.fault!r}")
        return 1
    if solver_error is not None:
        echo(f"error: the simulated solver failed: {solver_error!r}")
        return 1
    if not summary.settled or not clean:
        echo(f"warning: not settled within {SETTLE_WITHIN_S:.0f} s; the open hedges resume at the next start")
    return 0
