"""Charles Schwab Trader API adapter: authlib for OAuth, one pooled ``httpx.AsyncClient`` for all calls.

- Whole shares only: a fractional quantity or a notional order is refused before anything is sent.
- Schwab has **no client order id**. A submit that failed *before* the request left (connection
  refused) is retried; one whose outcome is unknown (timeout, dropped connection, 5xx, 201 without a
  usable ``Location``) is reconciled by listing the window's orders for the same symbol, side and
  quantity, skipping orders already attributed to another execution. One candidate → that is ours;
  none or several → :class:`~arbtui.brokers.base.AmbiguousSubmission`: the engine parks the execution
  for the operator. A submit is never resent blindly.
- The access token is refreshed ahead of expiry and once after a 401 (:class:`AccessTokens`).

**Limit orders (after hours).** ``orderType: LIMIT``, ``price`` (a decimal string on the tick: $0.01 at
≥ $1, $0.0001 below), ``duration: DAY``, whole shares only (else :class:`OrderRefused`), and ``session``
by the order's session: REGULAR → ``NORMAL``, PRE → ``AM``, POST → ``PM``, OVERNIGHT → ``SEAMLESS``.
Schwab's market hours publish no overnight session, so the session gate (:class:`SessionGate`, from
Schwab's own market hours) refuses an OVERNIGHT order with :class:`OrderRefused` before anything is
sent; any other session not trading now is :class:`MarketClosed`. With no client order id,
``submit_limit`` first looks for an *open* order of the same symbol, side, quantity and price entered in
the last day — one is taken as ours (a crash lost its answer), several are ambiguous — and an ambiguous
send is reconciled by listing, as for market orders. ``find_limit_order`` matches symbol, side,
quantity and price since ``since``. ``cancel`` is ``DELETE …/orders/{orderId}``. ``clock()`` reads the
same market-hours route as ``calendar()``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from arbtui.brokers.base import (
    AccountBalances,
    AmbiguousSubmission,
    AuthExpired,
    BrokerError,
    BrokerOrderId,
    BrokerPosition,
    BrokerUnavailable,
    LimitOrder,
    MarketClock,
    MarketOrder,
    OrderNotFound,
    OrderRefused,
    OrderRejected,
    OrderReport,
    OrderState,
    RateLimited,
)
from arbtui.brokers.resilience import (
    SCHWAB_REQUESTS_PER_MINUTE,
    MarketGate,
    Resilience,
    RetryPolicy,
    SessionGate,
    log_exchange,
    parse_retry_after,
)
from arbtui.brokers.schwab import parsing
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.brokers.schwab.oauth import AccessTokens, OAuthApp, TokenVault, oauth_client
from arbtui.clock import Clock, SystemClock
from arbtui.domain.limit_price import on_tick
from arbtui.domain.sessions import TradingCalendar, TradingDay
from arbtui.domain.values import BrokerKind

NEW_YORK = ZoneInfo("America/New_York")
_LOOKAHEAD_DAYS = 7
_OPEN_ORDER_WINDOW = timedelta(days=1)
"""How far back ``submit_limit`` looks for an open order just like the one it is about to send (a day
order lives at most a day)."""


class SchwabConfig(BaseModel):
    """Schwab connection settings; the app key and secret are secrets."""

    model_config = ConfigDict(frozen=True, arbitrary_types_allowed=True)

    app_key: SecretStr
    app_secret: SecretStr
    callback_url: str = "https://127.0.0.1"
    """The callback registered with the Schwab app."""
    base_url: str = "https://api.schwabapi.com"
    """API host (tests point it at a local server)."""
    account_number: str | None = None
    """Which linked account to trade; may stay unset when exactly one is linked."""
    requests_per_minute: int = Field(default=SCHWAB_REQUESTS_PER_MINUTE, gt=0)
    retry: RetryPolicy = Field(default_factory=RetryPolicy)
    refresh_margin_seconds: float = Field(default=300.0, ge=0)
    """Refresh the access token this long before it expires."""
    reconcile_skew_seconds: float = Field(default=120.0, ge=0)
    """Widening of the reconciliation window on each side (clock skew between us and Schwab)."""
    clock_cache_seconds: float = Field(default=30.0, ge=0)

    @property
    def app(self) -> OAuthApp:
        return OAuthApp(self.app_key, self.app_secret, self.callback_url, self.base_url)


class _NotSent(BrokerUnavailable):
    """The request never left (connect failure): safe to send again."""


class SchwabBroker:
    def __init__(
        self, config: SchwabConfig, *, vault: TokenVault, cipher: TokenCipher, clock: Clock | None = None
    ) -> None:
        self._config = config
        self._clock = clock or SystemClock()
        timeout = config.retry.request_timeout
        # authlib's AsyncOAuth2Client *is* an httpx.AsyncClient: one pool for token and API calls.
        self._http: Any = oauth_client(
            config.app,
            base_url=config.base_url,
            timeout=httpx.Timeout(timeout),
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self.tokens = AccessTokens(
            config.app,
            vault,
            cipher,
            self._clock,
            self._http,
            refresh_margin=timedelta(seconds=config.refresh_margin_seconds),
        )
        self._resilience = Resilience(
            name="schwab", policy=config.retry, clock=self._clock, requests_per_minute=config.requests_per_minute
        )
        self._account_hash: str | None = None
        self._by_execution: dict[str, BrokerOrderId] = {}
        self._claimed: set[BrokerOrderId] = set()
        self._market = MarketGate(self._clock, config.clock_cache_seconds)
        self._sessions = SessionGate(self._clock, config.clock_cache_seconds)

    @property
    def kind(self) -> BrokerKind:
        return BrokerKind.SCHWAB

    @property
    def resilience(self) -> Resilience:
        return self._resilience

    # -- the port ------------------------------------------------------------------------------
    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        if order.quantity is None or not order.quantity.is_whole:
            raise OrderRefused(
                "schwab trades whole shares only",
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        known = self._by_execution.get(order.execution_id)
        if known is not None:
            return known
        await self._ensure_open(order)
        path = f"/trader/v1/accounts/{await self._hash()}/orders"
        body = parsing.order_body(order)
        started = self._clock.now()

        async def attempt() -> BrokerOrderId:
            # Again after the rate-limit wait: a queued order must not go out past a close.
            await self._ensure_open(order)
            return await self._post_order(path, body, order, started, what="submit")

        order_id = await self._resilience.call("submit", attempt)
        self._attribute(order, order_id)
        return order_id

    async def submit_limit(self, order: LimitOrder) -> BrokerOrderId:
        """See :meth:`arbtui.brokers.base.Broker.submit_limit` and the module docstring (sessions)."""
        if not order.quantity.is_whole:
            raise self._refused(order, "schwab trades whole shares only")
        if not on_tick(order.limit_price):
            raise self._refused(
                order, f"limit price {order.limit_price} is off the tick ($0.01 at ≥ $1, $0.0001 below)"
            )
        known = self._by_execution.get(order.client_order_id)
        if known is not None:
            return known
        await self._sessions.ensure(self.calendar, order, self.kind)
        # No client order id at Schwab: an open order just like this one (sent before a crash, its
        # answer lost) is ours — never place a second.
        window_start = self._clock.now() - _OPEN_ORDER_WINDOW
        open_ones = [r for r in await self._candidates(order, window_start) if not r.state.is_terminal]
        if len(open_ones) == 1:
            self._attribute(order, open_ones[0].order_id)
            return open_ones[0].order_id
        if len(open_ones) > 1:
            raise AmbiguousSubmission(
                f"{len(open_ones)} open schwab orders match this limit order: not sending another",
                candidates=tuple(r.order_id for r in open_ones),
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        path = f"/trader/v1/accounts/{await self._hash()}/orders"
        body = parsing.limit_order_body(order)
        started = self._clock.now()

        async def attempt() -> BrokerOrderId:
            await self._sessions.ensure(self.calendar, order, self.kind)
            try:
                return await self._post_order(path, body, order, started, what="submit limit")
            except OrderRejected as exc:
                raise OrderRejected(
                    f"schwab refused the {order.session.label} limit order (session {body['session']},"
                    f" price {body['price']}): {exc.message}",
                    broker=self.kind,
                    symbol=order.symbol,
                    execution_id=order.execution_id,
                    status_code=exc.status_code,
                ) from exc

        order_id = await self._resilience.call("submit limit", attempt)
        self._attribute(order, order_id)
        return order_id

    async def find_limit_order(self, order: LimitOrder, *, since: datetime) -> OrderReport | None:
        """The order this process attributed to ``order.client_order_id``; else, among the orders entered
        since ``since`` (widened by the clock skew) with the same symbol, side, quantity and limit price:
        the one still open, else the one filled; ``None`` when nothing matches.

        Schwab cannot tell two attempts of one execution apart when they share a price, so a match
        that is only closed without a fill (cancelled, expired, rejected) — which may be this attempt
        or the earlier one it replaced — is :class:`AmbiguousSubmission`, as are several open or several
        filled ones: the operator decides, nothing is resent. Pass as ``since`` the time this attempt's
        placement was recorded (after the previous attempt's cancel was confirmed).
        """
        known = self._by_execution.get(order.client_order_id)
        if known is not None:
            return await self.order_status(known)
        candidates = await self._candidates(order, since)
        if not candidates:
            return None
        live = [c for c in candidates if not c.state.is_terminal]
        filled = [c for c in candidates if c.state is OrderState.FILLED]
        chosen = live or filled
        if len(chosen) != 1:
            reason = "only closed, unfilled orders match" if not chosen else f"{len(chosen)} orders match"
            raise AmbiguousSubmission(
                f"schwab limit order lookup: {reason} (no client order id to tell attempts apart)",
                candidates=tuple(c.order_id for c in (chosen or candidates)),
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        self._attribute(order, chosen[0].order_id)
        return chosen[0]

    async def cancel(self, order_id: BrokerOrderId) -> None:
        """``DELETE …/orders/{orderId}``. A refusal of an order that is already terminal (filled,
        cancelled, expired) is no error; of a live one it is :class:`OrderRejected`."""
        path = f"/trader/v1/accounts/{await self._hash()}/orders/{order_id}"
        try:
            await self._resilience.call("cancel", lambda: self._send("DELETE", path, what="cancel"))
        except OrderNotFound:
            raise
        except OrderRejected:
            report = await self.order_status(order_id)
            if report.state.is_terminal:
                return
            raise

    async def order_status(self, order_id: BrokerOrderId) -> OrderReport:
        path = f"/trader/v1/accounts/{await self._hash()}/orders/{order_id}"
        raw = await self._get_json(path, "order status")
        return parsing.parse_order(raw)

    async def find_order(self, order: MarketOrder, *, since: datetime) -> OrderReport | None:
        known = self._by_execution.get(order.execution_id)
        if known is not None:
            return await self.order_status(known)
        candidates = await self._candidates(order, since)
        if not candidates:
            return None
        if len(candidates) > 1:
            raise AmbiguousSubmission(
                f"{len(candidates)} schwab orders match this execution",
                candidates=tuple(c.order_id for c in candidates),
                broker=self.kind,
                symbol=order.symbol,
                execution_id=order.execution_id,
            )
        self._attribute(order, candidates[0].order_id)
        return candidates[0]

    async def clock(self) -> MarketClock:
        """From the market-hours route the calendar reads (``/marketdata/v1/markets?markets=equity&date=``),
        one date at a time from today until the next regular session."""
        now = self._clock.now()
        today = now.astimezone(NEW_YORK).date()
        market = MarketClock(as_of=now, is_open=False, next_open=None, next_close=None)
        for offset in range(_LOOKAHEAD_DAYS + 1):
            day = await self._market_day(today + timedelta(days=offset))
            if day is None or now >= day.close:
                continue
            if day.open <= now:
                market = MarketClock(as_of=now, is_open=True, next_open=None, next_close=day.close)
            else:
                market = MarketClock(as_of=now, is_open=False, next_open=day.open, next_close=day.close)
            break
        self._market.remember(market)
        return market

    async def calendar(self, start: date, end: date) -> TradingCalendar:
        """One ``GET /marketdata/v1/markets?markets=equity&date=…`` per date (Schwab answers one date at a
        time, from today to a year ahead: the calendar starts no earlier than today). No overnight."""
        today = self._clock.now().astimezone(NEW_YORK).date()
        first = max(start, today)
        days = []
        when = first
        while when <= end:
            day = await self._market_day(when)
            if day is not None:
                days.append(day)
            when += timedelta(days=1)
        return TradingCalendar(first, max(first, end), tuple(days), overnight=False)

    async def positions(self) -> tuple[BrokerPosition, ...]:
        raw = await self._get_json(
            f"/trader/v1/accounts/{await self._hash()}", "positions", params={"fields": "positions"}
        )
        return parsing.parse_positions(raw)

    async def balances(self) -> AccountBalances:
        raw = await self._get_json(f"/trader/v1/accounts/{await self._hash()}", "balances")
        return parsing.parse_balances(raw)

    async def credentials_expire_at(self) -> datetime | None:
        """See :meth:`arbtui.brokers.base.Broker.credentials_expire_at`."""
        return await self.tokens.refresh_expires_at()

    async def aclose(self) -> None:
        await self._http.aclose()

    # -- internals -----------------------------------------------------------------------------
    async def _market_day(self, day: date) -> TradingDay | None:
        raw = await self._get_json(
            "/marketdata/v1/markets", "market hours", params={"markets": "equity", "date": day.isoformat()}
        )
        return parsing.parse_market_hours(raw, day)

    def _refused(self, order: LimitOrder, message: str) -> OrderRefused:
        return OrderRefused(message, broker=self.kind, symbol=order.symbol, execution_id=order.execution_id)

    def _attribute(self, order: MarketOrder | LimitOrder, order_id: BrokerOrderId) -> None:
        key = order.client_order_id if isinstance(order, LimitOrder) else order.execution_id
        self._by_execution[key] = order_id
        self._claimed.add(order_id)

    async def _post_order(
        self, path: str, body: dict[str, Any], order: MarketOrder | LimitOrder, started: datetime, *, what: str
    ) -> BrokerOrderId:
        """POST one order and read its id from the ``Location`` header. Not sent (the connection never
        opened) propagates for the retry; any other outage, or a 201 without a usable Location, is
        ambiguous: reconcile against the orders entered since ``started`` instead of resending."""
        try:
            response = await self._send("POST", path, what=what, json=body, order=order)
        except _NotSent:
            raise
        except BrokerUnavailable as exc:
            return await self._reconcile(order, started, reason=str(exc))
        order_id = parsing.order_id_from_location(response.headers.get("Location"))
        if order_id is None:
            return await self._reconcile(order, started, reason="201 without a usable Location header")
        return order_id

    async def _reconcile(self, order: MarketOrder | LimitOrder, started: datetime, *, reason: str) -> BrokerOrderId:
        """After an ambiguous submit: exactly one unclaimed matching order is ours; else ask the operator."""
        candidates: list[OrderReport] = []
        for attempt in range(2):
            candidates = await self._candidates(order, started)
            if candidates:
                break
            if attempt == 0:
                await self._clock.sleep(self._config.retry.base_delay)
        if len(candidates) == 1:
            return candidates[0].order_id
        raise AmbiguousSubmission(
            f"schwab submit outcome unknown ({reason}); {len(candidates)} matching orders: not resending",
            candidates=tuple(c.order_id for c in candidates),
            broker=self.kind,
            symbol=order.symbol,
            execution_id=order.execution_id,
        )

    async def _candidates(self, order: MarketOrder | LimitOrder, since: datetime) -> list[OrderReport]:
        skew = timedelta(seconds=self._config.reconcile_skew_seconds)
        params = {
            "fromEnteredTime": parsing.format_time(since - skew),
            "toEnteredTime": parsing.format_time(self._clock.now() + skew),
        }
        raw = await self._get_json(f"/trader/v1/accounts/{await self._hash()}/orders", "list orders", params=params)
        if not isinstance(raw, list):
            return []
        reports = [parsing.parse_order(row) for row in raw if parsing.matches(row, order)]
        return [r for r in reports if r.order_id not in self._claimed]

    async def _ensure_open(self, order: MarketOrder) -> None:
        await self._market.ensure_open(self.clock, order, self.kind)

    async def _hash(self) -> str:
        if self._account_hash is None:
            raw = await self._get_json("/trader/v1/accounts/accountNumbers", "account numbers")
            self._account_hash = parsing.parse_account_hash(raw, self._config.account_number)
        return self._account_hash

    async def _get_json(self, path: str, what: str, *, params: dict[str, str] | None = None) -> Any:
        async def once() -> Any:
            response = await self._send("GET", path, what=what, params=params)
            return parsing.loads(response.content)

        return await self._resilience.call(what, once)

    async def _send(
        self,
        method: str,
        path: str,
        *,
        what: str,
        params: dict[str, str] | None = None,
        json: Any = None,
        order: MarketOrder | LimitOrder | None = None,
    ) -> httpx.Response:
        """One request (plus one retry after a 401 with a refreshed token), errors typed."""
        context: dict[str, Any] = {"broker": self.kind}
        if order is not None:
            context.update(symbol=order.symbol, execution_id=order.execution_id)
        bearer = await self.tokens.bearer()
        response = await self._exchange(method, path, bearer, what, context, params=params, json=json)
        if response.status_code == 401:
            bearer = await self.tokens.after_unauthorized(bearer)
            response = await self._exchange(method, path, bearer, what, context, params=params, json=json)
        status = response.status_code
        if status < 300:
            return response
        message = f"schwab {what}: HTTP {status}: {response.text[:200]}"
        context["status_code"] = status
        error: BrokerError
        if status == 429:
            retry = parse_retry_after(response.headers.get("Retry-After"), self._clock.now())
            error = RateLimited(message, retry_after=retry, **context)
        elif status >= 500 or status == 408:
            error = BrokerUnavailable(message, **context)
        elif status == 401:
            error = AuthExpired(message, **context)
        elif status == 404:
            error = OrderNotFound(message, **context)
        else:
            error = OrderRejected(message, **context)
        raise error

    async def _exchange(
        self,
        method: str,
        path: str,
        bearer: str,
        what: str,
        context: dict[str, Any],
        **kwargs: Any,
    ) -> httpx.Response:
        started = time.monotonic()
        request: Callable[[], Awaitable[httpx.Response]] = lambda: self._http.request(  # noqa: E731
            method, path, headers={"Authorization": f"Bearer {bearer}"}, withhold_token=True, **kwargs
        )
        try:
            response = await asyncio.wait_for(request(), timeout=self._config.retry.request_timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            log_exchange("schwab", method, path, None, time.monotonic() - started, error=type(exc).__name__)
            raise _NotSent(f"schwab {what}: {type(exc).__name__}", **context) from exc
        except (httpx.TransportError, TimeoutError) as exc:
            log_exchange("schwab", method, path, None, time.monotonic() - started, error=type(exc).__name__)
            raise BrokerUnavailable(f"schwab {what}: {type(exc).__name__}", **context) from exc
        log_exchange("schwab", method, str(response.request.url), response.status_code, time.monotonic() - started)
        return response
