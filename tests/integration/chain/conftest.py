"""One anvil per session with every test contract deployed; each test runs between evm_snapshot and
evm_revert, with its own SQLite ledger (the store's real Ledger) and its own intake."""

from __future__ import annotations

import asyncio
import inspect
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from arbtui.chain.decode import DecodeConfig
from arbtui.chain.intake import FillIntake, IntakeConfig
from arbtui.chain.signals import IntakeAlert, IntakeSignal
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import Artifact, load_artifacts
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Deployment, deploy_all
from arbtui.store.ledger import Ledger


@pytest.fixture(scope="session")
def anvil() -> Iterator[AnvilNode]:
    node = AnvilNode.start()
    try:
        yield node
    finally:
        node.stop()


@pytest.fixture(scope="session")
def artifacts() -> dict[str, Artifact]:
    return load_artifacts()


@pytest.fixture(scope="session")
def deployment(anvil: AnvilNode, artifacts: dict[str, Artifact]) -> Deployment:
    return deploy_all(anvil.http_url, artifacts)


@pytest.fixture
def chain(anvil: AnvilNode, deployment: Deployment, artifacts: dict[str, Artifact]) -> Iterator[ChainDriver]:
    driver = ChainDriver(anvil.http_url, deployment, artifacts)
    snapshot = driver.snapshot()
    try:
        yield driver
    finally:
        driver.revert(snapshot)


@pytest.fixture
async def ledger(tmp_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(tmp_path / "ledger.db")
    try:
        yield opened
    finally:
        await opened.close()


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], within: float = 15.0, what: str = "condition"
) -> None:
    """Await a condition (sync or async, polled every 20 ms); fail with ``what`` after ``within`` s."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within

    async def holds() -> bool:
        result = check()
        return bool(await result) if inspect.isawaitable(result) else bool(result)

    while not await holds():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(0.02)


async def trade_events(ledger: Ledger) -> list[tuple[str, str, dict[str, Any]]]:
    """(trade id, event type, payload) of every OnChainTrade event, in append order."""
    rows = await ledger.store.query(
        "SELECT aggregate_id, event_type, payload FROM events WHERE aggregate_type = 'OnChainTrade' ORDER BY rowid"
    )
    return [(str(a), str(t), json.loads(p)) for a, t, p in rows]


async def filled_counts(ledger: Ledger) -> dict[str, int]:
    counts: dict[str, int] = {}
    for trade_id, event_type, _ in await trade_events(ledger):
        if event_type == "Filled":
            counts[trade_id] = counts.get(trade_id, 0) + 1
    return counts


@dataclass
class RunningIntake:
    intake: FillIntake
    task: asyncio.Task[None]
    signals: list[IntakeSignal] = field(default_factory=list)

    def alerts(self) -> list[IntakeAlert]:
        return [s for s in self.signals if isinstance(s, IntakeAlert)]

    async def stop(self) -> None:
        self.intake.stop()
        await asyncio.wait_for(self.task, 10)


StartIntake = Callable[..., Awaitable[RunningIntake]]


@pytest.fixture
async def start_intake(chain: ChainDriver, anvil: AnvilNode) -> AsyncIterator[StartIntake]:
    """Factory: start intake on ``ledger`` from the block after the current head (this test's logs only)."""
    started: list[RunningIntake] = []
    first_block = chain.head() + 1

    async def start(ledger: Ledger, **overrides: Any) -> RunningIntake:
        base = IntakeConfig(
            http_url=anvil.http_url,
            ws_url=anvil.ws_url,
            decode=DecodeConfig(orderbook=chain.deployment.orderbook, owner=OUR_OWNER, usdc=chain.deployment.usdc),
            deployment_block=first_block,
            poll_interval=0.5,
            reconnect_initial=0.05,
        )
        config = replace(base, **overrides)
        signals: list[IntakeSignal] = []
        intake = FillIntake(config, ledger, signals.append)
        running = RunningIntake(intake, asyncio.create_task(intake.run()), signals)
        started.append(running)
        return running

    yield start
    for running in started:
        if not running.task.done():
            await running.stop()
        elif not running.task.cancelled() and running.task.exception() is not None:
            raise running.task.exception()  # type: ignore[misc]
