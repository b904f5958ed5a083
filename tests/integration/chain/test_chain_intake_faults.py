"""Fault injection: dead and silent subscriptions, lagging nodes, reorgs. Each test first asserts the
fault really fired (lesson 28), then exact counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from arbtui.chain.signals import AlertKind, IntakeState, IntakeStatus, ReorgHandled
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import OTHER_OWNER, OUR_OWNER, ChainDriver, OrderTuple, Sent, order
from arbtui.store.ledger import Ledger
from tests.chain_support.proxy import RpcProxy
from tests.integration.chain.conftest import RunningIntake, StartIntake, eventually, filled_counts, trade_events


@pytest.fixture
async def proxy(anvil: AnvilNode) -> AsyncIterator[RpcProxy]:
    running = RpcProxy(anvil.http_url, anvil.ws_url)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


def _sell(chain: ChainDriver) -> OrderTuple:
    d = chain.deployment
    return order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])


async def _takes(chain: ChainDriver, count: int, shares: int = 1) -> list[Sent]:
    sell = _sell(chain)
    return [await asyncio.to_thread(chain.take, [(sell, 0, 0, shares * 10**18, 10**8)]) for _ in range(count)]


def _live(running: RunningIntake) -> bool:
    return any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in running.signals)


async def _exactly(ledger: Ledger, sent: list[Sent]) -> bool:
    return await filled_counts(ledger) == {f"{s.tx_hash}:0": 1 for s in sent}


async def test_killed_subscription_reconnects_and_loses_nothing(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    # the reconciling poller is slowed right down: only the reconnect + backfill can recover the gap
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=proxy.ws_url, poll_interval=60)
    await eventually(lambda: _live(running), what="live")
    before = await _takes(chain, 3)
    await eventually(lambda: _exactly(ledger, before), what="fills before the kill")
    assert proxy.counters.notifications_forwarded >= 3
    killed = await proxy.kill_subscriptions()
    assert killed == 1
    during = await _takes(chain, 4)  # sent while intake is down or reconnecting
    after_sessions = 2
    await eventually(lambda: running.intake.sessions >= after_sessions, what="a second session")
    after = await _takes(chain, 2)
    await eventually(lambda: _exactly(ledger, before + during + after), what="every fill exactly once")
    assert any(a.kind is AlertKind.SUBSCRIPTION_ENDED for a in running.alerts())
    assert proxy.counters.ws_connections == 2
    assert await _exactly(ledger, before + during + after)


async def test_silent_subscription_is_covered_by_the_reconciling_poller(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    proxy.swallow_notifications = True
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=proxy.ws_url, poll_interval=0.3)
    await eventually(lambda: _live(running), what="live")
    sent = await _takes(chain, 5)
    await eventually(lambda: proxy.counters.notifications_swallowed >= 5, what="notifications swallowed")
    await eventually(lambda: _exactly(ledger, sent), within=5, what="poller recorded every fill")
    assert proxy.counters.notifications_forwarded == 0
    assert running.intake.sessions == 1  # the socket never closed: nothing but the poller saw the fills


async def test_lagging_node_empty_answers_never_skip_fills(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    proxy.logs_behind_block = chain.head()
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05)
    sent = await _takes(chain, 4)
    await eventually(lambda: proxy.counters.empty_log_answers >= 3, what="empty eth_getLogs answers")
    assert proxy.counters.hidden_blocks >= 1
    assert any(a.kind is AlertKind.NODE_BEHIND for a in running.alerts())
    assert await filled_counts(ledger) == {}
    cursor = await ledger.cursor()
    assert cursor is None or cursor.number <= proxy.logs_behind_block
    proxy.logs_behind_block = None  # the node catches up
    await eventually(lambda: _exactly(ledger, sent), what="every fill once the node caught up")


async def test_reorg_retracts_reverted_fills_and_records_the_new_ones(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    running = await start_intake(ledger, poll_interval=0.1)
    kept = await _takes(chain, 2)
    await eventually(lambda: _exactly(ledger, kept), what="fills before the fork")
    fork = chain.snapshot()
    doomed = await _takes(chain, 2, shares=5)
    await eventually(lambda: _exactly(ledger, kept + doomed), what="fills on the doomed branch")
    chain.revert(fork)
    d = chain.deployment
    buy = order(OUR_OWNER, [(d.tokens["tAAPL"], 18)], [(d.usdc, 6)])
    replacement = [await asyncio.to_thread(chain.take, [(buy, 0, 0, 10**8, 7 * 10**18)]) for _ in range(3)]
    assert {s.tx_hash for s in replacement}.isdisjoint({s.tx_hash for s in doomed})

    async def reorg_handled() -> bool:
        events = await trade_events(ledger)
        reorged = {tid for tid, kind, _ in events if kind == "Reorged"}
        filled_new = {tid for tid, kind, _ in events if kind == "Filled"} >= {f"{s.tx_hash}:0" for s in replacement}
        return reorged == {f"{s.tx_hash}:0" for s in doomed} and filled_new

    await eventually(reorg_handled, what="doomed fills retracted, replacement recorded")
    handled = [s for s in running.signals if isinstance(s, ReorgHandled)]
    assert len(handled) == 1
    assert set(map(str, handled[0].retracted)) == {f"{s.tx_hash}:0" for s in doomed}
    assert handled[0].fork_point is not None
    assert handled[0].fork_point.number < min(s.block_number for s in doomed)
    events = await trade_events(ledger)
    assert [tid for tid, kind, _ in events if kind == "Filled"].count(f"{kept[0].tx_hash}:0") == 1
    cursor = await ledger.cursor()
    assert cursor is not None
    assert cursor.number >= replacement[-1].block_number


async def test_other_owners_never_reach_the_ledger(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    d = chain.deployment
    theirs = order(OTHER_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])
    await asyncio.to_thread(chain.take, [(theirs, 0, 0, 10**18, 10**8)] * 3)
    marker = await _takes(chain, 1)
    running = await start_intake(ledger, ws_url=None)
    await eventually(lambda: _exactly(ledger, marker), what="marker fill")
    await running.stop()
    assert [tid for tid, _, _ in await trade_events(ledger)] == [f"{marker[0].tx_hash}:0"]
