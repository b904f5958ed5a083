"""The dry-run broker: no network, every order accepted and filled at once, recorded as ``dry_run``.

The fill price is the order's ``estimated_price`` (typically the onchain fill's price), else a price
configured per symbol, else the last price this broker filled the symbol at, else the one configured
for any symbol (``broker.dry_run_price``). With none of those the order is refused
(:class:`~arbtui.brokers.base.OrderRefused`): a fill at a guessed price would be a lie in the books
(lesson 13). Orders are remembered for the life of the process, so ``find_order`` by
execution id works exactly as it does at Alpaca.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from arbtui.brokers.base import (
    AccountBalances,
    BrokerOrderId,
    BrokerPosition,
    MarketClock,
    MarketClosed,
    MarketOrder,
    OrderNotFound,
    OrderRefused,
    OrderReport,
    OrderState,
)
from arbtui.clock import Clock, SystemClock
from arbtui.domain.sessions import TradingCalendar, weekday_calendar
from arbtui.domain.values import DIVISION, BrokerKind, PriceUsdc, Shares, Symbol, Usdc

DRY_RUN_SHARE_QUANTUM = Decimal("0.000000001")
"""Notional orders are converted to shares rounded down to this increment (Alpaca's)."""


@dataclass(frozen=True, slots=True)
class DryRunCalendar:
    """The dry-run market's calendar: Monday–Friday, pre-market 04:00, regular 09:30–16:00, after hours
    to 20:00, overnight trading like Alpaca's — minus the ``holidays``, with ``early_closes`` ending at
    13:00 (after hours 17:00). Nothing here knows the exchange's own holidays: name the ones you want."""

    holidays: frozenset[date] = frozenset()
    early_closes: frozenset[date] = frozenset()
    overnight: bool = True

    def between(self, start: date, end: date) -> TradingCalendar:
        return weekday_calendar(
            start, end, holidays=self.holidays, early_closes=self.early_closes, overnight=self.overnight
        )


@dataclass(frozen=True, slots=True)
class DryRunConfig:
    prices: Mapping[Symbol, PriceUsdc] = field(default_factory=dict)
    """Fallback fill prices per symbol when an order carries no estimated price."""
    default_price: PriceUsdc | None = None
    """The last fallback, for any symbol (``broker.dry_run_price``); unset: refuse the order."""
    starting_cash: Usdc = field(default_factory=lambda: Usdc("100000"))
    market_open: bool = True
    """The dry-run market is open unless told otherwise (demo scenarios may close it)."""
    calendar: DryRunCalendar = field(default_factory=DryRunCalendar)
    """What :meth:`DryRunBroker.calendar` answers."""


class DryRunBroker:
    """A :class:`~arbtui.brokers.base.Broker` that never leaves the process."""

    def __init__(self, config: DryRunConfig | None = None, *, clock: Clock | None = None) -> None:
        self._config = config or DryRunConfig()
        self._clock = clock or SystemClock()
        self._last_price: dict[Symbol, PriceUsdc] = dict(self._config.prices)
        self._orders: dict[BrokerOrderId, OrderReport] = {}
        self._by_execution: dict[str, BrokerOrderId] = {}
        self._positions: dict[Symbol, Shares] = {}
        self._cash = self._config.starting_cash
        self._ids = itertools.count(1)
        self._market_open = self._config.market_open
        self._calendar = self._config.calendar

    @property
    def kind(self) -> BrokerKind:
        return BrokerKind.DRY_RUN

    def set_market_open(self, is_open: bool) -> None:
        """Open or shut the simulated market (demo and tests)."""
        self._market_open = is_open

    def set_calendar(self, calendar: DryRunCalendar) -> None:
        """Change the holidays and early closes the calendar answers with (tests, demo)."""
        self._calendar = calendar

    @property
    def submissions(self) -> int:
        """Orders created so far (a resubmitted execution does not count twice)."""
        return len(self._orders)

    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        existing = self._by_execution.get(order.execution_id)
        if existing is not None:
            return existing
        if not self._market_open:
            raise MarketClosed(
                "market closed: order not sent",
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        price = order.estimated_price or self._last_price.get(order.symbol) or self._config.default_price
        if price is None:
            raise OrderRefused(
                "dry-run has no price to fill at: give an estimated price",
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        if order.quantity is not None:
            quantity = order.quantity
        else:
            assert order.notional is not None  # MarketOrder guarantees one of the two
            quantity = Shares(DIVISION.divide(order.notional.value, price.value))
            quantity = quantity.round_down_to(DRY_RUN_SHARE_QUANTUM)
            if quantity.is_zero:
                raise OrderRefused("notional buys less than one share increment", broker=self.kind)
        notional = price.notional(quantity)
        order_id = BrokerOrderId(f"dry-{next(self._ids):08d}")
        now = self._clock.now()
        self._orders[order_id] = OrderReport(
            broker=self.kind,
            order_id=order_id,
            symbol=order.symbol,
            side=order.side,
            state=OrderState.FILLED,
            broker_status="filled",
            filled_quantity=quantity,
            average_price=price.to_cents(),
            filled_notional=notional,
            quantity=order.quantity,
            notional=order.notional,
            client_order_id=order.execution_id,
            submitted_at=now,
            filled_at=now,
        )
        self._by_execution[order.execution_id] = order_id
        self._last_price[order.symbol] = price
        signed = order.side.signed(quantity)
        self._positions[order.symbol] = self._positions.get(order.symbol, Shares.zero()) + signed
        self._cash = self._cash - notional if signed.is_positive else self._cash + notional
        return order_id

    async def order_status(self, order_id: BrokerOrderId) -> OrderReport:
        try:
            return self._orders[order_id]
        except KeyError:
            raise OrderNotFound(f"no dry-run order {order_id}", broker=self.kind) from None

    async def find_order(self, order: MarketOrder, *, since: datetime) -> OrderReport | None:
        order_id = self._by_execution.get(order.execution_id)
        return None if order_id is None else self._orders[order_id]

    async def clock(self) -> MarketClock:
        return MarketClock(as_of=self._clock.now(), is_open=self._market_open, next_open=None, next_close=None)

    async def calendar(self, start: date, end: date) -> TradingCalendar:
        """See :meth:`arbtui.brokers.base.Broker.calendar` (the configured :class:`DryRunCalendar`)."""
        return self._calendar.between(start, end)

    async def positions(self) -> tuple[BrokerPosition, ...]:
        return tuple(
            BrokerPosition(symbol=symbol, quantity=quantity, average_entry_price=self._last_price.get(symbol))
            for symbol, quantity in sorted(self._positions.items())
            if not quantity.is_zero
        )

    async def balances(self) -> AccountBalances:
        return AccountBalances(cash=self._cash, buying_power=self._cash)

    async def credentials_expire_at(self) -> datetime | None:
        """See :meth:`arbtui.brokers.base.Broker.credentials_expire_at`."""
        return None

    async def aclose(self) -> None:
        return None
