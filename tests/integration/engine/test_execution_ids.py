"""Execution ids are injected (``arbtui.domain.ids``); each is also the broker's client order id. Even an id
source that repeats itself cannot place a second order under a used id: the placement's ``OffchainOrder``
is created in the same transaction, and the event store's key refuses a second creation — the whole unit
is refused, nothing is recorded, nothing reaches the broker."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain.ids import CountingIds
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.errors import ConcurrencyConflict
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill

SAME = "e0000001-0000-4000-8000-000000000000"


async def _placed(engine: Engine) -> int:
    rows = await engine.store.query("SELECT count(*) FROM events WHERE event_type = 'OffChainOrderPlaced'")
    return int(rows[0][0])


async def test_an_id_source_that_repeats_itself_never_reuses_a_client_order_id(tmp_path: Path) -> None:
    broker = DryRunBroker()
    ledger = await Ledger.open(tmp_path / "ledger.db", broker.kind, ids=CountingIds(lambda n: SAME))
    options = EngineOptions(check_interval_s=3600.0, executions=ExecutionOptions(poll_interval_s=0.01))
    engine = Engine(ledger, broker, options)
    await engine.start()
    try:
        await ledger.record_range([make_fill(1, "1.5")], [], block(1))
        for _ in range(200):
            if broker.submissions == 1 and not engine.executions.in_flight:
                break
            await asyncio.sleep(0.01)
        assert broker.submissions == 1
        assert await _placed(engine) == 1

        # the next hedge draws the same id: its whole unit (the fill too) is refused, nothing recorded
        with pytest.raises(ConcurrencyConflict, match=SAME):
            await ledger.record_range([make_fill(2, "1.5", block_number=2)], [], block(2))
        await asyncio.sleep(0.1)
        assert broker.submissions == 1
        assert await _placed(engine) == 1
        cursor = await ledger.cursor()
        assert cursor is not None
        assert cursor.number == 1  # intake would read block 2 again, not skip it
    finally:
        await engine.stop()
        await ledger.close()
