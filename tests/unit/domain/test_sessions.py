"""Sessions from a trading calendar: every transition, early closes, holidays, weekends, both DST changes.

Given a calendar, when it is some New York wall-clock instant, then the session is X and the next one is
Y at Z. Weeks of 2026: DST starts Sunday 8 March and ends Sunday 1 November; Thanksgiving is Thursday
26 November (Friday 27 closes at 13:00).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import pytest

from arbtui.domain.sessions import (
    NEW_YORK,
    CalendarError,
    CloseAhead,
    MarketSession,
    OutsideCalendar,
    SessionNow,
    TradingCalendar,
    TradingDay,
    weekday_calendar,
)

REGULAR, PRE, POST = MarketSession.REGULAR, MarketSession.PRE, MarketSession.POST
OVERNIGHT, CLOSED = MarketSession.OVERNIGHT, MarketSession.CLOSED
EXTENDED_AND_OVERNIGHT = frozenset({REGULAR, PRE, POST, OVERNIGHT})
THANKSGIVING = date(2026, 11, 26)
BLACK_FRIDAY = date(2026, 11, 27)


def ny(text: str) -> datetime:
    """``"2026-03-06 16:00"`` as an aware New York instant."""
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


@dataclass(frozen=True)
class When:
    calendar: TradingCalendar
    at: datetime

    def then(self, session: MarketSession, next_session: MarketSession | None, next_at: str | None) -> SessionNow:
        now = self.calendar.session_at(self.at)
        assert now.session is session, f"at {self.at}: {now.session} instead of {session}"
        if next_session is None:
            assert now.next is None, f"at {self.at}: expected an unknown next session, got {now.next}"
        else:
            assert now.next is not None, f"at {self.at}: no next session"
            assert (now.next.session, now.next.at) == (next_session, ny(str(next_at)))
        return now


@dataclass(frozen=True)
class Given:
    calendar: TradingCalendar

    def when(self, text: str) -> When:
        return When(self.calendar, ny(text))


def given_calendar(
    start: str,
    end: str,
    *,
    holidays: tuple[date, ...] = (),
    early_closes: tuple[date, ...] = (),
    overnight: bool = True,
    pre_open: time = time(4, 0),
) -> Given:
    return Given(
        weekday_calendar(
            date.fromisoformat(start),
            date.fromisoformat(end),
            holidays=holidays,
            early_closes=early_closes,
            overnight=overnight,
            pre_open=pre_open,
        )
    )


WEEK = given_calendar("2026-01-04", "2026-01-17")
"""Sunday 4 to Saturday 17 January 2026: two plain weeks at Alpaca (overnight trading)."""


# -- one weekday, every transition ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("at", "session", "next_session", "next_at"),
    [
        ("2026-01-06 00:30", OVERNIGHT, PRE, "2026-01-06 04:00"),
        ("2026-01-06 04:00", PRE, REGULAR, "2026-01-06 09:30"),
        ("2026-01-06 09:29:59.999999", PRE, REGULAR, "2026-01-06 09:30"),
        ("2026-01-06 09:30", REGULAR, POST, "2026-01-06 16:00"),
        ("2026-01-06 15:59:59", REGULAR, POST, "2026-01-06 16:00"),
        ("2026-01-06 16:00", POST, OVERNIGHT, "2026-01-06 20:00"),
        ("2026-01-06 20:00", OVERNIGHT, PRE, "2026-01-07 04:00"),
        ("2026-01-06 23:59", OVERNIGHT, PRE, "2026-01-07 04:00"),
    ],
)
def test_every_transition_of_a_weekday(
    at: str, session: MarketSession, next_session: MarketSession, next_at: str
) -> None:
    WEEK.when(at).then(session, next_session, next_at)


def test_a_venue_without_overnight_is_closed_at_night_and_opens_its_own_pre_market() -> None:
    schwab = given_calendar("2026-01-04", "2026-01-17", overnight=False, pre_open=time(7, 0))
    schwab.when("2026-01-06 19:59").then(POST, CLOSED, "2026-01-06 20:00")
    schwab.when("2026-01-06 20:00").then(CLOSED, PRE, "2026-01-07 07:00")
    schwab.when("2026-01-07 06:59").then(CLOSED, PRE, "2026-01-07 07:00")
    schwab.when("2026-01-07 07:00").then(PRE, REGULAR, "2026-01-07 09:30")


# -- weekend ------------------------------------------------------------------------------------------
def test_weekend_no_overnight_friday_or_saturday_night_then_sunday_overnight() -> None:
    WEEK.when("2026-01-09 19:00").then(POST, CLOSED, "2026-01-09 20:00")
    WEEK.when("2026-01-09 20:00").then(CLOSED, OVERNIGHT, "2026-01-11 20:00")
    WEEK.when("2026-01-10 12:00").then(CLOSED, OVERNIGHT, "2026-01-11 20:00")
    WEEK.when("2026-01-11 19:59").then(CLOSED, OVERNIGHT, "2026-01-11 20:00")
    WEEK.when("2026-01-11 20:00").then(OVERNIGHT, PRE, "2026-01-12 04:00")
    WEEK.when("2026-01-12 04:00").then(PRE, REGULAR, "2026-01-12 09:30")


def test_weekend_walk_friday_15_to_monday_10_lists_every_transition() -> None:
    transitions = list(WEEK.calendar.upcoming(ny("2026-01-09 15:00")))
    walked = [(t.session, t.at) for t in transitions if t.at <= ny("2026-01-12 10:00")]
    assert walked == [
        (POST, ny("2026-01-09 16:00")),
        (CLOSED, ny("2026-01-09 20:00")),
        (OVERNIGHT, ny("2026-01-11 20:00")),
        (PRE, ny("2026-01-12 04:00")),
        (REGULAR, ny("2026-01-12 09:30")),
    ]


# -- holidays and early closes --------------------------------------------------------------------------
THANKSGIVING_WEEK = given_calendar("2026-11-22", "2026-12-05", holidays=(THANKSGIVING,), early_closes=(BLACK_FRIDAY,))


def test_no_overnight_the_night_before_a_full_holiday() -> None:
    THANKSGIVING_WEEK.when("2026-11-25 16:00").then(POST, CLOSED, "2026-11-25 20:00")
    THANKSGIVING_WEEK.when("2026-11-25 20:00").then(CLOSED, OVERNIGHT, "2026-11-26 20:00")
    THANKSGIVING_WEEK.when("2026-11-26 12:00").then(CLOSED, OVERNIGHT, "2026-11-26 20:00")


def test_overnight_the_night_after_a_holiday_leads_into_the_next_trading_day() -> None:
    THANKSGIVING_WEEK.when("2026-11-26 20:00").then(OVERNIGHT, PRE, "2026-11-27 04:00")


def test_early_close_ends_regular_at_13_and_after_hours_at_17() -> None:
    THANKSGIVING_WEEK.when("2026-11-27 12:59").then(REGULAR, POST, "2026-11-27 13:00")
    THANKSGIVING_WEEK.when("2026-11-27 13:00").then(POST, CLOSED, "2026-11-27 17:00")
    THANKSGIVING_WEEK.when("2026-11-27 17:00").then(CLOSED, OVERNIGHT, "2026-11-29 20:00")
    day = THANKSGIVING_WEEK.calendar.trading_day(BLACK_FRIDAY)
    assert day is not None
    assert day.early_close
    assert THANKSGIVING_WEEK.calendar.trading_day(THANKSGIVING) is None


def test_early_close_before_a_trading_day_is_closed_until_the_overnight_at_20() -> None:
    odd = given_calendar("2026-01-04", "2026-01-10", early_closes=(date(2026, 1, 6),))
    odd.when("2026-01-06 16:59").then(POST, CLOSED, "2026-01-06 17:00")
    odd.when("2026-01-06 17:00").then(CLOSED, OVERNIGHT, "2026-01-06 20:00")


def test_a_holiday_on_monday_moves_the_weekend_overnight_to_monday_night() -> None:
    mlk = given_calendar("2026-01-11", "2026-01-24", holidays=(date(2026, 1, 19),))
    mlk.when("2026-01-16 20:00").then(CLOSED, OVERNIGHT, "2026-01-19 20:00")
    mlk.when("2026-01-18 21:00").then(CLOSED, OVERNIGHT, "2026-01-19 20:00")


# -- daylight saving time -------------------------------------------------------------------------------
def test_spring_forward_weekend_keeps_wall_clock_sessions_and_shifts_utc() -> None:
    spring = given_calendar("2026-03-01", "2026-03-14")
    friday = spring.when("2026-03-06 15:00").then(REGULAR, POST, "2026-03-06 16:00")
    assert friday.next is not None
    assert friday.next.at == datetime(2026, 3, 6, 21, 0, tzinfo=UTC)  # EST, UTC-5
    sunday = spring.when("2026-03-06 20:00").then(CLOSED, OVERNIGHT, "2026-03-08 20:00")
    assert sunday.next is not None
    assert sunday.next.at == datetime(2026, 3, 9, 0, 0, tzinfo=UTC)  # EDT, UTC-4
    monday = spring.when("2026-03-09 05:00").then(PRE, REGULAR, "2026-03-09 09:30")
    assert monday.next is not None
    assert monday.next.at == datetime(2026, 3, 9, 13, 30, tzinfo=UTC)
    # Friday's close to Monday's open is an hour shorter than the wall clock says.
    assert monday.next.at - ny("2026-03-06 16:00") == timedelta(hours=64, minutes=30)


def test_fall_back_weekend_keeps_wall_clock_sessions_and_shifts_utc() -> None:
    fall = given_calendar("2026-10-25", "2026-11-07")
    friday = fall.when("2026-10-30 15:00").then(REGULAR, POST, "2026-10-30 16:00")
    assert friday.next is not None
    assert friday.next.at == datetime(2026, 10, 30, 20, 0, tzinfo=UTC)  # EDT
    sunday = fall.when("2026-10-31 12:00").then(CLOSED, OVERNIGHT, "2026-11-01 20:00")
    assert sunday.next is not None
    assert sunday.next.at == datetime(2026, 11, 2, 1, 0, tzinfo=UTC)  # EST
    # The repeated hour 01:00–02:00 on Sunday is inside the weekend's CLOSED, both times.
    first = datetime(2026, 11, 1, 1, 30, tzinfo=NEW_YORK)
    second = first.replace(fold=1)
    assert fall.calendar.session_at(first).session is CLOSED
    assert fall.calendar.session_at(second).session is CLOSED
    assert ny("2026-11-02 09:30").astimezone(UTC) - ny("2026-10-30 16:00").astimezone(UTC) == timedelta(
        hours=66, minutes=30
    )


def test_instants_in_utc_and_in_new_york_agree() -> None:
    utc = WEEK.calendar.session_at(datetime(2026, 1, 6, 14, 30, tzinfo=UTC))
    assert utc.session is REGULAR  # 09:30 EST


# -- the calendar's edges -----------------------------------------------------------------------------
def test_outside_the_calendar_is_unknown() -> None:
    with pytest.raises(OutsideCalendar):
        WEEK.calendar.session_at(ny("2026-01-03 12:00"))
    with pytest.raises(OutsideCalendar):
        WEEK.calendar.session_at(ny("2026-01-18 12:00"))
    with pytest.raises(OutsideCalendar):
        WEEK.calendar.close_ahead(ny("2026-01-18 12:00"), frozenset({REGULAR}))


def test_the_night_after_the_last_date_is_unknown_at_an_overnight_venue() -> None:
    ends_friday = given_calendar("2026-01-05", "2026-01-09")
    ends_friday.when("2026-01-09 19:00").then(POST, None, None)
    with pytest.raises(OutsideCalendar):
        ends_friday.calendar.session_at(ny("2026-01-09 20:00"))


def test_after_the_last_session_a_venue_without_overnight_is_closed_then_unknown() -> None:
    ends_friday = given_calendar("2026-01-05", "2026-01-09", overnight=False)
    ends_friday.when("2026-01-09 19:00").then(POST, CLOSED, "2026-01-09 20:00")
    ends_friday.when("2026-01-09 21:00").then(CLOSED, None, None)


def test_status_bar_words() -> None:
    assert WEEK.calendar.session_at(ny("2026-01-09 17:00")).describe() == "POST → CLOSED 20:00 ET"
    assert WEEK.calendar.session_at(ny("2026-01-10 17:00")).describe() == "CLOSED → OVERNIGHT 20:00 ET"


# -- long closes (the flatten rule's question) -------------------------------------------------------------
def close(given: Given, at: str, sessions: frozenset[MarketSession]) -> CloseAhead:
    return given.calendar.close_ahead(ny(at), sessions)


def test_a_weeknight_is_not_a_long_close() -> None:
    ahead = close(WEEK, "2026-01-06 10:00", frozenset({REGULAR}))
    assert (ahead.closes_at, ahead.reopens_at) == (ny("2026-01-06 16:00"), ny("2026-01-07 09:30"))
    assert not ahead.is_long


def test_friday_is_a_long_close_for_every_policy() -> None:
    regular = close(WEEK, "2026-01-09 10:00", frozenset({REGULAR}))
    assert (regular.closes_at, regular.reopens_at) == (ny("2026-01-09 16:00"), ny("2026-01-12 09:30"))
    assert regular.is_long
    extended = close(WEEK, "2026-01-09 10:00", frozenset({REGULAR, PRE, POST}))
    assert (extended.closes_at, extended.reopens_at) == (ny("2026-01-09 20:00"), ny("2026-01-12 04:00"))
    assert extended.is_long
    everything = close(WEEK, "2026-01-07 10:00", EXTENDED_AND_OVERNIGHT)
    assert (everything.closes_at, everything.reopens_at) == (ny("2026-01-09 20:00"), ny("2026-01-11 20:00"))
    assert (everything.closes_day, everything.reopens_day) == (date(2026, 1, 9), date(2026, 1, 12))
    assert everything.is_long


def test_extended_hours_weeknight_is_not_a_long_close() -> None:
    ahead = close(WEEK, "2026-01-06 17:00", frozenset({REGULAR, PRE, POST}))
    assert (ahead.closes_at, ahead.reopens_at) == (ny("2026-01-06 20:00"), ny("2026-01-07 04:00"))
    assert not ahead.is_long


def test_the_eve_of_a_holiday_is_a_long_close_even_with_overnight_trading() -> None:
    ahead = close(THANKSGIVING_WEEK, "2026-11-25 12:00", EXTENDED_AND_OVERNIGHT)
    assert (ahead.closes_at, ahead.reopens_at) == (ny("2026-11-25 20:00"), ny("2026-11-26 20:00"))
    assert ahead.is_long  # Friday's overnight begins Thursday evening: Thursday trades nothing
    regular = close(THANKSGIVING_WEEK, "2026-11-25 12:00", frozenset({REGULAR}))
    assert regular.reopens_at == ny("2026-11-27 09:30")
    assert regular.is_long


def test_before_the_first_session_the_next_run_is_the_one_that_counts() -> None:
    ahead = close(WEEK, "2026-01-10 12:00", frozenset({REGULAR}))
    assert (ahead.closes_at, ahead.reopens_at) == (ny("2026-01-12 16:00"), ny("2026-01-13 09:30"))


def test_a_close_the_calendar_cannot_see_past_is_long() -> None:
    ends_friday = given_calendar("2026-01-05", "2026-01-09")
    last = close(ends_friday, "2026-01-09 10:00", frozenset({REGULAR}))
    assert last.closes_at == ny("2026-01-09 16:00")
    assert last.reopens_at is None
    assert last.is_long
    # With overnight trading the run may go on into a night the calendar does not hold.
    unknown = close(ends_friday, "2026-01-09 10:00", EXTENDED_AND_OVERNIGHT)
    assert (unknown.closes_at, unknown.reopens_at) == (None, None)
    assert unknown.is_long


# -- construction -----------------------------------------------------------------------------------------
def test_naive_times_are_refused() -> None:
    with pytest.raises(CalendarError, match="aware"):
        TradingDay(
            date(2026, 1, 6),
            datetime(2026, 1, 6, 4),
            datetime(2026, 1, 6, 9, 30),
            datetime(2026, 1, 6, 16),
            datetime(2026, 1, 6, 20),
        )


def test_sessions_out_of_order_are_refused() -> None:
    with pytest.raises(CalendarError, match="out of order"):
        TradingDay.at_local(date(2026, 1, 6), open=time(16, 0), close=time(9, 30))


def test_a_day_twice_or_outside_the_range_is_refused() -> None:
    day = TradingDay.at_local(date(2026, 1, 6))
    with pytest.raises(CalendarError, match="twice"):
        TradingCalendar(date(2026, 1, 5), date(2026, 1, 9), (day, day))
    with pytest.raises(CalendarError, match="outside"):
        TradingCalendar(date(2026, 1, 7), date(2026, 1, 9), (day,))
    with pytest.raises(CalendarError, match="before it starts"):
        TradingCalendar(date(2026, 1, 9), date(2026, 1, 7), ())


def test_days_are_kept_in_date_order() -> None:
    later, earlier = TradingDay.at_local(date(2026, 1, 7)), TradingDay.at_local(date(2026, 1, 6))
    calendar = TradingCalendar(date(2026, 1, 5), date(2026, 1, 9), (later, earlier))
    assert [d.day for d in calendar.days] == [date(2026, 1, 6), date(2026, 1, 7)]
    assert calendar == TradingCalendar(date(2026, 1, 5), date(2026, 1, 9), (earlier, later))
