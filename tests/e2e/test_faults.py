"""Broker faults and a node restart during a run of ``arbtui run --headless``: the end state is the same
as a clean run's (every fill once, one broker order per hedge, exact positions)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import ChainDriver, deploy_all
from tests.e2e.harness import (
    Bot,
    Chain,
    CountingAlpacaServer,
    FillEmitter,
    LedgerView,
    emitter_for,
    eventually,
    restart_anvil,
    run_cli,
)

TIMEOUT_DELAY_S = 11.0  # the Alpaca adapter's own request timeout is 10 s


@pytest.fixture
def chain(artifacts: dict[str, Artifact], tmp_path: Path) -> Iterator[Chain]:
    """This module's chain: anvil dumps its state on exit, so the test can restart it on the same port."""
    state = tmp_path / "anvil-state.json"
    node = AnvilNode.start("--dump-state", str(state))
    started = Chain(node, deploy_all(node.http_url, artifacts), None, 0)  # type: ignore[arg-type]
    try:
        started.driver = ChainDriver(node.http_url, started.deployment, artifacts)
        started.first_block = started.driver.head() + 1
        yield started
    finally:
        started.node.stop()


async def _send(emitter: FillEmitter, fills: int) -> None:
    while fills > 0:
        count = min(3, fills)
        await asyncio.to_thread(emitter.send, count)
        fills -= count


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_broker_faults_and_a_node_restart_end_like_a_clean_run(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer, tmp_path: Path
) -> None:
    """Proves that a 429 storm with Retry-After, HTTP 500s, a submit answered only after the adapter's
    timeout (the order *was* created), one rejected submit, and a stop/start of the node (state dumped and
    reloaded on the same port) during a run leave exactly the state of a clean run: each fault is first
    shown to have fired (server counters), then every fill is recorded once, every hedge has exactly one
    broker order (the rejected one none, and its shares were hedged again), and positions are exact."""
    alpaca.book.fill_delay = 0.2
    view = LedgerView(bot.db)
    emitter = emitter_for(chain, 99)
    fired = alpaca.faults.fired
    await bot.start()
    await bot.wait_healthy()

    # 1. a 429 storm on every route, then 500s on every route
    alpaca.faults.rate_limit(12, retry_after="1")
    alpaca.faults.server_error(6, status=500)
    await _send(emitter, 30)
    await eventually(lambda: fired["rate_limit"] == 12 and fired["server_error"] == 6, within=60, what="429s+500s")
    # 2. a submit whose answer comes after the adapter's timeout, although the order was created
    alpaca.faults.slow(1, delay=TIMEOUT_DELAY_S, route="submit_order")
    while fired["slow"] == 0:
        await _send(emitter, 3)
        await eventually(lambda: view.fill_count() == len(emitter.emitted), within=30, what="fills recorded")
        if fired["slow"] == 0:  # no hedge yet: wait for the scan to show the engine idle, then add fills
            await eventually(lambda: view.settled(len(emitter.emitted)), within=30, what="engine idle")
    # 3. one rejected submit
    before = set(alpaca.posts)
    alpaca.reject_next(status=403, message="insufficient buying power")
    while not any(e.status == "FAILED" for e in view.executions()):
        await _send(emitter, 3)
        await eventually(lambda: view.fill_count() == len(emitter.emitted), within=30, what="fills recorded")
        await eventually(
            lambda: view.settled(len(emitter.emitted)) or any(e.status == "FAILED" for e in view.executions()),
            within=60,
            what="a hedge or the rejection",
        )
    # 4. the node stops and comes back from its dumped state on the same port; fills continue
    await asyncio.to_thread(restart_anvil, chain, tmp_path / "anvil-state.json")
    await _send(emitter, 30)
    total = len(emitter.emitted)
    await eventually(lambda: view.settled(total), within=120, what="everything recorded and hedged")
    bot.signal(signal.SIGTERM)
    await bot.wait_exit(30)

    # every fault really fired, exactly as queued
    assert (fired["rate_limit"], fired["server_error"], fired["slow"]) == (12, 6, 1)
    executions = view.executions()
    failed = [e for e in executions if e.status == "FAILED"]
    assert len(failed) == 1, failed
    rejected = failed[0]
    assert rejected.execution_id not in before
    assert alpaca.posts[rejected.execution_id] == 1
    assert alpaca.book.submissions[rejected.execution_id] == 0
    assert rejected.broker_order_id is None
    # exact counts: fills once each, one broker order per hedge that reached the broker
    recorded = view.filled_counts()
    assert recorded == {f.trade_id: 1 for f in emitter.emitted}
    filled = [e for e in executions if e.status == "FILLED"]
    assert len(filled) == len(executions) - 1
    assert set(alpaca.book.submissions.values()) == {1}
    assert alpaca.book.total_orders == len(filled)
    by_client = {sim.client_order_id: sim for sim in alpaca.book.orders.values()}
    assert set(by_client) == {e.execution_id for e in filled}
    for execution in filled:
        assert execution.broker_order_id == by_client[execution.execution_id].order_id
    # the slow submit's order was created once and adopted, not resent
    slow_ids = [cid for cid, n in alpaca.posts.items() if n > 1]
    onchain = emitter.model_onchain_net()
    broker = alpaca.filled_net()
    for symbol, pos in view.positions().items():
        expected = onchain[symbol] + broker.get(symbol, Decimal(0))
        assert Decimal(pos["net_position"]) == expected, (symbol, pos, expected)
        assert abs(expected) < 1
    code, output = await run_cli("--db", str(bot.db), "db", "rebuild-views", "--check")
    assert code == 0, output
    print(
        f"\ne2e faults: fills={total} hedges={len(filled)} failed={len(failed)} fired={dict(fired)} "
        f"resubmitted_client_ids={len(slow_ids)} bot_starts={bot.starts} node_restarts=1 pid={os.getpid()}"
    )
