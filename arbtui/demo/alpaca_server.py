"""A local Alpaca Trading API v2 that the real ``alpaca-py`` client runs against unmodified, held to
Alpaca's published OpenAPI document by ``tests/integration/brokers/test_alpaca_openapi.py``.

Routes: ``POST/GET /v2/orders``, ``GET/DELETE /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``,
``GET /v2/clock``, ``GET /v2/calendar`` (from :attr:`LocalServer.calendar`), ``GET /v2/positions``,
``GET /v2/account``. Auth headers are checked; money and quantity fields are strings in responses
(alpaca-py requires that); errors are ``{"code", "message"}`` like the real API.

**The session rules** (the session trading now: see :mod:`arbtui.demo.local_server` for the clock, the
calendar and the ``market_open`` override), each refusal a 422 with code 42210000 — so a wrong order
fails the test:

- REGULAR: market (``day``) and limit (``day``/``gtc``) orders, ``extended_hours`` allowed on limit ones;
- PRE / POST / OVERNIGHT: limit orders with ``extended_hours=true`` and ``time_in_force`` ``day`` (or
  ``gtc``) only — the published rule ("if true, order will be eligible for execution in the pre-market,
  after-hours, and overnight sessions; only works with type limit and time_in_force day or gtc");
- CLOSED: nothing. (The real API *queues* a plain day order sent while the market is shut; this
  stand-in refuses it so that a hedge sent at the wrong time is a failing test, not a silent queue.)
- ``extended_hours=true`` on a market order, or with another time in force: refused.
- Limit prices on the tick — 2 decimals at ≥ $1, 4 below — else "sub-penny increment" (42210000).
- Fractional: ``qty`` up to 9 decimals; notional orders are market ``day`` only; under $1 of value: 403.
- A duplicate ``client_order_id``: 422 (40010001).

Limit orders rest until the market price crosses them (:meth:`LocalServer.set_price`); a day order
expires at the end of its trading day — the after-hours end when ``extended_hours`` (overnight orders
belong to the next trading day), the regular close otherwise. ``DELETE /v2/orders/{id}`` answers 204
and cancels a resting order (keeping what filled); 422 when the order is no longer cancelable (filled,
cancelled, expired, or a market order), 404 when unknown.

**Recording.** :attr:`AlpacaServer.exchanges` receives every request and the answer it got
(:class:`Exchange`: method, path, query, headers, body, status, response headers and body) when
:attr:`AlpacaServer.record` is true — the OpenAPI contract test validates each of them.

Faults: see :class:`arbtui.demo.local_server.Faults` plus :meth:`reject_next`,
:meth:`partial_fill_next`, ``market_open`` and :meth:`OrderBook.force` for any status.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from arbtui.demo.local_server import Handler, LocalServer, OrderBook, SimOrder, dec, iso
from arbtui.domain.sessions import NEW_YORK, MarketSession

ALPACA_STATUSES = (
    "new",
    "partially_filled",
    "filled",
    "done_for_day",
    "canceled",
    "expired",
    "replaced",
    "pending_cancel",
    "pending_replace",
    "pending_review",
    "accepted",
    "pending_new",
    "accepted_for_bidding",
    "stopped",
    "rejected",
    "suspended",
    "calculated",
    "held",
)
_PHASE_STATUS = {
    "new": "new",
    "accepted": "accepted",
    "filled": "filled",
    "partial": "partially_filled",
    "rejected": "rejected",
    "canceled": "canceled",
    "expired": "expired",
}
UNPROCESSABLE = 42210000
"""Alpaca's error code for an order it will not take as sent (sub-penny price, wrong session, …)."""
SHARE_QUANTUM = Decimal("0.000000001")


@dataclass(frozen=True, slots=True)
class Exchange:
    """One request the server answered, as it went over the wire (for the OpenAPI contract test)."""

    method: str
    path: str
    query: str
    request_headers: dict[str, str]
    request_body: bytes
    status: int
    response_headers: dict[str, str]
    response_body: bytes


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


class _Refused(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.response = _error(status, code, message)


def _decimal(body: dict[str, Any], name: str) -> Decimal | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise _Refused(422, 40010001, f"invalid {name}") from None
    if not result.is_finite():
        raise _Refused(422, 40010001, f"invalid {name}")
    return result


def on_alpaca_tick(price: Decimal) -> bool:
    """2 decimals at ≥ $1, 4 below (Alpaca's sub-penny rule)."""
    tick = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    return price > 0 and price == price.quantize(tick)


class AlpacaServer(LocalServer):
    PRE_OPEN = LocalServer.PRE_OPEN
    OVERNIGHT = True

    def __init__(self, *, api_key: str = "test-key", api_secret: str = "test-secret") -> None:
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.book = OrderBook()
        self.submit_requests = 0
        """POST /v2/orders that reached the handler (including refused ones)."""
        self.last_submit_body: dict[str, Any] | None = None
        self.cancel_requests = 0
        """DELETE /v2/orders/{id} that reached the handler."""
        self.record = False
        """Keep every request and answer in :attr:`exchanges` (the OpenAPI contract test turns it on)."""
        self.exchanges: list[Exchange] = []
        self._sync_reject: tuple[int, str] | None = None
        self._always_reject: tuple[int, str] | None = None
        self.cash = Decimal("100000")
        self.app.middlewares.insert(0, self._recorder)
        r = self.app.router
        r.add_post("/v2/orders", self._submit, name="submit_order")
        r.add_get("/v2/orders", self._list, name="list_orders")
        r.add_get("/v2/orders:by_client_order_id", self._by_client_id, name="order_by_client_id")
        r.add_get("/v2/orders/{order_id}", self._get, name="get_order")
        r.add_delete("/v2/orders/{order_id}", self._cancel, name="cancel_order")
        r.add_get("/v2/clock", self._clock, name="clock")
        r.add_get("/v2/calendar", self._calendar, name="calendar")
        r.add_get("/v2/positions", self._positions, name="positions")
        r.add_get("/v2/account", self._account, name="account")

    # -- fault helpers -------------------------------------------------------------------------
    def reject_next(self, *, status: int = 403, message: str = "insufficient buying power") -> None:
        """The next submit is refused synchronously with ``status`` (nothing created)."""
        self._sync_reject = (status, message)

    def reject_all(self, *, status: int = 403, message: str = "insufficient buying power") -> None:
        """Every submit is refused synchronously until :meth:`accept_again`."""
        self._always_reject = (status, message)

    def accept_again(self) -> None:
        self._always_reject = None

    def reject_next_async(self) -> None:
        """The next submit is accepted, then reported ``rejected``."""
        self.book.next_reject = True

    def partial_fill_next(self, ratio: Decimal) -> None:
        """The next order fills only ``ratio`` of its quantity (whole shares) and stays partially filled."""
        self.book.next_partial = ratio

    def submissions_for(self, client_order_id: str) -> int:
        return self.book.submissions[client_order_id]

    # -- recording -----------------------------------------------------------------------------
    @web.middleware
    async def _recorder(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        if not self.record:
            return await handler(request)
        body = await request.read()
        response = await handler(request)
        payload = response.body if isinstance(response, web.Response) else None
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.path,
                query=request.query_string,
                request_headers=dict(request.headers),
                request_body=body,
                status=response.status,
                response_headers=dict(response.headers),
                response_body=payload if isinstance(payload, bytes) else b"",
            )
        )
        return response

    # -- handlers ------------------------------------------------------------------------------
    def _authorised(self, request: web.Request) -> bool:
        return (
            request.headers.get("APCA-API-KEY-ID") == self.api_key
            and request.headers.get("APCA-API-SECRET-KEY") == self.api_secret
        )

    async def _submit(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        self.submit_requests += 1
        body = json.loads(await request.text(), parse_float=Decimal)
        self.last_submit_body = body
        try:
            return self._place(body)
        except _Refused as refused:
            return refused.response

    def _place(self, body: dict[str, Any]) -> web.Response:
        qty, notional, limit = _decimal(body, "qty"), _decimal(body, "notional"), _decimal(body, "limit_price")
        kind, tif, extended = body.get("type"), body.get("time_in_force"), body.get("extended_hours", False)
        if body.get("side") not in ("buy", "sell") or not body.get("symbol"):
            raise _Refused(422, 40010001, "invalid side or symbol")
        if (
            (qty is None) == (notional is None)
            or (qty is not None and qty <= 0)
            or (notional is not None and notional <= 0)
        ):
            raise _Refused(422, 40010001, "qty or notional is required")
        if not isinstance(extended, bool):
            raise _Refused(422, 40010001, "extended_hours must be a boolean")
        self._check_order_type(kind, tif, extended, limit, notional)
        self._check_session(kind, extended)
        symbol = str(body["symbol"])
        price = self.book.price_of(symbol)
        if qty is not None and qty != qty.quantize(SHARE_QUANTUM):
            raise _Refused(422, 40010001, "qty must have at most 9 decimal places")
        fractional = qty is not None and qty != qty.to_integral_value()
        if (notional is not None and notional < 1) or (fractional and qty is not None and qty * (limit or price) < 1):
            raise _Refused(403, 40310000, "cost basis must be >= 1")
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if any(o.client_order_id == client_id for o in self.book.orders.values()):
            raise _Refused(422, 40010001, "client_order_id must be unique")
        if self._sync_reject is not None or self._always_reject is not None:
            (status, message), self._sync_reject = self._sync_reject or self._always_reject, None  # type: ignore[misc]
            raise _Refused(status, 40310000, message)
        now = self.clock()
        order = SimOrder(
            order_id=str(uuid.uuid4()),
            symbol=symbol,
            side=str(body["side"]),
            quantity=qty,
            notional=notional,
            price=limit if limit is not None else price,
            client_order_id=client_id,
            created_at=now,
            created_mono=time.monotonic(),
            limit_price=limit,
            session=("extended" if extended else "regular") if limit is not None else None,
            expires_at=self._expiry(extended) if limit is not None else None,
        )
        self.book.add(order, client_id)
        if order.is_limit:
            self.match()
        return web.json_response(self._order_json(order, fresh=not order.is_limit))

    def _check_order_type(
        self, kind: object, tif: object, extended: bool, limit: Decimal | None, notional: Decimal | None
    ) -> None:
        if kind not in ("market", "limit"):
            raise _Refused(422, 40010001, "only market and limit orders are simulated")
        if kind == "market" and tif != "day":
            raise _Refused(422, 40010001, "only day market orders are simulated")
        if kind == "limit" and tif not in ("day", "gtc"):
            raise _Refused(422, 40010001, "only day and gtc limit orders are simulated")
        if extended and (kind != "limit" or tif not in ("day", "gtc")):
            raise _Refused(422, UNPROCESSABLE, "extended hours order must be DAY or GTC limit orders")
        if kind == "limit":
            if limit is None:
                raise _Refused(422, 40010001, "limit_price is required for limit orders")
            if not on_alpaca_tick(limit):
                raise _Refused(
                    422,
                    UNPROCESSABLE,
                    f"invalid limit_price {limit}. sub-penny increment does not fulfill minimum pricing criteria",
                )
            if notional is not None:
                raise _Refused(422, UNPROCESSABLE, "notional orders are only supported for market orders")
        elif limit is not None:
            raise _Refused(422, 40010001, "limit_price is only for limit orders")

    def _check_session(self, kind: object, extended: bool) -> None:
        session = self.session()
        if session is MarketSession.REGULAR:
            return
        if session is MarketSession.CLOSED:
            raise _Refused(422, UNPROCESSABLE, "market is closed: no session is trading (order not queued)")
        if kind != "limit":
            raise _Refused(
                422, UNPROCESSABLE, f"market orders are not accepted in the {session.value} session: use a limit order"
            )
        if not extended:
            raise _Refused(
                422,
                UNPROCESSABLE,
                f"orders in the {session.value} session must be limit orders with extended_hours=true",
            )

    def _expiry(self, extended: bool) -> datetime | None:
        day = self.trading_day_now()
        if day is None:
            return None
        return day.post_close if extended else day.close

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        self.match()
        order = self.book.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(self._order_json(order))

    async def _cancel(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        self.cancel_requests += 1
        self.match()  # a fill that crossed before the cancel arrived stands
        order = self.book.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        if not self.book.cancel(order):
            status = _PHASE_STATUS[self.book.phase(order)]
            return _error(422, UNPROCESSABLE, f'order is already in "{status}" state')
        return web.Response(status=204)

    async def _by_client_id(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        self.match()
        wanted = request.query.get("client_order_id")
        for order in self.book.orders.values():
            if order.client_order_id == wanted:
                return web.json_response(self._order_json(order))
        return _error(404, 40410000, "order not found")

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        self.match()
        return web.json_response([self._order_json(o) for o in self.book.orders.values()])

    async def _clock(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        now = self.clock()
        if self.session_override is None:
            days = self.window().days
            next_open = next((d.open for d in days if d.open > now), now + timedelta(days=10))
            next_close = next((d.close for d in days if d.close > now), next_open + timedelta(hours=6, minutes=30))
        elif self.market_open:
            next_close, next_open = now + timedelta(hours=2), now + timedelta(hours=20)
        else:
            next_open = self.next_open or now + timedelta(hours=1)
            next_close = next_open + timedelta(hours=6, minutes=30)
        return web.json_response(
            {
                "timestamp": iso(now),
                "is_open": self.market_open,
                "next_open": iso(next_open),
                "next_close": iso(next_close),
            }
        )

    async def _calendar(self, request: web.Request) -> web.Response:
        """``[{date, open: "09:30", close: "16:00", session_open: "0400", session_close: "2000",
        settlement_date}]`` for ``start``..``end`` (inclusive; each defaults to today)."""
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        today = self.clock().astimezone(NEW_YORK).date()
        try:
            start = date.fromisoformat(request.query.get("start", today.isoformat())[:10])
            end = date.fromisoformat(request.query.get("end", today.isoformat())[:10])
        except ValueError:
            return _error(400, 40010001, "invalid start or end")
        # Settlement is the next trading day (T+1): look a week past the end for it.
        calendar = self.calendar.between(start, end + timedelta(days=7), pre_open=self.PRE_OPEN, overnight=True)
        days = calendar.days
        rows = []
        for index, day in enumerate(days):
            if day.day > end:
                break
            settles = days[index + 1].day if index + 1 < len(days) else day.day + timedelta(days=1)
            rows.append(
                {
                    "date": day.day.isoformat(),
                    "open": f"{day.open.astimezone(NEW_YORK):%H:%M}",
                    "close": f"{day.close.astimezone(NEW_YORK):%H:%M}",
                    "session_open": f"{day.pre_open.astimezone(NEW_YORK):%H%M}",
                    "session_close": f"{day.post_close.astimezone(NEW_YORK):%H%M}",
                    "settlement_date": settles.isoformat(),
                }
            )
        return web.json_response(rows)

    def net_positions(self) -> dict[str, Decimal]:
        """Net filled shares per symbol (buy +, sell −), as of now."""
        self.match()
        net: dict[str, Decimal] = {}
        for order in self.book.orders.values():
            signed = self.book.filled(order) * (1 if order.side == "buy" else -1)
            net[order.symbol] = net.get(order.symbol, Decimal(0)) + signed
        return net

    def cash_now(self) -> Decimal:
        """Starting cash minus what fills bought plus what they sold."""
        self.match()
        spent = Decimal(0)
        for order in self.book.orders.values():
            value = self.book.filled(order) * order.price
            spent += value if order.side == "buy" else -value
        return self.cash - spent

    async def _positions(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        rows = []
        for symbol, qty in sorted(self.net_positions().items()):
            if qty == 0:
                continue
            price = self.book.price_of(symbol)
            rows.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
                    "symbol": symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "asset_marginable": True,
                    "avg_entry_price": dec(price),
                    "qty": dec(qty),
                    "qty_available": dec(qty),
                    "side": "long" if qty > 0 else "short",
                    "market_value": dec(qty * price),
                    "cost_basis": dec(qty * price),
                    "unrealized_pl": "0",
                    "unrealized_plpc": "0",
                    "unrealized_intraday_pl": "0",
                    "unrealized_intraday_plpc": "0",
                    "current_price": dec(price),
                    "lastday_price": dec(price),
                    "change_today": "0",
                }
            )
        return web.json_response(rows)

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        cash = self.cash_now()
        return web.json_response(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.api_key)),
                "account_number": "PA0000TEST",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": dec(cash),
                "buying_power": dec(cash * 2),
                "regt_buying_power": dec(cash * 2),
                "non_marginable_buying_power": dec(cash),
                "equity": dec(cash),
                "multiplier": "2",
                "trading_blocked": False,
                "account_blocked": False,
                "shorting_enabled": True,
            }
        )

    # -- rendering -----------------------------------------------------------------------------
    def _order_json(self, order: SimOrder, *, fresh: bool = False) -> dict[str, Any]:
        status = order.forced_status or ("new" if fresh else _PHASE_STATUS[self.book.phase(order)])
        filled = Decimal(0) if fresh else self.book.filled(order)
        now = self.clock()
        kind = "limit" if order.is_limit else "market"
        return {
            "id": order.order_id,
            "client_order_id": order.client_order_id,
            "created_at": iso(order.created_at),
            "updated_at": iso(now),
            "submitted_at": iso(order.created_at),
            "filled_at": iso(now) if status == "filled" else None,
            "failed_at": iso(now) if status == "rejected" else None,
            "canceled_at": iso(now) if status == "canceled" else None,
            "expired_at": iso(now) if status == "expired" else None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, order.symbol)),
            "symbol": order.symbol,
            "asset_class": "us_equity",
            "notional": None if order.notional is None else dec(order.notional),
            "qty": None if order.quantity is None else dec(order.quantity),
            "filled_qty": dec(filled),
            "filled_avg_price": dec(order.price) if filled > 0 else None,
            "order_class": "simple",
            "order_type": kind,
            "type": kind,
            "side": order.side,
            "time_in_force": "day",
            "limit_price": None if order.limit_price is None else dec(order.limit_price),
            "stop_price": None,
            "status": status,
            "extended_hours": order.session == "extended",
            "legs": None,
        }
