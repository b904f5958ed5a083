"""What both local broker servers share: an aiohttp app on a free loopback port, a simulated order
book (new → accepted → filled after configurable delays), request counters and on-demand faults.

Faults are queued per route name and fire in order; each one that fires is counted in
:attr:`Faults.fired` so a test can first assert that its fault really happened (lesson 28).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from datetime import time as wall_time
from decimal import ROUND_DOWN, Decimal
from typing import Literal, Self

from aiohttp import web

from arbtui.domain.sessions import TradingCalendar, weekday_calendar

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
FaultKind = Literal["rate_limit", "server_error", "slow", "drop"]


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

    def price_of(self, symbol: str) -> Decimal:
        return self.prices.get(symbol, self.default_price)

    def phase(self, order: SimOrder) -> Literal["new", "accepted", "filled", "partial", "rejected"]:
        if order.rejected:
            return "rejected"
        elapsed = time.monotonic() - order.created_mono
        if elapsed < self.accept_delay:
            return "new"
        if elapsed < self.fill_delay:
            return "accepted"
        return "partial" if order.partial_ratio is not None else "filled"

    def filled(self, order: SimOrder) -> Decimal:
        if order.forced_filled is not None:
            return order.forced_filled
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


class LocalServer:
    """An aiohttp app on 127.0.0.1 with a free port, fault middleware and per-route hit counters."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.hits: Counter[str] = Counter()
        self.market_open = True
        self.next_open: datetime | None = None
        """The clock's next open while closed (a weekend, a holiday); unset: one hour from now."""
        self.calendar = SimCalendar()
        """What the calendar / market-hours endpoint answers (settable: holidays, early closes)."""
        self.app = web.Application(middlewares=[self._middleware])
        self._runner: web.AppRunner | None = None
        self.port = 0

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
