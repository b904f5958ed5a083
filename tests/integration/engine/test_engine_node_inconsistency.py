"""A node whose answers disagree (issue 18) is visible: one alert, counted in /metrics, and shown beside
the chain status in the console's status bar."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from textual.app import App, ComposeResult

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.signals import AlertKind, IntakeAlert, ReceiptsRead
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.ports import Check, Readiness
from arbtui.store.ledger import Ledger
from arbtui.tui.messages import EngineStatus
from arbtui.tui.widgets import StatusBar
from tests.engine_support import alerts_of


def _inconsistency(first: int) -> IntakeAlert:
    return IntakeAlert(
        AlertKind.INCONSISTENT_LOGS,
        f"http://127.0.0.1:8545 answered eth_getLogs without 2 log(s) of the orderbook in blocks {first}..{first + 1}"
        " that its receipts hold: recorded now",
        {"first": first, "last": first + 1, "logs": 2, "found_by": "receipts", "endpoint": "http://127.0.0.1:8545"},
    )


def _metric(engine: Engine, name: str, **labels: str) -> float:
    value = engine.metrics.registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


async def test_an_inconsistent_node_raises_one_alert_and_is_counted(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions())
    seen = alerts_of(engine)
    try:
        engine.health.observe_intake(_inconsistency(10))
        engine.health.observe_intake(_inconsistency(12))  # the same condition again, within the repeat interval
        engine.health.observe_intake(ReceiptsRead((10, 11, 12), recovered=2))
    finally:
        await ledger.close()
    raised = [a for a in seen if a.key == "intake:inconsistent_logs"]
    assert len(raised) == 1
    assert "blocks 10..11" in raised[0].message
    assert "127.0.0.1:8545" in raised[0].message
    assert _metric(engine, "arbtui_intake_inconsistent_logs_total", found_by="receipts") == 4
    assert _metric(engine, "arbtui_intake_receipt_reads_total") == 3
    assert engine.health.node_inconsistencies == 2


class _Bar(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


async def test_the_status_bar_shows_an_inconsistent_node_beside_the_chain() -> None:
    app = _Bar()
    async with app.run_test(size=(120, 3)) as pilot:
        bar = app.query_one(StatusBar)
        ready = Readiness({"chain": Check(True)})
        bar.show(EngineStatus(ready, "dry_run", None), Decimal(0), 0)
        await pilot.pause()
        assert "inconsistent" not in str(bar.render())
        bar.show(EngineStatus(ready, "dry_run", None, node_inconsistencies=3), Decimal(0), 0)
        await pilot.pause()
        assert "chain live ⚠ node inconsistent ×3" in str(bar.render())
