"""The control API in front of the real engine (not a stand-in): with the token the action happens and
is audited; without it nothing is recorded."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
from pydantic import SecretStr

from arbtui.api.http import build_app, serve
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain import control, offchain_order
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill

TOKEN = "s3cret-token"


async def test_pause_resume_and_manual_hedge_over_http(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    options = EngineOptions(check_interval_s=0.05, executions=ExecutionOptions(poll_interval_s=0.01))
    engine = Engine(ledger, DryRunBroker(), options)
    await engine.start()
    app = build_app(engine.control, engine.health, engine.metrics.registry, control_token=SecretStr(TOKEN))
    try:
        async with serve(app, "127.0.0.1", 0) as address, httpx.AsyncClient(base_url=address.url) as http:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            body = {"symbol": "AAPL", "reason": "earnings call", "actor": "ops"}
            assert (await http.post("/control/pause", json=body)).status_code == 401
            assert (
                await http.post("/control/pause", json=body, headers={"Authorization": "Bearer no"})
            ).status_code == 401
            _, version = await engine.store.load(control.SPEC, control.CONTROL_ID)
            assert version == 0  # nothing recorded without the token
            assert (await http.post("/control/pause", json=body, headers=auth)).status_code == 200
            assert (await http.post("/control/pause", json=body, headers=auth)).status_code == 409
            await ledger.record_range([make_fill(1, "1.5")], [], block(1))  # recorded, not hedged
            hedge = {"symbol": "AAPL", "side": "buy", "shares": "1", "reason": "by hand while paused", "actor": "ops"}
            answer = await http.post("/control/hedge", json=hedge, headers=auth)
            assert answer.status_code == 200
            execution_id = answer.json()["execution_id"]
            for _ in range(200):
                order, _ = await engine.store.load(offchain_order.SPEC, execution_id)
                if order.status is offchain_order.OrderStatus.FILLED:
                    break
                await asyncio.sleep(0.01)
            assert order.status is offchain_order.OrderStatus.FILLED
            assert order.trigger_reason == "manual"
            resume = {"symbol": "AAPL", "reason": "call over", "actor": "ops"}
            assert (await http.post("/control/resume", json=resume, headers=auth)).status_code == 200
            ready = await http.get("/ready")
            assert ready.status_code == 200, ready.text
            metrics = (await http.get("/metrics")).text
            assert 'arbtui_hedges_total{status="FILLED",symbol="AAPL"} 1.0' in metrics
    finally:
        await engine.stop()
        await ledger.close()
