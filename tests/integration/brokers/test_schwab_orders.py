"""Schwab orders against the local server: ambiguous submits reconciled (never resent), faults typed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import date, time, timedelta
from decimal import Decimal

import pytest

from arbtui.brokers.base import AmbiguousSubmission, BrokerUnavailable, OrderRefused, OrderState
from arbtui.brokers.resilience import RetryPolicy
from arbtui.brokers.schwab import SchwabBroker
from arbtui.domain.sessions import MarketSession, local
from arbtui.domain.values import Direction
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer
from tests.integration.brokers.conftest import FAST_POLICY, limit_order, market_order, wait_terminal

SchwabFactory = Callable[..., SchwabBroker]


async def test_submit_timing_out_after_the_server_accepted_creates_exactly_one_order(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory
) -> None:
    broker = schwab_factory(policy=RetryPolicy(max_attempts=3, base_delay=0.01, request_timeout=0.2))
    await broker.clock()
    schwab_server.faults.slow(route="place_order", delay=0.6)
    order_id = await broker.submit(market_order("4"))
    assert schwab_server.faults.fired["slow"] == 1
    assert schwab_server.hits["place_order"] == 1
    assert schwab_server.book.total_orders == 1
    assert schwab_server.book.submissions["AAPL/BUY/4"] == 1
    assert str(order_id) in schwab_server.book.orders
    assert schwab_server.hits["list_orders"] >= 1


async def test_dropped_connection_is_reconciled_to_the_one_order(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory
) -> None:
    broker = schwab_factory()
    schwab_server.faults.drop(route="place_order")
    order_id = await broker.submit(market_order("2", side=Direction.SELL))
    assert schwab_server.faults.fired["drop"] == 1
    assert schwab_server.hits["list_orders"] == 1  # the client really saw the drop and reconciled
    assert schwab_server.book.total_orders == 1
    assert (await wait_terminal(broker, order_id)).state is OrderState.FILLED


async def test_5xx_on_submit_with_no_order_found_is_ambiguous_and_never_resent(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory
) -> None:
    broker = schwab_factory()
    schwab_server.faults.server_error(times=5, status=500, route="place_order")
    order = market_order("3")
    with pytest.raises(AmbiguousSubmission) as caught:
        await broker.submit(order)
    assert schwab_server.faults.fired["server_error"] == 1
    assert schwab_server.hits["place_order"] == 1
    assert schwab_server.book.total_orders == 0
    assert caught.value.execution_id == order.execution_id
    assert caught.value.candidates == ()


async def test_two_lookalike_orders_make_a_timed_out_submit_ambiguous(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory
) -> None:
    other = schwab_factory()  # e.g. a second process, or the operator by hand
    await other.submit(market_order("3"))
    broker = schwab_factory(policy=RetryPolicy(max_attempts=3, base_delay=0.01, request_timeout=0.2))
    schwab_server.faults.slow(route="place_order", delay=0.6)
    with pytest.raises(AmbiguousSubmission) as caught:
        await broker.submit(market_order("3"))
    assert schwab_server.faults.fired["slow"] == 1
    assert len(caught.value.candidates) == 2
    assert schwab_server.book.total_orders == 2  # nothing was resent


async def test_find_order_after_a_restart_reconciles_by_window(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    order = market_order("6")
    since = fake_clock.now() - timedelta(seconds=5)
    order_id = await schwab_factory().submit(order)
    fresh = schwab_factory()  # knows nothing in memory
    found = await fresh.find_order(order, since=since)
    assert found is not None
    assert found.order_id == order_id
    assert await fresh.find_order(market_order("7"), since=since) is None


@pytest.mark.parametrize("quantity", ["0.5", "2.25"])
async def test_fractional_quantities_are_refused_before_sending(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, quantity: str
) -> None:
    with pytest.raises(OrderRefused, match="whole shares"):
        await schwab_factory().submit(market_order(quantity))
    assert schwab_server.hits["place_order"] == 0


async def test_429_storm_on_place_order_is_rescheduled_into_one_order_each(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    broker = schwab_factory()
    await broker.clock()
    schwab_server.faults.rate_limit(times=5, retry_after="3", route="place_order")
    orders = [market_order(str(n)) for n in (1, 2, 3)]
    ids = await asyncio.gather(*(broker.submit(o) for o in orders))
    assert schwab_server.faults.fired["rate_limit"] == 5
    assert len(set(ids)) == 3
    assert schwab_server.book.total_orders == 3
    assert [schwab_server.book.submissions[f"AAPL/BUY/{n}"] for n in (1, 2, 3)] == [1, 1, 1]
    assert fake_clock.sleeps.count(3.0) == 5


async def test_5xx_on_status_is_retried_then_typed(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    broker = schwab_factory()
    order_id = await broker.submit(market_order("1"))
    schwab_server.faults.server_error(times=10, status=502, route="get_order")
    with pytest.raises(BrokerUnavailable) as caught:
        await broker.order_status(order_id)
    assert schwab_server.faults.fired["server_error"] == FAST_POLICY.max_attempts
    assert caught.value.attempts == FAST_POLICY.max_attempts
    assert schwab_server.hits["get_order"] == FAST_POLICY.max_attempts


async def test_status_moves_from_working_to_filled(schwab_server: SchwabServer, schwab_factory: SchwabFactory) -> None:
    schwab_server.book.accept_delay = 0.02
    schwab_server.book.fill_delay = 0.05
    broker = schwab_factory()
    order_id = await broker.submit(market_order("2"))
    first = await broker.order_status(order_id)
    assert first.state is OrderState.SUBMITTED
    assert first.average_price is None
    assert (await wait_terminal(broker, order_id)).state is OrderState.FILLED


async def test_a_limit_order_sent_before_a_crash_is_found_not_placed_twice(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    """No client order id at Schwab: a fresh process resubmitting the same attempt finds the open order."""
    fake_clock.set_now(local(date(2026, 12, 4), time(17, 0)))
    schwab_server.follow_calendar(fake_clock.now)
    order = limit_order(MarketSession.POST)
    first = await schwab_factory().submit_limit(order)
    after_restart = schwab_factory()  # remembers nothing
    assert await after_restart.submit_limit(order) == first
    assert schwab_server.book.total_orders == 1
    assert schwab_server.last_order_body is not None
    assert (schwab_server.last_order_body["session"], schwab_server.last_order_body["price"]) == ("PM", "187")


async def test_a_limit_order_timing_out_is_reconciled_to_the_one_order(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    fake_clock.set_now(local(date(2026, 12, 4), time(8, 0)))
    schwab_server.follow_calendar(fake_clock.now)
    broker = schwab_factory(policy=RetryPolicy(max_attempts=3, base_delay=0.01, request_timeout=0.2))
    schwab_server.faults.slow(route="place_order", delay=0.6)
    order_id = await broker.submit_limit(limit_order(MarketSession.PRE))
    assert schwab_server.faults.fired["slow"] == 1
    assert schwab_server.book.total_orders == 1
    assert str(order_id) in schwab_server.book.orders


async def test_fractional_limit_orders_are_refused_at_schwab(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    fake_clock.set_now(local(date(2026, 12, 4), time(17, 0)))
    schwab_server.follow_calendar(fake_clock.now)
    with pytest.raises(OrderRefused, match="whole shares"):
        await schwab_factory().submit_limit(limit_order(MarketSession.POST, quantity="1.5"))
    assert schwab_server.hits["place_order"] == 0


async def test_a_limit_lookup_never_takes_a_closed_earlier_attempt_for_this_one(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    """Attempt 1 cancelled, attempt 2 at the same price maybe sent before a crash: a fresh process that
    finds only attempt 1 must not call it attempt 2 (its fill would count twice) — it is ambiguous."""
    fake_clock.set_now(local(date(2026, 12, 4), time(17, 0)))
    schwab_server.follow_calendar(fake_clock.now)
    since = fake_clock.now() - timedelta(minutes=1)
    first = limit_order(MarketSession.POST, price="187.00")
    broker = schwab_factory()
    first_id = await broker.submit_limit(first)
    schwab_server.set_price("AAPL", Decimal("186"), fill_at_most=Decimal(1))
    await broker.cancel(first_id)
    second = limit_order(MarketSession.POST, price="187.00", execution_id=first.execution_id, attempt=2)
    after_restart = schwab_factory()
    with pytest.raises(AmbiguousSubmission, match="only closed"):
        await after_restart.find_limit_order(second, since=since)
    # once attempt 2 is really out (open), it is the one found
    second_id = await after_restart.submit_limit(second)
    assert second_id != first_id
    found = await schwab_factory().find_limit_order(second, since=since)
    assert found is not None
    assert found.order_id == second_id
