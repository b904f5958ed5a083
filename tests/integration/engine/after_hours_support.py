"""Pieces of the after-hours engine tests: a clock the test sets, the engine on the dry-run broker with
its sessions from that clock, fills with their Pyth price, and reads of the executions."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Protocol

from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.base import Broker, OrderReport
from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.brokers.resilience import RetryPolicy
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import offchain_order
from arbtui.domain.hedging_policy import FlattenSchedule, HedgingPolicy, SessionChoice, sessions_of
from arbtui.domain.onchain_trade import Enrich, PythMethod, PythPrice
from arbtui.domain.sessions import NEW_YORK
from arbtui.domain.values import Direction, PriceUsdc, Shares, Symbol, TradeId, Usdc
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill, tx_hash
from tests.fakes.schwab_server import SchwabServer

FRIDAY = date(2026, 1, 9)


def et(day: date, hour: int, minute: int = 0, second: int = 0) -> datetime:
    """A New York wall-clock instant."""
    return datetime(day.year, day.month, day.day, hour, minute, second, tzinfo=NEW_YORK)


class SetClock:
    """The engine's clock: ``now`` is what the test set; sleeps pass (briefly, in real time) without
    moving it, so every wait of the engine re-checks against the instant the test chose."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._jumped = 0.0

    def now(self) -> datetime:
        return self._now

    def monotonic(self) -> float:
        """Real monotonic time plus every jump forward the test made (an answer cached "for 5 s" ages
        across a jump of hours, as it would have in real time)."""
        return time.monotonic() + self._jumped

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(min(max(seconds, 0.0), 0.005))

    def set(self, at: datetime) -> None:
        self._jumped += max(0.0, (at - self._now).total_seconds())
        self._now = at

    def advance(self, seconds: float) -> None:
        self.set(self._now + timedelta(seconds=seconds))


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
    return DryRunBroker(DryRunConfig(market_open=None, starting_cash=Usdc(cash)), clock=clock)


async def engine_on(db: Path, broker: Broker, clock: SetClock, hedging: HedgingPolicy) -> Engine:
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


class Venue(Protocol):
    """One broker as the after-hours tests drive it: its market price, and its own books."""

    broker: Broker

    def set_price(self, symbol: str, price: str, *, fill_at_most: str | None = None) -> None: ...

    def client_ids(self) -> list[str]:
        """The client order id of every order the broker created."""
        ...

    def spent(self) -> Decimal:
        """Σ filled quantity × fill price over the broker's buy orders (its own books)."""
        ...

    def live(self) -> int:
        """Orders the broker holds open (able to fill)."""
        ...


class DryRunVenue:
    def __init__(self, clock: SetClock, cash: str = "100000") -> None:
        self.dry_run = dry_run(clock, cash)
        self.broker: Broker = self.dry_run

    def set_price(self, symbol: str, price: str, *, fill_at_most: str | None = None) -> None:
        limit = None if fill_at_most is None else Shares(fill_at_most)
        self.dry_run.set_price(Symbol(symbol), PriceUsdc(price), fill_at_most=limit)

    def _reports(self) -> list[OrderReport]:
        return list(self.dry_run._orders.values())

    def client_ids(self) -> list[str]:
        return [str(report.client_order_id) for report in self._reports()]

    def spent(self) -> Decimal:
        return sum((r.filled_notional.value for r in self._reports() if r.filled_notional is not None), Decimal(0))

    def live(self) -> int:
        return len(self.dry_run._resting)


class AlpacaVenue:
    def __init__(self, server: AlpacaServer, clock: SetClock) -> None:
        self.server = server
        server.follow_calendar(clock.now)
        policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, request_timeout=2.0)
        config = AlpacaConfig(
            api_key=SecretStr(server.api_key),
            api_secret=SecretStr(server.api_secret),
            base_url=server.url,
            retry=policy,
        )
        self.broker: Broker = AlpacaBroker(config, clock=clock)

    def set_price(self, symbol: str, price: str, *, fill_at_most: str | None = None) -> None:
        self.server.set_price(
            symbol, Decimal(price), fill_at_most=None if fill_at_most is None else Decimal(fill_at_most)
        )

    def client_ids(self) -> list[str]:
        return [str(order.client_order_id) for order in self.server.book.orders.values()]

    def spent(self) -> Decimal:
        self.server.match()
        book = self.server.book
        return sum((book.filled(order) * order.price for order in book.orders.values()), Decimal(0))

    def live(self) -> int:
        self.server.match()
        return sum(1 for order in self.server.book.orders.values() if order.resting)


class SchwabVenue:
    """The local Schwab server (no client order ids: :meth:`client_ids` are its order ids; no overnight
    session; pre-market from 07:00; whole shares)."""

    def __init__(self, server: SchwabServer, broker: Broker, clock: SetClock) -> None:
        self.server = server
        server.follow_calendar(clock.now)
        self.broker = broker

    def set_price(self, symbol: str, price: str, *, fill_at_most: str | None = None) -> None:
        self.server.set_price(
            symbol, Decimal(price), fill_at_most=None if fill_at_most is None else Decimal(fill_at_most)
        )

    def client_ids(self) -> list[str]:
        return list(self.server.book.orders)

    def spent(self) -> Decimal:
        self.server.match()
        book = self.server.book
        return sum((book.filled(order) * order.price for order in book.orders.values()), Decimal(0))

    def live(self) -> int:
        self.server.match()
        return sum(1 for order in self.server.book.orders.values() if order.resting)
