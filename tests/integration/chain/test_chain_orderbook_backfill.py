"""A book added to the configuration later is backfilled from its own deployment block exactly once: the
binding records the book and its history range (deployment block → the cursor, read once) in one
transaction; each backfill step commits its fills with the book's progress; a restart neither redoes nor
skips it, and a crash mid-backfill resumes where the last committed step ended."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from arbtui.chain.decode import DecodeConfig
from arbtui.chain.intake import FillIntake, IntakeConfig
from arbtui.chain.signals import IntakeState, IntakeStatus, OrderbookBackfilled
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Sent, order, order_v6
from arbtui.store.ledger import Ledger
from tests.chain_support.rain_float import rain_parse
from tests.integration.chain.conftest import RunningIntake, StartIntake, eventually, filled_counts


@pytest.fixture(scope="module")
def f() -> Mapping[str, bytes]:
    texts = ["1", "187", "2", "380"]
    return dict(zip(texts, rain_parse(texts), strict=True))


def _live(running: RunningIntake) -> bool:
    return any(isinstance(s, IntakeStatus) and s.state is IntakeState.LIVE for s in running.signals)


def _backfilled(running: RunningIntake) -> list[OrderbookBackfilled]:
    return [s for s in running.signals if isinstance(s, OrderbookBackfilled)]


async def _v6_takes(chain: ChainDriver, f: Mapping[str, bytes], count: int) -> list[Sent]:
    d = chain.deployment
    sell = order_v6(OUR_OWNER, [d.usdc], [d.tokens["tAAPL"]])
    return [await asyncio.to_thread(chain.take_v6, [(sell, 0, 0, f["1"], f["187"])]) for _ in range(count)]


async def _v4_take(chain: ChainDriver) -> Sent:
    d = chain.deployment
    buy = order(OUR_OWNER, [(d.tokens["tAAPL"], 18)], [(d.usdc, 6)])
    return await asyncio.to_thread(chain.take, [(buy, 0, 0, 187_000_000, 10**18)])


def _ids(sent: list[Sent]) -> dict[str, int]:
    return {f"{s.tx_hash}:0": 1 for s in sent}


class Setup:
    """A ledger that ran on the V4 book only, while the V6 book already had fills: ``history``."""

    def __init__(self, chain: ChainDriver, start_intake: StartIntake, tmp_path: Path) -> None:
        self.chain, self.start_intake, self.db = chain, start_intake, tmp_path / "ledger.db"
        self.first = chain.head() + 1

    def books(self) -> dict[str, Any]:
        d = self.chain.deployment
        return {
            "decode": DecodeConfig(orderbooks=(d.orderbook, d.orderbook_v6), owner=OUR_OWNER, usdc=d.usdc),
            "book_deployment_blocks": ((d.orderbook, self.first), (d.orderbook_v6, self.first)),
        }

    async def v4_only_run(self, f: Mapping[str, bytes]) -> tuple[list[Sent], list[Sent]]:
        history = await _v6_takes(self.chain, f, 6)  # on the V6 book, before it is configured
        # more recorded ranges (one per block) than a restart reads back, so that only the backfill can
        # find the history (a restart re-reads the newest ranges with every configured book)
        await asyncio.to_thread(self.chain.mine, 40)
        ledger = await Ledger.open(self.db)
        try:
            running = await self.start_intake(ledger, chunk_blocks=1)  # the V4 book only
            await eventually(lambda: _live(running), what="live on V4")
            v4 = [await _v4_take(self.chain)]
            await eventually(lambda: _exactly(ledger, v4), what="the V4 fill")
            await running.stop()
            assert await filled_counts(ledger) == _ids(v4)  # the V6 history is not there yet
        finally:
            await ledger.close()
        return history, v4


async def _exactly(ledger: Ledger, sent: list[Sent]) -> bool:
    return await filled_counts(ledger) == _ids(sent)


async def test_a_book_added_later_is_backfilled_from_its_deployment_block_exactly_once(
    chain: ChainDriver, start_intake: StartIntake, tmp_path: Path, f: Mapping[str, bytes]
) -> None:
    setup = Setup(chain, start_intake, tmp_path)
    history, v4 = await setup.v4_only_run(f)
    cursor_at_join = chain.head()
    ledger = await Ledger.open(setup.db)
    try:
        running = await start_intake(ledger, chunk_blocks=2, **setup.books())
        await eventually(lambda: _live(running), what="live on both books")
        live = await _v6_takes(chain, f, 2)  # read by the ordinary passes at once
        await eventually(lambda: _exactly(ledger, v4 + history + live), what="history and live fills")
        await eventually(lambda: any(s.complete for s in _backfilled(running)), what="backfill complete")
        steps = _backfilled(running)
        assert steps[0].first == setup.first
        assert steps[-1].done_through == steps[-1].through_block == cursor_at_join
        assert [s.first for s in steps[1:]] == [s.done_through + 1 for s in steps[:-1]]  # contiguous, no overlap
        assert sum(len(s.new_fills) for s in steps) == len(history)
        await running.stop()
        assert await ledger.orderbook_backfills() == []
    finally:
        await ledger.close()
    # a restart: nothing is backfilled again, nothing is lost or doubled
    ledger = await Ledger.open(setup.db)
    try:
        running = await start_intake(ledger, **setup.books())
        await eventually(lambda: _live(running), what="live after restart")
        more = await _v6_takes(chain, f, 1)
        await eventually(lambda: _exactly(ledger, v4 + history + live + more), what="the next fill")
        await running.stop()
        assert _backfilled(running) == []
    finally:
        await ledger.close()


async def test_a_crash_mid_backfill_resumes_where_it_stopped(
    chain: ChainDriver, start_intake: StartIntake, tmp_path: Path, f: Mapping[str, bytes]
) -> None:
    setup = Setup(chain, start_intake, tmp_path)
    history, v4 = await setup.v4_only_run(f)
    ledger = await Ledger.open(setup.db)
    running = await start_intake(ledger, chunk_blocks=1, **setup.books())
    await eventually(lambda: len(_backfilled(running)) >= 3, what="three backfill steps")
    running.task.cancel()  # the crash: between (or during) steps
    with contextlib.suppress(asyncio.CancelledError):
        await running.task
    await ledger.close()
    ledger = await Ledger.open(setup.db)
    try:
        (pending,) = await ledger.orderbook_backfills()
        assert setup.first < pending.done_through < pending.through_block  # the fault really stopped it mid-way
        running = await start_intake(ledger, chunk_blocks=1, **setup.books())
        await eventually(lambda: any(s.complete for s in _backfilled(running)), what="backfill complete")
        resumed = _backfilled(running)
        assert resumed[0].first == pending.done_through + 1  # resumed, not redone
        await eventually(lambda: _exactly(ledger, v4 + history), what="every fill exactly once")
        await running.stop()
    finally:
        await ledger.close()


async def test_a_restart_between_binding_and_the_first_step_does_not_skip_the_backfill(
    chain: ChainDriver, start_intake: StartIntake, tmp_path: Path, f: Mapping[str, bytes], anvil: AnvilNode
) -> None:
    """The book and its backfill are recorded in one transaction: after a binding that nothing followed
    (a crash right after it), the book is known to the ledger *and* still has its history to read."""
    setup = Setup(chain, start_intake, tmp_path)
    history, v4 = await setup.v4_only_run(f)
    ledger = await Ledger.open(setup.db)
    try:
        config = IntakeConfig(http_url=anvil.http_url, deployment_block=setup.first, **setup.books())
        binding = await FillIntake(config, ledger).bind_chain()  # what a session does first; then the crash
        assert binding > 0
        await FillIntake(config, ledger).bind_chain()  # a second binding of the same books adds no second backfill
        (pending,) = await ledger.orderbook_backfills()
        assert pending.done_through == setup.first - 1
        assert pending.orderbook == chain.deployment.orderbook_v6.lower()
        running = await start_intake(ledger, **setup.books())
        await eventually(lambda: _exactly(ledger, v4 + history), what="the history after the restart")
        await running.stop()
    finally:
        await ledger.close()
