"""The fill→hedge path on a real chain: the hedge a commit places reaches the broker before intake goes
on with its own bookkeeping (signals, the next block), on both intake paths."""

from __future__ import annotations

import asyncio

from arbtui.brokers.base import BrokerOrderId, MarketOrder
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.signals import IntakeState, IntakeStatus, RangeRecorded
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Sent, order
from arbtui.domain.values import Direction, Shares, Symbol
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.integration.chain.conftest import StartIntake, eventually


async def test_each_hedge_is_submitted_before_intake_signals_the_block_that_placed_it(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    broker = DryRunBroker()
    engine = Engine(ledger, broker, EngineOptions(check_interval_s=3600))
    running = await start_intake(ledger, poll_interval=60)
    submitted: list[tuple[MarketOrder, int]] = []  # each order, and how many intake signals preceded it
    submit = broker.submit

    async def watched_submit(market_order: MarketOrder) -> BrokerOrderId:
        submitted.append((market_order, len(running.signals)))
        return await submit(market_order)

    broker.submit = watched_submit  # type: ignore[method-assign,assignment]
    await engine.start()
    try:
        await eventually(
            lambda: any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in running.signals),
            what="live",
        )
        d = chain.deployment
        sell = order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])
        # one share per take: every fill crosses the threshold; the first goes through the range read
        # (no cursor yet), the others straight from notifications
        sent: list[Sent] = []
        for n in range(1, 4):
            sent.append(await asyncio.to_thread(chain.take, [(sell, 0, 0, 10**18, 10**8)]))

            def hedged(count: int = n) -> bool:
                return len(submitted) == count and not engine.executions.in_flight

            await eventually(hedged, what=f"hedge {n}")
        assert running.intake.notified_blocks >= 1
        recorded_at = {
            s.end.number: index
            for index, s in enumerate(running.signals)
            if isinstance(s, RangeRecorded) and s.new_fills
        }
        assert sorted(recorded_at) == [s.block_number for s in sent]
        for (market_order, signals_before), fill in zip(submitted, sent, strict=True):
            assert (market_order.symbol, market_order.side, market_order.quantity) == (
                Symbol("AAPL"),
                Direction.BUY,
                Shares(1),
            )
            assert signals_before <= recorded_at[fill.block_number], "intake signalled the block before the hedge left"
    finally:
        await engine.stop()
