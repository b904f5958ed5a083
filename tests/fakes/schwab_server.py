"""A local Charles Schwab Trader API + OAuth server that the real adapter (authlib + httpx) runs against.

**Session rules** (the session trading now: :mod:`arbtui.demo.local_server` — injectable clock,
calendar, ``market_open`` override; Schwab's pre-market starts 07:00 and it has no overnight session),
each refusal a 400 ``{"message"}`` so a wrong order fails the test: ``MARKET`` only with ``session:
NORMAL`` during REGULAR; ``LIMIT`` (with ``price`` on the tick: $0.01 at ≥ $1, $0.0001 below) with
``NORMAL`` in REGULAR, ``AM`` in PRE, ``PM`` in POST, ``SEAMLESS`` in any of them; nothing while CLOSED;
whole shares only; ``duration`` ``DAY`` (``GOOD_TILL_CANCEL`` for limits). A resting limit order fills
at its price when :meth:`LocalServer.set_price` crosses it and expires at the end of its session
(``AM`` at the open, ``NORMAL`` at the close, ``PM``/``SEAMLESS`` at the after-hours end).
``DELETE /trader/v1/accounts/{hash}/orders/{orderId}`` cancels a resting order (200, empty body;
400 when it can no longer be cancelled; 404 when unknown).

OAuth: ``GET /v1/oauth/authorize`` (302 to the callback with ``code``, ``session``, ``state``) and
``POST /v1/oauth/token`` (HTTP Basic; ``authorization_code`` and ``refresh_token`` grants; codes live
30 s and work once; access tokens expire after :attr:`SchwabServer.access_ttl`). Trader API:
``accountNumbers``, place order (201 + ``Location``), get/list/cancel orders, account with positions,
and ``/marketdata/v1/markets?markets=equity&date=…`` (what the adapter's calendar and clock read; today
open all day / closed while ``market_open`` overrides the calendar) from the settable
:attr:`LocalServer.calendar` in the published shape
(``equity.EQ.sessionHours.preMarket/regularMarket/postMarket``, pre-market from 07:00,
dates from today to a year ahead, ``isOpen: false`` and no hours on a closed day). Numbers are JSON
numbers, as Schwab sends them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import time
from collections import Counter
from datetime import date, datetime, timedelta
from datetime import time as wall_time
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, quote, urlencode, urlsplit
from zoneinfo import ZoneInfo

import httpx
from aiohttp import web

from arbtui.demo.local_server import LocalServer, OrderBook, SimOrder
from arbtui.domain.sessions import MarketSession

NEW_YORK = ZoneInfo("America/New_York")
ACCOUNT_NUMBER = "12345678"
ACCOUNT_HASH = "E5B1C3F0A7D94C2B8E6F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C0D"
SCHWAB_STATUSES = (
    "AWAITING_PARENT_ORDER", "AWAITING_CONDITION", "AWAITING_STOP_CONDITION", "AWAITING_MANUAL_REVIEW",
    "ACCEPTED", "AWAITING_UR_OUT", "PENDING_ACTIVATION", "QUEUED", "WORKING", "NEW", "AWAITING_RELEASE_TIME",
    "PENDING_ACKNOWLEDGEMENT", "PENDING_RECALL", "FILLED", "REJECTED", "CANCELED", "EXPIRED", "REPLACED",
    "PENDING_CANCEL", "PENDING_REPLACE", "UNKNOWN",
)  # fmt: skip
_PHASE_STATUS = {
    "new": "PENDING_ACKNOWLEDGEMENT",
    "accepted": "WORKING",
    "filled": "FILLED",
    "partial": "WORKING",
    "canceled": "CANCELED",
    "expired": "EXPIRED",
}
SESSION_WORDS: dict[str, frozenset[MarketSession]] = {
    "NORMAL": frozenset({MarketSession.REGULAR}),
    "AM": frozenset({MarketSession.PRE}),
    "PM": frozenset({MarketSession.POST}),
    "SEAMLESS": frozenset({MarketSession.PRE, MarketSession.REGULAR, MarketSession.POST}),
}
"""Schwab's ``session`` word → the sessions in which an order with it is accepted."""
_DEC = re.compile(r'"@@dec@@(-?[0-9.]+)"')


def _dumps(payload: object) -> str:
    """JSON with Decimals written as exact JSON numbers (the stdlib would refuse or go through float)."""

    def default(value: object) -> str:
        if isinstance(value, Decimal):
            return f"@@dec@@{value}"
        raise TypeError(type(value).__name__)

    return _DEC.sub(r"\1", json.dumps(payload, default=default))


def _json(payload: object, status: int = 200) -> web.Response:
    return web.Response(text=_dumps(payload), status=status, content_type="application/json")


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S+0000")


class _Refused(Exception):
    pass


def _on_tick(price: Decimal) -> bool:
    tick = Decimal("0.01") if price >= 1 else Decimal("0.0001")
    return price > 0 and price == price.quantize(tick)


class SchwabServer(LocalServer):
    PRE_OPEN = wall_time(7, 0)
    OVERNIGHT = False

    def __init__(
        self,
        *,
        app_key: str = "test-app-key",
        app_secret: str = "test-app-secret",
        callback_url: str = "https://127.0.0.1",
    ) -> None:
        super().__init__()
        self.app_key, self.app_secret, self.callback_url = app_key, app_secret, callback_url
        self.book = OrderBook()
        self.access_ttl = 1800
        self.refresh_ttl = 7 * 24 * 3600
        self.codes: dict[str, float] = {}
        self.access_tokens: dict[str, float] = {}
        self.refresh_tokens: dict[str, float] = {}
        self.grants: Counter[str] = Counter()
        self.unauthorized = 0
        """401s served to API calls (missing, unknown or expired bearer)."""
        self.seen_bearers: list[str] = []
        self.last_order_body: dict[str, Any] | None = None
        self.cancel_requests = 0
        self._sync_reject: str | None = None
        self._ids = 1_000_000_001
        r = self.app.router
        r.add_get("/v1/oauth/authorize", self._authorize, name="authorize")
        r.add_post("/v1/oauth/token", self._token, name="token")
        r.add_get("/trader/v1/accounts/accountNumbers", self._account_numbers, name="account_numbers")
        r.add_post("/trader/v1/accounts/{hash}/orders", self._place, name="place_order")
        r.add_get("/trader/v1/accounts/{hash}/orders", self._list, name="list_orders")
        r.add_get("/trader/v1/accounts/{hash}/orders/{order_id}", self._get, name="get_order")
        r.add_delete("/trader/v1/accounts/{hash}/orders/{order_id}", self._cancel, name="cancel_order")
        r.add_get("/trader/v1/accounts/{hash}", self._account, name="account")
        r.add_get("/marketdata/v1/markets", self._markets, name="markets")
        self.today: date | None = None
        """The server's "today" for the markets endpoint's date range (unset: the real date)."""

    # -- test helpers ----------------------------------------------------------------------------
    async def simulate_browser(self, authorize_url: str) -> str:
        """What the operator's browser does: follow the authorize URL, log in, land on the callback.
        Returns the redirected URL (with ``code`` URL-encoded) that the operator pastes back."""
        async with httpx.AsyncClient() as client:
            response = await client.get(authorize_url, follow_redirects=False)
        if response.status_code != 302:
            raise AssertionError(f"authorize answered {response.status_code}: {response.text}")
        return response.headers["Location"]

    def expire_access_tokens(self) -> None:
        """Every access token issued so far stops working (the next API call gets 401)."""
        self.access_tokens.clear()

    def reject_next(self, message: str = "order rejected: insufficient funds") -> None:
        self._sync_reject = message

    # -- OAuth -----------------------------------------------------------------------------------
    async def _authorize(self, request: web.Request) -> web.Response:
        query = request.query
        if query.get("client_id") != self.app_key or query.get("redirect_uri") != self.callback_url:
            return web.Response(status=400, text="unknown client_id or redirect_uri")
        code = f"C0.{secrets.token_urlsafe(24)}@"
        self.codes[code] = time.monotonic() + 30
        params = {"code": code, "session": secrets.token_hex(8)}
        if "state" in query:
            params["state"] = query["state"]
        location = f"{self.callback_url}/?{urlencode(params, quote_via=quote)}"
        return web.Response(status=302, headers={"Location": location})  # raw: yarl would decode %40

    async def _token(self, request: web.Request) -> web.Response:
        expected = base64.b64encode(f"{self.app_key}:{self.app_secret}".encode()).decode()
        if request.headers.get("Authorization") != f"Basic {expected}":
            return _json({"error": "invalid_client"}, 401)
        form = await request.post()
        grant = str(form.get("grant_type"))
        now = time.monotonic()
        if grant == "authorization_code":
            code = str(form.get("code"))
            if self.codes.pop(code, 0.0) < now or form.get("redirect_uri") != self.callback_url:
                return _json({"error": "invalid_grant", "error_description": "bad or expired code"}, 400)
            refresh = secrets.token_urlsafe(32)
            self.refresh_tokens[refresh] = now + self.refresh_ttl
        elif grant == "refresh_token":
            refresh = str(form.get("refresh_token"))
            if self.refresh_tokens.get(refresh, 0.0) < now:
                return _json({"error": "invalid_grant", "error_description": "refresh token expired"}, 400)
        else:
            return _json({"error": "unsupported_grant_type"}, 400)
        self.grants[grant] += 1
        access = secrets.token_urlsafe(32)
        self.access_tokens[access] = now + self.access_ttl
        return _json(
            {
                "access_token": access,
                "refresh_token": refresh,
                "expires_in": self.access_ttl,
                "token_type": "Bearer",
                "scope": "api",
                "id_token": secrets.token_urlsafe(16),
            }
        )

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ")
        self.seen_bearers.append(token)
        if header.startswith("Bearer ") and self.access_tokens.get(token, 0.0) > time.monotonic():
            return True
        self.unauthorized += 1
        return False

    @staticmethod
    def _denied() -> web.Response:
        return _json({"message": "Client not authorized", "errors": ["invalid_token"]}, 401)

    # -- Trader API ------------------------------------------------------------------------------
    async def _account_numbers(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        return _json([{"accountNumber": ACCOUNT_NUMBER, "hashValue": ACCOUNT_HASH}])

    async def _place(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        if request.match_info["hash"] != ACCOUNT_HASH:
            return _json({"message": "unknown account"}, 404)
        body = json.loads(await request.text(), parse_float=Decimal)
        self.last_order_body = body
        try:
            order = self._order_from(body)
        except _Refused as refused:
            return _json({"message": str(refused)}, 400)
        if self._sync_reject is not None:
            message, self._sync_reject = self._sync_reject, None
            return _json({"message": message}, 400)
        order_id = order.order_id
        self.book.add(order, f"{order.symbol}/{order.side.upper()}/{order.quantity}")
        if order.is_limit:
            self.match()
        location = f"{self.url}/trader/v1/accounts/{ACCOUNT_HASH}/orders/{order_id}"
        return web.Response(status=201, headers={"Location": location})

    def _order_from(self, body: dict[str, Any]) -> SimOrder:
        """A new order from a place-order body, or :class:`_Refused` naming the rule it breaks."""
        try:
            leg = body["orderLegCollection"][0]
            quantity = Decimal(leg["quantity"])
            symbol = str(leg["instrument"]["symbol"])
            instruction = str(leg["instruction"])
            kind, duration, word = str(body["orderType"]), str(body["duration"]), str(body.get("session"))
            price = None if body.get("price") is None else Decimal(str(body["price"]))
        except (KeyError, IndexError, TypeError, ArithmeticError):
            raise _Refused("invalid order: unreadable body") from None
        if instruction not in ("BUY", "SELL") or quantity <= 0 or quantity != quantity.to_integral_value():
            raise _Refused("invalid order: whole shares only, BUY or SELL")
        if kind not in ("MARKET", "LIMIT") or word not in SESSION_WORDS:
            raise _Refused(f"invalid order: orderType {kind} with session {word} is not supported")
        if duration != "DAY" and not (kind == "LIMIT" and duration == "GOOD_TILL_CANCEL"):
            raise _Refused(f"invalid order: duration {duration}")
        if kind == "MARKET" and (word != "NORMAL" or price is not None):
            raise _Refused("invalid order: market orders are NORMAL-session orders without a price")
        if kind == "LIMIT" and (price is None or not _on_tick(price)):
            raise _Refused(f"invalid order: limit price {price} is missing or off the tick")
        now_session = self.session()
        if now_session not in SESSION_WORDS[word]:
            raise _Refused(f"order rejected: a {word} {kind} order cannot be placed in the {now_session.value} session")
        now = self.clock()
        order_id = str(self._ids)
        self._ids += 1
        return SimOrder(
            order_id=order_id,
            symbol=symbol,
            side=instruction.lower(),
            quantity=quantity,
            notional=None,
            price=price if price is not None else self.book.price_of(symbol),
            client_order_id=None,
            created_at=now,
            created_mono=time.monotonic(),
            limit_price=price,
            session=word,
            expires_at=self._expiry(word) if price is not None else None,
        )

    def _expiry(self, word: str) -> datetime | None:
        day = self.trading_day_now()
        if day is None:
            return None
        return {"AM": day.open, "NORMAL": day.close}.get(word, day.post_close)

    async def _cancel(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        self.cancel_requests += 1
        self.match()
        order = self.book.orders.get(request.match_info["order_id"])
        if order is None or request.match_info["hash"] != ACCOUNT_HASH:
            return _json({"message": "Order not found"}, 404)
        if not self.book.cancel(order):
            return _json({"message": "Order cannot be canceled in its current state"}, 400)
        return web.Response(status=200)

    async def _get(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        self.match()
        order = self.book.orders.get(request.match_info["order_id"])
        if order is None or request.match_info["hash"] != ACCOUNT_HASH:
            return _json({"message": "Order not found"}, 404)
        return _json(self._order_json(order))

    async def _list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        try:
            start = datetime.fromisoformat(request.query["fromEnteredTime"])
            end = datetime.fromisoformat(request.query["toEnteredTime"])
        except (KeyError, ValueError):
            return _json({"message": "fromEnteredTime and toEnteredTime are required"}, 400)
        self.match()
        rows = [self._order_json(o) for o in self.book.orders.values() if start <= o.created_at <= end]
        return _json(rows)

    async def _account(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        self.match()
        net: dict[str, Decimal] = {}
        for order in self.book.orders.values():
            signed = self.book.filled(order) * (1 if order.side == "buy" else -1)
            net[order.symbol] = net.get(order.symbol, Decimal(0)) + signed
        account: dict[str, Any] = {
            "type": "MARGIN",
            "accountNumber": ACCOUNT_NUMBER,
            "currentBalances": {
                "cashBalance": Decimal("100000.00"),
                "buyingPower": Decimal("200000.00"),
                "buyingPowerNonMarginableTrade": Decimal("100000.00"),
                "liquidationValue": Decimal("100000.00"),
            },
        }
        if "positions" in request.query.get("fields", ""):
            account["positions"] = [
                {
                    "longQuantity": max(qty, Decimal(0)),
                    "shortQuantity": max(-qty, Decimal(0)),
                    "averagePrice": self.book.price_of(symbol),
                    "marketValue": qty * self.book.price_of(symbol),
                    "instrument": {"symbol": symbol, "assetType": "EQUITY"},
                }
                for symbol, qty in sorted(net.items())
                if qty != 0
            ]
        return _json({"securitiesAccount": account})

    async def _markets(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._denied()
        markets = [m for m in request.query.get("markets", "").split(",") if m]
        if not markets:
            return _json({"errors": [{"title": "markets is required"}]}, status=400)
        today = self.today or self.clock().astimezone(NEW_YORK).date()
        try:
            day = date.fromisoformat(request.query.get("date", today.isoformat()))
        except ValueError:
            return _json({"errors": [{"title": "date must be YYYY-MM-DD"}]}, status=400)
        if not today <= day <= today + timedelta(days=366):
            return _json({"errors": [{"title": "date must be from today to one year ahead"}]}, status=400)
        answer: dict[str, Any] = {}
        if "equity" in markets:
            answer["equity"] = self._equity_hours(day)
        return _json(answer)

    def _equity_hours(self, day: date) -> dict[str, Any]:
        """The day's hours from :attr:`calendar`, except today while ``market_open`` overrides it: open
        all day (REGULAR from midnight to midnight) or closed."""
        trading = self.calendar.between(day, day, pre_open=self.PRE_OPEN, overnight=False).trading_day(day)
        if self.session_override is not None and day == self.clock().astimezone(NEW_YORK).date():
            if self.session_override is MarketSession.CLOSED:
                trading = None
            else:
                midnight = datetime.combine(day, wall_time(0, 0), NEW_YORK)
                end = midnight + timedelta(days=1) - timedelta(seconds=1)
                return self._hours_entry(day, None, (midnight, end), None)
        if trading is None:
            return {"equity": {"date": day.isoformat(), "marketType": "EQUITY", "isOpen": False}}

        return self._hours_entry(
            day, (trading.pre_open, trading.open), (trading.open, trading.close), (trading.close, trading.post_close)
        )

    @staticmethod
    def _hours_entry(
        day: date,
        pre: tuple[datetime, datetime] | None,
        regular: tuple[datetime, datetime],
        post: tuple[datetime, datetime] | None,
    ) -> dict[str, Any]:
        def span(hours: tuple[datetime, datetime]) -> list[dict[str, str]]:
            start, end = hours
            return [{"start": start.astimezone(NEW_YORK).isoformat(), "end": end.astimezone(NEW_YORK).isoformat()}]

        sessions = {"regularMarket": span(regular)}
        if pre is not None:
            sessions["preMarket"] = span(pre)
        if post is not None:
            sessions["postMarket"] = span(post)
        return {
            "EQ": {
                "date": day.isoformat(),
                "marketType": "EQUITY",
                "product": "EQ",
                "productName": "equity",
                "isOpen": True,
                "sessionHours": sessions,
            }
        }

    def _order_json(self, order: SimOrder) -> dict[str, Any]:
        phase = self.book.phase(order)
        status = order.forced_status or ("REJECTED" if phase == "rejected" else _PHASE_STATUS[phase])
        filled = self.book.filled(order)
        quantity = order.fill_quantity()
        now = self.clock()
        legs = [{"legId": 1, "quantity": filled, "price": order.price, "time": _time(now)}] if filled else []
        closed = status in ("FILLED", "CANCELED", "REJECTED", "EXPIRED", "REPLACED")
        return {
            "orderId": int(order.order_id),
            "accountNumber": int(ACCOUNT_NUMBER),
            "session": order.session or "NORMAL",
            "duration": "DAY",
            "orderType": "LIMIT" if order.is_limit else "MARKET",
            **({"price": order.limit_price} if order.limit_price is not None else {}),
            "orderStrategyType": "SINGLE",
            "status": status,
            "quantity": quantity,
            "filledQuantity": filled,
            "remainingQuantity": quantity - filled,
            "enteredTime": _time(order.created_at),
            "closeTime": _time(now) if closed else None,
            "orderLegCollection": [
                {
                    "instruction": order.side.upper(),
                    "quantity": quantity,
                    "instrument": {"symbol": order.symbol, "assetType": "EQUITY"},
                }
            ],
            "orderActivityCollection": [
                {"activityType": "EXECUTION", "executionType": "FILL", "quantity": filled, "executionLegs": legs}
            ]
            if legs
            else [],
        }


def code_from(redirected_url: str) -> str:
    """The (decoded) ``code`` parameter of a callback URL."""
    return parse_qs(urlsplit(redirected_url).query)["code"][0]
