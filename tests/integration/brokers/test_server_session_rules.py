"""The local servers enforce each session's rules on their own, so a wrong order from any code path fails
the test even when an adapter's local checks are bypassed: raw requests, the servers on a test clock
walking one fixed week (Friday 2026-12-04, the weekend, Sunday night)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain.sessions import MarketSession, local
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import ACCOUNT_HASH, SchwabServer

FRIDAY = date(2026, 12, 4)
PRE = local(FRIDAY, time(8, 0))
REGULAR = local(FRIDAY, time(10, 0))
POST = local(FRIDAY, time(17, 0))
SATURDAY = local(FRIDAY + timedelta(days=1), time(12, 0))
SUNDAY_NIGHT = local(FRIDAY + timedelta(days=2), time(21, 0))


@pytest.fixture
async def alpaca() -> AsyncIterator[tuple[AlpacaServer, FakeClock, httpx.AsyncClient]]:
    clock = FakeClock(REGULAR)
    async with AlpacaServer() as server:
        server.follow_calendar(clock.now)
        headers = {"APCA-API-KEY-ID": server.api_key, "APCA-API-SECRET-KEY": server.api_secret}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            yield server, clock, client


def alpaca_order(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "qty": "5", "time_in_force": "day"}
    body.update(fields)
    return body


LIMIT_EXT = {"type": "limit", "limit_price": "187.00", "extended_hours": True}


@pytest.mark.parametrize(
    ("at", "body", "accepted"),
    [
        (REGULAR, {"type": "market"}, True),
        (REGULAR, {"type": "limit", "limit_price": "187.00"}, True),
        (PRE, {"type": "market"}, False),
        (POST, {"type": "market"}, False),
        (SUNDAY_NIGHT, {"type": "market"}, False),
        (PRE, {"type": "limit", "limit_price": "187.00"}, False),  # extended_hours missing
        (POST, LIMIT_EXT, True),
        (PRE, LIMIT_EXT, True),
        (SUNDAY_NIGHT, {"type": "limit", "limit_price": "187.00"}, False),
        (SUNDAY_NIGHT, LIMIT_EXT, True),
        (SATURDAY, LIMIT_EXT, False),
        (POST, {**LIMIT_EXT, "time_in_force": "ioc"}, False),
        (REGULAR, {"type": "market", "extended_hours": True}, False),
    ],
)
async def test_alpaca_session_rules(
    alpaca: tuple[AlpacaServer, FakeClock, httpx.AsyncClient], at: datetime, body: dict[str, Any], accepted: bool
) -> None:
    server, clock, client = alpaca
    clock.set_now(at)
    response = await client.post("/v2/orders", json=alpaca_order(**body))
    if accepted:
        assert response.status_code == 200, response.text
        assert server.book.total_orders == 1
    else:
        assert response.status_code == 422, response.text
        assert response.json()["code"] in (42210000, 40010001)
        assert server.book.total_orders == 0


@pytest.mark.parametrize(
    ("price", "accepted"),
    [("187.00", True), ("187.1", True), ("187.001", False), ("0.1234", True), ("0.12345", False), ("1.0001", False)],
)
async def test_alpaca_tick_sizes(
    alpaca: tuple[AlpacaServer, FakeClock, httpx.AsyncClient], price: str, accepted: bool
) -> None:
    _, clock, client = alpaca
    clock.set_now(POST)
    response = await client.post("/v2/orders", json=alpaca_order(**{**LIMIT_EXT, "limit_price": price, "qty": "100"}))
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert response.status_code == 422
        assert response.json() == {
            "code": 42210000,
            "message": f"invalid limit_price {price}. sub-penny increment does not fulfill minimum pricing criteria",
        }


async def test_alpaca_fractional_limit_and_notional_rules(
    alpaca: tuple[AlpacaServer, FakeClock, httpx.AsyncClient],
) -> None:
    server, clock, client = alpaca
    clock.set_now(POST)
    ok = await client.post("/v2/orders", json=alpaca_order(**{**LIMIT_EXT, "qty": "0.5"}))
    assert ok.status_code == 200, ok.text
    too_fine = await client.post("/v2/orders", json=alpaca_order(**{**LIMIT_EXT, "qty": "0.0000000001"}))
    assert too_fine.status_code == 422
    notional = await client.post("/v2/orders", json={**alpaca_order(**LIMIT_EXT), "qty": None, "notional": "100"})
    assert notional.status_code == 422
    under_a_dollar = await client.post("/v2/orders", json=alpaca_order(**{**LIMIT_EXT, "qty": "0.001"}))
    assert under_a_dollar.status_code == 403
    assert server.book.total_orders == 1


async def test_alpaca_duplicate_client_order_id_and_cancel(
    alpaca: tuple[AlpacaServer, FakeClock, httpx.AsyncClient],
) -> None:
    server, clock, client = alpaca
    clock.set_now(POST)
    body = alpaca_order(**LIMIT_EXT, client_order_id="exec-1")
    order = (await client.post("/v2/orders", json=body)).json()
    assert (order["status"], order["type"], order["extended_hours"], order["limit_price"]) == (
        "new",
        "limit",
        True,
        "187",
    )
    duplicate = await client.post("/v2/orders", json=body)
    assert (duplicate.status_code, duplicate.json()["code"]) == (422, 40010001)
    cancelled = await client.delete(f"/v2/orders/{order['id']}")
    assert (cancelled.status_code, cancelled.content) == (204, b"")
    assert (await client.get(f"/v2/orders/{order['id']}")).json()["status"] == "canceled"
    again = await client.delete(f"/v2/orders/{order['id']}")
    assert again.status_code == 422
    assert again.json()["message"] == 'order is already in "canceled" state'
    unknown = await client.delete("/v2/orders/00000000-0000-4000-8000-000000000000")
    assert unknown.status_code == 404
    assert server.cancel_requests == 3


async def test_alpaca_clock_follows_the_calendar(alpaca: tuple[AlpacaServer, FakeClock, httpx.AsyncClient]) -> None:
    server, clock, client = alpaca
    clock.set_now(POST)
    answer = (await client.get("/v2/clock")).json()
    monday = FRIDAY + timedelta(days=3)
    assert answer["is_open"] is False
    assert datetime.fromisoformat(answer["next_open"]) == local(monday, time(9, 30))
    assert datetime.fromisoformat(answer["next_close"]) == local(monday, time(16, 0))
    assert server.session() is MarketSession.POST
    server.calendar.holidays.add(monday)
    assert datetime.fromisoformat((await client.get("/v2/clock")).json()["next_open"]) == local(
        monday + timedelta(days=1), time(9, 30)
    )


# -- Schwab ----------------------------------------------------------------------------------------
@pytest.fixture
async def schwab() -> AsyncIterator[tuple[SchwabServer, FakeClock, httpx.AsyncClient]]:
    clock = FakeClock(REGULAR)
    async with SchwabServer() as server:
        server.follow_calendar(clock.now)
        server.access_tokens["test-token"] = float("inf")
        headers = {"Authorization": "Bearer test-token"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            yield server, clock, client


def schwab_order(kind: str, session: str, *, quantity: Any = 5, price: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "orderType": kind,
        "session": session,
        "duration": "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {"instruction": "BUY", "quantity": quantity, "instrument": {"symbol": "AAPL", "assetType": "EQUITY"}}
        ],
    }
    if price is not None:
        body["price"] = price
    return body


@pytest.mark.parametrize(
    ("at", "kind", "session", "accepted"),
    [
        (REGULAR, "MARKET", "NORMAL", True),
        (REGULAR, "MARKET", "AM", False),
        (PRE, "MARKET", "NORMAL", False),
        (POST, "MARKET", "NORMAL", False),
        (REGULAR, "LIMIT", "NORMAL", True),
        (PRE, "LIMIT", "AM", True),
        (PRE, "LIMIT", "PM", False),
        (POST, "LIMIT", "PM", True),
        (POST, "LIMIT", "AM", False),
        (POST, "LIMIT", "NORMAL", False),
        (PRE, "LIMIT", "SEAMLESS", True),
        (POST, "LIMIT", "SEAMLESS", True),
        (local(FRIDAY, time(5, 0)), "LIMIT", "AM", False),  # Schwab's pre-market starts 07:00
        (SUNDAY_NIGHT, "LIMIT", "SEAMLESS", False),  # no overnight session at Schwab
        (SATURDAY, "LIMIT", "SEAMLESS", False),
    ],
)
async def test_schwab_session_rules(
    schwab: tuple[SchwabServer, FakeClock, httpx.AsyncClient], at: datetime, kind: str, session: str, accepted: bool
) -> None:
    server, clock, client = schwab
    clock.set_now(at)
    price = "187.00" if kind == "LIMIT" else None
    response = await client.post(
        f"/trader/v1/accounts/{ACCOUNT_HASH}/orders", json=schwab_order(kind, session, price=price)
    )
    assert response.status_code == (201 if accepted else 400), response.text
    assert server.book.total_orders == (1 if accepted else 0)


@pytest.mark.parametrize(("quantity", "price"), [(Decimal("1.5"), "187.00"), (5, "187.001"), (5, None), (0, "187.00")])
async def test_schwab_refuses_fractions_off_tick_and_missing_prices(
    schwab: tuple[SchwabServer, FakeClock, httpx.AsyncClient], quantity: Any, price: str | None
) -> None:
    server, clock, client = schwab
    clock.set_now(POST)
    body = schwab_order("LIMIT", "PM", quantity=str(quantity), price=price)
    response = await client.post(f"/trader/v1/accounts/{ACCOUNT_HASH}/orders", json=body)
    assert response.status_code == 400
    assert server.book.total_orders == 0


async def test_schwab_cancel(schwab: tuple[SchwabServer, FakeClock, httpx.AsyncClient]) -> None:
    server, clock, client = schwab
    clock.set_now(POST)
    placed = await client.post(
        f"/trader/v1/accounts/{ACCOUNT_HASH}/orders", json=schwab_order("LIMIT", "PM", price="187.00")
    )
    path = placed.headers["Location"].split(server.url, 1)[1]
    assert (await client.get(path)).json()["status"] == "PENDING_ACKNOWLEDGEMENT"
    assert (await client.delete(path)).status_code == 200
    order = (await client.get(path)).json()
    assert (order["status"], order["orderType"], order["session"]) == ("CANCELED", "LIMIT", "PM")
    assert (await client.delete(path)).status_code == 400
    assert (await client.delete(f"/trader/v1/accounts/{ACCOUNT_HASH}/orders/1")).status_code == 404
