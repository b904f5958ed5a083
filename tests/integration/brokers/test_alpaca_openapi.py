"""The local Alpaca server held to Alpaca's published OpenAPI document (``alpaca-mcp-server``'s
``specs/trading-api.json``, fetched by :mod:`tools.alpaca_spec`) with ``openapi-core``: every request
arbtui sends through the real alpaca-py client and every answer the server gives — orders (market,
fractional, limit with extended hours, overnight), cancel, clock, calendar, account, positions — is
recorded at the server (:attr:`AlpacaServer.exchanges`) and validated, so the stand-in cannot drift.

Two documented allowances, each as narrow as it can be:

- ``GET /v2/calendar``: the document types ``start``/``end`` as ``date-time``; arbtui sends plain
  ``YYYY-MM-DD`` dates exactly as alpaca-py's own ``GetCalendarRequest`` does (``start: date``), which
  the live API answers. Such a value is validated as that date's midnight; anything else still fails.
- Error answers whose status the document does not list for a route (404 for an unknown order, 422 for a
  refused order): the document gives error bodies no schema at all, so they are checked against the
  shape every Alpaca error has, ``{"code": <int>, "message": <str>}``.
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import date, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
import requests
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.responses.exceptions import ResponseNotFound
from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.base import BrokerOrderId, MarketClosed, OrderNotFound, OrderState
from arbtui.demo.alpaca_server import AlpacaServer, Exchange
from arbtui.domain.sessions import MarketSession, local
from tests.fakes.clock import FakeClock
from tests.integration.brokers.conftest import FAST_POLICY, limit_order, market_order
from tools.alpaca_spec import spec_path

PUBLISHED_HOST = "https://paper-api.alpaca.markets"
FRIDAY = date(2026, 12, 4)
PLAIN_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@cache
def published() -> OpenAPI:
    return OpenAPI.from_file_path(str(spec_path()))


def _query(exchange: Exchange) -> str:
    if exchange.path != "/v2/calendar":
        return exchange.query
    pairs = [
        (k, f"{v}T00:00:00Z" if k in ("start", "end") and PLAIN_DATE.match(v) else v)
        for k, v in parse_qsl(exchange.query, keep_blank_values=True)
    ]
    return urlencode(pairs)


def as_published(exchange: Exchange) -> tuple[RequestsOpenAPIRequest, RequestsOpenAPIResponse]:
    """One recorded exchange as if it had gone to Alpaca's own host."""
    query = _query(exchange)
    url = f"{PUBLISHED_HOST}{exchange.path}" + (f"?{query}" if query else "")
    headers = {k: v for k, v in exchange.request_headers.items() if k.lower() not in ("host", "content-length")}
    prepared = requests.Request(exchange.method, url, headers=headers, data=exchange.request_body or None).prepare()
    response = requests.Response()
    response.status_code = exchange.status
    response.headers.update(exchange.response_headers)
    response._content = exchange.response_body
    response.request = prepared
    return RequestsOpenAPIRequest(prepared), RequestsOpenAPIResponse(response)


def _is_alpaca_error(body: bytes) -> bool:
    try:
        payload: Any = json.loads(body)
    except ValueError:
        return False
    return (
        isinstance(payload, dict)
        and set(payload) == {"code", "message"}
        and type(payload["code"]) is int
        and isinstance(payload["message"], str)
    )


def problems(exchange: Exchange) -> list[str]:
    """Everything about one exchange the published document does not allow (empty: it conforms)."""
    request, response = as_published(exchange)
    where = f"{exchange.method} {exchange.path} → {exchange.status}"
    found = []
    try:
        published().validate_request(request)
    except Exception as exc:  # noqa: BLE001 - every validation error is a finding
        found.append(f"{where}: request: {exc!r} ({exc.__cause__!r})")
    try:
        published().validate_response(request, response)
    except ResponseNotFound:
        if not (400 <= exchange.status < 500 and _is_alpaca_error(exchange.response_body)):
            found.append(f"{where}: undocumented status with a body that is not an Alpaca error")
    except Exception as exc:  # noqa: BLE001
        found.append(f"{where}: response: {exc!r} ({exc.__cause__!r})")
    return found


@pytest.fixture
async def recorded() -> AsyncIterator[tuple[AlpacaServer, AlpacaBroker, FakeClock]]:
    clock = FakeClock(local(FRIDAY, time(10, 0)))
    async with AlpacaServer() as server:
        server.follow_calendar(clock.now)
        server.record = True
        config = AlpacaConfig(
            api_key=SecretStr(server.api_key),
            api_secret=SecretStr(server.api_secret),
            base_url=server.url,
            retry=FAST_POLICY,
            fractional=True,
        )
        broker = AlpacaBroker(config, clock=clock)
        yield server, broker, clock
        await broker.aclose()


async def _a_week_of_traffic(server: AlpacaServer, broker: AlpacaBroker, clock: FakeClock) -> None:
    """Everything arbtui asks Alpaca, across the sessions of one week."""
    # Friday, the regular session: clock, calendar, market orders (whole and fractional), lookups
    await broker.clock()
    await broker.calendar(FRIDAY - timedelta(days=1), FRIDAY + timedelta(days=7))
    market = market_order("3")
    await broker.order_status(await broker.submit(market))
    await broker.find_order(market, since=clock.now())
    await broker.submit(market_order("0.5"))
    # after hours: an extended-hours limit order, a partial fill, a cancel and one cancel too many
    clock.set_now(local(FRIDAY, time(17, 0)))
    with pytest.raises(MarketClosed):
        await broker.submit(market_order("1"))
    order = limit_order(MarketSession.POST, quantity="5", price="187.00")
    limit_id = await broker.submit_limit(order)
    server.set_price("AAPL", Decimal("186.50"), fill_at_most=Decimal(2))
    assert (await broker.order_status(limit_id)).state is OrderState.PARTIALLY_FILLED
    await broker.find_limit_order(order, since=clock.now())
    await broker.cancel(limit_id)
    await broker.cancel(limit_id)  # 422: no longer cancelable
    assert (await broker.order_status(limit_id)).state is OrderState.CANCELLED
    with pytest.raises(OrderNotFound):
        await broker.order_status(BrokerOrderId("00000000-0000-4000-8000-000000000000"))
    await broker.positions()
    await broker.balances()
    # Sunday night: an overnight limit order at a sub-dollar price on its 4-decimal tick
    clock.set_now(local(FRIDAY + timedelta(days=2), time(21, 0)))
    await broker.clock()
    await broker.submit_limit(limit_order(MarketSession.OVERNIGHT, price="0.5001", quantity="10"))


async def test_every_request_and_answer_matches_the_published_document(
    recorded: tuple[AlpacaServer, AlpacaBroker, FakeClock],
) -> None:
    server, broker, clock = recorded
    await _a_week_of_traffic(server, broker, clock)
    seen = {(e.method, re.sub(r"/[0-9a-f-]{36}$", "/{id}", e.path), e.status) for e in server.exchanges}
    assert seen >= {
        ("GET", "/v2/clock", 200),
        ("GET", "/v2/calendar", 200),
        ("POST", "/v2/orders", 200),
        ("GET", "/v2/orders/{id}", 200),
        ("GET", "/v2/orders/{id}", 404),
        ("GET", "/v2/orders:by_client_order_id", 200),
        ("DELETE", "/v2/orders/{id}", 204),
        ("DELETE", "/v2/orders/{id}", 422),
        ("GET", "/v2/positions", 200),
        ("GET", "/v2/account", 200),
    }
    bodies = [json.loads(e.request_body) for e in server.exchanges if e.method == "POST"]
    assert {(b["type"], b.get("extended_hours")) for b in bodies} == {("market", None), ("limit", True)}
    found = [problem for exchange in server.exchanges for problem in problems(exchange)]
    assert found == [], "\n".join(found)


def _with_body(exchange: Exchange, change: Any) -> Exchange:
    payload = json.loads(exchange.response_body)
    change(payload)
    return replace(exchange, response_body=json.dumps(payload).encode())


async def test_a_wrong_answer_fails_validation(recorded: tuple[AlpacaServer, AlpacaBroker, FakeClock]) -> None:
    """The check can fail: the same recorded answers, each broken one way, are each refused."""
    server, broker, _ = recorded
    await broker.submit(market_order("3"))
    await broker.balances()
    await broker.positions()
    await broker.clock()
    by_route = {(e.method, e.path): e for e in server.exchanges}
    account, order = by_route["GET", "/v2/account"], by_route["POST", "/v2/orders"]
    positions, market_clock = by_route["GET", "/v2/positions"], by_route["GET", "/v2/clock"]
    assert [problems(e) for e in (account, order, positions, market_clock)] == [[], [], [], []]

    def number_cash(body: dict[str, Any]) -> None:
        body["cash"] = 100000.5  # a JSON number where the document says string

    def bogus_status(body: dict[str, Any]) -> None:
        body["status"] = "almost_filled"

    def no_symbol(body: list[dict[str, Any]]) -> None:
        del body[0]["symbol"]

    def open_as_text(body: dict[str, Any]) -> None:
        body["is_open"] = "true"

    broken = [
        _with_body(account, number_cash),
        _with_body(order, bogus_status),
        _with_body(positions, no_symbol),
        _with_body(market_clock, open_as_text),
    ]
    assert all(problems(exchange) for exchange in broken)
    wrong_request = replace(order, request_body=order.request_body.replace(b'"side": "buy"', b'"side": "hold"'))
    assert b'"hold"' in wrong_request.request_body
    assert any(": request:" in p for p in problems(wrong_request))
