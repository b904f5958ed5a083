"""Alerts the engine raises: a broker login about to expire, a silent chain (from its periodic scan), a
skipped fill (from the commit that recorded it)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.brokers.schwab import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.brokers.schwab.oauth import SchwabTokens, seal
from arbtui.chain.signals import RangeRecorded
from arbtui.domain.onchain_trade import SkippedFill, SkipReason
from arbtui.domain.values import TradeId
from arbtui.engine.alerts import Severity
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.schwab_tokens import EventStoreTokenVault
from arbtui.store.ledger import Ledger
from tests.builders import block, tx_hash
from tests.engine_support import QuietIntake, alerts_of
from tests.fakes.schwab_server import SchwabServer

KEY = "33" * 32


@pytest.fixture
async def schwab_server() -> AsyncIterator[SchwabServer]:
    server = SchwabServer()
    await server.start()
    yield server
    await server.stop()


async def test_a_schwab_login_expiring_within_a_day_raises_an_alert_with_the_fix(
    schwab_server: SchwabServer, tmp_path: Path
) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    vault = EventStoreTokenVault(ledger.store)
    now = datetime.now(UTC)
    await vault.save(
        seal(
            SchwabTokens(
                access_token=SecretStr("a"),
                refresh_token=SecretStr("r"),
                access_expires_at=now + timedelta(minutes=30),
                refresh_expires_at=now + timedelta(hours=5),
            ),
            TokenCipher.from_hex(KEY),
            vault.aggregate_id,
        )
    )
    config = SchwabConfig(
        app_key=SecretStr(schwab_server.app_key),
        app_secret=SecretStr(schwab_server.app_secret),
        callback_url=schwab_server.callback_url,
        base_url=schwab_server.url,
    )
    broker = SchwabBroker(config, vault=vault, cipher=TokenCipher.from_hex(KEY))
    engine = Engine(ledger, broker, EngineOptions())
    seen = alerts_of(engine)
    try:
        await engine.scan("test")
    finally:
        await broker.aclose()
        await ledger.close()
    expiring = [a for a in seen if a.key == "credentials_expiring"]
    assert len(expiring) == 1
    assert expiring[0].severity is Severity.WARNING
    assert "schwab login expires" in expiring[0].message
    assert expiring[0].action.startswith("arbtui schwab auth")


async def test_credentials_that_do_not_expire_raise_nothing(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions())
    seen = alerts_of(engine)
    await engine.scan("test")
    await ledger.close()
    assert [a.key for a in seen] == []


async def test_a_chain_that_records_nothing_raises_chain_stale_then_recovers(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions(stale_after_s=0.05), intake=QuietIntake)
    seen = alerts_of(engine)
    try:
        await asyncio.sleep(0.1)
        await engine.scan("test")
        assert [a.key for a in seen] == ["chain_stale"]
        assert seen[0].severity is Severity.CRITICAL
        readiness = await engine.readiness()
        assert not readiness.ready
        assert "no block recorded" in readiness.checks["chain"].detail or "not live" in readiness.checks["chain"].detail
        engine.health.observe_intake(RangeRecorded(first=1, end=block(1), new_fills=(), skipped=()))  # a block
        await engine.scan("test")
        assert seen[-1].key == "chain_stale"
        assert seen[-1].recovered
    finally:
        await ledger.close()


async def test_a_skipped_fill_alert_names_the_fill_once(tmp_path: Path) -> None:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine = Engine(ledger, DryRunBroker(), EngineOptions())
    seen = alerts_of(engine)

    def skip(n: int, detail: str) -> SkippedFill:
        return SkippedFill(
            trade_id=TradeId(tx_hash(n), n),
            block_number=5,
            block_hash=block(5).hash,
            reason=SkipReason.UNKNOWN_TOKEN,
            detail=detail,
        )

    located = skip(9, f"token 0xdead… is not configured (tx {tx_hash(9)} log 9 block 5)")  # as intake words it
    bare = skip(8, "shares must be positive")
    await engine.start()
    try:
        await ledger.record_range([], [located, bare], block(5))
    finally:
        await engine.stop()
        await ledger.close()
    message = {alert.key: alert.message for alert in seen}
    assert message[f"skipped:{located.trade_id}"].count(tx_hash(9)) == 1
    assert message[f"skipped:{bare.trade_id}"].startswith(f"skipped fill {bare.trade_id}: unknown_token")
