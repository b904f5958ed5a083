"""Manual hedges through the control API in front of the real engine: size and notional limits, the
open-net rule, known symbols only. Each hostile request first shows it reached arbtui (the bot's own
JSON refusal naming the rule), then that nothing was recorded and nothing reached the broker."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from arbtui.api.http import build_app, serve
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain import control, offchain_order, position
from arbtui.domain.manual_hedge import ManualHedgeLimits
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.integration.store.conftest import rows

TOKEN = "manual-hedge-rules-token-0123456789abcdef"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
OPTIONS = EngineOptions(
    check_interval_s=0.05,
    executions=ExecutionOptions(poll_interval_s=0.01),
    manual_limits=ManualHedgeLimits(max_shares=Decimal(100), max_notional_usd=Decimal(10_000)),
)


@dataclass
class Bot:
    engine: Engine
    broker: DryRunBroker
    http: httpx.AsyncClient
    db: Path

    def events(self) -> list[tuple[Any, ...]]:
        return rows(self.db, "SELECT aggregate_type, aggregate_id, sequence, event_type FROM events ORDER BY rowid")


@pytest.fixture
async def bot(tmp_path: Path) -> AsyncIterator[Bot]:
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db)
    broker = DryRunBroker()
    engine = Engine(ledger, broker, OPTIONS)
    await engine.start()
    app = build_app(engine.control, engine.health, engine.metrics.registry, control_token=SecretStr(TOKEN))
    try:
        async with serve(app, "127.0.0.1", 0) as address, httpx.AsyncClient(base_url=address.url) as http:
            # AAPL: an onchain SELL of 1.5 at $200 (net -1.5), hedged down to -0.5; paused so it stays put
            await ledger.record_range([make_fill(1, "1.5")], [], block(1))
            await _until(lambda: _idle(engine))
            await engine.control.pause(None, actor="test", reason="hold the positions still")
            yield Bot(engine, broker, http, db)
    finally:
        await engine.stop()
        await ledger.close()


async def _idle(engine: Engine) -> bool:
    pos, _ = await engine.store.load(position.SPEC, "AAPL")
    return pos.pending is None and str(pos.net) == "-0.5"


async def _until(check: Any, limit_s: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit_s
    while not await check():
        assert loop.time() < deadline, "condition never held"
        await asyncio.sleep(0.02)


def _hedge(symbol: str, side: str, shares: str, **more: Any) -> dict[str, Any]:
    return {"symbol": symbol, "side": side, "shares": shares, "reason": "hostile", "actor": "attacker", **more}


HOSTILE = [
    ("a trillion shares", "/control/hedge", _hedge("AAPL", "buy", "1000000000000"), 400, "manual_hedge.max_shares"),
    ("10^40 shares", "/control/hedge", _hedge("AAPL", "buy", "1" + "0" * 40), 400, "manual_hedge.max_shares"),
    ("over the notional", "/control/hedge", _hedge("AAPL", "sell", "99"), 400, "manual_hedge.max_notional_usd"),
    ("no price to judge", "/control/hedge", _hedge("MSFT", "buy", "1"), 400, "no price recorded for MSFT"),
    ("beyond the open net", "/control/hedge", _hedge("AAPL", "buy", "1"), 409, "the open net is -0.5"),
    ("the wrong way", "/control/hedge", _hedge("AAPL", "sell", "0.5"), 409, "pass --allow-overhedge"),
    ("hedge an unknown ticker", "/control/hedge", _hedge("APPL", "buy", "0.5"), 400, "unknown symbol (known: "),
    ("pause a typo", "/control/pause", {"symbol": "APPL", "reason": "x"}, 400, "unknown symbol (known: "),
    ("resume a typo", "/control/resume", {"symbol": "APPL", "reason": "x"}, 400, "unknown symbol (known: "),
]


@pytest.mark.parametrize(("case", "route", "body", "status", "named"), HOSTILE, ids=[c[0] for c in HOSTILE])
async def test_a_manual_hedge_beyond_the_rules_is_refused(
    bot: Bot, case: str, route: str, body: dict[str, Any], status: int, named: str
) -> None:
    before, submitted = bot.events(), bot.broker.submissions
    answer = await bot.http.post(route, json=body, headers=AUTH)
    assert answer.status_code == status, answer.text  # reached the bot: its own refusal, naming the rule
    assert named in answer.json()["error"], answer.text
    assert bot.events() == before
    assert bot.broker.submissions == submitted
    if "unknown symbol" in named:
        assert "AAPL" in answer.json()["error"]  # the error lists what is known


async def test_a_hedge_within_the_net_and_the_limits_goes_through(bot: Bot) -> None:
    answer = await bot.http.post("/control/hedge", json=_hedge("AAPL", "buy", "0.5"), headers=AUTH)
    assert answer.status_code == 200, answer.text
    await _filled(bot, answer.json()["execution_id"])
    pos, _ = await bot.engine.store.load(position.SPEC, "AAPL")
    assert str(pos.net) == "0"


async def test_an_allowed_over_hedge_pauses_the_symbol_so_the_bot_does_not_undo_it(bot: Bot) -> None:
    await bot.engine.control.resume(None, actor="test", reason="hedging on")
    answer = await bot.http.post("/control/hedge", json=_hedge("AAPL", "buy", "2", allow_overhedge=True), headers=AUTH)
    assert answer.status_code == 200, answer.text
    await _filled(bot, answer.json()["execution_id"])
    await bot.engine.scan("test")  # the periodic check would undo a +1.5 net at once if AAPL were not paused
    await asyncio.sleep(0.3)
    pos, _ = await bot.engine.store.load(position.SPEC, "AAPL")
    assert (str(pos.net), pos.pending) == ("1.5", None)
    placed = rows(bot.db, "SELECT count(*) FROM offchain_trade_view")[0][0]
    assert placed == 2  # the automatic hedge of the fill, and the manual one: no automatic SELL after it
    controls, _ = await bot.engine.store.load(control.SPEC, control.CONTROL_ID)
    audit = controls.paused_symbols["AAPL"]
    assert audit.actor == "attacker"
    assert "over-hedge by hand" in audit.reason


async def _filled(bot: Bot, execution_id: str) -> None:
    async def done() -> bool:
        order, _ = await bot.engine.store.load(offchain_order.SPEC, execution_id)
        return order.status is offchain_order.OrderStatus.FILLED

    await _until(done)
