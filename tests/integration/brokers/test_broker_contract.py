"""The broker contract: every adapter (dry-run, Alpaca, Schwab) passes these, against its local server."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest

from arbtui.brokers.base import (
    Broker,
    BrokerOrderId,
    MarketClosed,
    OrderNotFound,
    OrderRefused,
    OrderRejected,
    OrderState,
)
from arbtui.domain.sessions import MarketSession, local
from arbtui.domain.values import BrokerKind, Cents, Direction, Shares
from tests.integration.brokers.conftest import AAPL, SERVER_PRICE, Venue, limit_order, market_order, wait_terminal


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


# ------------------------------------------------------------------------------------------------
# limit orders and sessions (issue 14): every venue on its calendar, the shared fake clock walking
# one fixed week — Friday 2026-12-04 after hours, the weekend, Sunday night's overnight session
# ------------------------------------------------------------------------------------------------
FRIDAY = date(2026, 12, 4)
SUNDAY = FRIDAY + timedelta(days=2)
FRIDAY_POST = local(FRIDAY, time(17, 0))
FRIDAY_PRE = local(FRIDAY, time(8, 0))  # pre-market at both Alpaca (04:00) and Schwab (07:00)
SATURDAY = local(FRIDAY + timedelta(days=1), time(12, 0))
SUNDAY_NIGHT = local(SUNDAY, time(21, 0))


async def test_a_limit_order_rests_until_the_price_crosses_it_and_fills_at_its_limit(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    venue.set_price("187.12")
    order = limit_order(MarketSession.POST, quantity="5", price="187.00")
    order_id = await venue.broker.submit_limit(order)
    resting = await venue.broker.order_status(order_id)
    assert (resting.state, resting.filled_quantity, resting.quantity) == (OrderState.SUBMITTED, Shares(0), Shares(5))
    venue.set_price("186.50")
    filled = await venue.broker.order_status(order_id)
    assert (filled.state, filled.filled_quantity) == (OrderState.FILLED, Shares(5))
    assert filled.average_price == Cents(18700)  # at the limit
    assert {p.symbol: p.quantity for p in await venue.broker.positions()}.get(AAPL) == Shares(5)
    assert venue.orders_at_server() == 1


async def test_a_sell_limit_fills_when_the_price_rises_to_it(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_PRE)
    venue.set_price("187.12")
    order_id = await venue.broker.submit_limit(
        limit_order(MarketSession.PRE, side=Direction.SELL, quantity="2", price="188.00")
    )
    assert (await venue.broker.order_status(order_id)).state is OrderState.SUBMITTED
    venue.set_price("188.00")
    sold = await venue.broker.order_status(order_id)
    assert (sold.state, sold.side, sold.average_price) == (OrderState.FILLED, Direction.SELL, Cents(18800))


async def test_partial_fill_then_cancel_keeps_the_part_filled(venue: Venue) -> None:
    """The engine's reconcile-before-cancel: 2 of 5 fill, and stay 2 however often it asks."""
    venue.follow_calendar(FRIDAY_POST)
    order_id = await venue.broker.submit_limit(limit_order(MarketSession.POST, quantity="5", price="187.00"))
    venue.set_price("186.90", fill_at_most=2)
    for _ in range(2):
        partial = await venue.broker.order_status(order_id)
        assert (partial.state, partial.filled_quantity) == (OrderState.PARTIALLY_FILLED, Shares(2))
    await venue.broker.cancel(order_id)
    cancelled = await venue.broker.order_status(order_id)
    assert (cancelled.state, cancelled.filled_quantity, cancelled.average_price) == (
        OrderState.CANCELLED,
        Shares(2),
        Cents(18700),
    )
    await venue.broker.cancel(order_id)  # idempotent: already cancelled is no error
    venue.set_price("180.00")
    assert (await venue.broker.order_status(order_id)).filled_quantity == Shares(2)
    assert {p.symbol: p.quantity for p in await venue.broker.positions()}.get(AAPL) == Shares(2)


async def test_cancelling_a_filled_order_is_no_error(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    venue.set_price("186.00")
    order_id = await venue.broker.submit_limit(limit_order(MarketSession.POST, price="187.00"))
    await venue.broker.cancel(order_id)
    assert (await venue.broker.order_status(order_id)).state is OrderState.FILLED


async def test_cancelling_an_unknown_order_is_order_not_found(venue: Venue) -> None:
    unknown = "999999999" if venue.schwab is not None else "00000000-0000-4000-8000-000000000000"
    with pytest.raises(OrderNotFound):
        await venue.broker.cancel(BrokerOrderId(unknown))


async def test_resubmitting_a_limit_attempt_creates_no_second_order_and_find_returns_it(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    since = FRIDAY_POST - timedelta(minutes=1)
    first = limit_order(MarketSession.POST, price="187.00")
    assert await venue.broker.find_limit_order(first, since=since) is None
    order_id = await venue.broker.submit_limit(first)
    assert await venue.broker.submit_limit(first) == order_id
    assert venue.orders_at_server() == 1
    found = await venue.broker.find_limit_order(first, since=since)
    assert found is not None
    assert (found.order_id, found.symbol, found.side) == (order_id, AAPL, Direction.BUY)
    # the replacement (attempt 2, a new price) is its own order
    second = limit_order(MarketSession.POST, price="187.05", execution_id=first.execution_id, attempt=2)
    assert await venue.broker.find_limit_order(second, since=since) is None
    second_id = await venue.broker.submit_limit(second)
    assert second_id != order_id
    assert venue.orders_at_server() == 2


async def test_market_orders_are_refused_outside_the_regular_session(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    assert (await venue.broker.clock()).is_open is False
    with pytest.raises(MarketClosed):
        await venue.broker.submit(market_order("1"))
    assert venue.orders_at_server() == 0


@pytest.mark.parametrize(
    ("at", "session"),
    [
        (FRIDAY_POST, MarketSession.PRE),
        (FRIDAY_POST, MarketSession.REGULAR),
        (FRIDAY_PRE, MarketSession.POST),
        (SATURDAY, MarketSession.POST),
    ],
)
async def test_a_limit_order_for_a_session_not_trading_now_is_market_closed(
    venue: Venue, at: datetime, session: MarketSession
) -> None:
    venue.follow_calendar(at)
    with pytest.raises(MarketClosed) as closed:
        await venue.broker.submit_limit(limit_order(session))
    assert closed.value.retry_at is not None
    assert closed.value.retry_at > at  # when that session next starts, by the venue's calendar
    assert venue.orders_at_server() == 0
    if venue.server is not None:
        assert venue.server.hits["submit_order" if venue.alpaca is not None else "place_order"] == 0  # not sent


async def test_overnight_limit_orders_where_the_venue_has_an_overnight_session(venue: Venue) -> None:
    venue.follow_calendar(SUNDAY_NIGHT)
    order = limit_order(MarketSession.OVERNIGHT, price="187.00")
    if venue.schwab is not None:
        with pytest.raises(OrderRefused, match="overnight"):
            await venue.broker.submit_limit(order)
        assert venue.orders_at_server() == 0
        return
    order_id = await venue.broker.submit_limit(order)
    venue.set_price("186.00")
    assert (await venue.broker.order_status(order_id)).state is OrderState.FILLED
    if venue.alpaca is not None:
        assert venue.alpaca.last_submit_body is not None
        assert venue.alpaca.last_submit_body["extended_hours"] is True


async def test_off_tick_prices_are_refused_before_anything_is_sent(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    for price in ("187.005", "0.12345"):
        with pytest.raises(OrderRefused, match="tick"):
            await venue.broker.submit_limit(limit_order(MarketSession.POST, price=price))
    assert venue.orders_at_server() == 0
    if venue.server is not None:
        assert venue.server.book.submissions.total() == 0


async def test_a_sub_dollar_limit_on_its_four_decimal_tick_is_accepted(venue: Venue) -> None:
    venue.follow_calendar(FRIDAY_POST)
    venue.set_price("0.5000")
    order_id = await venue.broker.submit_limit(limit_order(MarketSession.POST, quantity="10", price="0.4999"))
    venue.set_price("0.4990")
    report = await venue.broker.order_status(order_id)
    assert (report.state, report.average_price) == (OrderState.FILLED, Cents("49.99"))


async def test_the_limit_order_expires_at_the_end_of_its_day_keeping_its_fill(venue: Venue) -> None:
    venue.follow_calendar(local(FRIDAY, time(19, 50)))
    order_id = await venue.broker.submit_limit(limit_order(MarketSession.POST, quantity="5", price="187.00"))
    venue.set_price("186.00", fill_at_most=1)
    venue.clock.set_now(local(FRIDAY, time(20, 0)))
    expired = await venue.broker.order_status(order_id)
    assert (expired.state, expired.filled_quantity) == (OrderState.CANCELLED, Shares(1))
    assert expired.broker_status.lower() == "expired"


async def test_balances_carry_the_non_marginable_figure(venue: Venue) -> None:
    balances = await venue.broker.balances()
    assert balances.non_marginable_buying_power == balances.cash  # every local venue: no margin used
    assert balances.buying_power >= balances.cash
