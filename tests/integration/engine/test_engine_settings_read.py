"""Settings that once did nothing, now read (issue 15): ``chain.max_lag_blocks`` bounds readiness,
``engine.stuck_after_s`` raises the stuck-execution alert, ``broker.dry_run_price`` fills dry-run orders.
Real engine, real SQLite, the real HTTP service and the factory's own intake observer."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from arbtui.api.http import build_app, serve
from arbtui.brokers.base import OrderRefused
from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.chain.signals import HeadSeen, IntakeState, IntakeStatus, RangeRecorded
from arbtui.clock import SystemClock
from arbtui.config import load_settings
from arbtui.domain.ids import RandomIds
from arbtui.domain.values import Direction, PriceUsdc, Symbol
from arbtui.engine.alerts import Alert
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.factory import build_engine
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger, OpenExecution
from tests.builders import block, make_fill
from tests.engine_support import QuietIntake, alerts_of
from tests.integration.brokers.conftest import market_order
from tests.unit.config.support import MINIMAL, write


@pytest.fixture
async def chain_engine(tmp_path: Path) -> AsyncIterator[Engine]:
    """An engine with an intake task (so readiness has a chain check); intake's signals are fed by hand
    through the factory's observer, as the real intake sends them."""
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions(check_interval_s=1.0, max_lag_blocks=30), intake=QuietIntake)
    await engine.start()
    try:
        yield engine
    finally:
        await engine.stop()
        await ledger.close()


async def test_a_lag_over_max_lag_blocks_makes_ready_fail_with_the_reason(chain_engine: Engine) -> None:
    chain_engine.health.observe_intake(IntakeStatus(IntakeState.LIVE))
    chain_engine.health.observe_intake(HeadSeen(1_000))
    chain_engine.health.observe_intake(RangeRecorded(first=960, end=block(970), new_fills=(), skipped=()))
    app = build_app(chain_engine.control, chain_engine.health, chain_engine.metrics.registry, control_token=None)
    async with serve(app, "127.0.0.1", 0) as address, httpx.AsyncClient(base_url=address.url) as http:
        at_bound = await http.get("/ready")  # 30 behind: within the bound
        assert at_bound.status_code == 200, at_bound.text

        chain_engine.health.observe_intake(HeadSeen(1_031))  # the node moves on, the ledger does not
        behind = await http.get("/ready")
        assert behind.status_code == 503
        assert behind.json()["checks"]["chain"] == {
            "ok": False,
            "detail": "61 blocks behind the head (max_lag_blocks 30)",
        }
        assert "arbtui_chain_node_head_block 1031.0" in (await http.get("/metrics")).text

        chain_engine.health.observe_intake(RangeRecorded(first=971, end=block(1_031), new_fills=(), skipped=()))
        caught_up = await http.get("/ready")
        assert caught_up.status_code == 200, caught_up.text


async def test_an_execution_older_than_stuck_after_s_raises_the_alert_once(tmp_path: Path) -> None:
    broker = DryRunBroker(DryRunConfig(market_open=False))  # the hedge cannot be sent: it stays in flight
    ledger = await Ledger.open(tmp_path / "ledger.db")
    options = EngineOptions(
        check_interval_s=0.02,
        stuck_after_s=0.3,
        executions=ExecutionOptions(poll_interval_s=0.01, market_recheck_s=0.02),
    )
    engine = Engine(ledger, broker, options)
    alerts = alerts_of(engine)
    await engine.start()
    try:
        await ledger.record_range([make_fill(1, "1.5")], [], block(1))
        [execution] = await _eventually_open(ledger)
        key = f"stuck:{execution.execution_id}"
        await asyncio.sleep(0.8)  # past stuck_after_s, and many scans later
        stuck = _keyed(alerts, key)
        assert len(stuck) == 1, stuck
        assert not stuck[0].recovered
        assert "AAPL" in stuck[0].message
        assert execution.execution_id in stuck[0].message

        broker.set_market_open(True)
        for _ in range(300):
            if not await ledger.open_executions():
                break
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.1)  # a scan after the fill
        recovered = _keyed(alerts, key)[1:]
        assert [a.recovered for a in recovered] == [True]
    finally:
        await engine.stop()
        await ledger.close()


async def test_a_young_execution_raises_no_stuck_alert(tmp_path: Path) -> None:
    broker = DryRunBroker(DryRunConfig(market_open=False))
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, broker, EngineOptions(check_interval_s=0.02, stuck_after_s=60.0, shutdown_timeout_s=0.5))
    alerts = alerts_of(engine)
    await engine.start()
    try:
        await ledger.record_range([make_fill(1, "1.5")], [], block(1))
        await _eventually_open(ledger)
        await asyncio.sleep(0.3)
        assert not _keyed(alerts, "stuck:")
    finally:
        await engine.stop()
        await ledger.close()


async def test_dry_run_price_fills_an_order_that_carries_no_price(tmp_path: Path) -> None:
    priced = load_settings(write(tmp_path, MINIMAL + '[broker]\ndry_run_price = "101.25"\n'), {})
    built = await build_engine(priced, clock=SystemClock(), ids=RandomIds(), db=tmp_path / "priced.db")
    try:
        broker = built.broker
        order_id = await broker.submit(market_order("2", price=None))
        report = await broker.order_status(order_id)
        assert report.average_price is not None
        assert report.average_price.to_price() == PriceUsdc("101.25")
    finally:
        await built.ledger.close()

    unpriced = load_settings(write(tmp_path, MINIMAL, "unpriced.toml"), {})
    built = await build_engine(unpriced, clock=SystemClock(), ids=RandomIds(), db=tmp_path / "unpriced.db")
    try:
        with pytest.raises(OrderRefused, match="no price to fill at"):
            await built.broker.submit(market_order("2", side=Direction.SELL, symbol=Symbol("MSFT"), price=None))
    finally:
        await built.ledger.close()


async def _eventually_open(ledger: Ledger) -> list[OpenExecution]:
    for _ in range(300):
        found = await ledger.open_executions()
        if found:
            return list(found)
        await asyncio.sleep(0.01)
    raise AssertionError("no execution placed")


def _keyed(seen: list[Alert], key: str) -> list[Alert]:
    return [a for a in seen if a.key == key or (key.endswith(":") and a.key.startswith(key))]
