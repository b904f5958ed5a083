"""The live shortcut: blocks recorded straight from notifications (``newHeads`` + ``logs``), then read
back with ``eth_getLogs``. Each test first asserts which path really ran (lesson 28), then exact counts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from arbtui.chain.decode import INTAKE_TOPICS, DecodeConfig, RawLog
from arbtui.chain.ranges import MAX_UNVERIFIED, NotifiedHead, PassOutcome, RangeReader
from arbtui.chain.rpc import JsonRpcClient
from arbtui.chain.signals import IntakeSignal, IntakeState, IntakeStatus, RangeRecorded, ReorgHandled
from arbtui.chain.tokens import TokenCache
from arbtui.chain.verify import LogSelector
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, OrderTuple, Sent, order
from arbtui.domain.values import BlockRef
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


async def _take(chain: ChainDriver, fills: int = 1) -> Sent:
    return await asyncio.to_thread(chain.take, [(_sell(chain), 0, 0, 10**18, 10**8)] * fills)


def _live(running: RunningIntake) -> bool:
    return any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in running.signals)


def _notified(running: RunningIntake, blocks: int) -> Callable[[], bool]:
    return lambda: running.intake.notified_blocks == blocks


def _ids(sent: list[Sent], fills: int = 1) -> dict[str, int]:
    return {f"{s.tx_hash}:{i}": 1 for s in sent for i in range(fills)}


async def test_fills_are_recorded_from_notifications_then_read_back(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake
) -> None:
    # the reconciling poller is slowed right down: only the shortcut (and its read-back) can record
    running = await start_intake(ledger, poll_interval=60)
    await eventually(lambda: _live(running), what="live")
    # no cursor yet (nothing recorded since the deployment block): the first fill takes the range read
    warm_up = await _take(chain)
    await eventually(lambda: _exactly(ledger, [warm_up]), what="first fill")
    assert running.intake.notified_blocks == 0
    chain.mine()  # a block without our logs between the cursor and the next fill: linked by its bloom
    sent: list[Sent] = []
    for _ in range(3):
        sent.append(await _take(chain, fills=2))
        await eventually(_notified(running, len(sent)), what="a block recorded from notifications")
        # read back (eth_getLogs once intake is idle) before the next block: else the read-back, racing
        # the next transaction, may record that block itself — correctly, but not by the path tested here
        await eventually(lambda: running.intake.unverified_blocks == 0, what="read back with eth_getLogs")
    assert await filled_counts(ledger) == _ids([warm_up]) | _ids(sent, fills=2)
    recorded = [s for s in running.signals if isinstance(s, RangeRecorded) and s.new_fills]
    assert [r.end.number for r in recorded][1:] == [s.block_number for s in sent]  # one commit per block
    cursor = await ledger.cursor()
    assert cursor is not None
    assert cursor.number == sent[-1].block_number
    assert cursor.hash == sent[-1].block_hash.lower()


async def test_a_gap_between_notification_and_cursor_falls_back_to_the_range_read(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=proxy.ws_url, poll_interval=60)
    await eventually(lambda: _live(running), what="live")
    warm_up = await _take(chain)  # gives intake a cursor
    await eventually(lambda: _exactly(ledger, [warm_up]), what="first fill")
    first = await _take(chain)
    await eventually(lambda: running.intake.notified_blocks == 1, what="a fill from its notification")
    # its read-back (eth_getLogs once intake is idle) done: else it could record the next block itself
    await eventually(lambda: running.intake.unverified_blocks == 0, what="the notified block read back")
    proxy.swallow_notifications = True  # header and logs of the next block never arrive
    missed = await _take(chain)
    await eventually(lambda: proxy.counters.notifications_swallowed >= 2, what="notifications swallowed")
    proxy.swallow_notifications = False
    after = await _take(chain)  # its parent is not the cursor: the shortcut must not skip `missed`
    await eventually(
        lambda: _exactly(ledger, [warm_up, first, missed, after]),
        what="the range read recorded the gap and the new fill",
    )
    assert running.intake.notified_blocks == 1
    ranges = [s for s in running.signals if isinstance(s, RangeRecorded) and s.new_fills]
    assert any(r.first <= missed.block_number < after.block_number <= r.end.number for r in ranges)


async def _exactly(ledger: Ledger, sent: list[Sent]) -> bool:
    return await filled_counts(ledger) == _ids(sent)


# --- RangeReader.record_notified on its own, with notifications built from the node's own answers ---


class _Reader:
    def __init__(self, reader: RangeReader, client: JsonRpcClient, signals: list[IntakeSignal]) -> None:
        self.reader, self.client, self.signals = reader, client, signals
        address = reader.decode.orderbook
        self.selector = LogSelector([address], INTAKE_TOPICS)

    async def head(self, number: int) -> NotifiedHead:
        block: dict[str, Any] = await self.client.call("eth_getBlockByNumber", [hex(number), False])
        ref = BlockRef(int(block["number"], 16), block["hash"].lower())
        return NotifiedHead(ref, block["parentHash"].lower(), self.selector.may_hold(block["logsBloom"]))

    async def logs(self, number: int) -> list[RawLog]:
        answer = await self.client.call(
            "eth_getLogs", [{"address": self.reader.decode.orderbook, "fromBlock": hex(number), "toBlock": hex(number)}]
        )
        return [RawLog.from_rpc(item) for item in answer]


@pytest.fixture
async def direct(chain: ChainDriver, anvil: AnvilNode, ledger: Ledger) -> AsyncIterator[_Reader]:
    client = JsonRpcClient(anvil.http_url)
    signals: list[IntakeSignal] = []
    d = chain.deployment
    reader = RangeReader(
        client,
        ledger,
        TokenCache(client),
        DecodeConfig(orderbook=d.orderbook, owner=OUR_OWNER, usdc=d.usdc),
        signals.append,
        deployment_block=chain.head() + 1,
        chunk_blocks=100,
        max_inflight_chunks=2,
        checkpoint_limit=64,
    )
    chain.mine()
    assert (await reader.run_pass(chain.head())).outcome is PassOutcome.DONE  # a verified cursor to build on
    try:
        yield _Reader(reader, client, signals)
    finally:
        await client.close()


async def test_a_block_delivered_in_part_is_completed_by_the_read_back(
    chain: ChainDriver, ledger: Ledger, direct: _Reader
) -> None:
    sent = await _take(chain, fills=3)
    head, logs = await direct.head(sent.block_number), await direct.logs(sent.block_number)
    assert head.may_hold_ours
    assert len(logs) == 3
    assert await direct.reader.record_notified(head, logs[:1])  # the subscription died after one log
    assert await filled_counts(ledger) == {f"{sent.tx_hash}:0": 1}
    assert direct.reader.unverified_blocks == 1
    assert (await ledger.cursor()) == head.ref
    result = await direct.reader.run_pass(sent.block_number)
    assert result.outcome is PassOutcome.DONE
    assert await filled_counts(ledger) == _ids([sent], fills=3)
    assert direct.reader.unverified_blocks == 0


async def test_only_blocks_linked_to_the_cursor_are_recorded_from_notifications(
    chain: ChainDriver, ledger: Ledger, direct: _Reader
) -> None:
    cursor = await ledger.cursor()
    assert cursor is not None
    first = await _take(chain)
    chain.mine()  # empty: its bloom proves it
    second = await _take(chain)
    empty = await direct.head(first.block_number + 1)
    assert not empty.may_hold_ours
    second_head, second_logs = await direct.head(second.block_number), await direct.logs(second.block_number)
    # not linked: the block with `first` is missing in between
    assert not await direct.reader.record_notified(second_head, second_logs, [empty])
    # linked through a header that may hold our logs: refused
    first_head = await direct.head(first.block_number)
    assert not await direct.reader.record_notified(second_head, second_logs, [first_head, empty])
    assert await filled_counts(ledger) == {}
    assert await direct.reader.record_notified(first_head, await direct.logs(first.block_number))
    assert await direct.reader.record_notified(second_head, second_logs, [empty])
    assert await filled_counts(ledger) == _ids([first, second])
    assert direct.reader.unverified_blocks == 2
    # a stale or foreign header for the cursor's successor is refused
    chain.mine()
    third = await direct.head(second.block_number + 1)
    forged = NotifiedHead(third.ref, "0x" + "ab" * 32, third.may_hold_ours)
    assert not await direct.reader.record_notified(forged, second_logs)
    assert (await direct.reader.run_pass(chain.head())).outcome is PassOutcome.DONE
    assert direct.reader.unverified_blocks == 0
    assert await filled_counts(ledger) == _ids([first, second])


async def test_a_block_recorded_from_notifications_then_reorged_away_is_retracted(
    chain: ChainDriver, ledger: Ledger, direct: _Reader
) -> None:
    fork = chain.snapshot()
    doomed = await _take(chain, fills=2)
    head = await direct.head(doomed.block_number)
    assert await direct.reader.record_notified(head, await direct.logs(doomed.block_number))
    assert await filled_counts(ledger) == _ids([doomed], fills=2)
    chain.revert(fork)
    replacement = await _take(chain)  # same height, another block
    assert replacement.block_number == doomed.block_number
    assert replacement.tx_hash != doomed.tx_hash
    outcomes = [(await direct.reader.run_pass(chain.head())).outcome for _ in range(2)]
    assert outcomes == [PassOutcome.REORG, PassOutcome.DONE]
    events = await trade_events(ledger)
    assert {tid for tid, kind, _ in events if kind == "Reorged"} == set(_ids([doomed], fills=2))
    assert {tid for tid, kind, _ in events if kind == "Filled"} == set(_ids([doomed], fills=2)) | set(
        _ids([replacement])
    )
    handled = [s for s in direct.signals if isinstance(s, ReorgHandled)]
    assert len(handled) == 1
    assert handled[0].old_cursor == head.ref


async def test_a_restart_reads_back_the_newest_ranges(chain: ChainDriver, ledger: Ledger, direct: _Reader) -> None:
    sent = await _take(chain, fills=2)
    head, logs = await direct.head(sent.block_number), await direct.logs(sent.block_number)
    assert await direct.reader.record_notified(head, logs[:1])
    # a new process: nothing in memory says the newest range came from a notification
    fresh = RangeReader(
        direct.client,
        ledger,
        TokenCache(direct.client),
        direct.reader.decode,
        direct.signals.append,
        deployment_block=direct.reader.deployment_block,
        chunk_blocks=100,
        max_inflight_chunks=2,
        checkpoint_limit=64,
    )
    assert (await fresh.cursor()) == head.ref
    assert fresh.unverified_blocks <= MAX_UNVERIFIED
    assert (await fresh.run_pass(chain.head())).outcome is PassOutcome.DONE
    assert await filled_counts(ledger) == _ids([sent], fills=2)
