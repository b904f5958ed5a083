"""The live inventory pane of the main screen, on a real engine (dry-run broker, temp SQLite ledger): it
shows what its reader reads, reads again when a hedge fills (the broker's own positions, read through the
engine's broker), and says so when a source cannot be read — the old lines dimmed, never passed off as
fresh. A read in flight is never doubled, and a read that never answers ends in the error state."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal

from rich.text import Text
from textual.app import App, ComposeResult
from textual.content import Content

from arbtui.domain.values import Direction
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.inventory import Holding, InventoryUnreadable, Line, Policy, assess_all
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.widgets import StatusBar
from arbtui.tui.widgets.live_inventory import COLUMNS, LiveInventoryPane
from tests.builders import block, make_fill
from tests.tui.conftest import until

POLICY = Policy(target=Decimal("0.5"), drift_alert=Decimal("0.2"))
NOON = datetime(2026, 1, 2, 12, 0, 0, tzinfo=UTC)
ALERT = COLUMNS.index("alert")


def cells(pane: LiveInventoryPane) -> dict[str, list[str]]:
    return {
        str(row[0]): [str(cell).strip() for cell in row] for row in (pane.get_row_at(i) for i in range(pane.row_count))
    }


def title(pane: LiveInventoryPane) -> str:
    """The title as the operator reads it (without its markup)."""
    return Content.from_markup(str(pane.border_title)).plain


def failed(pane: LiveInventoryPane) -> bool:
    return pane.failure is not None


def red(pane: LiveInventoryPane) -> str:
    """The part of the title in bold red."""
    markup = str(pane.border_title)
    start = markup.index("[bold red]") + len("[bold red]")
    return markup[start : markup.index("[/", start)]


async def test_no_vaults_no_pane(engine: Engine) -> None:
    app = ArbtuiApp(engine, actor="console:tester")
    async with app.run_test(size=(120, 40)) as pilot:
        await until(pilot, lambda: len(app.screen.query(StatusBar)) == 1)
        assert not app.screen.query(LiveInventoryPane)


async def test_the_pane_shows_the_readers_lines_and_reads_again_after_a_hedge_fills(engine: Engine) -> None:
    """10 AAPL onchain; the broker side is what the engine's dry-run broker holds. A SELL of 1.5 onchain is
    hedged by a broker BUY of 1: the pane reads again when that hedge fills and shows the new position."""
    broker = engine.broker
    reads = 0

    async def reader() -> Sequence[Line]:
        nonlocal reads
        reads += 1
        held = {str(p.symbol): p.quantity.value for p in await broker.positions()}
        return assess_all([Holding("AAPL", Decimal(10), held.get("AAPL", Decimal(0)))], POLICY)

    app = ArbtuiApp(engine, actor="console:tester", clock=lambda: NOON, inventory=reader)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.screen.query_one(LiveInventoryPane)
        await until(pilot, lambda: pane.reads == 1)
        await until(pilot, app.engine_started.is_set)
        assert cells(pane)["AAPL"] == [
            "AAPL",
            "10",
            "0",
            "10",
            "0.5",
            "DRIFT",
            "move 5 AAPL onchain → broker (manual, st0x bridge)",
        ]
        assert title(pane) == "Inventory · DRIFT AAPL · as of 12:00:00"
        assert red(pane) == "DRIFT AAPL"
        alert = pane.get_row_at(0)[ALERT]
        assert isinstance(alert, Text)
        assert alert.style == "bold red"
        before = reads

        await engine.ledger.record_range([make_fill(1, "1.5", Direction.SELL, price="200")], [], block(1))
        await until(pilot, lambda: app.view.hedge_fills == 1)
        await until(pilot, lambda: cells(pane).get("AAPL", [])[2:3] == ["1"])
        assert reads > before
        assert cells(pane)["AAPL"][:6] == ["AAPL", "10", "1", "11", "0.4091", "DRIFT"]


async def test_a_source_that_cannot_be_read_is_an_error_state_with_the_old_lines_dimmed(engine: Engine) -> None:
    good = assess_all([Holding("AAPL", Decimal(5), Decimal(5)), Holding("USDC", Decimal(100), Decimal(100))], POLICY)
    failing = False

    async def reader() -> Sequence[Line]:
        if failing:
            raise InventoryUnreadable("broker", "GET /v2/positions: connection refused")
        return good

    app = ArbtuiApp(engine, actor="console:tester", clock=lambda: NOON, inventory=reader)
    async with app.run_test(size=(120, 40)) as pilot:
        pane = app.screen.query_one(LiveInventoryPane)
        await until(pilot, lambda: pane.reads == 1)
        assert title(pane) == "Inventory · as of 12:00:00"
        assert cells(pane)["AAPL"][5] == "ok"

        failing = True
        pane.read_now()
        await until(pilot, lambda: pane.reads == 2)
        assert failed(pane)
        assert title(pane) == "Inventory · ✗ 12:00:00 broker: GET /v2/positions: connection refused · lines of 12:00:00"
        assert red(pane) == "✗ 12:00:00 broker: GET /v2/positions: connection refused"
        assert list(cells(pane)) == ["AAPL", "USDC"]  # the last lines read, every cell dimmed
        assert all(isinstance(c, Text) and c.style == "dim" for c in pane.get_row_at(0))

        failing = False
        pane.read_now()
        await until(pilot, lambda: pane.reads == 3)
        assert not failed(pane)
        assert title(pane) == "Inventory · as of 12:00:00"
        assert str(pane.get_row_at(0)[1]).strip() == "5"


async def test_a_bug_in_a_read_shows_as_a_failure_and_the_console_stays_up(engine: Engine) -> None:
    async def reader() -> Sequence[Line]:
        raise KeyError("AAPL")

    app = ArbtuiApp(engine, actor="console:tester", clock=lambda: NOON, inventory=reader)
    async with app.run_test(size=(80, 24)) as pilot:
        pane = app.screen.query_one(LiveInventoryPane)
        await until(pilot, lambda: pane.reads == 1)
        assert title(pane) == "Inventory · ✗ 12:00:00 KeyError: 'AAPL' · nothing read yet"
        assert pane.row_count == 0
        await until(pilot, app.engine_started.is_set)
        assert app.is_running
        assert app.engine.fault is None


class PaneHost(App[None]):
    """The pane alone, with a reader the test holds (the timeout and the coalescing are the pane's own)."""

    def __init__(self, pane: LiveInventoryPane) -> None:
        super().__init__()
        self.pane = pane

    def compose(self) -> ComposeResult:
        yield self.pane


async def test_requests_during_a_read_make_one_more_read_never_a_second_at_once() -> None:
    release = asyncio.Event()
    in_flight = reads = most = 0

    async def reader() -> Sequence[Line]:
        nonlocal in_flight, reads, most
        in_flight += 1
        most = max(most, in_flight)
        try:
            await release.wait()
            reads += 1
            return assess_all([Holding("AAPL", Decimal(reads), Decimal(1))], POLICY)
        finally:
            in_flight -= 1

    pane = LiveInventoryPane(reader, clock=lambda: NOON, interval_s=3600)
    async with PaneHost(pane).run_test() as pilot:
        await until(pilot, lambda: in_flight == 1)  # the first read, on mount
        for _ in range(3):
            pane.read_now()
        release.set()
        await until(pilot, lambda: pane.reads == 2)
        await pilot.pause(0.1)
        assert (reads, pane.reads, most) == (2, 2, 1)
        assert cells(pane)["AAPL"][1] == "2"  # the second read's lines


async def test_a_read_that_never_answers_ends_in_the_error_state() -> None:
    async def reader() -> Sequence[Line]:
        await asyncio.Event().wait()
        raise AssertionError("never answered")

    pane = LiveInventoryPane(reader, clock=lambda: NOON, interval_s=3600, timeout_s=0.05)
    async with PaneHost(pane).run_test() as pilot:
        await until(pilot, lambda: pane.reads == 1)
        assert pane.failure is not None
        assert pane.failure.reason == "no answer within 0.05 s"
        assert "✗ 12:00:00 no answer within 0.05 s" in title(pane)
