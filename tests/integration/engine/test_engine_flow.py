"""The engine in-process on a real SQLite file, hedging on the dry-run broker and on the local Alpaca
server through alpaca-py: floor batches equal an independent model, failures return shares, pause /
resume / kill switch / manual hedge, market closed, recovery of executions left in flight."""

from __future__ import annotations

import asyncio
import json
import random
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.base import Broker, MarketOrder
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.brokers.resilience import RetryPolicy
from arbtui.cli import main
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import control, offchain_order, position
from arbtui.domain.errors import ControlStateConflict, ExecutionPending, KillSwitchEngaged
from arbtui.domain.values import Direction, ExecutionId, Shares, Symbol
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.integration.store.conftest import rows

SYMBOLS = ["AAPL", "MSFT", "NVDA", "TSLA", "GOOG"]
FAST = EngineOptions(
    check_interval_s=0.05,
    shutdown_timeout_s=2.0,
    executions=ExecutionOptions(
        poll_interval_s=0.01, backoff_initial_s=0.01, backoff_max_s=0.05, market_recheck_s=0.05
    ),
)


@pytest.fixture
async def alpaca_server() -> AsyncIterator[AlpacaServer]:
    server = AlpacaServer()
    await server.start()
    yield server
    await server.stop()


def alpaca(server: AlpacaServer) -> AlpacaBroker:
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, request_timeout=2.0)
    return AlpacaBroker(
        AlpacaConfig(
            api_key=SecretStr(server.api_key),
            api_secret=SecretStr(server.api_secret),
            base_url=server.url,
            retry=policy,
        )
    )


async def running(db: Path, broker: Broker, options: EngineOptions = FAST) -> Engine:
    engine = Engine(await Ledger.open(db, broker.kind), broker, options)
    await engine.start()
    return engine


async def settled(engine: Engine, limit_s: float = 20.0) -> None:
    """Until no execution is open and no position is past its threshold."""

    async def idle() -> bool:
        open_orders = await engine.store.query(
            "SELECT count(*) FROM offchain_trade_view WHERE status IN ('PENDING','SUBMITTED','PARTIALLY_FILLED')"
        )
        return open_orders[0][0] == 0 and not engine.executions.in_flight

    await until(idle, limit_s)


async def until(condition: Callable[[], Awaitable[bool]], limit_s: float = 20.0) -> None:
    deadline = asyncio.get_running_loop().time() + limit_s
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


def floor_model(fills: list[tuple[str, Direction, Decimal]]) -> dict[str, list[tuple[str, Decimal]]]:
    """Independent model of floor batching with signed carry, when every hedge fills at once."""
    net: dict[str, Decimal] = defaultdict(Decimal)
    orders: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for symbol, direction, amount in fills:
        net[symbol] += amount if direction is Direction.BUY else -amount
        whole = abs(net[symbol]).to_integral_value(rounding=ROUND_DOWN)
        if whole >= 1:
            side = "SELL" if net[symbol] > 0 else "BUY"
            orders[symbol].append((side, whole))
            net[symbol] -= whole if side == "SELL" else -whole
    return orders


@pytest.mark.parametrize("venue", ["dry_run", "alpaca"])
async def test_random_fills_hedge_exactly_the_floor_batches(
    venue: str, tmp_path: Path, alpaca_server: AlpacaServer
) -> None:
    broker: Broker = DryRunBroker() if venue == "dry_run" else alpaca(alpaca_server)
    engine = await running(tmp_path / "ledger.db", broker)
    rng = random.Random(5)
    fills: list[tuple[str, Direction, Decimal]] = []
    try:
        for n in range(1, 61):
            symbol = rng.choice(SYMBOLS)
            amount = Decimal(rng.randint(1, 1_500_000)) / Decimal(1_000_000)
            direction = rng.choice(list(Direction))
            fills.append((symbol, direction, amount))
            await engine.ledger.record_range(
                [make_fill(n, str(amount), direction, symbol=symbol, block_number=n)], [], block(n)
            )
            await settled(engine)  # the model assumes each hedge fills before the next fill
    finally:
        await engine.stop()
        await engine.ledger.close()
    model = floor_model(fills)
    recorded = rows(
        tmp_path / "ledger.db",
        "SELECT symbol, direction, json_extract(payload, '$.shares'), status FROM offchain_trade_view"
        " ORDER BY json_extract(payload, '$.placed_at')",
    )
    by_symbol: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for row in recorded:
        assert row[3] == "FILLED"
        by_symbol[str(row[0])].append((str(row[1]), Decimal(str(row[2]))))
    assert dict(by_symbol) == dict(model)
    # the views and `arbtui position` (a replay of the log) agree, exactly
    view_nets = {
        str(symbol): str(net)
        for symbol, net in rows(
            tmp_path / "ledger.db", "SELECT symbol, json_extract(payload, '$.net_position') FROM position_view"
        )
    }
    printed = CliRunner().invoke(main, ["--db", str(tmp_path / "ledger.db"), "position", "--json"])
    assert printed.exit_code == 0, printed.output
    cli_nets = {p["symbol"]: p["net"] for p in json.loads(printed.output)["positions"]}
    assert cli_nets == view_nets
    assert set(view_nets) == {symbol for symbol, _, _ in fills}
    if venue == "alpaca":  # one broker order per execution, none doubled
        assert alpaca_server.book.total_orders == len(recorded)
        assert set(alpaca_server.book.submissions.values()) == {1}


async def test_rejected_hedges_return_shares_and_park_the_symbol_only(
    tmp_path: Path, alpaca_server: AlpacaServer
) -> None:
    engine = await running(tmp_path / "ledger.db", alpaca(alpaca_server))
    try:
        alpaca_server.reject_all()
        await engine.ledger.record_range([make_fill(1, "1.502")], [], block(1))
        await until(lambda: _paused(engine, "AAPL"))
        assert alpaca_server.submit_requests == 3  # three tries, then parked: no endless retry loop
        controls = await _controls(engine)
        assert "parked after 3 failed hedges" in controls.paused_symbols["AAPL"].reason
        assert controls.paused_symbols["AAPL"].actor == "engine"
        assert rows(tmp_path / "ledger.db", "SELECT count(*) FROM offchain_trade_view WHERE status = 'FAILED'") == [
            (3,)
        ]
        alpaca_server.accept_again()
        # other symbols keep hedging
        await engine.ledger.record_range([make_fill(10, "2", symbol="MSFT", block_number=10)], [], block(10))
        await until(lambda: _status_count(engine, "FILLED", 1))
        pos, _ = await engine.store.load(position.SPEC, "AAPL")
        assert str(pos.net) == "-1.502"  # every rejected reservation came back
        # the operator resumes: the position is re-evaluated and hedged
        await engine.control.resume(Symbol("AAPL"), actor="ops", reason="buying power topped up")
        await settled(engine)
        pos, _ = await engine.store.load(position.SPEC, "AAPL")
        assert (str(pos.net), str(pos.hedged)) == ("-0.502", "-1")
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_stopping_twice_is_one_stop(tmp_path: Path) -> None:
    class Closing(DryRunBroker):
        closed = 0

        async def aclose(self) -> None:
            self.closed += 1
            await super().aclose()

    broker = Closing()
    engine = await running(tmp_path / "ledger.db", broker)
    try:
        assert list(await asyncio.gather(engine.stop(), engine.stop())) == [True, True]
        assert await engine.stop() is True
        assert broker.closed == 1
    finally:
        await engine.ledger.close()


async def test_pause_kill_switch_and_manual_hedge(tmp_path: Path) -> None:
    engine = await running(tmp_path / "ledger.db", DryRunBroker())
    try:
        await engine.control.pause(None, actor="ops", reason="broker maintenance")
        with pytest.raises(ControlStateConflict):
            await engine.control.pause(None, actor="ops", reason="again")
        await engine.ledger.record_range([make_fill(1, "2.4")], [], block(1))
        await asyncio.sleep(0.2)
        pos, _ = await engine.store.load(position.SPEC, "AAPL")
        assert (str(pos.net), pos.pending) == ("-2.4", None)  # recorded, not hedged
        first, second = await asyncio.gather(
            engine.control.manual_hedge(Symbol("AAPL"), Direction.BUY, Shares(1), actor="ops", reason="by hand"),
            engine.control.manual_hedge(Symbol("AAPL"), Direction.BUY, Shares(1), actor="ops", reason="twice"),
            return_exceptions=True,
        )
        assert isinstance(second, ExecutionPending), second  # one execution in flight per symbol
        assert isinstance(first, str)
        execution = ExecutionId(first)
        await settled(engine)
        order, _ = await engine.store.load(offchain_order.SPEC, execution)
        assert (order.status, order.trigger_reason) == (offchain_order.OrderStatus.FILLED, "manual")
        await engine.control.engage_kill_switch(actor="ops", reason="incident")
        with pytest.raises(KillSwitchEngaged):
            await engine.control.manual_hedge(Symbol("AAPL"), Direction.BUY, Shares(1), actor="ops", reason="refused")
        await engine.control.resume(None, actor="ops", reason="maintenance over")
        await asyncio.sleep(0.2)
        pos, _ = await engine.store.load(position.SPEC, "AAPL")
        assert str(pos.net) == "-1.4"  # the kill switch still holds after a resume
        await engine.control.clear_kill_switch(actor="ops", reason="incident closed")
        await engine.scan("kill switch cleared")
        await settled(engine)
        pos, _ = await engine.store.load(position.SPEC, "AAPL")
        assert (str(pos.net), str(pos.hedged)) == ("-0.4", "-2")
    finally:
        await engine.stop()
        await engine.ledger.close()
    audit = rows(
        tmp_path / "ledger.db",
        "SELECT event_type, json_extract(payload, '$.audit.actor'), json_extract(payload, '$.audit.reason')"
        " FROM events WHERE aggregate_type = 'Control' ORDER BY sequence",
    )
    assert [a[0] for a in audit] == [
        "HedgingPaused",
        "ManualHedgeRequested",
        "KillSwitchEngaged",
        "HedgingResumed",
        "KillSwitchCleared",
    ]
    assert all(a[1] == "ops" and a[2] for a in audit)


async def test_market_closed_waits_then_hedges_at_the_open(tmp_path: Path, alpaca_server: AlpacaServer) -> None:
    alpaca_server.market_open = False
    engine = await running(tmp_path / "ledger.db", alpaca(alpaca_server))
    try:
        await engine.ledger.record_range([make_fill(1, "1.2")], [], block(1))
        await asyncio.sleep(0.3)
        assert alpaca_server.submit_requests == 0  # nothing sent while shut
        assert "market_closed" in engine.alerts.active
        await engine.ledger.record_range([make_fill(2, "0.1")], [], block(2))  # fills still recorded
        alpaca_server.market_open = True
        await settled(engine)
        assert alpaca_server.book.total_orders == 1
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_restart_resumes_an_execution_left_pending_without_a_second_order(
    tmp_path: Path, alpaca_server: AlpacaServer
) -> None:
    """Crash between 'placement recorded' and 'submission confirmed', after the broker accepted it."""
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db, alpaca(alpaca_server).kind)
    await ledger.record_range([make_fill(1, "1.5")], [], block(1))  # placed; engine not running
    pos, _ = await ledger.store.load(position.SPEC, "AAPL")
    assert pos.pending is not None
    # the broker got the order, but the process died before recording the submission
    early = alpaca(alpaca_server)
    await early.submit(
        MarketOrder(
            execution_id=pos.pending.execution_id, symbol=Symbol("AAPL"), side=Direction.BUY, quantity=Shares(1)
        )
    )
    await early.aclose()
    await ledger.close()
    engine = await running(db, alpaca(alpaca_server))
    try:
        await settled(engine)
    finally:
        await engine.stop()
        await engine.ledger.close()
    assert alpaca_server.book.total_orders == 1
    assert rows(db, "SELECT status FROM offchain_trade_view") == [("FILLED",)]


async def _status_count(engine: Engine, status: str, count: int) -> bool:
    found = await engine.store.query("SELECT count(*) FROM offchain_trade_view WHERE status = ?", (status,))
    return int(found[0][0]) >= count


async def _controls(engine: Engine) -> control.Control:
    state, _ = await engine.store.load(control.SPEC, control.CONTROL_ID)
    return state


async def _paused(engine: Engine, symbol: str) -> bool:
    return symbol in (await _controls(engine)).paused_symbols
