"""Pieces of the after-hours engine tests: a clock the test sets, the engine on the dry-run broker with
its sessions from that clock, fills with their Pyth price, and reads of the executions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.domain import offchain_order
from arbtui.domain.hedging_policy import FlattenSchedule, HedgingPolicy, SessionChoice, sessions_of
from arbtui.domain.onchain_trade import Enrich, PythMethod, PythPrice
from arbtui.domain.sessions import NEW_YORK
from arbtui.domain.values import Direction, TradeId
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill, tx_hash

FRIDAY = date(2026, 1, 9)


def et(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A New York wall-clock instant."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NEW_YORK)


class SetClock:
    """The engine's clock: ``now`` is what the test set; sleeps pass (briefly, in real time) without
    moving it, so every wait of the engine re-checks against the instant the test chose."""

    def __init__(self, start: datetime) -> None:
        self._now = start

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), 0.005))

    def set(self, at: datetime) -> None:
        self._now = at

    def advance(self, seconds: float) -> None:
        self._now += timedelta(seconds=seconds)


def policy(*choices: SessionChoice) -> HedgingPolicy:
    return HedgingPolicy(
        sessions=sessions_of(choices),
        limit_cross_bps=Decimal(50),
        reprice_interval=timedelta(seconds=60),
        flatten=FlattenSchedule(timedelta(minutes=30), timedelta(seconds=15), Decimal(50), Decimal(200)),
    )


def options(hedging: HedgingPolicy) -> EngineOptions:
    return EngineOptions(
        check_interval_s=0.05,
        shutdown_timeout_s=2.0,
        executions=ExecutionOptions(
            poll_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05, market_recheck_s=0.05
        ),
        hedging=hedging,
    )


def dry_run(clock: SetClock, cash: str = "100000") -> DryRunBroker:
    from arbtui.domain.values import Usdc

    return DryRunBroker(DryRunConfig(market_open=None, starting_cash=Usdc(cash)), clock=clock)


async def engine_on(db: Path, broker: DryRunBroker, clock: SetClock, hedging: HedgingPolicy) -> Engine:
    engine = Engine(await Ledger.open(db, broker.kind, clock=clock), broker, options(hedging))
    await engine.start()
    return engine


def pyth(price: str) -> PythPrice:
    """A Pyth price of ``price`` dollars (expo −8), as a fill's enrichment records it."""
    return PythPrice(
        feed_id="0x" + "11" * 32,
        value=int(Decimal(price) * 10**8),
        conf=0,
        expo=-8,
        publish_time=0,
        method=PythMethod.TRACE,
    )


async def fill(
    engine: Engine,
    n: int,
    amount: str,
    *,
    symbol: str = "AAPL",
    pyth_price: str = "200",
    side: Direction = Direction.SELL,
) -> None:
    """Onchain fill ``n`` (block ``n``) and its Pyth price, as intake and enrichment record them."""
    await engine.ledger.record_range([make_fill(n, amount, side, symbol=symbol, block_number=n)], [], block(n))
    assert await engine.ledger.enrich(TradeId(tx_hash(n), 0), Enrich(gas_used=None, pyth_price=pyth(pyth_price)))


async def until(condition: Callable[[], Awaitable[bool]], limit_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


async def orders(engine: Engine) -> list[offchain_order.OffchainOrder]:
    """Every execution in placement order."""
    ids = await engine.store.query(
        "SELECT view_id FROM offchain_trade_view ORDER BY json_extract(payload, '$.placed_at'), rowid"
    )
    return [(await engine.store.load(offchain_order.SPEC, str(row[0])))[0] for row in ids]


async def latest(engine: Engine) -> offchain_order.OffchainOrder:
    return (await orders(engine))[-1]


async def filled_count(engine: Engine) -> int:
    return sum(1 for order in await orders(engine) if order.status is offchain_order.OrderStatus.FILLED)
