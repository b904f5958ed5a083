"""Silence is an alert (issue 13): an orderbook event of a generation this build cannot read reaches the
operator as a critical alert naming the book, topic and block — one per (book, topic), never a crash."""

from __future__ import annotations

from pathlib import Path

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.signals import AlertKind, IntakeAlert
from arbtui.engine.alerts import Severity
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.ledger import Ledger
from tests.engine_support import alerts_of

BOOK = "0xe522cb4a5fcb2eb31a52ff41a4653d85a4fd7c9d"


def _unknown(topic: str, block: int) -> IntakeAlert:
    return IntakeAlert(
        AlertKind.UNKNOWN_TOPIC,
        f"orderbook {BOOK} emitted an event this build cannot read (topic0 {topic}) in block {block}, tx 0xab",
        {"orderbook": BOOK, "topic": topic, "block": block, "tx": "0xab"},
    )


async def test_an_unknown_topic_is_one_critical_alert_per_book_and_topic(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions())
    seen = alerts_of(engine)
    first, second = "0x" + "7e" * 32, "0x" + "7f" * 32
    try:
        engine.health.observe_intake(_unknown(first, 100))
        engine.health.observe_intake(_unknown(first, 101))  # the same (book, topic): within the repeat interval
        engine.health.observe_intake(_unknown(second, 102))  # another topic is its own alert
    finally:
        await ledger.close()
    raised = [a for a in seen if a.key.startswith("intake:unknown_topic")]
    assert [a.key for a in raised] == [f"intake:unknown_topic:{BOOK}:{first}", f"intake:unknown_topic:{BOOK}:{second}"]
    assert all(a.severity is Severity.CRITICAL for a in raised)
    assert "block 100" in raised[0].message
    assert "NOT hedged" in raised[0].action
