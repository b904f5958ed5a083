"""Alpaca (Trading API v2) through ``alpaca-py``'s synchronous ``TradingClient``.

- Every SDK call runs in a worker thread (``asyncio.to_thread``) under *our* timeout; the SDK sets none,
  so its ``requests`` session also gets a socket timeout, bounding how long a stray thread can live.
- The SDK's own retry loop (429/504, 3 × 3 s of ``time.sleep`` inside the thread) is switched off:
  ``_retry = 0`` and ``_retry_codes = []`` on the client, so every status reaches us at once and the
  shared :class:`~arbtui.brokers.resilience.Resilience` owns retries, Retry-After and backoff.
- Idempotency: the client order id is our execution id. After a timeout, a dropped connection, a 5xx
  or a 422 on submit, we look the order up by client id before anything else; a retried submit of an
  order that already exists gets 422 (duplicate client id) and resolves to the existing order.
- Orders are sent with ``qty``/``notional``/``limit_price`` as decimal strings through the client's
  ``post`` (the SDK's ``MarketOrderRequest``/``LimitOrderRequest`` type them as ``float``, and a float
  price is not an exact price); responses are validated by the SDK's models and translated by
  :mod:`arbtui.brokers.alpaca.parsing`.

**Limit orders (after hours).** ``type=limit``, ``time_in_force=day``, ``limit_price`` a decimal string
on the tick (2 decimals at ≥ $1, 4 below; refused locally otherwise), ``client_order_id`` the order's
``<execution>-<n>``, and ``extended_hours=true`` for the PRE, POST **and OVERNIGHT** sessions
(``false`` for a REGULAR one). Overnight: the trading docs do not say whether an overnight order needs
``extended_hours``; the published OpenAPI document (``CreateOrderRequest.extended_hours``) does: "if
true, order will be eligible for execution in the pre-market, after-hours, and overnight sessions; only
works with type limit and time_in_force day or gtc". So an overnight hedge is an extended-hours limit
day order — sent as the published rule allows — and a 422 refusing it anyway becomes an
:class:`~arbtui.brokers.base.OrderRejected` that names the session and what was sent, never a retry.
Before sending, the order's session must be the one trading now by Alpaca's own calendar
(:class:`~arbtui.brokers.resilience.SessionGate`): otherwise :class:`~arbtui.brokers.base.MarketClosed`
and nothing goes out. A 5xx/timeout/422 on submit is resolved by looking the client order id up first,
exactly as for market orders. ``cancel`` is ``DELETE /v2/orders/{id}`` (204; 422 "not cancelable" means
already filled/cancelled/expired and is no error).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import requests
from alpaca.common.exceptions import APIError
from alpaca.trading.client import TradingClient
from alpaca.trading.models import Clock as AlpacaClock
from alpaca.trading.models import Order, Position, TradeAccount
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic import ValidationError as PydanticValidationError

from arbtui.brokers.alpaca import parsing
from arbtui.brokers.base import (
    MIN_NOTIONAL,
    AccountBalances,
    AuthExpired,
    BrokerError,
    BrokerOrderId,
    BrokerPosition,
    BrokerProtocolError,
    BrokerUnavailable,
    LimitOrder,
    MarketClock,
    MarketOrder,
    OrderNotFound,
    OrderRefused,
    OrderRejected,
    OrderReport,
    RateLimited,
)
from arbtui.brokers.resilience import (
    ALPACA_REQUESTS_PER_MINUTE,
    MarketGate,
    Resilience,
    RetryPolicy,
    SessionGate,
    log_exchange,
    parse_retry_after,
)
from arbtui.clock import Clock, SystemClock
from arbtui.domain.limit_price import on_tick
from arbtui.domain.sessions import MarketSession, TradingCalendar
from arbtui.domain.values import BrokerKind

T = TypeVar("T")
ALPACA_SHARE_QUANTUM = Decimal("0.000000001")
"""Alpaca accepts quantities up to 9 decimals."""


class AlpacaConfig(BaseModel):
    """Alpaca connection settings. Paper trading unless explicitly switched to live."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    api_key: SecretStr
    """From ``ARBTUI_ALPACA_API_KEY``."""
    api_secret: SecretStr
    """From ``ARBTUI_ALPACA_API_SECRET``."""
    paper: bool = True
    """Paper environment (``paper-api.alpaca.markets``); ``False`` trades real money."""
    base_url: str | None = None
    """Override of the API host (tests point it at a local server)."""
    fractional: bool = False
    """Send fractional quantities; orders under $1 are then refused before sending."""
    requests_per_minute: int = Field(default=ALPACA_REQUESTS_PER_MINUTE, gt=0)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    clock_cache_seconds: float = Field(default=30.0, ge=0)
    """How long an "open" clock answer is reused before submits (never past the next close)."""


class AlpacaBroker:
    """The Alpaca adapter (see the module docstring for the idempotency and retry rules)."""

    def __init__(self, config: AlpacaConfig, *, clock: Clock | None = None) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        self._resilience = Resilience(
            name="alpaca",
            policy=config.retry,
            clock=self._clock,
            requests_per_minute=config.requests_per_minute,
        )
        self._sdk = TradingClient(
            api_key=config.api_key.get_secret_value(),
            secret_key=config.api_secret.get_secret_value(),
            paper=config.paper,
            url_override=config.base_url,
        )
        # Our resilience layer owns retries: stop the SDK sleeping 3 s × 3 on 429/504 inside a thread.
        self._sdk._retry = 0
        self._sdk._retry_codes = []
        _instrument_session(self._sdk._session, timeout=config.retry.request_timeout + 1.0)
        self._market = MarketGate(self._clock, config.clock_cache_seconds)
        self._sessions = SessionGate(self._clock, config.clock_cache_seconds)

    @property
    def kind(self) -> BrokerKind:
        return BrokerKind.ALPACA

    @property
    def resilience(self) -> Resilience:
        return self._resilience

    # -- the port ------------------------------------------------------------------------------
    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        self._check_locally(order)
        await self._ensure_open(order)
        body = parsing.order_body(order)

        async def attempt() -> BrokerOrderId:
            # Again after the rate-limit wait: a queued order must not go out past a close.
            await self._ensure_open(order)
            try:
                raw = await self._call("submit", lambda: self._sdk.post("/orders", body), order)
                return parsing.parse_order(self._model(Order, raw)).order_id
            except (BrokerUnavailable, OrderRejected) as exc:
                # Timeout, dropped connection, 5xx (the order may exist) or 422 (maybe a duplicate of
                # ours): look it up by client id before deciding anything.
                if isinstance(exc, OrderRejected) and exc.status_code != 422:
                    raise
                found = await self._by_client_id(order.execution_id, order)
                if found is not None:
                    return found.order_id
                raise

        return await self._resilience.call("submit", attempt)

    async def submit_limit(self, order: LimitOrder) -> BrokerOrderId:
        """See :meth:`arbtui.brokers.base.Broker.submit_limit` and the module docstring (sessions)."""
        self._check_limit_locally(order)
        await self._sessions.ensure(self.calendar, order, self.kind)
        body = parsing.limit_order_body(order)

        async def attempt() -> BrokerOrderId:
            # Again after the rate-limit wait: a queued order must not go out past its session's end.
            await self._sessions.ensure(self.calendar, order, self.kind)
            try:
                raw = await self._call("submit limit", lambda: self._sdk.post("/orders", body), order)
                return parsing.parse_order(self._model(Order, raw)).order_id
            except (BrokerUnavailable, OrderRejected) as exc:
                if isinstance(exc, OrderRejected) and exc.status_code != 422:
                    raise
                found = await self._by_client_id(order.client_order_id, order)
                if found is not None:
                    return found.order_id
                if isinstance(exc, OrderRejected):
                    raise _limit_refusal(exc, order, body) from exc
                raise

        return await self._resilience.call("submit limit", attempt)

    async def find_limit_order(self, order: LimitOrder, *, since: datetime) -> OrderReport | None:
        """By client order id (``<execution>-<n>``), like :meth:`find_order`."""
        return await self._resilience.call("find order", lambda: self._by_client_id(order.client_order_id, order))

    async def cancel(self, order_id: BrokerOrderId) -> None:
        """``DELETE /v2/orders/{id}``: 204 cancels; 422 ("not cancelable": already filled, cancelled or
        expired) is no error — :meth:`order_status` says which; 404 → :class:`OrderNotFound`."""

        async def once() -> None:
            try:
                await self._call("cancel", lambda: self._sdk.cancel_order_by_id(order_id))
            except OrderRejected as exc:
                if exc.status_code != 422:
                    raise

        await self._resilience.call("cancel", once)

    async def order_status(self, order_id: BrokerOrderId) -> OrderReport:
        model = await self._resilience.call(
            "order status", lambda: self._call("order status", lambda: self._sdk.get_order_by_id(order_id))
        )
        return parsing.parse_order(self._model(Order, model))

    async def find_order(self, order: MarketOrder, *, since: datetime) -> OrderReport | None:
        return await self._resilience.call("find order", lambda: self._by_client_id(order.execution_id, order))

    async def clock(self) -> MarketClock:
        model = await self._resilience.call("clock", lambda: self._call("clock", self._sdk.get_clock))
        market = parsing.parse_clock(self._model(AlpacaClock, model))
        self._market.remember(market)
        return market

    async def calendar(self, start: date, end: date) -> TradingCalendar:
        """``GET /v2/calendar`` through the SDK's raw HTTP path (its ``Calendar`` model would drop
        ``session_open``/``session_close``)."""
        params = {"start": start.isoformat(), "end": end.isoformat()}
        raw = await self._resilience.call(
            "calendar", lambda: self._call("calendar", lambda: self._sdk.get("/calendar", params))
        )
        return parsing.parse_calendar(raw, start, end)

    async def positions(self) -> tuple[BrokerPosition, ...]:
        models = await self._resilience.call("positions", lambda: self._call("positions", self._sdk.get_all_positions))
        if not isinstance(models, list):
            raise BrokerProtocolError("alpaca positions answer is not a list", broker=self.kind)
        return tuple(parsing.parse_position(self._model(Position, m)) for m in models)

    async def balances(self) -> AccountBalances:
        model = await self._resilience.call("account", lambda: self._call("account", self._sdk.get_account))
        return parsing.parse_account(self._model(TradeAccount, model))

    async def credentials_expire_at(self) -> datetime | None:
        """See :meth:`arbtui.brokers.base.Broker.credentials_expire_at`."""
        return None

    async def aclose(self) -> None:
        self._sdk._session.close()

    # -- internals -----------------------------------------------------------------------------
    def _check_locally(self, order: MarketOrder) -> None:
        fractional = order.notional is not None or (order.quantity is not None and not order.quantity.is_whole)
        if not fractional:
            return
        if not self._config.fractional:
            raise self._refused(order, "fractional order while fractional mode is off")
        if order.quantity is not None and order.quantity.round_down_to(ALPACA_SHARE_QUANTUM) != order.quantity:
            raise self._refused(order, f"quantity {order.quantity} has more than 9 decimals")
        notional = order.estimated_notional()
        if notional is None:
            raise self._refused(order, "fractional order needs an estimated price to check the $1 minimum")
        if notional < MIN_NOTIONAL:
            raise self._refused(order, f"order value ${notional} is under the $1 minimum")

    def _refused(self, order: MarketOrder | LimitOrder, message: str) -> OrderRefused:
        return OrderRefused(message, broker=self.kind, symbol=order.symbol, execution_id=order.execution_id)

    async def _ensure_open(self, order: MarketOrder) -> None:
        await self._market.ensure_open(self.clock, order, self.kind)

    def _check_limit_locally(self, order: LimitOrder) -> None:
        if not on_tick(order.limit_price):
            raise self._refused(
                order, f"limit price {order.limit_price} is off the tick ($0.01 at ≥ $1, $0.0001 below)"
            )
        if order.quantity.is_whole:
            return
        if not self._config.fractional:
            raise self._refused(order, "fractional order while fractional mode is off")
        if order.quantity.round_down_to(ALPACA_SHARE_QUANTUM) != order.quantity:
            raise self._refused(order, f"quantity {order.quantity} has more than 9 decimals")
        if order.estimated_notional() < MIN_NOTIONAL:
            raise self._refused(order, f"order value ${order.estimated_notional()} is under the $1 minimum")

    async def _by_client_id(self, client_order_id: str, order: MarketOrder | LimitOrder) -> OrderReport | None:
        try:
            model = await self._call(
                "order by client id", lambda: self._sdk.get_order_by_client_id(client_order_id), order
            )
        except OrderNotFound:
            return None
        return parsing.parse_order(self._model(Order, model))

    def _model(self, model_type: type[T], value: object) -> T:
        if isinstance(value, model_type):
            return value
        if isinstance(value, dict) and isinstance(model_type, type) and issubclass(model_type, BaseModel):
            try:
                return model_type.model_validate(value)
            except PydanticValidationError as exc:
                raise BrokerProtocolError(f"unreadable alpaca answer: {exc}", broker=self.kind) from exc
        raise BrokerProtocolError(f"unexpected alpaca answer: {type(value).__name__}", broker=self.kind)

    async def _call(self, what: str, fn: Callable[[], T], order: MarketOrder | LimitOrder | None = None) -> T:
        """One SDK call in a thread, under our timeout, with the SDK's errors translated."""
        context: dict[str, Any] = {"broker": self.kind}
        if order is not None:
            context.update(symbol=order.symbol, execution_id=order.execution_id)
        timeout = self._config.retry.request_timeout
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn), timeout=timeout)
        except TimeoutError:
            raise BrokerUnavailable(f"alpaca {what} timed out after {timeout}s", **context) from None
        except APIError as exc:
            raise _translate(exc, what, self._clock, context) from exc
        except requests.RequestException as exc:
            raise BrokerUnavailable(f"alpaca {what}: {type(exc).__name__}", **context) from exc
        except PydanticValidationError as exc:
            raise BrokerProtocolError(f"unreadable alpaca {what} answer: {exc}", **context) from exc


def _translate(exc: APIError, what: str, clock: Clock, context: dict[str, Any]) -> BrokerError:
    status = exc.status_code
    message = f"alpaca {what}: HTTP {status}: {_message(exc)}"
    context = {**context, "status_code": status}
    if status == 429:
        response = exc.response
        header = response.headers.get("Retry-After") if response is not None else None
        retry_after = parse_retry_after(header, clock.now())
        return RateLimited(message, retry_after=retry_after, **context)
    if status is None or status >= 500 or status == 408:
        return BrokerUnavailable(message, **context)
    if status == 401:
        return AuthExpired(message, **context)
    if status == 404:
        return OrderNotFound(message, **context)
    return OrderRejected(message, **context)


def _limit_refusal(exc: OrderRejected, order: LimitOrder, body: dict[str, object]) -> OrderRejected:
    """Alpaca's 422 on a limit order, said in words: which session, and what was sent for it."""
    sent = f"limit {body['limit_price']} {body['time_in_force']}, extended_hours={body['extended_hours']}"
    hint = ""
    if order.session is MarketSession.OVERNIGHT:
        hint = " (overnight orders go out as extended-hours limit day orders: the published rule)"
    return OrderRejected(
        f"alpaca refused the {order.session.label} limit order ({sent}){hint}: {exc.message}",
        broker=exc.broker,
        symbol=order.symbol,
        execution_id=order.execution_id,
        status_code=exc.status_code,
    )


def _message(exc: APIError) -> str:
    try:
        return str(exc.message)
    except (ValueError, KeyError, TypeError):
        return str(exc)[:200]


def _instrument_session(session: Any, *, timeout: float) -> None:
    """Give the SDK's ``requests`` session a socket timeout and one redacted log line per request."""
    original = session.request

    def request(method: str, url: str, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", timeout)
        started = time.monotonic()
        try:
            response = original(method, url, **kwargs)
        except requests.RequestException as exc:
            log_exchange("alpaca", method, url, None, time.monotonic() - started, error=type(exc).__name__)
            raise
        log_exchange("alpaca", method, response.url or url, response.status_code, time.monotonic() - started)
        return response

    session.request = request
