"""Alpaca through the real alpaca-py against the local server: idempotency, faults, fractional mode."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from datetime import date, time
from decimal import Decimal

import pytest
from loguru import logger
from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.base import (
    AuthExpired,
    BrokerUnavailable,
    OrderRefused,
    OrderRejected,
    OrderState,
    RateLimited,
)
from arbtui.brokers.resilience import RetryPolicy
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain.sessions import MarketSession, local
from arbtui.domain.values import Shares
from tests.fakes.clock import FakeClock
from tests.integration.brokers.conftest import FAST_POLICY, limit_order, market_order, wait_terminal

AlpacaFactory = Callable[..., AlpacaBroker]


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


async def test_submit_timing_out_after_the_server_accepted_creates_exactly_one_order(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    broker = alpaca_factory(policy=RetryPolicy(max_attempts=3, base_delay=0.01, request_timeout=0.2))
    alpaca_server.faults.slow(route="submit_order", delay=0.6)
    order = market_order("2")
    order_id = await broker.submit(order)
    assert alpaca_server.faults.fired["slow"] == 1
    assert alpaca_server.submissions_for(order.execution_id) == 1
    assert alpaca_server.book.total_orders == 1
    assert alpaca_server.hits["submit_order"] == 1
    assert alpaca_server.hits["order_by_client_id"] == 1
    assert (await broker.order_status(order_id)).client_order_id == order.execution_id
    await broker.aclose()


async def test_dropped_connection_on_submit_resolves_to_the_existing_order(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    broker = alpaca_factory()
    alpaca_server.faults.drop(route="submit_order")
    order = market_order("1")
    order_id = await broker.submit(order)
    assert alpaca_server.faults.fired["drop"] == 1
    assert alpaca_server.hits["order_by_client_id"] == 1  # the client really saw the drop
    assert alpaca_server.submissions_for(order.execution_id) == 1
    assert alpaca_server.book.total_orders == 1
    assert str(order_id) in alpaca_server.book.orders


async def test_429_storm_is_rescheduled_per_retry_after_without_losing_or_doubling(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    broker = alpaca_factory()
    alpaca_server.faults.rate_limit(times=6, retry_after="2", route="submit_order")
    orders = [market_order("1") for _ in range(3)]
    ids = await asyncio.gather(*(broker.submit(o) for o in orders))
    assert alpaca_server.faults.fired["rate_limit"] == 6
    assert len(set(ids)) == 3
    assert [alpaca_server.submissions_for(o.execution_id) for o in orders] == [1, 1, 1]
    assert alpaca_server.book.total_orders == 3
    assert alpaca_server.hits["submit_order"] == 9
    assert fake_clock.sleeps.count(2.0) == 6
    assert broker.resilience.rate_limited_waits == 6


async def test_retry_after_is_clamped_and_sdk_retries_are_off(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    broker = alpaca_factory(policy=RetryPolicy(max_retry_after=5.0, request_timeout=2.0))
    alpaca_server.faults.rate_limit(times=1, retry_after="86400", route="clock")
    started = asyncio.get_running_loop().time()
    assert (await broker.clock()).is_open
    assert alpaca_server.faults.fired["rate_limit"] == 1
    assert fake_clock.sleeps == [5.0]
    assert alpaca_server.hits["clock"] == 2  # the SDK did not retry on its own
    assert asyncio.get_running_loop().time() - started < 2.0  # and did not sleep its 3 s


async def test_endless_429_becomes_rate_limited_for_the_engine(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    broker = alpaca_factory(policy=RetryPolicy(max_rate_limit_waits=3, request_timeout=1.0))
    alpaca_server.faults.rate_limit(times=100, retry_after="1", route="submit_order")
    with pytest.raises(RateLimited) as caught:
        await broker.submit(market_order("1"))
    assert caught.value.retry_after == 1.0
    assert alpaca_server.faults.fired["rate_limit"] == 4
    assert alpaca_server.book.total_orders == 0


async def test_5xx_is_retried_then_a_typed_failure(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    broker = alpaca_factory()
    order_id = await broker.submit(market_order("1"))
    alpaca_server.faults.server_error(times=10, status=503, route="get_order")
    with pytest.raises(BrokerUnavailable) as caught:
        await broker.order_status(order_id)
    assert alpaca_server.faults.fired["server_error"] == FAST_POLICY.max_attempts
    assert caught.value.attempts == FAST_POLICY.max_attempts
    assert caught.value.status_code == 503
    assert len(fake_clock.sleeps) == FAST_POLICY.max_attempts - 1
    assert all(0 <= s <= FAST_POLICY.max_delay for s in fake_clock.sleeps)


async def test_5xx_on_submit_is_retried_into_exactly_one_order(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    broker = alpaca_factory()
    alpaca_server.faults.server_error(times=2, status=500, route="submit_order")
    order = market_order("1")
    await broker.submit(order)
    assert alpaca_server.faults.fired["server_error"] == 2
    assert alpaca_server.submissions_for(order.execution_id) == 1
    assert alpaca_server.hits["order_by_client_id"] == 2  # looked up after each 500 before resending


async def test_fractional_mode_sends_037_shares_when_notional_reaches_one_dollar(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    broker = alpaca_factory(fractional=True)
    order_id = await broker.submit(market_order("0.37", price="187.12"))
    assert alpaca_server.last_submit_body is not None
    assert alpaca_server.last_submit_body["qty"] == "0.37"
    report = await wait_terminal(broker, order_id)
    assert report.state is OrderState.FILLED
    assert report.filled_quantity == Shares("0.37")


@pytest.mark.parametrize(("quantity", "price"), [("0.5", "1.00"), ("0.001", "187.12"), ("0.37", None)])
async def test_fractional_order_under_one_dollar_or_unpriced_is_refused_before_sending(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, quantity: str, price: str | None
) -> None:
    broker = alpaca_factory(fractional=True)
    with pytest.raises(OrderRefused):
        await broker.submit(market_order(quantity, price=price))
    assert alpaca_server.hits["submit_order"] == 0


async def test_fractional_quantity_is_refused_when_fractional_mode_is_off(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory
) -> None:
    with pytest.raises(OrderRefused, match="fractional mode is off"):
        await alpaca_factory(fractional=False).submit(market_order("0.37"))
    assert alpaca_server.hits["submit_order"] == 0


async def test_server_enforces_the_minimum_too(alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory) -> None:
    """The fake is not a pushover: the same $0.50 order sent past our check is refused by the server."""
    broker = alpaca_factory(fractional=True)
    alpaca_server.book.prices["AAPL"] = Decimal("1.00")
    with pytest.raises(OrderRejected, match="cost basis"):
        await broker.submit(market_order("0.5", price="2.00"))
    assert alpaca_server.book.total_orders == 0


async def test_wrong_credentials_are_auth_expired(alpaca_server: AlpacaServer, fake_clock: FakeClock) -> None:
    config = AlpacaConfig(
        api_key=SecretStr("nope"), api_secret=SecretStr("nope"), base_url=alpaca_server.url, retry=FAST_POLICY
    )
    with pytest.raises(AuthExpired):
        await AlpacaBroker(config, clock=fake_clock).clock()


async def test_requests_are_logged_without_credentials(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, log_lines: list[str]
) -> None:
    broker = alpaca_factory()
    await broker.submit(market_order("1"))
    await broker.balances()
    text = "".join(log_lines)
    assert "/v2/orders" in text
    assert "/v2/account" in text
    assert alpaca_server.api_secret not in text
    assert alpaca_server.api_key not in text
    assert "test-secret" not in repr(AlpacaConfig(api_key=SecretStr("k"), api_secret=SecretStr("test-secret")))


def test_config_defaults_to_paper() -> None:
    config = AlpacaConfig(api_key=SecretStr("k"), api_secret=SecretStr("s"))
    assert config.paper is True
    assert config.fractional is False
    assert config.requests_per_minute == 200


async def test_an_overnight_refusal_is_a_clear_rejection_naming_what_was_sent(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    """Were Alpaca to refuse an overnight order sent as the published rule allows (extended-hours limit
    day), the adapter says so in words — session and fields — and never retries it."""
    fake_clock.set_now(local(date(2026, 12, 6), time(21, 0)))  # Sunday night: the overnight session
    alpaca_server.follow_calendar(fake_clock.now)
    alpaca_server.reject_next(status=422, message="overnight trading is not enabled for this account")
    broker = alpaca_factory()
    with pytest.raises(OrderRejected) as refused:
        await broker.submit_limit(limit_order(MarketSession.OVERNIGHT))
    assert "OVERNIGHT limit order (limit 187 day, extended_hours=True)" in str(refused.value)
    assert "overnight trading is not enabled" in str(refused.value)
    assert alpaca_server.submit_requests == 1
    assert alpaca_server.book.total_orders == 0
    await broker.aclose()


async def test_a_timed_out_limit_submit_is_found_by_its_client_id_not_resent(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    fake_clock.set_now(local(date(2026, 12, 4), time(17, 0)))
    alpaca_server.follow_calendar(fake_clock.now)
    alpaca_server.faults.drop(route="submit_order")
    broker = alpaca_factory()
    order = limit_order(MarketSession.POST)
    order_id = await broker.submit_limit(order)
    assert alpaca_server.faults.fired["drop"] == 1
    assert alpaca_server.book.total_orders == 1
    assert (await broker.order_status(order_id)).client_order_id == order.client_order_id
    await broker.aclose()
