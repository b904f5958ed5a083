"""The console after hours, through Pilot on a real engine (dry-run broker with its calendar's sessions,
extended hours opted in, a clock the test sets): the status bar names the session and the next
transition; the accumulators name each open hedge's type and age, and the age moves with the clock."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from arbtui.domain.hedging_policy import HedgeOrderKind, SessionChoice
from arbtui.domain.offchain_order import OffchainOrder
from arbtui.domain.values import PriceUsdc
from arbtui.engine.lifecycle import Engine
from arbtui.store.ledger import Ledger
from arbtui.tui import ArbtuiApp
from arbtui.tui.model import age_text, hedge_text
from arbtui.tui.widgets import AccumulatorsPane, StatusBar
from arbtui.tui.widgets.accumulators import COLUMNS
from tests.integration.engine.after_hours_support import FRIDAY, SetClock, dry_run, et, fill, options, policy
from tests.tui.conftest import ACTOR, until


async def _engine(db: Path, clock: SetClock) -> Engine:
    broker = dry_run(clock)
    return Engine(await Ledger.open(db, broker.kind, clock=clock), broker, options(policy(SessionChoice.EXTENDED)))


def _cells(app: ArbtuiApp, symbol: str) -> dict[str, str]:
    pane = app.query_one(AccumulatorsPane)
    for index in range(pane.row_count):
        cells = [str(cell) for cell in pane.get_row_at(index)]
        if cells[0].startswith(symbol):
            return dict(zip(COLUMNS, cells, strict=True))
    return {}


async def test_status_bar_shows_the_session_and_its_next_transition(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 17, 0))
    engine = await _engine(tmp_path / "ledger.db", clock)
    app = ArbtuiApp(engine, actor=ACTOR, clock=clock.now, frame_s=0.0)
    async with app.run_test(size=(160, 30)) as pilot:
        await until(pilot, lambda: app.status is not None and app.status.session is not None)
        line = str(app.query_one(StatusBar).render())
        assert "POST → CLOSED 20:00 ET" in line
        assert line.index("unhedged $") < line.index("POST →")  # a narrow terminal cuts the session, not this
        clock.set(et(FRIDAY, 20, 30))  # the weekend: closed until Sunday's overnight session at 20:00
        await until(pilot, lambda: "CLOSED → OVERNIGHT 20:00 ET" in str(app.query_one(StatusBar).render()))
        await app.stop_engine()
    await engine.ledger.close()


async def test_accumulators_show_the_open_limit_hedge_and_its_age(tmp_path: Path) -> None:
    """Our onchain SELL of 2 at $200 after hours: a BUY limit hedge crossing 50 bps (201.00), resting at the
    dry-run broker (no market price crosses it); its age counts from its placement, on the console's clock."""
    clock = SetClock(et(FRIDAY, 17, 0))
    engine = await _engine(tmp_path / "ledger.db", clock)
    app = ArbtuiApp(engine, actor=ACTOR, clock=clock.now, frame_s=0.0)
    async with app.run_test(size=(200, 30)) as pilot:
        await until(pilot, app.engine_started.is_set)
        await fill(engine, 1, "2", pyth_price="200")
        await until(pilot, lambda: _cells(app, "AAPL").get("hedge") == "limit @ 201.00")
        assert _cells(app, "AAPL")["age"] == "0s"
        clock.advance(42)  # within the reprice interval: the same attempt rests
        await until(pilot, lambda: _cells(app, "AAPL").get("age") == "42s")
        assert _cells(app, "MSFT") == {}
        await app.stop_engine()
    await engine.ledger.close()


def test_hedge_type_and_age_words() -> None:
    placed = et(FRIDAY, 17, 0)
    order = OffchainOrder(execution_id="00000000-0000-4000-8000-000000000001", placed_at=placed)
    assert hedge_text(None) == "—"
    assert hedge_text(order) == "held"  # placed, nothing at the broker yet (a session that does not hedge)
    assert hedge_text(order.evolved(broker_order_id="b-1")) == "market"  # a market order without attempts
    assert hedge_text(order.evolved(order_kind=HedgeOrderKind.MARKET)) == "market"
    limit = order.evolved(order_kind=HedgeOrderKind.LIMIT, limit_price=PriceUsdc("187.55"))
    assert hedge_text(limit) == "limit @ 187.55"
    assert hedge_text(limit.evolved(limit_price=PriceUsdc("0.5123"))) == "limit @ 0.5123"
    ages = [age_text(placed, placed + timedelta(seconds=s)) for s in (0, 59, 245, 7620, 273_600)]
    assert ages == ["0s", "59s", "4m05s", "2h07m", "3d04h"]
    assert age_text(None, placed) == "—"
