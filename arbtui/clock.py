"""Time as the adapters and the engine see it: the injected :class:`Clock`, and :class:`Backoff`.

Shared by the brokers, the chain intake and the engine, so it imports nothing from ``arbtui`` (the
import contracts keep it at the bottom). Everything that waits takes its sleep from the caller (a
:class:`Clock`'s or a test's) and its randomness from a :class:`random.Random` it is given, so a test
drives retries without sleeping and with a seeded jitter.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Protocol, assert_never

Sleep = Callable[[float], Awaitable[None]]
"""``await sleep(seconds)``: :meth:`Clock.sleep`, or a test's."""


class Clock(Protocol):
    """Time as the adapters see it. The real one is :class:`SystemClock`; tests inject a fake."""

    def now(self) -> datetime:
        """Aware UTC wall-clock time."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (for rate limits and expiry arithmetic)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Jitter(StrEnum):
    """How a delay is drawn below its exponential ceiling."""

    FULL = "full"
    """Uniform in ``[0, ceiling]``: retries of many callers spread out the most."""
    EQUAL = "equal"
    """Uniform in ``[ceiling / 2, ceiling]``: spread out, yet never much shorter than the ceiling."""
    NONE = "none"
    """Exactly the ceiling."""


class Backoff:
    """Exponential backoff with a cap and jitter over one run of consecutive failures.

    After failure number ``n`` (1-based) the ceiling is ``min(maximum, initial * growth ** (n - 1))``
    (it saturates at ``maximum`` however many failures there are) and the delay is drawn below it as
    ``jitter`` says. :meth:`wait` counts a failure and sleeps; :meth:`reset` starts a new run after a
    success. One instance per run: the count is its state.
    """

    def __init__(
        self,
        initial: float,
        maximum: float,
        *,
        growth: float = 2.0,
        jitter: Jitter = Jitter.FULL,
        sleep: Sleep | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if initial < 0 or maximum < 0:
            raise ValueError("backoff delays must not be negative")
        if growth < 1:
            raise ValueError("backoff growth must be at least 1")
        self.initial = initial
        self.maximum = maximum
        self.growth = growth
        self.jitter = jitter
        self._sleep: Sleep = sleep or SystemClock().sleep
        self._rng = rng or random.Random()
        self._failures = 0

    @property
    def failures(self) -> int:
        """Failures counted since the start or the last :meth:`reset`."""
        return self._failures

    def reset(self) -> None:
        """A success: the next failure waits ``initial`` again."""
        self._failures = 0

    def ceiling(self, failure: int) -> float:
        """The longest wait after failure number ``failure`` (0 and 1 both give ``initial``, capped)."""
        if self.initial == 0:
            return 0.0
        try:
            grown = self.initial * self.growth ** max(0, failure - 1)
        except OverflowError:  # thousands of failures: long past the cap
            return self.maximum
        return min(self.maximum, grown)

    def delay(self, failure: int) -> float:
        """A delay for failure number ``failure``, jittered below its :meth:`ceiling` (counts nothing)."""
        ceiling = self.ceiling(failure)
        match self.jitter:
            case Jitter.FULL:
                return self._rng.uniform(0, ceiling)
            case Jitter.EQUAL:
                return self._rng.uniform(ceiling / 2, ceiling)
            case Jitter.NONE:
                return ceiling
            case unreachable:
                assert_never(unreachable)

    def next_delay(self) -> float:
        """Count one more failure and return the delay it calls for (without sleeping)."""
        self._failures += 1
        return self.delay(self._failures)

    async def sleep(self, seconds: float) -> None:
        """Sleep on the injected clock (for a wait the caller chose, e.g. a ``Retry-After``)."""
        await self._sleep(seconds)

    async def wait(self) -> float:
        """Count one more failure, sleep the delay it calls for, and return that delay."""
        seconds = self.next_delay()
        await self._sleep(seconds)
        return seconds


class StoppedClock(SystemClock):
    """Wall-clock time stopped at ``at`` (screenshots and snapshots print times); ages and sleeps run."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at
