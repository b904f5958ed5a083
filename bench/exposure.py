"""Exposure benchmark: the time-weighted unhedged notional of one week of fills, per hedging policy.

One week (Monday 00:00 to Monday 00:00, New York) of synthetic onchain fills at a steady rate through every
session — weekends and nights included, as Pyth and the solvers never stop — with a fixed seed, replayed
through the real engine (a real SQLite ledger, the dry-run broker with its calendar's sessions) on a
**simulated clock**: time jumps from one thing due to the next (a fill, a sleeper's wake-up, a session
change, a scan), so a week takes a minute, not a week. Each policy replays the same fills on its own
ledger, with ``[hedging]`` as an operator would set it (defaults otherwise):

- ``regular-only`` — today's behaviour: market hedges in the regular session; outside it they are held.
- ``extended`` — ``sessions = ["regular", "extended"]``: limit hedges in pre-market and after hours.
- ``extended+overnight`` — also ``"overnight"``.

The dry-run market price of a symbol moves to each of its fills' prices, and each fill carries that price
as its Pyth price (the limit hedges' reference): a limit crossing it by 50 bps fills at once — the best
case for liquidity outside the regular session. The broker holds 500 shares of each symbol and cash,
so the preflight lets the hedges out.

The figure is computed from each ledger by :func:`arbtui.domain.exposure.time_weighted`, the function
``arbtui report exposure`` prints, with the dry-run broker's own calendar. Target: extended+overnight at
most 0.2× regular-only (a cut of ≥ 80%) over the week outside the weekend. The weekend — the closed
stretch from Friday 20:00 to Sunday 20:00, when no venue trades and no policy can hedge — is printed on
its own, and the whole week for information: fills arriving through the weekend are exposure every
policy carries until Sunday night, so they bound what any policy can cut of the whole week (about half
here); the flatten only clears what is open before the close.

Run: ``.venv/bin/python -m bench.exposure`` (writes ``bench/results/exposure.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import heapq
import itertools
import random
import sys
import tempfile
import time
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from pathlib import Path

from loguru import logger

from arbtui.brokers.base import MarketOrder
from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.config.settings import HedgingSettings
from arbtui.domain.exposure import ExposureReport, ExposureSession, time_weighted
from arbtui.domain.hedging_policy import SessionChoice
from arbtui.domain.onchain_trade import Enrich, OnChainFill, PythMethod, PythPrice
from arbtui.domain.position import Threshold, ThresholdKind
from arbtui.domain.sessions import NEW_YORK, TradingCalendar
from arbtui.domain.values import Direction, ExecutionId, PriceUsdc, Shares, Symbol, Usdc
from arbtui.engine.hedging import hedging_policy
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.reporting.database import open_readonly
from arbtui.reporting.exposure import ledger_changes
from arbtui.store.event_store import EventStore
from arbtui.store.ledger import Ledger
from bench.report import Figure, save, table
from tests.builders import block, make_fill

# `python -m bench --quick` runs this module with these arguments (see bench/README.md).
QUICK_ARGS = ("--every", "60", "--days", "2")
"""A smoke run: Monday and Tuesday, a fill an hour (no weekend: its figure is then zero)."""

WEEK_START = date(2026, 11, 30)
"""A Monday of an ordinary week (no holiday, no early close, no DST change)."""
SYMBOLS = {"AAPL": "187.55", "MSFT": "421.30", "NVDA": "138.90"}
THRESHOLD = Threshold(kind=ThresholdKind.DOLLARS)
"""Alpaca's fractional threshold (the venue with extended hours and overnight): every fill is hedged down
to a dollar, so what remains unhedged is what the session policy leaves, not a sub-share carry."""
STOCK = Shares(500)
"""Shares of each symbol held at the broker when the week starts."""
STARTING_CASH = Usdc(1_000_000)
"""Cash at the broker before the stock is bought (buy hedges need it: the preflight checks it)."""
SCAN_EVERY = timedelta(minutes=5)
"""The engine's periodic scan, in simulated time (its own timer sleeps in real time: it is driven here)."""
SETTLE_POLL_S = 0.0005
"""Real seconds between looks while the engine's tasks run (the store writes in its own thread)."""


class Policy(StrEnum):
    REGULAR_ONLY = "regular-only"
    EXTENDED = "extended"
    EXTENDED_OVERNIGHT = "extended+overnight"

    @property
    def choices(self) -> tuple[SessionChoice, ...]:
        """``hedging.sessions`` as an operator would configure the policy."""
        match self:
            case Policy.REGULAR_ONLY:
                return (SessionChoice.REGULAR,)
            case Policy.EXTENDED:
                return (SessionChoice.REGULAR, SessionChoice.EXTENDED)
            case Policy.EXTENDED_OVERNIGHT:
                return (SessionChoice.REGULAR, SessionChoice.EXTENDED, SessionChoice.OVERNIGHT)


# --- the simulated clock ---------------------------------------------------------------------------


@dataclass(order=True)
class _Sleeper:
    due: datetime
    number: int
    wake: asyncio.Future[None] = field(compare=False)


class SimulatedClock:
    """A :class:`~arbtui.clock.Clock` whose time moves only when the driver says: :meth:`sleep` parks the
    caller until the driver's time reaches its deadline. The driver asks :meth:`next_due` and
    :meth:`advance`; :meth:`sleeping` says which tasks are parked (the engine is quiet when every
    execution task is)."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._sleepers: list[_Sleeper] = []
        self._numbers = itertools.count()
        self.sleeping: set[asyncio.Task[object]] = set()

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float) -> None:
        wake: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(
            self._sleepers, _Sleeper(self._now + timedelta(seconds=max(0.0, seconds)), next(self._numbers), wake)
        )
        task = asyncio.current_task()
        assert task is not None
        self.sleeping.add(task)
        try:
            await wake
        finally:
            self.sleeping.discard(task)

    def next_due(self) -> datetime | None:
        while self._sleepers and self._sleepers[0].wake.done():  # cancelled sleeps
            heapq.heappop(self._sleepers)
        return self._sleepers[0].due if self._sleepers else None

    def advance(self, to: datetime) -> None:
        """Time is now ``to``; every sleep due by then returns."""
        self._now = max(self._now, to)
        while self._sleepers and self._sleepers[0].due <= self._now:
            sleeper = heapq.heappop(self._sleepers)
            if not sleeper.wake.done():
                sleeper.wake.set_result(None)


# --- the week -------------------------------------------------------------------------------------


def synthetic_fills(start: datetime, end: datetime, every: timedelta, seed: int) -> list[tuple[datetime, OnChainFill]]:
    """A fill every ``every`` from ``start`` to ``end``, symbols in turn, 0.1–1.5 shares, the direction
    a coin toss, each price a small seeded walk from its start: the same list for every policy."""
    rng = random.Random(seed)
    prices = {symbol: Decimal(price) for symbol, price in SYMBOLS.items()}
    names = list(SYMBOLS)
    fills: list[tuple[datetime, OnChainFill]] = []
    at, n = start, 0
    while at < end:
        n += 1
        symbol = names[(n - 1) % len(names)]
        prices[symbol] = (prices[symbol] * (1 + Decimal(rng.randint(-20, 20)) / 10_000)).quantize(Decimal("0.01"))
        amount = Decimal(rng.randint(100, 1500)) / 1000
        direction = Direction.BUY if rng.random() < 0.5 else Direction.SELL
        fill = make_fill(n, str(amount), direction, symbol=symbol, price=str(prices[symbol]), block_number=n)
        fills.append((at, fill))
        at += every
    return fills


@dataclass
class Run:
    """One policy's week: the exposure figure and what it took."""

    policy: Policy
    report: ExposureReport
    hedges: int
    seconds: float


def _execution_tasks() -> list[asyncio.Task[object]]:
    return [t for t in asyncio.all_tasks() if t.get_name().startswith("execution:") and not t.done()]


async def _settle(clock: SimulatedClock, engine: Engine) -> None:
    """Until every execution task is parked on the simulated clock (or done): the engine is quiet."""
    while engine.fault is None:
        if all(task in clock.sleeping for task in _execution_tasks()):
            # one more turn of the loop: a wake-up just delivered may not have run yet
            await asyncio.sleep(SETTLE_POLL_S)
            if all(task in clock.sleeping for task in _execution_tasks()):
                return
        await asyncio.sleep(SETTLE_POLL_S)


async def _stock(broker: DryRunBroker) -> None:
    """The inventory a hedger keeps at the broker, bought before the week (market opened for it alone):
    the preflight lets a limit SELL hedge out only against shares held — never a short."""
    broker.set_market_open(True)
    for n, symbol in enumerate(SYMBOLS, start=1):
        order = MarketOrder(ExecutionId(f"00000000-0000-4000-8000-{n:012x}"), Symbol(symbol), Direction.BUY, STOCK)
        await broker.submit(order)
    broker.set_market_open(None)


def _pyth(price: PriceUsdc) -> Enrich:
    """The fill's Pyth price (expo −8), as enrichment records it: the limit hedges' reference price."""
    value = int(price.value * 10**8)
    return Enrich(gas_used=None, pyth_price=PythPrice(feed_id="0x" + "11" * 32, value=value, conf=0, expo=-8,
                                                      publish_time=0, method=PythMethod.TRACE))  # fmt: skip


async def replay(
    policy: Policy,
    fills: list[tuple[datetime, OnChainFill]],
    calendar: TradingCalendar,
    start: datetime,
    end: datetime,
    db: Path,
) -> Run:
    clock = SimulatedClock(start)
    prices = {Symbol(symbol): PriceUsdc(price) for symbol, price in SYMBOLS.items()}
    # the sessions come from the dry-run's own calendar at the simulated clock's now (market_open=None)
    broker = DryRunBroker(DryRunConfig(prices=prices, starting_cash=STARTING_CASH, market_open=None), clock=clock)
    await _stock(broker)
    store = await EventStore.open(db, clock=clock)
    ledger = Ledger(store, broker.kind, clock=clock, threshold=THRESHOLD)
    options = EngineOptions(
        check_interval_s=10 * 365 * 86_400,  # its timer sleeps in real time: the scans are driven below
        hedging=hedging_policy(HedgingSettings(sessions=policy.choices)),
    )
    engine = Engine(ledger, broker, options)
    transitions = [t.at for t in calendar.upcoming(start) if t.at < end]
    started = time.perf_counter()
    await engine.start()
    try:
        pending = list(reversed(fills))
        next_scan = start + SCAN_EVERY
        now = start
        while now < end and engine.fault is None:
            candidates = [end, next_scan, *transitions[:1]]
            if pending:
                candidates.append(pending[-1][0])
            if (due := clock.next_due()) is not None:
                candidates.append(due)
            now = min(candidates)
            while transitions and transitions[0] <= now:
                transitions.pop(0)
            clock.advance(now)
            batch = []
            while pending and pending[-1][0] <= now:
                batch.append(pending.pop()[1])
            for fill in batch:  # the market moves with the fills: a resting limit hedge it crosses fills
                broker.set_price(fill.symbol, fill.price_usdc)
            if batch:
                await ledger.record_range(batch, [], block(batch[-1].block_number))
                for fill in batch:
                    await ledger.enrich(fill.trade_id, _pyth(fill.price_usdc))
            if now >= next_scan:
                next_scan += SCAN_EVERY
                await engine.scan("periodic check")
            await _settle(clock, engine)
        if engine.fault is not None:
            raise RuntimeError(f"the engine halted during {policy}: {engine.fault!r}")
    finally:
        await engine.stop()
        await ledger.close()
    with closing(open_readonly(db)) as conn:
        changes = ledger_changes(conn)
        hedges = int(conn.execute("SELECT count(*) FROM offchain_trade_view WHERE status = 'FILLED'").fetchone()[0])
    return Run(policy, time_weighted(changes, calendar, start, end), hedges, time.perf_counter() - started)


# --- figures ----------------------------------------------------------------------------------------


def _usd_hours(report: ExposureReport, session: ExposureSession | None = None) -> Decimal:
    return (report.total if session is None else report.of(session)).usd_hours


def _outside_weekend(report: ExposureReport) -> Decimal:
    return report.total.usd_hours - report.of(ExposureSession.WEEKEND).usd_hours


def figures(runs: dict[Policy, Run]) -> list[Figure]:
    base = runs[Policy.REGULAR_ONLY].report
    out: list[Figure] = []
    for policy in (Policy.EXTENDED, Policy.EXTENDED_OVERNIGHT):
        if policy not in runs:
            continue
        report = runs[policy].report
        # The target is on the week outside the weekend: from Friday 20:00 to Sunday 20:00 no venue trades,
        # so a steady fill rate leaves the same weekend exposure under every policy (printed below).
        target = 0.2 if policy is Policy.EXTENDED_OVERNIGHT else None
        out.append(
            Figure(f"{policy} unhedged USD·h", float(_usd_hours(report)), "USD·h", float(_usd_hours(base)),
                   "regular-only", None, False)
        )  # fmt: skip
        out.append(
            Figure(f"{policy} unhedged USD·h outside the weekend", float(_outside_weekend(report)), "USD·h",
                   float(_outside_weekend(base)), "regular-only", target, False)
        )  # fmt: skip
    for policy, run in runs.items():
        out.append(
            Figure(f"{policy} unhedged USD·h, weekend alone", float(_usd_hours(run.report, ExposureSession.WEEKEND)),
                   "USD·h", None, "", None, False)
        )  # fmt: skip
    return out


def breakdown(runs: dict[Policy, Run]) -> str:
    """USD·hours per session and policy, exact to the cent, with the hedges each filled."""
    sessions = [*ExposureSession]
    lines = ["policy".ljust(20) + "".join(s.value.rjust(14) for s in sessions) + "total".rjust(14) + "hedges".rjust(8)]
    for policy, run in runs.items():
        cells = [f"{run.report.of(s).usd_hours:,.2f}".rjust(14) for s in sessions]
        total = f"{run.report.total.usd_hours:,.2f}".rjust(14)
        lines.append(policy.value.ljust(20) + "".join(cells) + total + str(run.hedges).rjust(8))
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> dict[Policy, Run]:
    start = datetime.combine(WEEK_START, datetime.min.time(), NEW_YORK).astimezone(UTC)
    end = start + timedelta(days=args.days)
    calendar = await DryRunBroker().calendar(WEEK_START - timedelta(days=7), WEEK_START + timedelta(days=14))
    fills = synthetic_fills(start, end, timedelta(minutes=args.every), args.seed)
    print(
        f"{len(fills):,} fills, one every {args.every} min over {len(SYMBOLS)} symbols, seed {args.seed}",
        file=sys.stderr,
    )
    runs: dict[Policy, Run] = {}
    with tempfile.TemporaryDirectory(prefix="arbtui-bench-exposure-") as tmp:
        for policy in args.policies:
            run = await replay(policy, fills, calendar, start, end, Path(tmp) / f"{policy.name.lower()}.db")
            print(f"{policy}: {run.hedges} hedges filled, replayed in {run.seconds:.1f} s", file=sys.stderr)
            runs[policy] = run
    return runs


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--every", type=int, default=10, help="minutes between fills (simulated time)")
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--days", type=int, default=7, help="days replayed from Monday 00:00 New York (7: the week)")
    parser.add_argument(
        "--policies",
        type=Policy,
        nargs="+",
        default=list(Policy),
        help="which policies to replay (regular-only is the baseline and always runs)",
    )
    arguments = parser.parse_args()
    if Policy.REGULAR_ONLY not in arguments.policies:
        arguments.policies.insert(0, Policy.REGULAR_ONLY)
    logger.remove()
    logger.add(sys.stderr, level="CRITICAL")  # the simulated week's own alerts (market closed, stuck) are expected
    result = asyncio.run(main(arguments))
    print(breakdown(result))
    measured = figures(result)
    title = (
        f"exposure — {arguments.days} days of fills from Monday through the engine (dry-run broker, simulated clock)"
    )
    print(table(title, measured))
    print(f"wrote {save('exposure', measured, every_min=arguments.every, seed=arguments.seed, days=arguments.days)}")
