"""Every adapter's calendar against its local server (Alpaca ``/v2/calendar`` read raw, Schwab's
``/marketdata/v1/markets`` one date at a time, dry-run's configured one), and the cache later code asks
before each placement: re-read when old, kept through a broker outage only while it still covers now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

import pytest

from arbtui.brokers.alpaca import AlpacaBroker
from arbtui.brokers.base import BrokerUnavailable
from arbtui.brokers.calendar import MarketCalendar
from arbtui.brokers.dry_run import DryRunBroker, DryRunCalendar, DryRunConfig
from arbtui.brokers.schwab import SchwabBroker
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain.sessions import NEW_YORK, MarketSession, local
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer
from tests.integration.brokers.conftest import Venue

AlpacaFactory = Callable[..., AlpacaBroker]
SchwabFactory = Callable[..., SchwabBroker]


def _weekday_after(day: date, weekday: int, weeks: int = 1) -> date:
    ahead = (weekday - day.weekday()) % 7 or 7
    return day + timedelta(days=ahead + 7 * (weeks - 1))


def _today(clock: FakeClock) -> date:
    return clock.now().astimezone(NEW_YORK).date()


async def test_each_venue_serves_its_calendar_with_holidays_and_early_closes(venue: Venue) -> None:
    today = _today(venue.clock)
    holiday = _weekday_after(today, 2, weeks=2)  # a Wednesday at least a week away
    early = holiday + timedelta(days=1)  # the Thursday after it
    plain = holiday - timedelta(days=1)  # the Tuesday before it
    venue.set_calendar(holidays={holiday}, early_closes={early})

    calendar = await venue.broker.calendar(plain - timedelta(days=1), early + timedelta(days=3))

    assert calendar.trading_day(holiday) is None
    assert calendar.trading_day(early + timedelta(days=2)) is None  # Saturday
    day = calendar.trading_day(plain)
    assert day is not None
    pre_open = time(7, 0) if venue.schwab is not None else time(4, 0)
    assert (day.pre_open, day.open, day.close, day.post_close) == (
        local(plain, pre_open),
        local(plain, time(9, 30)),
        local(plain, time(16, 0)),
        local(plain, time(20, 0)),
    )
    short = calendar.trading_day(early)
    assert short is not None
    assert short.early_close
    assert (short.close, short.post_close) == (local(early, time(13, 0)), local(early, time(17, 0)))
    assert calendar.overnight is (venue.schwab is None)
    night_before_holiday = local(plain, time(21, 0))
    assert calendar.session_at(night_before_holiday).session is MarketSession.CLOSED


async def test_alpaca_calendar_is_one_raw_request_with_the_range(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    broker = alpaca_factory()
    start = _weekday_after(_today(fake_clock), 0)  # a Monday
    calendar = await broker.calendar(start, start + timedelta(days=6))
    assert alpaca_server.hits["calendar"] == 1
    assert len(calendar.days) == 5
    assert calendar.days[0].pre_open == local(start, time(4, 0))  # session_open "0400", read raw
    await broker.aclose()


async def test_schwab_asks_one_date_at_a_time_and_never_before_today(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    broker = schwab_factory()
    today = _today(fake_clock)
    calendar = await broker.calendar(today - timedelta(days=3), today + timedelta(days=4))
    assert schwab_server.hits["markets"] == 5  # today .. today + 4: the server refuses past dates
    assert calendar.start == today
    assert not calendar.overnight


# -- the cache -------------------------------------------------------------------------------------------
async def test_the_calendar_is_cached_then_re_read_when_old(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    calendars = MarketCalendar(alpaca_factory(), fake_clock, max_age=timedelta(minutes=15))
    first = await calendars.current()
    assert await calendars.current() is first
    assert alpaca_server.hits["calendar"] == 1
    fake_clock.advance(15 * 60)
    await calendars.current()
    assert alpaca_server.hits["calendar"] == 2
    calendars.invalidate()
    await calendars.session_now()
    assert alpaca_server.hits["calendar"] == 3
    assert calendars.reads == 3
    assert first.covers(fake_clock.now())
    assert first.end >= _today(fake_clock) + timedelta(days=9)


async def test_a_broker_outage_keeps_the_cached_calendar_while_it_covers_now(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    calendars = MarketCalendar(alpaca_factory(), fake_clock, max_age=timedelta(minutes=1))
    cached = await calendars.current()
    fake_clock.advance(120)
    alpaca_server.faults.server_error(times=10, status=503, route="calendar")
    assert await calendars.current() is cached
    assert alpaca_server.faults.fired["server_error"] >= 1
    assert calendars.stale_since is not None
    alpaca_server.faults.clear()
    fake_clock.advance(120)
    assert await calendars.current() is not cached
    assert calendars.stale_since is None


async def test_without_a_usable_calendar_the_outage_is_raised(
    alpaca_server: AlpacaServer, alpaca_factory: AlpacaFactory, fake_clock: FakeClock
) -> None:
    calendars = MarketCalendar(alpaca_factory(), fake_clock)
    alpaca_server.faults.server_error(times=10, status=503, route="calendar")
    with pytest.raises(BrokerUnavailable):
        await calendars.current()
    assert alpaca_server.faults.fired["server_error"] >= 1


@pytest.mark.parametrize("lookahead", [timedelta(hours=1), timedelta(days=-1)])
def test_a_lookahead_under_a_day_is_refused(lookahead: timedelta) -> None:
    with pytest.raises(ValueError, match="lookahead"):
        MarketCalendar(DryRunBroker(), FakeClock(), lookahead=lookahead)


async def test_a_controlled_clock_walks_friday_15_to_monday_10_through_every_session() -> None:
    """What the later engine tests stand on: a fake clock and the dry-run calendar, a holiday Monday
    included, walked forward an hour at a time."""
    friday = datetime(2026, 1, 9, 15, 0, tzinfo=NEW_YORK)
    clock = FakeClock(start=friday.astimezone(UTC))
    calendars = MarketCalendar(DryRunBroker(DryRunConfig(calendar=DryRunCalendar())), clock)
    seen: list[tuple[MarketSession, str]] = []
    while clock.now() <= datetime(2026, 1, 12, 10, 0, tzinfo=NEW_YORK):
        now = await calendars.session_now()
        if not seen or seen[-1][0] is not now.session:
            seen.append((now.session, now.describe()))
        clock.advance(1800)
    assert seen == [
        (MarketSession.REGULAR, "REGULAR → POST 16:00 ET"),
        (MarketSession.POST, "POST → CLOSED 20:00 ET"),
        (MarketSession.CLOSED, "CLOSED → OVERNIGHT 20:00 ET"),
        (MarketSession.OVERNIGHT, "OVERNIGHT → PRE 04:00 ET"),
        (MarketSession.PRE, "PRE → REGULAR 09:30 ET"),
        (MarketSession.REGULAR, "REGULAR → POST 16:00 ET"),
    ]
    ahead = await calendars.close_ahead(frozenset({MarketSession.REGULAR}))
    assert not ahead.is_long  # Monday's close: Tuesday opens the next morning
