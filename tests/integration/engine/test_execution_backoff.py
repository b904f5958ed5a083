"""An execution rides out a broker outage on the shared Backoff: equal jitter, doubling to the cap, on the
injected clock (no real sleep), the same delays for the same seed, and a 429 waits without growing it."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

from arbtui.brokers.base import BrokerOrderId, BrokerUnavailable, MarketOrder, RateLimited
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.clock import Backoff, Jitter
from arbtui.domain import offchain_order, position
from arbtui.domain.values import Direction, Symbol
from arbtui.engine.alerts import Alert, Alerts
from arbtui.engine.executions import ExecutionOptions, Executions
from arbtui.engine.metrics import Metrics
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.fakes.clock import FakeClock


class OutageBroker(DryRunBroker):
    """The dry-run broker behind a gateway that answers the first submits with the given errors."""

    def __init__(self, errors: list[Exception]) -> None:
        super().__init__()
        self.errors = errors

    async def submit(self, order: MarketOrder) -> BrokerOrderId:
        if self.errors:
            raise self.errors.pop(0)
        return await super().submit(order)


async def _hedge_through(db_path: Path, errors: list[Exception], seed: int) -> list[float]:
    """A fresh ledger's first hedge, through ``errors``; the sleeps it took on the fake clock."""
    ledger = await Ledger.open(db_path)
    clock = FakeClock()
    done = asyncio.Event()
    alerts: list[Alert] = []

    async def finished(symbol: Symbol) -> None:
        done.set()

    async def park(symbol: Symbol, reason: str) -> None:
        raise AssertionError(f"parked: {reason}")

    executions = Executions(
        ledger.store,
        OutageBroker(errors),
        Alerts(alerts.append),
        Metrics(),
        ExecutionOptions(poll_interval_s=0.01, backoff_initial_s=0.5, backoff_max_s=2.0),
        clock=clock,
        on_finished=finished,
        on_park=park,
        on_fault=lambda exc: None,
        rng=random.Random(seed),
    )
    try:
        await ledger.record_range([make_fill(1, "3", Direction.SELL)], [], block(1))
        pos, _ = await ledger.store.load(position.SPEC, "AAPL")
        assert pos.pending is not None
        executions.ensure(pos.pending.execution_id)
        await asyncio.wait_for(done.wait(), 10)
        order, _ = await ledger.store.load(offchain_order.SPEC, pos.pending.execution_id)
        assert order.status is offchain_order.OrderStatus.FILLED
        assert not [a for a in alerts if a.key.startswith(("parked", "execution_failed"))]
        return clock.sleeps
    finally:
        await executions.stop(1.0)
        await ledger.close()


async def test_an_outage_backs_off_with_equal_jitter_up_to_the_cap(tmp_path: Path) -> None:
    sleeps = await _hedge_through(tmp_path / "a.db", [BrokerUnavailable("503") for _ in range(5)], seed=9)
    expected = Backoff(0.5, 2.0, jitter=Jitter.EQUAL, rng=random.Random(9))
    assert sleeps == [expected.next_delay() for _ in range(5)]
    for delay, ceiling in zip(sleeps, (0.5, 1.0, 2.0, 2.0, 2.0), strict=True):
        assert ceiling / 2 <= delay <= ceiling
    assert sleeps == await _hedge_through(tmp_path / "b.db", [BrokerUnavailable("503") for _ in range(5)], seed=9)


async def test_a_429_waits_its_retry_after_or_the_current_delay_without_growing_it(tmp_path: Path) -> None:
    errors: list[Exception] = [
        BrokerUnavailable("503"),
        RateLimited("429", retry_after=7.0),
        RateLimited("429", retry_after=None),
        BrokerUnavailable("503"),
    ]
    sleeps = await _hedge_through(tmp_path / "ledger.db", errors, seed=4)
    expected = Backoff(0.5, 2.0, jitter=Jitter.EQUAL, rng=random.Random(4))
    first = expected.next_delay()
    assert sleeps == [first, 7.0, expected.delay(1), expected.next_delay()]
    assert 0.5 <= sleeps[3] <= 1.0  # the second outage failure: the 429s did not count
