"""The broker contract: every adapter (dry-run, Alpaca, Schwab) passes these, against its local server."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from arbtui.brokers.base import (
    Broker,
    BrokerOrderId,
    MarketClosed,
    OrderNotFound,
    OrderRejected,
    OrderState,
)
from arbtui.domain.values import BrokerKind, Cents, Direction, Shares
from tests.integration.brokers.conftest import AAPL, SERVER_PRICE, Venue, market_order, wait_terminal


def test_adapters_implement_the_port(venue: Venue) -> None:
    assert isinstance(venue.broker, Broker)
    assert venue.broker.kind is BrokerKind(venue.name)


async def test_buy_then_sell_round_trip(venue: Venue) -> None:
    broker = venue.broker
    buy = market_order("3")
    buy_id = await broker.submit(buy)
    bought = await wait_terminal(broker, buy_id)
    assert bought.state is OrderState.FILLED
    assert bought.filled_quantity == Shares("3")
    assert bought.average_price == Cents(SERVER_PRICE * 100)
    assert bought.filled_notional is not None
    assert bought.filled_notional.value == SERVER_PRICE * 3
    assert bought.side is Direction.BUY
    assert bought.symbol == AAPL
    assert {p.symbol: p.quantity for p in await broker.positions()}.get(AAPL) == Shares("3")

    sell_id = await broker.submit(market_order("3", side=Direction.SELL))
    sold = await wait_terminal(broker, sell_id)
    assert sold.state is OrderState.FILLED
    assert sold.side is Direction.SELL
    assert sold.filled_quantity == Shares("3")
    assert AAPL not in {p.symbol for p in await broker.positions()}
    assert venue.orders_at_server() == 2
    balances = await broker.balances()
    assert balances.cash.is_positive
    assert balances.buying_power.is_positive


async def test_resubmitting_an_execution_never_creates_a_second_order(venue: Venue) -> None:
    order = market_order("2")
    first = await venue.broker.submit(order)
    second = await venue.broker.submit(order)
    assert first == second
    assert venue.orders_at_server() == 1


async def test_find_order_returns_the_submitted_order_or_none(venue: Venue) -> None:
    order = market_order("5")
    since = venue.clock.now() - timedelta(minutes=1)
    assert await venue.broker.find_order(order, since=since) is None
    order_id = await venue.broker.submit(order)
    found = await venue.broker.find_order(order, since=since)
    assert found is not None
    assert found.order_id == order_id
    assert found.symbol == AAPL
    assert found.side is Direction.BUY


async def test_every_broker_status_is_normalised(venue: Venue) -> None:
    if venue.server is None:
        order_id = await venue.broker.submit(market_order("1"))
        assert (await venue.broker.order_status(order_id)).state is OrderState.FILLED
        return
    order_id = await venue.broker.submit(market_order("4"))
    seen: dict[str, OrderState] = {}
    for status in venue.statuses:
        venue.force_status(order_id, status, Decimal(0))
        report = await venue.broker.order_status(order_id)
        assert report.broker_status == status
        seen[status] = report.state
    assert seen == venue.statuses
    # a closed order that had filled everything is FILLED, whatever the broker's closing word
    closing = "canceled" if venue.alpaca is not None else "CANCELED"
    venue.force_status(order_id, closing, Decimal(4))
    assert (await venue.broker.order_status(order_id)).state is OrderState.FILLED


async def test_partial_fill_reports_filled_quantity_and_price(venue: Venue) -> None:
    server = venue.server
    if server is None:
        pytest.skip("dry-run fills every order completely by definition")
    server.book.next_partial = Decimal("0.5")
    order_id = await venue.broker.submit(market_order("10"))
    report = await wait_terminal(venue.broker, order_id, polls=3)
    assert report.state is OrderState.PARTIALLY_FILLED
    assert report.filled_quantity == Shares("5")
    assert report.quantity == Shares("10")
    assert report.average_price == Cents(SERVER_PRICE * 100)


async def test_broker_rejection_is_typed_and_creates_nothing(venue: Venue) -> None:
    server = venue.server
    if server is None:
        pytest.skip("dry-run accepts every order by definition")
    server.reject_next()
    with pytest.raises(OrderRejected) as caught:
        await venue.broker.submit(market_order("1"))
    assert caught.value.status_code is not None
    assert 400 <= caught.value.status_code < 500
    assert venue.orders_at_server() == 0


async def test_order_rejected_after_acceptance_is_failed(venue: Venue) -> None:
    server = venue.server
    if server is None:
        pytest.skip("dry-run accepts every order by definition")
    server.book.next_reject = True
    order_id = await venue.broker.submit(market_order("1"))
    report = await wait_terminal(venue.broker, order_id)
    assert report.state is OrderState.FAILED
    assert report.filled_quantity.is_zero
    assert report.average_price is None


async def test_market_closed_is_typed_and_sends_nothing(venue: Venue) -> None:
    venue.close_market()
    assert (await venue.broker.clock()).is_open is False
    with pytest.raises(MarketClosed):
        await venue.broker.submit(market_order("1"))
    assert venue.orders_at_server() == 0
    if venue.server is not None:
        assert venue.server.book.submissions.total() == 0


async def test_unknown_order_id_is_order_not_found(venue: Venue) -> None:
    unknown = "999999999" if venue.schwab is not None else "00000000-0000-4000-8000-000000000000"
    with pytest.raises(OrderNotFound):
        await venue.broker.order_status(BrokerOrderId(unknown))


async def test_open_market_clock_has_a_next_close(venue: Venue) -> None:
    market = await venue.broker.clock()
    assert market.is_open is True
    if venue.server is not None:
        assert market.next_close is not None
        assert market.next_close > market.as_of
