"""The broker's trading calendar, cached and re-read: what later code asks before each placement.

:meth:`MarketCalendar.current` answers from the cache while it is younger than ``max_age`` and still
covers ``lookahead`` ahead of now; otherwise it reads ``broker.calendar(yesterday, today + lookahead)``
again. When that read fails with a *retryable* error and the cached calendar still covers now, the
cached one is kept (and :attr:`MarketCalendar.stale_since` says since when the broker could not be
asked); with nothing usable the error propagates — never a guessed calendar. Every fatal error
propagates at once.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from arbtui.brokers.base import Broker, RetryableBrokerError
from arbtui.clock import Clock
from arbtui.domain.sessions import NEW_YORK, CloseAhead, MarketSession, SessionNow, TradingCalendar

DEFAULT_MAX_AGE = timedelta(minutes=15)
DEFAULT_LOOKAHEAD = timedelta(days=10)
"""Far enough to see past any weekend plus a holiday (the flatten rule needs the next session)."""


class MarketCalendar:
    """One broker's calendar, cached. Single-task use (the engine's loop); no locking."""

    def __init__(
        self,
        broker: Broker,
        clock: Clock,
        *,
        max_age: timedelta = DEFAULT_MAX_AGE,
        lookahead: timedelta = DEFAULT_LOOKAHEAD,
    ) -> None:
        if max_age < timedelta(0) or lookahead < timedelta(days=1):
            raise ValueError("max_age must not be negative and lookahead must be at least a day")
        self._broker = broker
        self._clock = clock
        self._max_age = max_age
        self._lookahead = lookahead
        self._cached: TradingCalendar | None = None
        self._read_at: datetime | None = None
        self.stale_since: datetime | None = None
        """When a re-read first failed while the cached calendar was kept; ``None`` while fresh."""
        self.reads = 0
        """Calendars read from the broker so far."""

    async def current(self) -> TradingCalendar:
        """The calendar to decide with now (see the module docstring for when it is re-read)."""
        now = self._clock.now()
        if self._fresh(now):
            assert self._cached is not None
            return self._cached
        today = now.astimezone(NEW_YORK).date()
        try:
            calendar = await self._broker.calendar(today - timedelta(days=1), _date_after(now, self._lookahead))
        except RetryableBrokerError:
            if self._cached is not None and self._cached.covers(now):
                self.stale_since = self.stale_since or now
                return self._cached
            raise
        self._cached, self._read_at, self.stale_since = calendar, now, None
        self.reads += 1
        return calendar

    async def session_now(self) -> SessionNow:
        """The session at the clock's now and the next transition."""
        calendar = await self.current()
        return calendar.session_at(self._clock.now())

    async def close_ahead(self, sessions: frozenset[MarketSession]) -> CloseAhead:
        """Where the current run of ``sessions`` ends and when the next starts (the flatten rule)."""
        calendar = await self.current()
        return calendar.close_ahead(self._clock.now(), sessions)

    def invalidate(self) -> None:
        """Read again on the next question (after the broker said something the calendar did not)."""
        self._read_at = None

    def _fresh(self, now: datetime) -> bool:
        if self._cached is None or self._read_at is None:
            return False
        if now - self._read_at >= self._max_age or now < self._read_at:
            return False
        return self._cached.covers(now) and self._cached.end >= _date_after(now, self._lookahead - timedelta(days=1))


def _date_after(now: datetime, span: timedelta) -> date:
    return (now.astimezone(NEW_YORK) + span).date()
