"""A local Alpaca Trading API v2 that the real ``alpaca-py`` client runs against unmodified.

Routes: ``POST/GET /v2/orders``, ``GET /v2/orders/{id}``, ``GET /v2/orders:by_client_order_id``,
``GET /v2/clock``, ``GET /v2/calendar`` (from :attr:`LocalServer.calendar`), ``GET /v2/positions``,
``GET /v2/account``. Auth headers are checked; a duplicate
``client_order_id`` gets 422 like the real API; money and quantity fields are strings in responses
(alpaca-py requires that). Faults: see :class:`arbtui.demo.local_server.Faults` plus :meth:`reject_next`,
:meth:`partial_fill_next`, ``market_open`` and :meth:`OrderBook.force` for any status.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import date, timedelta
from datetime import time as wall_time
from decimal import Decimal, InvalidOperation
from typing import Any

from aiohttp import web

from arbtui.demo.local_server import LocalServer, OrderBook, SimOrder, dec, iso, now_utc
from arbtui.domain.sessions import NEW_YORK

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
}


def _error(status: int, code: int, message: str) -> web.Response:
    return web.json_response({"code": code, "message": message}, status=status)


class AlpacaServer(LocalServer):
    def __init__(self, *, api_key: str = "test-key", api_secret: str = "test-secret") -> None:
        super().__init__()
        self.api_key = api_key
        self.api_secret = api_secret
        self.book = OrderBook()
        self.submit_requests = 0
        """POST /v2/orders that reached the handler (including refused ones)."""
        self.last_submit_body: dict[str, Any] | None = None
        self._sync_reject: tuple[int, str] | None = None
        self._always_reject: tuple[int, str] | None = None
        self.cash = Decimal("100000")
        self.holdings: dict[str, Decimal] = {}
        """Shares per symbol held before any order here (the account's opening positions); orders filled
        here add to them."""
        r = self.app.router
        r.add_post("/v2/orders", self._submit, name="submit_order")
        r.add_get("/v2/orders", self._list, name="list_orders")
        r.add_get("/v2/orders:by_client_order_id", self._by_client_id, name="order_by_client_id")
        r.add_get("/v2/orders/{order_id}", self._get, name="get_order")
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
            qty = None if body.get("qty") is None else Decimal(str(body["qty"]))
            notional = None if body.get("notional") is None else Decimal(str(body["notional"]))
        except InvalidOperation:
            return _error(422, 40010001, "invalid qty or notional")
        if body.get("type") != "market" or body.get("time_in_force") != "day":
            return _error(422, 40010001, "only market day orders are simulated")
        if body.get("side") not in ("buy", "sell") or not body.get("symbol"):
            return _error(422, 40010001, "invalid side or symbol")
        if (qty is None) == (notional is None) or (qty is not None and qty <= 0):
            return _error(422, 40010001, "qty or notional is required")
        symbol = str(body["symbol"])
        price = self.book.price_of(symbol)
        fractional = qty is not None and qty != qty.to_integral_value()
        if (notional is not None and notional < 1) or (fractional and qty is not None and qty * price < 1):
            return _error(403, 40310000, "cost basis must be >= 1")
        client_id = str(body.get("client_order_id") or uuid.uuid4())
        if any(o.client_order_id == client_id for o in self.book.orders.values()):
            return _error(422, 40010001, "client_order_id must be unique")
        if self._sync_reject is not None or self._always_reject is not None:
            (status, message), self._sync_reject = self._sync_reject or self._always_reject, None  # type: ignore[misc]
            return _error(status, 40310000, message)
        order = self.book.add(
            SimOrder(
                order_id=str(uuid.uuid4()),
                symbol=symbol,
                side=str(body["side"]),
                quantity=qty,
                notional=notional,
                price=price,
                client_order_id=client_id,
                created_at=now_utc(),
                created_mono=time.monotonic(),
            ),
            client_id,
        )
        return web.json_response(self._order_json(order, fresh=True))

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        order = self.book.orders.get(request.match_info["order_id"])
        if order is None:
            return _error(404, 40410000, "order not found")
        return web.json_response(self._order_json(order))

    async def _by_client_id(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        wanted = request.query.get("client_order_id")
        for order in self.book.orders.values():
            if order.client_order_id == wanted:
                return web.json_response(self._order_json(order))
        return _error(404, 40410000, "order not found")

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        return web.json_response([self._order_json(o) for o in self.book.orders.values()])

    async def _clock(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        now = now_utc()
        if self.market_open:
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
        today = now_utc().astimezone(NEW_YORK).date()
        try:
            start = date.fromisoformat(request.query.get("start", today.isoformat())[:10])
            end = date.fromisoformat(request.query.get("end", today.isoformat())[:10])
        except ValueError:
            return _error(400, 40010001, "invalid start or end")
        # Settlement is the next trading day (T+1): look a week past the end for it.
        calendar = self.calendar.between(start, end + timedelta(days=7), pre_open=wall_time(4, 0), overnight=True)
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

    async def _positions(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        net: dict[str, Decimal] = dict(self.holdings)
        for order in self.book.orders.values():
            signed = self.book.filled(order) * (1 if order.side == "buy" else -1)
            net[order.symbol] = net.get(order.symbol, Decimal(0)) + signed
        rows = []
        for symbol, qty in sorted(net.items()):
            if qty == 0:
                continue
            price = self.book.price_of(symbol)
            rows.append(
                {
                    "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, symbol)),
                    "symbol": symbol,
                    "exchange": "NASDAQ",
                    "asset_class": "us_equity",
                    "avg_entry_price": dec(price),
                    "qty": dec(qty),
                    "side": "long" if qty > 0 else "short",
                    "market_value": dec(qty * price),
                    "cost_basis": dec(qty * price),
                }
            )
        return web.json_response(rows)

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return _error(401, 40110000, "request is not authorized")
        return web.json_response(
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, self.api_key)),
                "account_number": "PA0000TEST",
                "status": "ACTIVE",
                "currency": "USD",
                "cash": dec(self.cash),
                "buying_power": dec(self.cash * 2),
                "equity": dec(self.cash),
                "trading_blocked": False,
            }
        )

    # -- rendering -----------------------------------------------------------------------------
    def _order_json(self, order: SimOrder, *, fresh: bool = False) -> dict[str, Any]:
        status = order.forced_status or ("new" if fresh else _PHASE_STATUS[self.book.phase(order)])
        filled = Decimal(0) if fresh else self.book.filled(order)
        now = now_utc()
        return {
            "id": order.order_id,
            "client_order_id": order.client_order_id,
            "created_at": iso(order.created_at),
            "updated_at": iso(now),
            "submitted_at": iso(order.created_at),
            "filled_at": iso(now) if status == "filled" else None,
            "failed_at": iso(now) if status == "rejected" else None,
            "canceled_at": iso(now) if status == "canceled" else None,
            "asset_id": str(uuid.uuid5(uuid.NAMESPACE_DNS, order.symbol)),
            "symbol": order.symbol,
            "asset_class": "us_equity",
            "notional": None if order.notional is None else dec(order.notional),
            "qty": None if order.quantity is None else dec(order.quantity),
            "filled_qty": dec(filled),
            "filled_avg_price": dec(order.price) if filled > 0 else None,
            "order_class": "simple",
            "order_type": "market",
            "type": "market",
            "side": order.side,
            "time_in_force": "day",
            "status": status,
            "extended_hours": False,
        }
