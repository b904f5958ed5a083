"""What both local broker servers share: an aiohttp app on a free loopback port, a simulated order
book (market orders: new → accepted → filled after configurable delays; limit orders: resting until
the market price crosses them), the server's clock and sessions, request counters and on-demand faults.

**Clock.** :attr:`LocalServer.clock` is the server's notion of now (a callable returning an aware UTC
datetime; default: real time). Tests inject one (``server.clock = fake_clock.now``) so an engine test
can walk Friday 15:00 → Monday 10:00; every timestamp the server writes uses it.

**Sessions.** :attr:`LocalServer.session_override` decides which session trades now: ``REGULAR`` (the
default — today's behaviour: always open, whatever the time), ``CLOSED``, or ``None``: the session of
:attr:`LocalServer.calendar` (a :class:`SimCalendar`: holidays, early closes) at :attr:`LocalServer.clock`'s
now, with the broker's own pre-market start and overnight session. ``server.market_open = bool`` is the
old switch (it sets the override to REGULAR / CLOSED); :meth:`LocalServer.follow_calendar` hands the
decision to the calendar. Each server enforces its broker's rules for the session trading now.

**Prices and limit fills.** :meth:`LocalServer.set_price` moves a symbol's market price; resting limit
orders it crosses (buy: price ≤ limit; sell: price ≥ limit) fill **at their limit**, at most
``fill_at_most`` shares in all until the next ``set_price`` (oldest order first), so a partial fill stays
partial however often it is polled. Matching runs at ``set_price``, at each submit, and before every
answer that shows orders, positions or balances — deterministic, no timers. A limit order fills only
while some session trades and expires (keeping what filled) when its trading day's last session for it
ends (:attr:`SimOrder.expires_at`, set by each server from its broker's rules).

Faults are queued per route name and fire in order; each one that fires is counted in
:attr:`Faults.fired` so a test can first assert that its fault really happened (lesson 28).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall_time
from decimal import ROUND_DOWN, Decimal
from typing import Literal, Self

from aiohttp import web

from arbtui.domain.sessions import NEW_YORK, MarketSession, TradingCalendar, TradingDay, weekday_calendar

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FaultKind = Literal["rate_limit", "server_error", "slow", "drop"]
Now = Callable[[], datetime]
"""A server's clock: aware UTC now."""
Phase = Literal["new", "accepted", "filled", "partial", "rejected", "canceled", "expired"]
_CALENDAR_SPAN = timedelta(days=10)


@dataclass
class _Fault:
    kind: FaultKind
    remaining: int
    route: str | None
    status: int = 500
    retry_after: str | None = None
    delay: float = 0.0


class Faults:
    """Faults to inject, by route name (``None`` = any route)."""

    def __init__(self) -> None:
        self._queue: list[_Fault] = []
        self.fired: Counter[str] = Counter()

    def rate_limit(self, times: int = 1, *, retry_after: str | None = "1", route: str | None = None) -> None:
        """Answer 429 (with ``Retry-After`` unless ``None``) before handling; nothing is created."""
        self._queue.append(_Fault("rate_limit", times, route, status=429, retry_after=retry_after))

    def server_error(self, times: int = 1, *, status: int = 500, route: str | None = None) -> None:
        """Answer ``status`` before handling; nothing is created."""
        self._queue.append(_Fault("server_error", times, route, status=status))

    def slow(self, times: int = 1, *, delay: float = 0.5, route: str | None = None) -> None:
        """Handle the request (an order *is* created), then wait ``delay`` before answering."""
        self._queue.append(_Fault("slow", times, route, delay=delay))

    def drop(self, times: int = 1, *, route: str | None = None) -> None:
        """Handle the request (an order *is* created), then close the connection without answering."""
        self._queue.append(_Fault("drop", times, route))

    def clear(self) -> None:
        self._queue.clear()

    def take(self, route: str) -> _Fault | None:
        for fault in self._queue:
            if fault.route is None or fault.route == route:
                fault.remaining -= 1
                if fault.remaining <= 0:
                    self._queue.remove(fault)
                self.fired[fault.kind] += 1
                return fault
        return None


@dataclass
class SimOrder:
    """One order in the simulated book; its status is derived from elapsed time unless forced."""

    order_id: str
    symbol: str
    side: str
    """``buy`` or ``sell``."""
    quantity: Decimal | None
    notional: Decimal | None
    price: Decimal
    client_order_id: str | None
    created_at: datetime
    created_mono: float
    partial_ratio: Decimal | None = None
    rejected: bool = False
    forced_status: str | None = None
    forced_filled: Decimal | None = None
    limit_price: Decimal | None = None
    """Set for a limit order: it rests until the market price crosses it and fills at this price."""
    session: str | None = None
    """The broker's own session word of a limit order (Alpaca ``extended``/``regular``, Schwab ``AM``…)."""
    expires_at: datetime | None = None
    """When a resting limit order expires (its day's last session for it ends); ``None``: never."""
    limit_filled: Decimal = Decimal(0)
    closed: Literal["canceled", "expired"] | None = None
    """A limit order cancelled or expired (keeping :attr:`limit_filled`)."""

    @property
    def is_limit(self) -> bool:
        return self.limit_price is not None

    @property
    def resting(self) -> bool:
        """A limit order that can still fill."""
        return self.is_limit and self.closed is None and not self.rejected and self.limit_filled < self.fill_quantity()

    def fill_quantity(self) -> Decimal:
        if self.quantity is not None:
            return self.quantity
        assert self.notional is not None
        return (self.notional / self.price).quantize(Decimal("0.000000001"), rounding=ROUND_DOWN)


@dataclass
class OrderBook:
    """The simulated book shared by a server's handlers."""

    accept_delay: float = 0.0
    """Seconds an order stays ``new`` before it is accepted."""
    fill_delay: float = 0.0
    """Seconds after submission at which an accepted order fills."""
    prices: dict[str, Decimal] = field(default_factory=dict)
    default_price: Decimal = Decimal("187.12")
    orders: dict[str, SimOrder] = field(default_factory=dict)
    submissions: Counter[str] = field(default_factory=Counter)
    """Orders created per client order id (Alpaca) or per ``symbol/side/qty`` key (Schwab)."""
    next_partial: Decimal | None = None
    next_reject: bool = False
    liquidity: dict[str, Decimal | None] = field(default_factory=dict)
    """Shares still offered to resting limit orders at :attr:`prices` per symbol (``None``: unlimited)."""

    def price_of(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, self.default_price)

    def phase(self, order: SimOrder) -> Phase:
        if order.rejected:
            return "rejected"
        if order.is_limit:
            if order.limit_filled >= order.fill_quantity():
                return "filled"
            if order.closed is not None:
                return order.closed
            return "partial" if order.limit_filled > 0 else "new"
        elapsed = time.monotonic() - order.created_mono
        if elapsed < self.accept_delay:
            return "new"
        if elapsed < self.fill_delay:
            return "accepted"
        return "partial" if order.partial_ratio is not None else "filled"

    def filled(self, order: SimOrder) -> Decimal:
        if order.forced_filled is not None:
            return order.forced_filled
        if order.is_limit:
            return order.limit_filled
        phase = self.phase(order)
        if phase == "filled":
            return order.fill_quantity()
        if phase == "partial":
            assert order.partial_ratio is not None
            return (order.fill_quantity() * order.partial_ratio).quantize(Decimal(1), rounding=ROUND_DOWN)
        return Decimal(0)

    def add(self, order: SimOrder, key: str) -> SimOrder:
        if self.next_partial is not None:
            order.partial_ratio, self.next_partial = self.next_partial, None
        if self.next_reject:
            order.rejected, self.next_reject = True, False
        self.orders[order.order_id] = order
        self.submissions[key] += 1
        return order

    def match(self, now: datetime, trading: bool) -> None:
        """Expire resting limit orders past :attr:`SimOrder.expires_at`, then — while ``trading`` — fill
        those the market price crosses, at their limit, from the offered liquidity (oldest first)."""
        for order in self.orders.values():
            if order.resting and order.expires_at is not None and now >= order.expires_at:
                order.closed = "expired"
        if not trading:
            return
        for order in self.orders.values():
            if not order.resting or order.symbol not in self.prices:
                continue
            assert order.limit_price is not None
            price = self.prices[order.symbol]
            if not (price <= order.limit_price if order.side == "buy" else price >= order.limit_price):
                continue
            offered = self.liquidity.get(order.symbol)
            wanted = order.fill_quantity() - order.limit_filled
            quantity = wanted if offered is None else min(wanted, offered)
            if quantity <= 0:
                continue
            order.limit_filled += quantity
            if offered is not None:
                self.liquidity[order.symbol] = offered - quantity

    def cancel(self, order: SimOrder) -> bool:
        """Cancel a resting limit order (what filled stays filled); ``False`` when it can no longer be
        cancelled (filled, already closed, a market order)."""
        if not order.resting:
            return False
        order.closed = "canceled"
        return True

    def force(self, order_id: str, status: str, filled: Decimal | None = None) -> None:
        order = self.orders[order_id]
        order.forced_status = status
        order.forced_filled = filled

    @property
    def total_orders(self) -> int:
        return len(self.orders)


@dataclass
class SimCalendar:
    """The calendar a local server answers with: Monday–Friday, minus :attr:`holidays`, with
    :attr:`early_closes` ending at 13:00 (after hours 17:00). Tests add dates to walk a holiday or an
    early close; each server renders it in its broker's published shape."""

    holidays: set[date] = field(default_factory=set)
    early_closes: set[date] = field(default_factory=set)

    def between(self, start: date, end: date, *, pre_open: wall_time, overnight: bool) -> TradingCalendar:
        return weekday_calendar(
            start,
            end,
            holidays=self.holidays,
            early_closes=self.early_closes,
            overnight=overnight,
            pre_open=pre_open,
        )


@dataclass
class AlwaysOpenCalendar(SimCalendar):
    """The demo's calendar: every date a trading day whose regular session runs 00:00–23:59 New York, so
    the calendar agrees with a market that is open whenever someone runs the demo (a Sunday included) —
    the console's session (``REGULAR → OVERNIGHT 23:59 ET``) and the broker's clock tell the same story."""

    def between(self, start: date, end: date, *, pre_open: wall_time, overnight: bool) -> TradingCalendar:
        days = tuple(
            TradingDay.at_local(
                start + timedelta(days=n),
                pre_open=wall_time(0, 0),
                open=wall_time(0, 0),
                close=wall_time(23, 59),
                post_close=wall_time(23, 59),
            )
            for n in range((end - start).days + 1)
        )
        return TradingCalendar(start, end, days, overnight=overnight)


class LocalServer:
    """An aiohttp app on 127.0.0.1 with a free port, fault middleware and per-route hit counters."""

    book: OrderBook

    def __init__(self) -> None:
        self.faults = Faults()
        self.hits: Counter[str] = Counter()
        self.clock: Now = now_utc
        """The server's now (inject a test clock's ``now``; see the module docstring)."""
        self.session_override: MarketSession | None = MarketSession.REGULAR
        """``REGULAR`` (default: always open), ``CLOSED``, or ``None``: the calendar at :attr:`clock`."""
        self.next_open: datetime | None = None
        """The clock's next open while closed by the override (a weekend, a holiday); unset: one hour
        from now. With the calendar deciding, the clock answers from the calendar instead."""
        self.calendar = SimCalendar()
        """What the calendar / market-hours endpoint answers (settable: holidays, early closes)."""
        self.app = web.Application(middlewares=[self._middleware])
        self._runner: web.AppRunner | None = None
        self.port = 0

    PRE_OPEN: wall_time = wall_time(4, 0)
    """Start of this broker's pre-market session (Alpaca 04:00, Schwab 07:00)."""
    OVERNIGHT: bool = True
    """Whether this broker trades the overnight session (Alpaca yes, Schwab no)."""

    @property
    def market_open(self) -> bool:
        """The REGULAR session trades now."""
        return self.session() is MarketSession.REGULAR

    @market_open.setter
    def market_open(self, is_open: bool) -> None:
        self.session_override = MarketSession.REGULAR if is_open else MarketSession.CLOSED

    def follow_calendar(self, clock: Now | None = None) -> None:
        """Sessions from :attr:`calendar` at :attr:`clock`'s now from here on (and use ``clock`` if given)."""
        if clock is not None:
            self.clock = clock
        self.session_override = None

    def window(self) -> TradingCalendar:
        """The calendar around now: yesterday to ten days ahead, in this broker's hours."""
        today = self.clock().astimezone(NEW_YORK).date()
        return self.calendar.between(
            today - timedelta(days=1), today + _CALENDAR_SPAN, pre_open=self.PRE_OPEN, overnight=self.OVERNIGHT
        )

    def session(self) -> MarketSession:
        """The session trading now."""
        if self.session_override is not None:
            return self.session_override
        return self.window().session_at(self.clock()).session

    def trading_day_now(self) -> TradingDay | None:
        """The trading day the session trading now belongs to (``None``: closed, or the override decides)."""
        if self.session_override is not None:
            return None
        calendar = self.window()
        now = self.clock()
        span = next((s for s in calendar.spans if s.start <= now < s.end), None)
        return None if span is None else calendar.trading_day(span.day)

    def set_price(self, symbol: str, price: Decimal, *, fill_at_most: Decimal | None = None) -> None:
        """Move the market price of ``symbol`` (also what market orders fill at); resting limit orders
        it crosses fill at their limit, at most ``fill_at_most`` shares in all until the next call."""
        if price <= 0 or (fill_at_most is not None and fill_at_most < 0):
            raise ValueError("a price must be positive and fill_at_most not negative")
        self.book.prices[symbol] = price
        self.book.liquidity[symbol] = fill_at_most
        self.match()

    def match(self) -> None:
        """Expire and fill resting limit orders as of now (see the module docstring)."""
        self.book.match(self.clock(), self.session() is not MarketSession.CLOSED)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        self._runner = web.AppRunner(self.app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.name or "unknown"
        self.hits[route] += 1
        fault = self.faults.take(route)
        if fault is None:
            return await handler(request)
        if fault.kind in ("rate_limit", "server_error"):
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            return web.json_response(
                {"code": fault.status, "message": f"injected {fault.kind}"},
                status=fault.status,
                headers=headers,
            )
        response = await handler(request)
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return response
        transport = request.transport
        assert transport is not None
        transport.close()
        raise ConnectionResetError("injected dropped connection")


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def dec(value: Decimal) -> str:
    """Decimal as a plain string, never an exponent."""
    if value == value.to_integral_value():
        return str(value.quantize(Decimal(1)))
    return format(value.normalize(), "f")
