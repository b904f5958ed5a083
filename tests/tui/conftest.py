"""The console on a real engine: a temp SQLite ledger, the dry-run broker, fills fed through the ledger
exactly as chain intake records them. Nothing of the engine is mocked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from arbtui.brokers.base import Broker
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.clock import StoppedClock
from arbtui.domain.ids import CountingIds
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import T0

FAST = EngineOptions(
    check_interval_s=0.05,
    shutdown_timeout_s=2.0,
    executions=ExecutionOptions(
        poll_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05, market_recheck_s=0.05
    ),
)
ACTOR = "console:tester"
STILL = replace(FAST, check_interval_s=3600.0)
"""No periodic scan: every execution id is drawn in the same order on every run (snapshots)."""


async def open_engine(
    db: Path, broker: Broker | None = None, options: EngineOptions = FAST, pinned: Pinned | None = None
) -> Engine:
    broker = broker or DryRunBroker()
    if pinned is None:
        ledger = await Ledger.open(db, broker.kind)
    else:
        ledger = await Ledger.open(db, broker.kind, clock=pinned.clock, ids=pinned.ids)
    return Engine(ledger, broker, options)


@pytest.fixture
async def engine(tmp_path: Path) -> AsyncIterator[Engine]:
    built = await open_engine(tmp_path / "ledger.db")
    yield built
    await built.ledger.close()


async def until(pilot: Pilot[Any], condition: Callable[[], bool | Awaitable[bool]], limit_s: float = 10.0) -> None:
    """Let the app run until ``condition`` holds (fails the test after ``limit_s``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while True:
        result = condition()
        if not isinstance(result, bool):
            result = await result
        if result:
            return
        assert loop.time() < deadline, "condition not reached in time"
        await pilot.pause(0.02)


@dataclass(frozen=True)
class Pinned:
    """A stopped clock and counted execution ids, injected into the ledger (snapshots print both)."""

    clock: StoppedClock
    ids: CountingIds


@pytest.fixture
def pinned() -> Pinned:
    return Pinned(
        StoppedClock(T0 + timedelta(minutes=5)), CountingIds(lambda n: f"e{n:07d}-0000-4000-8000-{n - 1:012d}")
    )
