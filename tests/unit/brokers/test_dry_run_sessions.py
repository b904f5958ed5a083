"""The dry-run broker's sessions and limit orders: market orders only in REGULAR, limit orders in their
own session, resting until the dry-run's price crosses them, partial fills, cancel, expiry. No I/O: an
in-process broker on a fake clock walking a fixed week of its calendar."""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest

from arbtui.brokers.base import LimitOrder, MarketClosed, MarketOrder, OrderRefused, OrderState
from arbtui.brokers.dry_run import DryRunBroker, DryRunCalendar, DryRunConfig
from arbtui.domain.ids import RandomIds
from arbtui.domain.sessions import MarketSession, local
from arbtui.domain.values import Cents, Direction, PriceUsdc, Shares, Symbol, Usdc
from tests.fakes.clock import FakeClock

AAPL = Symbol("AAPL")
FRIDAY = date(2026, 12, 4)
IDS = RandomIds()


def at(day: date, hour: int, minute: int = 0) -> FakeClock:
    return FakeClock(local(day, time(hour, minute)))


def broker_at(clock: FakeClock, *, price: str = "100", overnight: bool = True) -> DryRunBroker:
    config = DryRunConfig(
        prices={AAPL: PriceUsdc(price)}, market_open=None, calendar=DryRunCalendar(overnight=overnight)
    )
    return DryRunBroker(config, clock=clock)


def limit(
    session: MarketSession, *, side: Direction = Direction.BUY, quantity: str = "5", price: str = "99.50", n: int = 1
) -> LimitOrder:
    execution = IDS.execution_id()
    return LimitOrder(f"{execution}-{n}", execution, AAPL, side, Shares(quantity), PriceUsdc(price), session)


def market(quantity: str = "1") -> MarketOrder:
    return MarketOrder(IDS.execution_id(), AAPL, Direction.BUY, Shares(quantity), estimated_price=PriceUsdc("100"))


@pytest.mark.parametrize(
    ("hour", "session"),
    [(5, MarketSession.PRE), (10, MarketSession.REGULAR), (17, MarketSession.POST), (21, MarketSession.CLOSED)],
)
async def test_friday_sessions_follow_the_calendar(hour: int, session: MarketSession) -> None:
    broker = broker_at(at(FRIDAY, hour))
    assert broker.session() is session
    assert (await broker.clock()).is_open is (session is MarketSession.REGULAR)


async def test_sunday_night_is_overnight_only_where_the_calendar_has_it() -> None:
    sunday_night = at(FRIDAY + timedelta(days=2), 21)
    assert broker_at(sunday_night).session() is MarketSession.OVERNIGHT
    without = broker_at(sunday_night, overnight=False)
    assert without.session() is MarketSession.CLOSED
    with pytest.raises(OrderRefused, match="no overnight"):
        await without.submit_limit(limit(MarketSession.OVERNIGHT))
    assert without.submissions == 0


async def test_given_the_weekend_when_asked_then_the_clock_names_mondays_open_and_close() -> None:
    broker = broker_at(at(FRIDAY + timedelta(days=1), 12))
    clock = await broker.clock()
    monday = FRIDAY + timedelta(days=3)
    assert (clock.is_open, clock.next_open, clock.next_close) == (
        False,
        local(monday, time(9, 30)),
        local(monday, time(16, 0)),
    )


async def test_market_orders_are_refused_outside_the_regular_session() -> None:
    clock = at(FRIDAY, 17)
    broker = broker_at(clock)
    with pytest.raises(MarketClosed) as closed:
        await broker.submit(market())
    assert closed.value.retry_at == local(FRIDAY + timedelta(days=3), time(9, 30))
    assert broker.submissions == 0


async def test_a_limit_order_for_another_session_is_market_closed_and_sends_nothing() -> None:
    broker = broker_at(at(FRIDAY, 17))
    with pytest.raises(MarketClosed) as closed:
        await broker.submit_limit(limit(MarketSession.PRE))
    assert closed.value.retry_at == local(FRIDAY + timedelta(days=3), time(4, 0))
    with pytest.raises(MarketClosed):
        await broker.submit_limit(limit(MarketSession.REGULAR))
    assert broker.submissions == 0


async def test_off_tick_limit_prices_are_refused() -> None:
    broker = broker_at(at(FRIDAY, 17))
    with pytest.raises(OrderRefused, match="tick"):
        await broker.submit_limit(limit(MarketSession.POST, price="99.505"))
    with pytest.raises(OrderRefused, match="tick"):
        await broker.submit_limit(limit(MarketSession.POST, price="0.12345"))
    assert broker.submissions == 0


async def test_a_resting_buy_fills_at_its_limit_only_once_the_price_crosses_it() -> None:
    broker = broker_at(at(FRIDAY, 17))
    order_id = await broker.submit_limit(limit(MarketSession.POST, quantity="5", price="99.50"))
    resting = await broker.order_status(order_id)
    assert (resting.state, resting.broker_status, resting.filled_quantity) == (OrderState.SUBMITTED, "new", Shares(0))
    broker.set_price(AAPL, PriceUsdc("99.51"))
    assert (await broker.order_status(order_id)).state is OrderState.SUBMITTED
    broker.set_price(AAPL, PriceUsdc("99.00"))
    filled = await broker.order_status(order_id)
    assert filled.state is OrderState.FILLED
    assert filled.average_price == Cents("9950")  # at the limit, not at the market's 99.00
    assert filled.filled_notional == Usdc("497.50")
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [(AAPL, Shares(5))]
    assert (await broker.balances()).cash == Usdc("100000") - Usdc("497.50")


async def test_a_sell_fills_when_the_price_is_at_or_above_its_limit() -> None:
    broker = broker_at(at(FRIDAY, 5), price="100")
    order_id = await broker.submit_limit(limit(MarketSession.PRE, side=Direction.SELL, quantity="2", price="100.00"))
    report = await broker.order_status(order_id)
    assert report.state is OrderState.FILLED  # marketable on arrival: price 100 ≥ limit 100
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [(AAPL, Shares(-2))]


async def test_partial_fill_stays_partial_and_cancel_keeps_it() -> None:
    """The engine's reconcile-before-cancel: 2 of 5 fill, the cancel leaves them filled and the rest not."""
    broker = broker_at(at(FRIDAY, 17))
    order_id = await broker.submit_limit(limit(MarketSession.POST, quantity="5", price="99.50"))
    broker.set_price(AAPL, PriceUsdc("99.00"), fill_at_most=Shares(2))
    for _ in range(3):  # looking again does not fill more: the offered shares are used up
        partial = await broker.order_status(order_id)
        assert (partial.state, partial.filled_quantity) == (OrderState.PARTIALLY_FILLED, Shares(2))
    await broker.cancel(order_id)
    cancelled = await broker.order_status(order_id)
    assert (cancelled.state, cancelled.broker_status) == (OrderState.CANCELLED, "canceled")
    assert cancelled.filled_quantity == Shares(2)
    assert cancelled.average_price == Cents("9950")
    broker.set_price(AAPL, PriceUsdc("90"))
    assert (await broker.order_status(order_id)).filled_quantity == Shares(2)  # a cancelled order never fills
    assert [(p.symbol, p.quantity) for p in await broker.positions()] == [(AAPL, Shares(2))]
    await broker.cancel(order_id)  # idempotent
    assert (await broker.order_status(order_id)).state is OrderState.CANCELLED


async def test_cancel_of_a_filled_order_is_no_error_and_changes_nothing() -> None:
    broker = broker_at(at(FRIDAY, 17), price="99")
    order_id = await broker.submit_limit(limit(MarketSession.POST, price="99.50"))
    await broker.cancel(order_id)
    assert (await broker.order_status(order_id)).state is OrderState.FILLED


async def test_resubmitting_a_client_order_id_returns_the_first_order_and_replacements_are_new() -> None:
    broker = broker_at(at(FRIDAY, 17))
    first = limit(MarketSession.POST, n=1)
    order_id = await broker.submit_limit(first)
    assert await broker.submit_limit(first) == order_id
    assert broker.submissions == 1
    since = local(FRIDAY, time(16, 0))
    found = await broker.find_limit_order(first, since=since)
    assert found is not None
    assert (found.order_id, found.client_order_id) == (order_id, first.client_order_id)
    second = LimitOrder(
        f"{first.execution_id}-2", first.execution_id, AAPL, Direction.BUY, Shares(5), PriceUsdc("99.60"), first.session
    )
    assert await broker.find_limit_order(second, since=since) is None
    assert await broker.submit_limit(second) != order_id
    assert broker.submissions == 2


async def test_an_order_expires_at_the_end_of_its_trading_day_keeping_its_fill() -> None:
    clock = at(FRIDAY, 19, 30)
    broker = broker_at(clock)
    order_id = await broker.submit_limit(limit(MarketSession.POST, quantity="5", price="99.50"))
    broker.set_price(AAPL, PriceUsdc("99"), fill_at_most=Shares(1))
    clock.advance(timedelta(minutes=30).total_seconds())  # 20:00: after hours end
    expired = await broker.order_status(order_id)
    assert (expired.state, expired.broker_status, expired.filled_quantity) == (
        OrderState.CANCELLED,
        "expired",
        Shares(1),
    )


async def test_a_crossed_order_does_not_fill_while_the_market_is_closed() -> None:
    clock = at(FRIDAY, 15, 59)
    broker = broker_at(clock)
    order_id = await broker.submit_limit(limit(MarketSession.REGULAR, price="99.50"))
    clock.advance(120)  # 16:01: a regular day order has expired; the price comes too late
    broker.set_price(AAPL, PriceUsdc("99"))
    report = await broker.order_status(order_id)
    assert (report.state, report.broker_status, report.filled_quantity) == (OrderState.CANCELLED, "expired", Shares(0))


async def test_the_explicit_flag_overrides_the_calendar() -> None:
    broker = DryRunBroker(DryRunConfig(prices={AAPL: PriceUsdc("100")}), clock=at(FRIDAY + timedelta(days=1), 12))
    assert broker.session() is MarketSession.REGULAR  # default True: always the regular session
    await broker.submit(market())
    broker.set_market_open(False)
    with pytest.raises(MarketClosed):
        await broker.submit(market())
    broker.set_market_open(None)  # the calendar: Saturday noon is closed
    assert broker.session() is MarketSession.CLOSED
