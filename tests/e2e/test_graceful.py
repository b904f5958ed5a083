"""Graceful shutdown of ``arbtui run --headless`` as a separate process: SIGTERM with a hedge in flight,
and a second SIGTERM that forces the exit."""

from __future__ import annotations

import asyncio
import signal
import time
from decimal import Decimal

import pytest

from tests.e2e.harness import Bot, Chain, CountingAlpacaServer, LedgerView, emitter_for, eventually, write_config

SLOW_FILL_S = 2.5


async def _order_in_flight(bot: Bot, chain: Chain, alpaca: CountingAlpacaServer) -> tuple[LedgerView, str]:
    """Start the bot, emit one fill of 2.5 shares, wait until the broker holds its hedge unfilled."""
    view = LedgerView(bot.db)
    await bot.start()
    await bot.wait_healthy()
    await asyncio.to_thread(emitter_for(chain, 7).send_exact, [("tAAPL", "SELL", Decimal("2.5"))])
    await eventually(lambda: bool(alpaca.book.orders), within=15, what="the hedge at the broker")
    (sim,) = alpaca.book.orders.values()
    assert (sim.symbol, sim.side, sim.quantity) == ("AAPL", "buy", Decimal(2))
    assert sim.client_order_id is not None
    await eventually(
        lambda: any(e.status == "SUBMITTED" for e in view.executions()), within=10, what="submission recorded"
    )
    assert alpaca.book.phase(sim) == "accepted"  # the fault really holds: the broker has not filled it
    return view, sim.client_order_id


@pytest.mark.slow
async def test_sigterm_with_a_hedge_in_flight_stops_promptly_and_loses_nothing(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer
) -> None:
    """Proves that one SIGTERM while an order is accepted but not yet filled at the broker stops the
    process by itself (not the forced 130), without a second broker order, and that the hedge ends FILLED
    (at exit, or through the next start's recovery) with still exactly one broker order, exiting 0."""
    alpaca.book.fill_delay = SLOW_FILL_S
    view, execution_id = await _order_in_flight(bot, chain, alpaca)
    bot.signal(signal.SIGTERM)
    code = await bot.wait_exit(SLOW_FILL_S + 30)
    assert code == 0, bot.tail()
    assert alpaca.book.submissions[execution_id] == 1
    assert alpaca.book.total_orders == 1
    await bot.start()
    await bot.wait_healthy()
    await eventually(
        lambda: [e.status for e in view.executions() if e.execution_id == execution_id] == ["FILLED"],
        within=20,
        what="the hedge filled",
    )
    assert alpaca.book.submissions[execution_id] == 1
    assert alpaca.book.total_orders == 1
    assert alpaca.posts[execution_id] == 1


@pytest.mark.slow
@pytest.mark.parametrize("ws", [False, True], ids=["http-only", "with-ws"])
async def test_sigterm_of_an_idle_bot_exits_0(ws: bool, bot: Bot, chain: Chain, alpaca: CountingAlpacaServer) -> None:
    """Proves (once fixed) that SIGTERM of a ready, idle bot exits 0, with or without the ws subscription."""
    write_config(bot.config, chain=chain, alpaca_url=alpaca.url, api_port=bot.api_port, db=bot.db, ws=ws)
    await bot.start()
    await bot.wait_healthy()

    async def ready() -> bool:
        return bool((await bot.ready()).get("ready"))

    await eventually(ready, within=15, what="/ready")
    bot.signal(signal.SIGTERM)
    code = await bot.wait_exit(30)
    assert code == 0, bot.tail()


@pytest.mark.slow
async def test_sigterm_waits_for_the_hedge_in_flight_to_fill(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer
) -> None:
    """Proves (once fixed) that one SIGTERM with an order accepted but not yet filled makes the process
    wait for the broker to fill it and record it FILLED before exiting 0."""
    alpaca.book.fill_delay = SLOW_FILL_S
    view, execution_id = await _order_in_flight(bot, chain, alpaca)
    signalled = time.monotonic()
    bot.signal(signal.SIGTERM)
    code = await bot.wait_exit(30)
    waited = time.monotonic() - signalled
    statuses = [e.status for e in view.executions() if e.execution_id == execution_id]
    assert statuses == ["FILLED"], bot.tail()
    assert code == 0, bot.tail()
    assert alpaca.book.submissions[execution_id] == 1
    assert alpaca.book.total_orders == 1
    assert waited < SLOW_FILL_S + 5


@pytest.mark.slow
async def test_second_sigterm_forces_the_exit_and_the_next_start_finishes_the_hedge(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer
) -> None:
    """Proves that a second SIGTERM exits at once (code 130) while the first is still waiting for a
    broker that does not fill, that the hedge is left open (SUBMITTED) in the ledger, and that the next
    start recovers it to FILLED from the ledger without a second broker order."""
    alpaca.book.fill_delay = 3600.0  # the broker does not fill while we wait
    view, execution_id = await _order_in_flight(bot, chain, alpaca)
    bot.signal(signal.SIGTERM)
    await eventually(lambda: "shutting down gracefully" in bot.log_text(), within=10, what="first signal handled")
    assert bot.running  # still waiting for the in-flight hedge
    signalled = time.monotonic()
    bot.signal(signal.SIGTERM)
    code = await bot.wait_exit(10)
    assert code == 130
    assert time.monotonic() - signalled < 5
    (execution,) = [e for e in view.executions() if e.execution_id == execution_id]
    assert execution.status == "SUBMITTED"
    alpaca.book.fill_delay = 0.0  # the broker fills it now
    await bot.start()
    await bot.wait_healthy()
    await eventually(
        lambda: [e.status for e in view.executions() if e.execution_id == execution_id] == ["FILLED"],
        within=20,
        what="the recovered hedge filled",
    )
    assert alpaca.book.submissions[execution_id] == 1
    assert alpaca.posts[execution_id] == 1
    bot.signal(signal.SIGTERM)
    await bot.wait_exit(30)
