"""Pictures of the console with ``[inventory.vaults]`` configured: the live inventory pane above the alerts,
at the three sizes operators use. Same pinned session as ``test_snapshots`` (engine clock, execution ids,
fills, the console's clock); the inventory's onchain side is fixed, its broker side is what the dry-run
broker holds after the session's hedges — each picture is taken once the pane has read them. Regenerate with
``pytest tests/tui --snapshot-update`` and read the SVGs before committing them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from arbtui.reporting.inventory import USDC, Holding, Line, Policy, assess_all
from arbtui.tui import ArbtuiApp
from arbtui.tui.widgets.live_inventory import LiveInventoryPane
from tests.builders import T0
from tests.tui.conftest import ACTOR, STILL, Pinned, open_engine, until
from tests.tui.test_snapshots import SnapCompare, _trading_session

ONCHAIN = {"AAPL": Decimal(12), "MSFT": Decimal("30.5"), "NVDA": Decimal(2), "TSLA": Decimal(4), USDC: Decimal(50_000)}
"""Vault balances: after the session's hedges (TSLA +2, AAPL +1, MSFT −1 at the broker; NVDA none) AAPL,
MSFT and NVDA drift onchain-heavy, TSLA and USDC are within the target."""


@pytest.fixture
def stocked(tmp_path: Path, pinned: Pinned) -> Iterator[ArbtuiApp]:
    engine = asyncio.run(open_engine(tmp_path / "ledger.db", options=STILL, pinned=pinned))
    broker = engine.broker

    async def inventory() -> Sequence[Line]:
        held = {str(p.symbol): p.quantity.value for p in await broker.positions()}
        cash = (await broker.balances()).cash.value
        holdings = [Holding(a, ONCHAIN[a], held.get(a, Decimal(0)), Decimal(0)) for a in sorted(ONCHAIN) if a != USDC]
        return assess_all([*holdings, Holding(USDC, ONCHAIN[USDC], cash)], Policy())

    app = ArbtuiApp(engine, actor=ACTOR, clock=lambda: T0 + timedelta(minutes=6), frame_s=0.0, inventory=inventory)
    yield app
    asyncio.run(engine.ledger.close())


async def _inventory_read(pilot: Pilot[Any]) -> None:
    """The trading session, then until the pane shows what the broker holds after its hedges."""
    await _trading_session(pilot)
    app = pilot.app
    assert isinstance(app, ArbtuiApp)
    pane = app.query_one(LiveInventoryPane)
    await until(pilot, lambda: {line.holding.asset: line.holding.broker for line in pane.lines}.get("TSLA") == 2)
    assert pane.failure is None
    await pilot.pause(0.1)


def test_console_with_inventory_at_80x24(snap_compare: SnapCompare, stocked: ArbtuiApp) -> None:
    """80×24, panes stacked: the inventory pane between broker orders and the alerts, four rows tall, its
    title 'Inventory · DRIFT AAPL, MSFT, NVDA · as of 14:36:00' (DRIFT in red) and the first two drifting
    assets, their alert cells red and the suggested transfer cut at the edge."""
    assert snap_compare(stocked, terminal_size=(80, 24), run_before=_inventory_read)


def test_console_with_inventory_at_120x40(snap_compare: SnapCompare, stocked: ArbtuiApp) -> None:
    """120×40: the inventory pane across the width above the alerts, every asset's line (AAPL, MSFT and NVDA
    in DRIFT first with 'move … onchain → broker (manual, st0x bridge)', then TSLA and USDC ok in green)."""
    assert snap_compare(stocked, terminal_size=(120, 40), run_before=_inventory_read)


def test_console_with_inventory_at_200x50(snap_compare: SnapCompare, stocked: ArbtuiApp) -> None:
    """200×50: as at 120×40, with room to spare: the inventory pane as tall as its five lines."""
    assert snap_compare(stocked, terminal_size=(200, 50), run_before=_inventory_read)
