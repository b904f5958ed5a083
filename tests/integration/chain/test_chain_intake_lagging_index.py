"""Intake never trusts an empty answer (issue 18, lesson 16): a node whose log index lags its headers
answers ``eth_getLogs`` with ``[]`` for its newest blocks while their headers pass through unchanged.
Each test first asserts the proxy's fault really fired (how many logs it hid), then exact counts.

Mechanisms pinned here (each test fails if its mechanism is removed):
* the bloom check + receipts read — fills are recorded while the fault is still on;
* the trailing re-scan — receipts that lack the logs too are caught by a later re-read;
* the cursor guard — unreadable receipts hold the cursor before the block.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from web3 import Web3

from arbtui.chain.decode import INTAKE_TOPICS
from arbtui.chain.rpc import JsonRpcClient
from arbtui.chain.signals import AlertKind, HeadSeen, IntakeAlertCleared, ReceiptsRead
from arbtui.chain.verify import LogSelector
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Sent, order
from arbtui.store.ledger import Ledger
from tests.chain_support.proxy import RpcProxy
from tests.integration.chain.conftest import RunningIntake, StartIntake, eventually, filled_counts

LAG = 6
"""Blocks the proxy's log index lags its headers by: more than the 3 confirmations tested."""


@pytest.fixture
async def proxy(anvil: AnvilNode, chain: ChainDriver) -> AsyncIterator[RpcProxy]:
    running = RpcProxy(anvil.http_url, anvil.ws_url, hidden_address=chain.deployment.orderbook)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


async def _takes(chain: ChainDriver, count: int) -> list[Sent]:
    d = chain.deployment
    sell = order(OUR_OWNER, [(d.usdc, 6)], [(d.tokens["tAAPL"], 18)])
    return [await asyncio.to_thread(chain.take, [(sell, 0, 0, 10**18 // 2, 10**8)]) for _ in range(count)]


def _ids(sent: list[Sent]) -> dict[str, int]:
    return {f"{s.tx_hash}:0": 1 for s in sent}


def _inconsistencies(running: RunningIntake) -> list[str]:
    return [a.message for a in running.alerts() if a.kind is AlertKind.INCONSISTENT_LOGS]


async def _cursor_at_least(ledger: Ledger, block: int) -> bool:
    cursor = await ledger.cursor()
    return cursor is not None and cursor.number >= block


# --- the bloom check itself, on real anvil headers ---------------------------------------------------


async def test_bloom_check_on_real_anvil_headers(chain: ChainDriver, anvil: AnvilNode) -> None:
    """A block with our fill: our address and fill topics are in its bloom; another address, another
    topic of the same address, and an empty block are out."""
    d = chain.deployment
    ours = LogSelector([d.orderbook], INTAKE_TOPICS)
    (sent,) = await _takes(chain, 1)
    other_topic = "0x" + Web3.keccak(text="Deposit(address,address,uint256,uint256)").hex().removeprefix("0x")
    only_other = await asyncio.to_thread(chain.raw_log, [other_topic], b"")
    await asyncio.to_thread(chain.mine)
    client = JsonRpcClient(anvil.http_url)
    try:
        fill_block, other_block, empty_block = [
            await client.call("eth_getBlockByNumber", [hex(n), False])
            for n in (sent.block_number, only_other.block_number, chain.head())
        ]
    finally:
        await client.close()
    assert ours.may_hold(fill_block["logsBloom"])
    assert not LogSelector([d.usdc], INTAKE_TOPICS).may_hold(fill_block["logsBloom"])
    assert not LogSelector([d.orderbook], [other_topic]).may_hold(fill_block["logsBloom"])
    assert LogSelector([d.orderbook], [other_topic]).may_hold(other_block["logsBloom"])
    assert not ours.may_hold(other_block["logsBloom"])  # our address, but none of the fill topics
    assert not ours.may_hold(empty_block["logsBloom"])
    assert ours.may_hold(None)
    assert ours.may_hold("0x1234")


# --- empty answers near the head -------------------------------------------------------------------


@pytest.mark.parametrize("confirmations", [0, 3])
async def test_empty_answers_near_the_head_are_confirmed_by_receipts(
    confirmations: int, chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    """While the fault is on (and stays on), every fill is recorded exactly once from the receipts of
    the blocks whose bloom may hold ours; the inconsistency is an alert naming the blocks and the node."""
    proxy.index_lag = LAG
    running = await start_intake(
        ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05, confirmations=confirmations
    )
    sent = await _takes(chain, 4)
    await asyncio.to_thread(chain.mine, confirmations)
    await eventually(lambda: proxy.counters.hidden_logs >= 1, what="the proxy hid logs")
    await eventually(lambda: _exactly(ledger, sent), what="every fill recorded while the fault is on")
    assert proxy.index_lag == LAG  # never lifted: only the receipts could have given the fills
    assert proxy.counters.hidden_logs >= len(sent)
    messages = _inconsistencies(running)
    assert messages, [a.kind for a in running.alerts()]
    assert proxy.http_url in messages[0]
    assert "receipts" in messages[0]
    assert sum(s.recovered for s in running.signals if isinstance(s, ReceiptsRead)) >= len(sent)
    assert await filled_counts(ledger) == _ids(sent)


async def _exactly(ledger: Ledger, sent: list[Sent]) -> bool:
    return await filled_counts(ledger) == _ids(sent)


async def test_receipts_that_lack_the_logs_too_are_caught_by_the_rescan(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    """Receipts answered late as well (they come without our logs and look complete): the first read
    moves on, believing a bloom false positive; the trailing re-scan records the fills once the blocks
    are older than the lag — with the fault still on."""
    proxy.index_lag = LAG
    proxy.receipts_fault = "strip"
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05, rescan_blocks=32)
    sent = await _takes(chain, 3)
    await eventually(lambda: proxy.counters.stripped_receipt_logs >= len(sent), what="receipts stripped")
    await eventually(lambda: _cursor_at_least(ledger, sent[-1].block_number), what="the cursor past the fills")
    assert await filled_counts(ledger) == {}  # the fault fooled the first read
    assert _inconsistencies(running) == []
    await asyncio.to_thread(chain.mine, LAG + 12)  # the fills' blocks age past the lag
    await eventually(lambda: _exactly(ledger, sent), what="the re-scan recorded every fill")
    assert proxy.receipts_fault == "strip"
    assert proxy.index_lag == LAG
    assert any("re-read" in m for m in _inconsistencies(running))
    await asyncio.sleep(0.3)  # more re-scans: nothing is written twice
    assert await filled_counts(ledger) == _ids(sent)


async def test_unreadable_receipts_hold_the_cursor_before_the_block(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    """A block that may hold ours, an empty log answer and no receipts yet: the cursor waits just below
    the block (alerted) and moves on, with the fill, once the receipts come."""
    proxy.index_lag = LAG
    proxy.receipts_fault = "null"
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05)
    await asyncio.to_thread(chain.mine)
    await eventually(lambda: _cursor_at_least(ledger, chain.head()), what="a cursor to wait at")
    (sent,) = await _takes(chain, 1)
    await asyncio.to_thread(chain.mine, 2)
    await eventually(lambda: proxy.counters.null_receipts >= 3, what="receipts withheld on several passes")
    cursor = await ledger.cursor()
    assert cursor is not None
    assert cursor.number == sent.block_number - 1
    assert any(a.kind is AlertKind.LOGS_UNCONFIRMED and str(sent.block_number) in a.message for a in running.alerts())
    assert await filled_counts(ledger) == {}
    heads = [s.number for s in running.signals if isinstance(s, HeadSeen)]
    assert heads == sorted(set(heads))  # sent when the head moves up, once each
    assert heads[-1] >= sent.block_number + 2 > cursor.number + 2  # the head is known past the held cursor
    proxy.index_lag = None  # the node catches up
    await eventually(lambda: _exactly(ledger, [sent]), what="the fill once the receipts came")
    await eventually(lambda: _cursor_at_least(ledger, sent.block_number + 2), what="the cursor moved on")
    cleared = [s for s in running.signals if isinstance(s, IntakeAlertCleared)]
    assert [c.kind for c in cleared] == [AlertKind.LOGS_UNCONFIRMED]  # one recovery notice


async def test_a_node_without_block_receipts_is_read_transaction_by_transaction(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    proxy.index_lag = LAG
    proxy.refuse_methods = {"eth_getBlockReceipts"}
    await start_intake(ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05)
    sent = await _takes(chain, 2)
    await eventually(lambda: _exactly(ledger, sent), what="fills from the transactions' receipts")
    assert proxy.counters.hidden_logs >= len(sent)
    refused = proxy.counters.refused_calls
    assert 1 <= refused <= len(sent)  # one batch asked for the suspect blocks' receipts
    more = await _takes(chain, 2)
    await eventually(lambda: _exactly(ledger, sent + more), what="more fills, read the same way")
    assert proxy.counters.refused_calls == refused  # the answer was remembered


async def test_a_bloom_false_positive_costs_one_receipts_read_never_a_stall(
    chain: ChainDriver, ledger: Ledger, start_intake: StartIntake, proxy: RpcProxy
) -> None:
    first = chain.head() + 1
    proxy.saturated_blooms = {first, first + 1, first + 2}
    running = await start_intake(ledger, http_url=proxy.http_url, ws_url=None, poll_interval=0.05)
    await asyncio.to_thread(chain.mine, 4)
    await eventually(lambda: _cursor_at_least(ledger, first + 3), what="the cursor past the saturated blocks")
    reads = [n for s in running.signals if isinstance(s, ReceiptsRead) for n in s.blocks]
    assert proxy.counters.saturated_headers >= 3
    assert sorted(reads) == [first, first + 1, first + 2]  # once each, not again on later passes
    assert sum(s.recovered for s in running.signals if isinstance(s, ReceiptsRead)) == 0
    assert _inconsistencies(running) == []
