"""Time and identity, injected: every part that stamps a time or draws an execution id takes a
:class:`Clock` and an :class:`Ids` source from the one place that builds it (``build_engine``, the demo,
a test), so tests and the screenshots pin both without patching any module.

Outside the layers on purpose: the store, the chain, the brokers and the engine all take them.
"""

from __future__ import annotations

import asyncio
import itertools
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

from arbtui.domain.values import ExecutionId


class Clock(Protocol):
    """Time as arbtui sees it. The real one is :class:`SystemClock`; tests inject a fake."""

    def now(self) -> datetime:
        """Aware UTC wall-clock time (what events and views record)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes back (ages, rate limits, expiry arithmetic)."""
        ...

    async def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class Ids(Protocol):
    """Where execution ids come from (each is also the broker's client order id: unique for good)."""

    def execution_id(self) -> ExecutionId: ...


class RandomIds:
    """Version 4 UUIDs."""

    def execution_id(self) -> ExecutionId:
        return ExecutionId(str(uuid.uuid4()))


class StoppedClock(SystemClock):
    """Wall-clock time stopped at ``at`` (screenshots and snapshots print times); ages and sleeps run."""

    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


class CountingIds:
    """Execution ids drawn in order from ``make(1)``, ``make(2)``… (reproducible screenshots and tests)."""

    def __init__(self, make: Callable[[int], str]) -> None:
        self._make = make
        self._drawn = itertools.count(1)

    def execution_id(self) -> ExecutionId:
        return ExecutionId(self._make(next(self._drawn)))
