"""The dry-run broker: no network, recorded as ``dry_run``. Market orders fill at once; limit orders rest
until the dry-run's market price crosses them.

**Market orders.** The fill price is the order's ``estimated_price`` (typically the onchain fill's
price), else the dry-run's market price of the symbol (configured per symbol, set by :meth:`set_price`,
or the last price it filled the symbol at), else the one configured for any symbol
(``broker.dry_run_price``). With none of those the order is refused
(:class:`~arbtui.brokers.base.OrderRefused`): a fill at a guessed price would be a lie in the books
(lesson 13). Refused with :class:`~arbtui.brokers.base.MarketClosed` outside the REGULAR session.

**Sessions.** :attr:`DryRunConfig.market_open` (and :meth:`DryRunBroker.set_market_open`) chooses:

- ``True`` (the default, today's behaviour): the market is always in its REGULAR session, whatever
  the clock says — demos and tests that do not care about hours;
- ``False``: always CLOSED (nothing trades; the clock says closed);
- ``None``: the session is the one :attr:`DryRunConfig.calendar` (a :class:`DryRunCalendar`) gives at
  the injected clock's now — PRE, REGULAR, POST, OVERNIGHT (only when the calendar has it) or CLOSED,
  and :meth:`DryRunBroker.clock` answers ``next_open``/``next_close`` from it. After-hours tests use this.

**Limit orders** (:meth:`DryRunBroker.submit_limit`): a price off the tick
(:func:`arbtui.domain.limit_price.on_tick`) or an overnight order when the calendar has no overnight
session → :class:`~arbtui.brokers.base.OrderRefused`; ``order.session`` not the session trading now →
:class:`~arbtui.brokers.base.MarketClosed` (``retry_at``: when that session next starts, when known).
An accepted order rests (``new``) and fills **at its limit** when the market price crosses it — a buy
when price ≤ limit, a sell when price ≥ limit — checked deterministically whenever the order is looked
at (:meth:`~DryRunBroker.order_status`, :meth:`~DryRunBroker.find_limit_order`,
:meth:`~DryRunBroker.cancel`, :meth:`~DryRunBroker.positions`, :meth:`~DryRunBroker.balances`) and when
:meth:`~DryRunBroker.set_price` moves the price. ``set_price(symbol, price, fill_at_most=shares)``
offers only that many shares at that price to the resting orders (oldest first, consumed across checks
until the next ``set_price``): that is how a test gets a partial fill that stays partial. An order
placed in a session lives, like an Alpaca day order, until its trading day ends — the regular close for
a REGULAR order, the after-hours end for PRE/POST/OVERNIGHT ones — and then expires (CANCELLED, broker
status ``expired``, keeping what filled); it fills only while some session trades. With ``market_open``
set to ``True``/``False`` there are no hours: orders never expire, and fill only while open.
:meth:`~DryRunBroker.cancel` makes a resting order CANCELLED (``canceled``) with whatever filled first.

Cash and positions follow every fill. Orders are remembered for the life of the process, so
``find_order`` by execution id and ``find_limit_order`` by client order id work exactly as at Alpaca;
a second submit of the same execution id / client order id returns the first order, creating nothing.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal

from arbtui.brokers.base import (
    AccountBalances,
    BrokerOrderId,
    BrokerPosition,
    LimitOrder,
    MarketClock,
    MarketClosed,
    MarketOrder,
    OrderNotFound,
    OrderRefused,
    OrderReport,
    OrderState,
)
from arbtui.clock import Clock, SystemClock
from arbtui.domain.limit_price import on_tick
from arbtui.domain.sessions import NEW_YORK, MarketSession, TradingCalendar, weekday_calendar
from arbtui.domain.values import DIVISION, BrokerKind, Direction, PriceUsdc, Shares, Symbol, Usdc

DRY_RUN_SHARE_QUANTUM = Decimal("0.000000001")
"""Notional orders are converted to shares rounded down to this increment (Alpaca's)."""
_CALENDAR_SPAN = timedelta(days=10)
"""How far ahead the calendar is read for the clock's next open/close (past any weekend + holiday)."""


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
    """The market price per symbol at the start (market fills without an estimate, limit crossings)."""
    default_price: PriceUsdc | None = None
    """The last fallback for market orders, for any symbol (``broker.dry_run_price``); unset: refuse."""
    starting_cash: Usdc = field(default_factory=lambda: Usdc("100000"))
    market_open: bool | None = True
    """``True``: always the REGULAR session (default); ``False``: always closed; ``None``: the sessions
    of :attr:`calendar` at the clock's now (see the module docstring)."""
    calendar: DryRunCalendar = field(default_factory=DryRunCalendar)
    """What :meth:`DryRunBroker.calendar` answers, and the sessions when ``market_open`` is ``None``."""


@dataclass(slots=True)
class _Resting:
    """A limit order that is not terminal yet, and what it needs to fill or expire."""

    order: LimitOrder
    expires_at: datetime | None
    """End of its trading day (``None``: no hours — ``market_open`` is set)."""


@dataclass(slots=True)
class _Liquidity:
    price: PriceUsdc
    left: Shares | None
    """Shares still offered at :attr:`price` to resting orders; ``None``: unlimited."""


class DryRunBroker:
    """A :class:`~arbtui.brokers.base.Broker` that never leaves the process."""

    def __init__(self, config: DryRunConfig | None = None, *, clock: Clock | None = None) -> None:
        self._config = config or DryRunConfig()
        self._clock = clock or SystemClock()
        self._last_price: dict[Symbol, PriceUsdc] = dict(self._config.prices)
        self._liquidity: dict[Symbol, _Liquidity] = {
            symbol: _Liquidity(price, None) for symbol, price in self._config.prices.items()
        }
        self._orders: dict[BrokerOrderId, OrderReport] = {}
        self._by_execution: dict[str, BrokerOrderId] = {}
        self._resting: dict[BrokerOrderId, _Resting] = {}
        self._positions: dict[Symbol, Shares] = {}
        self._cash = self._config.starting_cash
        self._ids = itertools.count(1)
        self._market_open = self._config.market_open
        self._calendar = self._config.calendar

    @property
    def kind(self) -> BrokerKind:
        return BrokerKind.DRY_RUN

    def set_market_open(self, is_open: bool | None) -> None:
        """Open (``True``: REGULAR) or shut (``False``) the simulated market, or let the calendar and the
        clock decide (``None``) — see the module docstring."""
        self._market_open = is_open

    def set_calendar(self, calendar: DryRunCalendar) -> None:
        """Change the holidays and early closes the calendar answers with (tests, demo)."""
        self._calendar = calendar

    def set_price(self, symbol: Symbol, price: PriceUsdc, *, fill_at_most: Shares | None = None) -> None:
        """Move the dry-run's market price of ``symbol``: resting limit orders it crosses fill at their
        limit, at most ``fill_at_most`` shares in all (oldest order first) until the next ``set_price``
        (``None``: as many as they need). Also the price a market order without an estimate fills at."""
        if not price.is_positive:
            raise ValueError(f"a market price must be positive, got {price}")
        if fill_at_most is not None and fill_at_most.is_negative:
            raise ValueError(f"fill_at_most must not be negative, got {fill_at_most}")
        self._last_price[symbol] = price
        self._liquidity[symbol] = _Liquidity(price, fill_at_most)
        self._match()

    @property
    def submissions(self) -> int:
        """Orders created so far (a resubmitted execution does not count twice)."""
        return len(self._orders)

    def session(self) -> MarketSession:
        """The session trading now (see the module docstring)."""
        if self._market_open is not None:
            return MarketSession.REGULAR if self._market_open else MarketSession.CLOSED
        return self._window().session_at(self._clock.now()).session

    # -- market orders -------------------------------------------------------------------------
    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        existing = self._by_execution.get(order.execution_id)
        if existing is not None:
            return existing
        if self.session() is not MarketSession.REGULAR:
            raise MarketClosed(
                "market closed: order not sent",
                retry_at=self._next_start(MarketSession.REGULAR),
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
        self._book(order.symbol, order.side, quantity, notional)
        return order_id

    # -- limit orders --------------------------------------------------------------------------
    async def submit_limit(self, order: LimitOrder) -> BrokerOrderId:
        """See :meth:`arbtui.brokers.base.Broker.submit_limit` and the module docstring."""
        existing = self._by_execution.get(order.client_order_id)
        if existing is not None:
            return existing
        if not on_tick(order.limit_price):
            raise self._refused(order, f"limit price {order.limit_price} is not on the tick")
        if order.session is MarketSession.OVERNIGHT and not self._calendar.overnight:
            raise self._refused(order, "this dry-run market has no overnight session")
        now_session = self.session()
        if now_session is not order.session:
            raise MarketClosed(
                f"{order.session.label} session not trading now ({now_session.label}): order not sent",
                retry_at=self._next_start(order.session),
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        order_id = BrokerOrderId(f"dry-{next(self._ids):08d}")
        self._orders[order_id] = OrderReport(
            broker=self.kind,
            order_id=order_id,
            symbol=order.symbol,
            side=order.side,
            state=OrderState.SUBMITTED,
            broker_status="new",
            filled_quantity=Shares.zero(),
            average_price=None,
            filled_notional=None,
            quantity=order.quantity,
            client_order_id=order.client_order_id,
            submitted_at=self._clock.now(),
        )
        self._by_execution[order.client_order_id] = order_id
        self._resting[order_id] = _Resting(order, self._expiry(order.session))
        self._match()
        return order_id

    async def find_limit_order(self, order: LimitOrder, *, since: datetime) -> OrderReport | None:
        """See :meth:`arbtui.brokers.base.Broker.find_limit_order` (by client order id)."""
        order_id = self._by_execution.get(order.client_order_id)
        if order_id is None:
            return None
        self._match()
        return self._orders[order_id]

    async def cancel(self, order_id: BrokerOrderId) -> None:
        """See :meth:`arbtui.brokers.base.Broker.cancel`: fills that crossed before the cancel count."""
        if order_id not in self._orders:
            raise OrderNotFound(f"no dry-run order {order_id}", broker=self.kind)
        self._match()
        if order_id in self._resting:
            del self._resting[order_id]
            self._close(order_id, "canceled")

    # -- reads ---------------------------------------------------------------------------------
    async def order_status(self, order_id: BrokerOrderId) -> OrderReport:
        self._match()
        try:
            return self._orders[order_id]
        except KeyError:
            raise OrderNotFound(f"no dry-run order {order_id}", broker=self.kind) from None

    async def find_order(self, order: MarketOrder, *, since: datetime) -> OrderReport | None:
        order_id = self._by_execution.get(order.execution_id)
        return None if order_id is None else self._orders[order_id]

    async def clock(self) -> MarketClock:
        now = self._clock.now()
        if self._market_open is not None:
            return MarketClock(as_of=now, is_open=self._market_open, next_open=None, next_close=None)
        calendar = self._window()
        next_open = next((day.open for day in calendar.days if day.open > now), None)
        next_close = next((day.close for day in calendar.days if day.close > now), None)
        is_open = calendar.session_at(now).session is MarketSession.REGULAR
        return MarketClock(as_of=now, is_open=is_open, next_open=next_open, next_close=next_close)

    async def calendar(self, start: date, end: date) -> TradingCalendar:
        """See :meth:`arbtui.brokers.base.Broker.calendar` (the configured :class:`DryRunCalendar`)."""
        return self._calendar.between(start, end)

    async def positions(self) -> tuple[BrokerPosition, ...]:
        self._match()
        return tuple(
            BrokerPosition(symbol=symbol, quantity=quantity, average_entry_price=self._last_price.get(symbol))
            for symbol, quantity in sorted(self._positions.items())
            if not quantity.is_zero
        )

    async def balances(self) -> AccountBalances:
        """Cash, and the same figure as buying power and non-marginable buying power (no margin here)."""
        self._match()
        return AccountBalances(cash=self._cash, buying_power=self._cash, non_marginable_buying_power=self._cash)

    async def credentials_expire_at(self) -> datetime | None:
        """See :meth:`arbtui.brokers.base.Broker.credentials_expire_at`."""
        return None

    async def aclose(self) -> None:
        return None

    # -- internals -----------------------------------------------------------------------------
    def _refused(self, order: LimitOrder, message: str) -> OrderRefused:
        return OrderRefused(message, broker=self.kind, symbol=order.symbol, execution_id=order.execution_id)

    def _window(self) -> TradingCalendar:
        today = self._clock.now().astimezone(NEW_YORK).date()
        return self._calendar.between(today - timedelta(days=1), today + _CALENDAR_SPAN)

    def _next_start(self, session: MarketSession) -> datetime | None:
        """When ``session`` next begins (``None`` with no hours, or past the calendar)."""
        if self._market_open is not None:
            return None
        now = self._clock.now()
        return next((s.start for s in self._window().spans if s.session is session and s.start > now), None)

    def _expiry(self, session: MarketSession) -> datetime | None:
        """The end of the trading day an order placed now in ``session`` lives for."""
        if self._market_open is not None:
            return None
        now = self._clock.now()
        calendar = self._window()
        span = next(s for s in calendar.spans if s.start <= now < s.end)  # the caller checked it trades
        day = calendar.trading_day(span.day)
        assert day is not None
        return day.close if session is MarketSession.REGULAR else day.post_close

    def _match(self) -> None:
        """Expire what outlived its day, then fill what the market price crosses (oldest first)."""
        if not self._resting:
            return
        now = self._clock.now()
        for order_id, resting in list(self._resting.items()):
            if resting.expires_at is not None and now >= resting.expires_at:
                del self._resting[order_id]
                self._close(order_id, "expired")
        if self.session() is MarketSession.CLOSED:
            return
        for order_id, resting in list(self._resting.items()):
            self._fill(order_id, resting.order)

    def _fill(self, order_id: BrokerOrderId, order: LimitOrder) -> None:
        liquidity = self._liquidity.get(order.symbol)
        if liquidity is None:
            return
        limit = order.limit_price
        crosses = liquidity.price <= limit if order.side is Direction.BUY else liquidity.price >= limit
        if not crosses:
            return
        report = self._orders[order_id]
        wanted = order.quantity - report.filled_quantity
        quantity = wanted if liquidity.left is None else min(wanted, liquidity.left)
        if not quantity.is_positive:
            return
        if liquidity.left is not None:
            liquidity.left = liquidity.left - quantity
        filled = report.filled_quantity + quantity
        done = filled == order.quantity
        self._orders[order_id] = replace(
            report,
            state=OrderState.FILLED if done else OrderState.PARTIALLY_FILLED,
            broker_status="filled" if done else "partially_filled",
            filled_quantity=filled,
            average_price=limit.to_cents(),
            filled_notional=limit.notional(filled),
            filled_at=self._clock.now(),
        )
        if done:
            del self._resting[order_id]
        self._book(order.symbol, order.side, quantity, limit.notional(quantity))

    def _close(self, order_id: BrokerOrderId, status: str) -> None:
        report = self._orders[order_id]
        self._orders[order_id] = replace(report, state=OrderState.CANCELLED, broker_status=status)

    def _book(self, symbol: Symbol, side: Direction, quantity: Shares, notional: Usdc) -> None:
        signed = side.signed(quantity)
        self._positions[symbol] = self._positions.get(symbol, Shares.zero()) + signed
        self._cash = self._cash - notional if signed.is_positive else self._cash + notional
