"""The one broker port the engine talks to: a :class:`Broker` protocol, its normalised values, its errors.

Every adapter (dry-run, Alpaca, Schwab) implements :class:`Broker` and passes the same contract test
suite. Raw broker payloads never leave an adapter: the engine sees only the frozen values below, built
from the exact domain types (:class:`~arbtui.domain.values.Shares`, :class:`~arbtui.domain.values.Cents`, …).

Error tree — the engine reacts by *type*, never by parsing a message::

    BrokerError                         every failure an adapter raises
    ├── RetryableBrokerError            nothing happened at the broker; try the same call again later
    │   ├── RateLimited                 HTTP 429: reschedule after ``retry_after`` — never a failure
    │   ├── BrokerUnavailable           5xx, timeouts, dropped connections (after bounded retries)
    │   └── MarketClosed                the market is shut; ``retry_at`` is the next open when known
    ├── OrderRejected                   the broker (or we) said no to this order: resending it is useless
    │   └── OrderRefused                refused locally before anything was sent (fractional, < $1, …)
    └── FatalBrokerError                the operator must act; the engine parks the execution and alerts
        ├── AuthExpired                 credentials/refresh token invalid or expired: re-authenticate
        ├── AmbiguousSubmission         a submit may or may not have created an order: never resend
        ├── OrderNotFound               the broker does not know an order id we recorded
        └── BrokerProtocolError         the broker answered something we cannot interpret

Every error carries its context (broker kind, symbol, execution id) as attributes; ``str(error)`` is the
one line an operator reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import NewType, Protocol, TypedDict, Unpack, runtime_checkable

from arbtui.domain.offchain_order import OrderStatus
from arbtui.domain.sessions import MarketSession, TradingCalendar
from arbtui.domain.values import (
    BrokerKind,
    Cents,
    Direction,
    ExecutionId,
    PriceUsdc,
    Shares,
    Symbol,
    Usdc,
)

BrokerOrderId = NewType("BrokerOrderId", str)
"""The broker's own id of an order (Alpaca's UUID, Schwab's numeric id, dry-run's ``dry-…``)."""

MIN_NOTIONAL = Usdc("1")
"""Smallest order value a broker accepts for fractional/notional orders (Alpaca's published minimum)."""


# ------------------------------------------------------------------------------------------------
# errors
# ------------------------------------------------------------------------------------------------
class ErrorContext(TypedDict, total=False):
    """Context every broker error may carry (keyword arguments of :class:`BrokerError`)."""

    broker: BrokerKind | None
    symbol: Symbol | None
    execution_id: ExecutionId | None
    status_code: int | None


class BrokerError(Exception):
    """Base of every error a broker adapter raises."""

    def __init__(
        self,
        message: str,
        *,
        broker: BrokerKind | None = None,
        symbol: Symbol | None = None,
        execution_id: ExecutionId | None = None,
        status_code: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.broker = broker
        self.symbol = symbol
        self.execution_id = execution_id
        self.status_code = status_code

    def __str__(self) -> str:
        context = [
            f"{name}={value}"
            for name, value in (
                ("broker", self.broker),
                ("symbol", self.symbol),
                ("execution", self.execution_id),
                ("http", self.status_code),
            )
            if value is not None
        ]
        return f"{self.message} ({', '.join(context)})" if context else self.message


class RetryableBrokerError(BrokerError):
    """Nothing happened at the broker; the same call may succeed later."""

    retry_after: float | None = None
    """Seconds to wait before trying again, when the broker said (or we know)."""


class RateLimited(RetryableBrokerError):
    """HTTP 429: reschedule after :attr:`retry_after` seconds (``None``: the broker gave no usable hint)."""

    def __init__(self, message: str, *, retry_after: float | None, **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.retry_after = retry_after


class BrokerUnavailable(RetryableBrokerError):
    """5xx, timeout or dropped connection that persisted through :attr:`attempts` tries."""

    def __init__(self, message: str, *, attempts: int = 1, **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.attempts = attempts


class MarketClosed(RetryableBrokerError):
    """The market is shut; no order was sent. :attr:`retry_at` is the next open when the broker said."""

    def __init__(self, message: str, *, retry_at: datetime | None = None, **context: Unpack[ErrorContext]) -> None:
        super().__init__(message, **context)
        self.retry_at = retry_at


class OrderRejected(BrokerError):
    """The broker refused the order (insufficient funds, unknown symbol, …); resending will not help."""


class OrderRefused(OrderRejected):
    """Refused by the adapter before anything was sent (fractional at Schwab, under $1 notional, …)."""


class FatalBrokerError(BrokerError):
    """The operator must act: park the execution, alert, never retry on a timer."""


class AuthExpired(FatalBrokerError):
    """Credentials rejected or the refresh token expired: run the authorisation flow again."""


class AmbiguousSubmission(FatalBrokerError):
    """A submit's outcome is unknown and reconciliation could not decide: never resend blindly."""

    def __init__(
        self, message: str, *, candidates: tuple[BrokerOrderId, ...] = (), **context: Unpack[ErrorContext]
    ) -> None:
        super().__init__(message, **context)
        self.candidates = candidates


class OrderNotFound(FatalBrokerError):
    """The broker does not know this order id."""


class BrokerProtocolError(FatalBrokerError):
    """The broker's answer could not be interpreted (unknown status, missing field, bad number)."""


# ------------------------------------------------------------------------------------------------
# normalised values
# ------------------------------------------------------------------------------------------------
OrderState = OrderStatus
"""Normalised order state: the domain's own status vocabulary (``PENDING`` here also covers "the broker
calls it unknown: keep polling"). The engine's state machine speaks only these."""


@dataclass(frozen=True, slots=True)
class MarketOrder:
    """A market, day order for exactly one of ``quantity`` (shares) or ``notional`` (dollars).

    ``execution_id`` is sent as the client order id where the broker has one, so a retried submit can
    never create a second order. ``estimated_price`` lets adapters check minimum notional before sending
    and lets the dry-run broker fill.
    """

    execution_id: ExecutionId
    symbol: Symbol
    side: Direction
    quantity: Shares | None = None
    notional: Usdc | None = None
    estimated_price: PriceUsdc | None = None

    def __post_init__(self) -> None:
        if (self.quantity is None) == (self.notional is None):
            raise ValueError("a market order needs exactly one of quantity or notional")
        if self.quantity is not None and not self.quantity.is_positive:
            raise ValueError(f"order quantity must be positive, got {self.quantity}")
        if self.notional is not None and not self.notional.is_positive:
            raise ValueError(f"order notional must be positive, got {self.notional}")
        if self.estimated_price is not None and not self.estimated_price.is_positive:
            raise ValueError(f"estimated price must be positive, got {self.estimated_price}")

    def estimated_notional(self) -> Usdc | None:
        """The order's dollar value: its notional, or quantity × estimated price (None if unknown)."""
        if self.notional is not None:
            return self.notional
        if self.quantity is not None and self.estimated_price is not None:
            return self.estimated_price.notional(self.quantity)
        return None


@dataclass(frozen=True, slots=True)
class LimitOrder:
    """A limit day order for whole or fractional ``quantity`` at ``limit_price`` — how a hedge goes out
    outside the regular session (and each reprice of one).

    ``client_order_id`` is ``<execution>-<n>``: attempt ``n`` (1, 2, …) of execution ``execution_id``,
    sent as the client order id where the broker has one, so a retried submit of one attempt can never
    create a second order and every replacement is its own order. ``session`` is the session the order
    is meant for (``PRE``, ``POST``, ``OVERNIGHT``; ``REGULAR`` is allowed): the adapter turns it into
    the broker's own fields (Alpaca ``extended_hours``; Schwab ``session`` ``AM``/``PM``/``SEAMLESS``).
    ``limit_price`` must already be on the venue's tick (:func:`arbtui.domain.limit_price.on_tick`).
    """

    client_order_id: str
    execution_id: ExecutionId
    symbol: Symbol
    side: Direction
    quantity: Shares
    limit_price: PriceUsdc
    session: MarketSession

    def __post_init__(self) -> None:
        if not self.quantity.is_positive:
            raise ValueError(f"order quantity must be positive, got {self.quantity}")
        if not self.limit_price.is_positive:
            raise ValueError(f"limit price must be positive, got {self.limit_price}")
        if not self.client_order_id.startswith(f"{self.execution_id}-"):
            raise ValueError(f"client order id {self.client_order_id!r} is not <{self.execution_id}>-<n>")
        if self.session is MarketSession.CLOSED:
            raise ValueError("no order is meant for a closed market")

    def estimated_notional(self) -> Usdc:
        """What the order costs at most (quantity × limit)."""
        return self.limit_price.notional(self.quantity)


@dataclass(frozen=True, slots=True)
class OrderReport:
    """What the broker says about one order, normalised. Nothing here is guessed (lesson 13)."""

    broker: BrokerKind
    order_id: BrokerOrderId
    symbol: Symbol
    side: Direction
    state: OrderState
    broker_status: str
    """The broker's own status word, kept for the operator and for alerts (``UNKNOWN``, ``held``…)."""
    filled_quantity: Shares
    average_price: Cents | None
    """Volume-weighted average fill price per share; ``None`` until something filled."""
    filled_notional: Usdc | None
    """Exact dollar value filled (Σ quantity × price of the executions); ``None`` until filled."""
    quantity: Shares | None = None
    """Ordered quantity; ``None`` for a notional order."""
    notional: Usdc | None = None
    client_order_id: str | None = None
    submitted_at: datetime | None = None
    filled_at: datetime | None = None
    """The broker's timestamp of the (last) fill; ``None`` when the broker gave none."""


@dataclass(frozen=True, slots=True)
class MarketClock:
    """The broker's view of the equity market at :attr:`as_of`."""

    as_of: datetime
    is_open: bool
    next_open: datetime | None
    next_close: datetime | None


@dataclass(frozen=True, slots=True)
class BrokerPosition:
    symbol: Symbol
    quantity: Shares
    """Signed: negative for a short."""
    average_entry_price: PriceUsdc | None = None
    market_value: Usdc | None = None

    @property
    def mark(self) -> PriceUsdc | None:
        """The broker's mark per share (market value ÷ quantity), a limit hedge's second reference."""
        if self.market_value is None or self.quantity.is_zero:
            return None
        return PriceUsdc.per_share(abs(self.market_value), abs(self.quantity))


@dataclass(frozen=True, slots=True)
class AccountBalances:
    cash: Usdc
    buying_power: Usdc
    non_marginable_buying_power: Usdc | None = None
    """What a buy may spend without margin (Alpaca ``non_marginable_buying_power``); ``None`` where the
    broker gives no such figure (the preflight then uses :attr:`cash`)."""
    equity: Usdc | None = None
    trading_blocked: bool = False


# ------------------------------------------------------------------------------------------------
# the port
# ------------------------------------------------------------------------------------------------
@runtime_checkable
class Broker(Protocol):
    """The broker port. All methods are coroutines; every one may raise any :class:`BrokerError`
    subclass of the *retryable* or *fatal* branch in addition to what is listed."""

    @property
    def kind(self) -> BrokerKind:
        """Which broker this is (recorded on every execution)."""
        ...

    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        """Place a market day order and return the broker's order id.

        Idempotent by ``order.execution_id``: if an earlier submit of the same execution reached the
        broker, the existing order's id is returned and no second order is created. On an ambiguous
        outcome (timeout, dropped connection, 5xx after sending) the adapter looks the order up first.

        Raises:
            OrderRefused: refused locally, nothing sent (fractional at a whole-share broker, under $1).
            OrderRejected: the broker refused it.
            MarketClosed: the market is shut; nothing sent.
            RateLimited / BrokerUnavailable: nothing was created; try again later.
            AmbiguousSubmission: an order may exist and reconciliation could not tell; never resend.
            AuthExpired: re-authenticate.
        """
        ...

    async def submit_limit(self, order: LimitOrder) -> BrokerOrderId:
        """Place a limit day order for ``order.session`` and return the broker's order id.

        Idempotent by ``order.client_order_id`` exactly as :meth:`submit` is by execution id (Schwab, with
        no client id, looks for an open order of the same symbol, side, quantity and price first).

        Every adapter checks ``order.session`` against the session trading now by *its broker's own
        calendar* before sending (Alpaca/Schwab: re-read at most every ``clock_cache_seconds``; dry-run:
        its :class:`~arbtui.brokers.dry_run.DryRunCalendar`), so a session that is shut is
        :class:`MarketClosed` with ``retry_at`` = when that session next starts. The order lives until
        its trading day ends (a REGULAR one: the close; PRE/POST/OVERNIGHT: the after-hours end — Schwab
        AM orders: the open) and then reports CANCELLED (broker status ``expired``) with what filled.
        Fields sent: Alpaca ``type=limit``, ``time_in_force=day``, ``extended_hours`` true for every
        session but REGULAR (overnight included: the published rule); Schwab ``orderType: LIMIT``,
        ``duration: DAY``, ``session`` NORMAL/AM/PM (SEAMLESS for overnight, which Schwab's calendar
        never has: refused locally).

        Raises:
            OrderRefused: refused locally, nothing sent (price off the tick, fractional at Schwab, a
                session this broker does not trade).
            OrderRejected: the broker refused it.
            MarketClosed: ``order.session`` is not trading now; nothing sent.
            RateLimited / BrokerUnavailable / AmbiguousSubmission / AuthExpired: as for :meth:`submit`.
        """
        ...

    async def find_limit_order(self, order: LimitOrder, *, since: datetime) -> OrderReport | None:
        """The order an earlier ``submit_limit(order)`` created, or ``None`` (see :meth:`find_order`).

        Alpaca and dry-run: by ``order.client_order_id``. Schwab: by symbol, side, quantity and price
        among orders entered since ``since`` — pass when this attempt's placement was recorded; a
        match that is only closed and unfilled (possibly the previous attempt) is
        :class:`AmbiguousSubmission`, never taken for this attempt.
        """
        ...

    async def cancel(self, order_id: BrokerOrderId) -> None:
        """Ask the broker to cancel ``order_id``. Idempotent: cancelling an order that is already
        cancelled or filled is not an error. The order is terminal only once :meth:`order_status`
        says so (a cancel may race a fill: the report then says FILLED, or CANCELLED with the part filled).

        Raises:
            OrderNotFound: the broker does not know ``order_id``.
        """
        ...

    async def order_status(self, order_id: BrokerOrderId) -> OrderReport:
        """The order's current normalised state, filled quantity and exact average price.

        Raises:
            OrderNotFound: the broker does not know ``order_id``.
            BrokerProtocolError: the broker's answer had an unknown status or malformed numbers.
        """
        ...

    async def find_order(self, order: MarketOrder, *, since: datetime) -> OrderReport | None:
        """Find the order an earlier ``submit(order)`` created, or ``None`` if there is none.

        Alpaca and dry-run look it up by client order id (``order.execution_id``). Schwab has no client
        order id: it lists orders entered since ``since`` for the same symbol, side and quantity.

        Raises:
            AmbiguousSubmission: several candidate orders match and none can be told apart.
        """
        ...

    async def clock(self) -> MarketClock:
        """Whether the equity market is open now, and the next open/close when known."""
        ...

    async def calendar(self, start: date, end: date) -> TradingCalendar:
        """The broker's trading calendar from ``start`` to ``end`` (New York dates, inclusive): each
        trading day's pre-market start, regular open and close and after-hours end as the broker gives
        them (early closes included; a date without a trading day is a weekend or a holiday), and whether
        the venue trades overnight. The calendar may start later than ``start`` when the broker serves
        no past dates (Schwab).

        Raises:
            BrokerProtocolError: the answer could not be read as a calendar.
        """
        ...

    async def positions(self) -> tuple[BrokerPosition, ...]:
        """Every open position at the broker (signed quantities)."""
        ...

    async def balances(self) -> AccountBalances:
        """Cash and buying power of the trading account."""
        ...

    async def credentials_expire_at(self) -> datetime | None:
        """When the operator must re-authenticate (Schwab's 7-day refresh token), or ``None`` when the
        credentials do not expire (API keys, dry-run). The engine alerts a day ahead."""
        ...

    async def aclose(self) -> None:
        """Release connections. Idempotent."""
        ...
