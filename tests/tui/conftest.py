"""The console on a real engine: a temp SQLite ledger, the dry-run broker, fills fed through the ledger
exactly as chain intake records them. Nothing of the engine is mocked."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from arbtui.brokers.base import Broker
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain.values import ExecutionId
from arbtui.engine.app import Engine, EngineOptions
from arbtui.engine.executions import ExecutionOptions
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


async def open_engine(db: Path, broker: Broker | None = None, options: EngineOptions = FAST) -> Engine:
    broker = broker or DryRunBroker()
    return Engine(await Ledger.open(db, broker.kind), broker, options)


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


@pytest.fixture
def pinned_clock(monkeypatch: pytest.MonkeyPatch) -> Callable[[], datetime]:
    """The engine's clock and execution ids made deterministic (snapshots print times and ids)."""
    ticks = itertools.count()
    ids = itertools.count(1)

    def now() -> datetime:
        return T0 + timedelta(minutes=5)

    monkeypatch.setattr("arbtui.engine.app._now", now)
    monkeypatch.setattr("arbtui.engine.executions._now", now)
    monkeypatch.setattr("arbtui.store.ledger.utc_now", now)

    def execution_id() -> ExecutionId:
        return ExecutionId(f"e{next(ids):07d}-0000-4000-8000-{next(ticks):012d}")

    monkeypatch.setattr("arbtui.engine.app.new_execution_id", execution_id)
    monkeypatch.setattr("arbtui.store.ledger.new_execution_id", execution_id)
    return now
