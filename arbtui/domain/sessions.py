"""US equity market sessions, computed from the broker's own trading calendar. Pure: no I/O, no clock.

A :class:`TradingCalendar` holds the trading days of a date range exactly as the broker's calendar gives
them — pre-market start, regular open and close, after-hours end, early closes included — and whether
the venue runs an overnight session. A date of the range that has no :class:`TradingDay` is a weekend
or a holiday: nothing here knows a holiday of its own.

The sessions of one trading day ``D`` (America/New_York)::

    OVERNIGHT  [max(20:00 of the calendar day before D, the previous trading day's after-hours end),
                D.pre_open)                — only where the venue has one (Alpaca's 24/5 session)
    PRE        [D.pre_open, D.open)
    REGULAR    [D.open, D.close)
    POST       [D.close, D.post_close)

and every other instant of the range is ``CLOSED``. The overnight session is the night *before* a
trading day, so Sunday night before Monday exists, Friday and Saturday nights do not, the night before
a full holiday does not (the holiday is no trading day) and the night after one does. An instant
outside the range is *unknown* (:class:`OutsideCalendar`): the caller reads a longer calendar.

All arithmetic is on aware datetimes held in UTC; local wall times are turned into instants with
:mod:`zoneinfo`, so the two daylight-saving changes (both on a Sunday at 02:00, inside the weekend's
``CLOSED``) shift UTC instants, never the sessions' wall-clock hours.
"""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

NEW_YORK = ZoneInfo("America/New_York")
"""The US equity market's time zone."""

OVERNIGHT_START = time(20, 0)
"""Wall-clock start of Alpaca's overnight session, on the calendar day before its trading day."""

ONE_DAY = timedelta(days=1)


class MarketSession(StrEnum):
    """Which part of the US equity market is trading at an instant."""

    REGULAR = "regular"
    PRE = "pre"
    """Pre-market (04:00–09:30 at Alpaca, 07:00–09:30 at Schwab)."""
    POST = "post"
    """After hours (16:00–20:00; 13:00–17:00 on an early-close day)."""
    OVERNIGHT = "overnight"
    """Alpaca's 24/5 session, 20:00–04:00 the night before a trading day."""
    CLOSED = "closed"

    @property
    def label(self) -> str:
        """The upper-case word the console shows (``POST``)."""
        return self.name


class CalendarError(ValueError):
    """A calendar that cannot be right (a naive time, overlapping days, a day outside its range, …)."""


class OutsideCalendar(LookupError):
    """The instant is outside the calendar's date range: its session is unknown."""


def local(day: date, at: time) -> datetime:
    """The instant of wall-clock ``at`` on ``day`` in New York (DST resolved by zoneinfo), in UTC.

    In UTC on purpose: Python subtracts two datetimes that share one ``tzinfo`` by wall clock, which is
    an hour off across a DST change; instants in UTC subtract exactly."""
    return datetime.combine(day, at, NEW_YORK).astimezone(UTC)


def _aware(name: str, value: datetime) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise CalendarError(f"{name} must be an aware datetime, got {value!r}")


@dataclass(frozen=True, slots=True)
class TradingDay:
    """One trading day as the broker's calendar gives it (aware instants)."""

    day: date
    pre_open: datetime
    """Start of the pre-market session (equal to :attr:`open` when the venue has none)."""
    open: datetime
    close: datetime
    """Regular close (13:00 on an early-close day)."""
    post_close: datetime
    """End of after hours (equal to :attr:`close` when the venue has none)."""

    def __post_init__(self) -> None:
        for name in ("pre_open", "open", "close", "post_close"):
            _aware(name, getattr(self, name))
            object.__setattr__(self, name, getattr(self, name).astimezone(UTC))  # exact arithmetic (see local)
        if not self.pre_open <= self.open < self.close <= self.post_close:
            raise CalendarError(
                f"{self.day}: sessions out of order: pre {self.pre_open}, open {self.open}, close {self.close},"
                f" post {self.post_close}"
            )
        if self.open.astimezone(NEW_YORK).date() != self.day:
            raise CalendarError(f"{self.day}: the regular open {self.open} is on another day in New York")

    @classmethod
    def at_local(
        cls,
        day: date,
        *,
        pre_open: time = time(4, 0),
        open: time = time(9, 30),
        close: time = time(16, 0),
        post_close: time = time(20, 0),
    ) -> TradingDay:
        """A day from New York wall-clock times (the defaults: a full day at Alpaca)."""
        return cls(day, local(day, pre_open), local(day, open), local(day, close), local(day, post_close))

    @property
    def early_close(self) -> bool:
        """The regular session ends before 16:00."""
        return self.close.astimezone(NEW_YORK).time() < time(16, 0)


@dataclass(frozen=True, slots=True)
class SessionSpan:
    """One session between two instants: ``[start, end)``."""

    session: MarketSession
    start: datetime
    end: datetime
    day: date
    """The trading day the session belongs to (an overnight session: the day it leads into)."""


@dataclass(frozen=True, slots=True)
class SessionTransition:
    """At :attr:`at`, :attr:`session` begins."""

    at: datetime
    session: MarketSession

    def describe(self, now: MarketSession) -> str:
        """``POST → CLOSED 20:00 ET`` (the console's status bar)."""
        when = self.at.astimezone(NEW_YORK)
        return f"{now.label} → {self.session.label} {when:%H:%M} ET"


@dataclass(frozen=True, slots=True)
class SessionNow:
    """The session at :attr:`at` and what comes next (``None``: past the end of the calendar)."""

    at: datetime
    session: MarketSession
    next: SessionTransition | None

    def describe(self) -> str:
        if self.next is None:
            return f"{self.session.label} → ? (calendar ends)"
        return self.next.describe(self.session)


@dataclass(frozen=True, slots=True)
class CloseAhead:
    """The end of the current (or next) run of hedging sessions, and when the following run starts.

    A *run* is a stretch of back-to-back hedging sessions (with extended hours and overnight, Sunday
    20:00 to Friday 20:00 is one run). ``closes_at`` is ``None`` when the run goes past the calendar,
    ``reopens_at`` when the next run starts past it: both mean *unknown*. The ``*_day`` fields are the
    trading days those sessions belong to (an overnight session belongs to the day it leads into)."""

    at: datetime
    closes_at: datetime | None
    reopens_at: datetime | None
    closes_day: date | None = None
    reopens_day: date | None = None

    @property
    def is_long(self) -> bool:
        """The next hedging session is more than a calendar day away — its trading day is not the day
        after the closing one (a weekend, a holiday) — or unknown. The flatten rule acts before such a
        close."""
        if self.closes_day is None or self.reopens_day is None:
            return True
        return self.reopens_day - self.closes_day > ONE_DAY


@dataclass(frozen=True, slots=True)
class TradingCalendar:
    """The trading days of ``start``..``end`` (inclusive, New York dates) at one venue.

    The days are sorted and checked on construction. Every query takes an aware instant.
    """

    start: date
    end: date
    days: tuple[TradingDay, ...]
    overnight: bool = False
    """The venue trades the overnight session (Alpaca: yes; Schwab: no)."""
    _spans: tuple[SessionSpan, ...] = field(init=False, repr=False, compare=False)
    _starts: tuple[datetime, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.days, key=lambda d: d.day))
        if self.end < self.start:
            raise CalendarError(f"calendar ends ({self.end}) before it starts ({self.start})")
        for previous, following in itertools.pairwise(ordered):
            if following.day == previous.day:
                raise CalendarError(f"{following.day} appears twice in the calendar")
            if following.pre_open < previous.post_close:
                raise CalendarError(f"{following.day} starts before {previous.day} ends")
        for day in ordered:
            if not self.start <= day.day <= self.end:
                raise CalendarError(f"{day.day} is outside the calendar's range {self.start}..{self.end}")
        spans = tuple(_spans(ordered, self.overnight))
        object.__setattr__(self, "days", ordered)
        object.__setattr__(self, "_spans", spans)
        object.__setattr__(self, "_starts", tuple(span.start for span in spans))

    # -- range -------------------------------------------------------------------------------
    @property
    def begins_at(self) -> datetime:
        return local(self.start, time(0, 0))

    @property
    def ends_at(self) -> datetime:
        """The first instant the calendar knows nothing about: midnight after the last date, or 20:00
        of it at an overnight venue (whether the night after is an overnight session depends on the
        next date, which the calendar does not hold)."""
        if self.overnight:
            return local(self.end, OVERNIGHT_START)
        return local(self.end + ONE_DAY, time(0, 0))

    def covers(self, at: datetime) -> bool:
        _aware("at", at)
        return self.begins_at <= at < self.ends_at

    def trading_day(self, day: date) -> TradingDay | None:
        """The trading day on ``day``, or ``None`` (weekend, holiday, outside the range)."""
        for each in self.days:
            if each.day == day:
                return each
        return None

    @property
    def spans(self) -> tuple[SessionSpan, ...]:
        """Every non-closed session of the calendar in time order."""
        return self._spans

    # -- queries -----------------------------------------------------------------------------
    def session_at(self, at: datetime) -> SessionNow:
        """The session at ``at`` and the next transition. Raises :class:`OutsideCalendar`."""
        if not self.covers(at):
            raise OutsideCalendar(f"{at.isoformat()} is outside the calendar {self.start}..{self.end}")
        index = bisect.bisect_right(self._starts, at) - 1
        if index >= 0 and at < self._spans[index].end:
            span = self._spans[index]
            return SessionNow(at, span.session, self._after(span.end, index + 1))
        return SessionNow(at, MarketSession.CLOSED, self._after(at, index + 1, closed=True))

    def _after(self, moment: datetime, following: int, *, closed: bool = False) -> SessionTransition | None:
        """The transition at ``moment`` (the end of a span) or, from a closed instant, the next span."""
        if following < len(self._spans):
            upcoming = self._spans[following]
            if closed or upcoming.start == moment:
                return SessionTransition(upcoming.start, upcoming.session)
        if closed:
            return None  # closed until past the calendar: unknown
        return SessionTransition(moment, MarketSession.CLOSED) if moment < self.ends_at else None

    def upcoming(self, at: datetime) -> Iterator[SessionTransition]:
        """Every transition after ``at`` until the calendar ends."""
        now = self.session_at(at)
        while now.next is not None:
            yield now.next
            if not self.covers(now.next.at):
                return
            now = self.session_at(now.next.at)

    def close_ahead(self, at: datetime, sessions: frozenset[MarketSession]) -> CloseAhead:
        """Where the run of ``sessions`` that ``at`` is in (or that comes next) ends, and when the next
        run starts (``CLOSED`` in ``sessions`` is ignored). Raises :class:`OutsideCalendar`."""
        if not self.covers(at):
            raise OutsideCalendar(f"{at.isoformat()} is outside the calendar {self.start}..{self.end}")
        runs = _runs(self._spans, sessions - {MarketSession.CLOSED})
        for index, run in enumerate(runs):
            if at >= run.end:
                continue
            # A run that reaches the calendar's end may go on into a night the calendar does not hold.
            if run.end >= self.ends_at and MarketSession.OVERNIGHT in sessions:
                return CloseAhead(at, None, None)
            if index + 1 == len(runs):
                return CloseAhead(at, run.end, None, closes_day=run.day)
            following = runs[index + 1]
            return CloseAhead(at, run.end, following.start, closes_day=run.day, reopens_day=following.first_day)
        return CloseAhead(at, None, None)


@dataclass(frozen=True, slots=True)
class _Run:
    start: datetime
    end: datetime
    first_day: date
    day: date
    """The trading day of the run's last session."""


def _spans(days: Sequence[TradingDay], overnight: bool) -> Iterator[SessionSpan]:
    previous: TradingDay | None = None
    for day in days:
        if overnight:
            evening_before = local(day.day - ONE_DAY, OVERNIGHT_START)
            start = evening_before if previous is None else max(evening_before, previous.post_close)
            if start < day.pre_open:
                yield SessionSpan(MarketSession.OVERNIGHT, start, day.pre_open, day.day)
        if day.pre_open < day.open:
            yield SessionSpan(MarketSession.PRE, day.pre_open, day.open, day.day)
        yield SessionSpan(MarketSession.REGULAR, day.open, day.close, day.day)
        if day.close < day.post_close:
            yield SessionSpan(MarketSession.POST, day.close, day.post_close, day.day)
        previous = day


def _runs(spans: Sequence[SessionSpan], wanted: frozenset[MarketSession]) -> list[_Run]:
    """Maximal back-to-back stretches of the ``wanted`` sessions."""
    runs: list[_Run] = []
    for span in spans:
        if span.session not in wanted:
            continue
        if runs and runs[-1].end == span.start:
            last = runs[-1]
            runs[-1] = _Run(last.start, span.end, last.first_day, span.day)
        else:
            runs.append(_Run(span.start, span.end, span.day, span.day))
    return runs


def weekday_calendar(
    start: date,
    end: date,
    *,
    holidays: Iterable[date] = (),
    early_closes: Iterable[date] = (),
    overnight: bool = True,
    pre_open: time = time(4, 0),
    open: time = time(9, 30),
    close: time = time(16, 0),
    post_close: time = time(20, 0),
    early_close: time = time(13, 0),
    early_post_close: time = time(17, 0),
) -> TradingCalendar:
    """Monday–Friday trading days except ``holidays``; ``early_closes`` end at 13:00 (after hours 17:00).

    The dry-run broker's calendar and the local servers' default: a test or an operator names the
    holidays and early closes it wants — nothing here knows the exchange's own list.
    """
    closed = frozenset(holidays)
    short = frozenset(early_closes)
    days: list[TradingDay] = []
    day = start
    while day <= end:
        if day.weekday() < 5 and day not in closed:
            is_short = day in short
            days.append(
                TradingDay.at_local(
                    day,
                    pre_open=pre_open,
                    open=open,
                    close=early_close if is_short else close,
                    post_close=early_post_close if is_short else post_close,
                )
            )
        day += ONE_DAY
    return TradingCalendar(start, end, tuple(days), overnight=overnight)
