"""A clock whose sleeps return at once and advance time: backoff and rate-limit tests never sleep.

It starts at the real current time so timestamps agree with the local servers' (which use real time).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta


class FakeClock:
    """Implements :class:`arbtui.brokers.resilience.Clock`; every ``sleep`` is recorded in :attr:`sleeps`."""

    def __init__(self, start: datetime | None = None) -> None:
        self._start = start or datetime.now(UTC)
        self._elapsed = 0.0
        self.sleeps: list[float] = []

    def now(self) -> datetime:
        return self._start + timedelta(seconds=self._elapsed)

    def monotonic(self) -> float:
        return 1000.0 + self._elapsed

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.advance(seconds)
        await asyncio.sleep(0)

    def set_now(self, at: datetime) -> None:
        """Wall-clock time jumps to ``at`` (either way); the monotonic clock does not move."""
        self._start = at - timedelta(seconds=self._elapsed)

    def advance(self, seconds: float) -> None:
        self._elapsed += max(0.0, seconds)
