"""One factory builds the engine from the settings tree — for ``arbtui run``, the demo and the tests
alike, so tests run what operators run."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from loguru import logger

from arbtui.brokers.alpaca import AlpacaBroker
from arbtui.brokers.base import Broker
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.brokers.schwab import SchwabBroker
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.chain.decode import DecodeConfig, SymbolMarkers
from arbtui.chain.intake import FillIntake, IntakeConfig
from arbtui.chain.pyth import PythConfig
from arbtui.chain.rpc import ChainRpcError
from arbtui.chain.signals import (
    AlertKind,
    BackfillProgress,
    IntakeAlert,
    IntakeAlertCleared,
    IntakeSignal,
    IntakeState,
    IntakeStatus,
    RangeRecorded,
    ReceiptsRead,
    ReorgHandled,
)
from arbtui.config import Settings
from arbtui.domain.manual_hedge import ManualHedgeLimits
from arbtui.domain.position import Threshold, ThresholdKind
from arbtui.domain.values import BrokerKind
from arbtui.engine.alerts import Alert, Severity
from arbtui.engine.app import Engine, EngineOptions
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.schwab_tokens import EventStoreTokenVault
from arbtui.store.event_store import EventStore
from arbtui.store.ledger import Ledger
from arbtui.store.lock import WriterLock


@dataclass(frozen=True)
class Built:
    engine: Engine
    intake: FillIntake


PREFLIGHT_TIMEOUT_S = 5.0
"""How long the start-up chain check waits for the node before leaving the check to intake."""


async def build_engine(settings: Settings, *, db: Path | None = None, lock: WriterLock | None = None) -> Built:
    """Take the ledger's writer lock, open the ledger, check it belongs to the node's chain, and wire
    broker, intake and engine as the settings say (only the chain check connects).

    Raises :class:`~arbtui.store.errors.LedgerLocked` when another process writes this ledger and
    :class:`~arbtui.store.errors.ChainMismatch` when the ledger belongs to another chain — both before
    anything is written (the lock before the ledger is even migrated). ``lock``: the ledger's writer lock
    if the caller took it already (the demo, before it checks the file is new); the engine owns it then."""
    store = await EventStore.open(db or settings.database.path, exclusive=True, lock=lock)
    try:
        return await _wire(settings, store)
    except BaseException:
        await store.close()
        raise


async def _wire(settings: Settings, store: EventStore) -> Built:
    broker = _broker(settings, store)
    ledger = Ledger(store, broker.kind)
    options = EngineOptions(
        check_interval_s=settings.engine.check_interval_s,
        shutdown_timeout_s=settings.engine.shutdown_timeout_s,
        stale_after_s=settings.chain.stale_after_s,
        unhedged_alert_usd=float(settings.alerts.unhedged_usd),  # float-ok: an alert threshold
        unhedged_alert_after_s=settings.alerts.unhedged_for_s,
        threshold=Threshold(kind=ThresholdKind(settings.broker.threshold.value)),
        executions=ExecutionOptions(
            poll_interval_s=settings.broker.poll_interval_s,
            max_failures_before_park=settings.engine.max_retries_before_park,
        ),
        manual_limits=ManualHedgeLimits(
            max_shares=settings.manual_hedge.max_shares, max_notional_usd=settings.manual_hedge.max_notional_usd
        ),
        known_symbols=frozenset(settings.pyth.feeds),
    )
    chain = settings.chain
    assert chain.http_url is not None  # required by the settings rules
    intake_config = IntakeConfig(
        http_url=chain.http_url,
        decode=DecodeConfig(
            orderbook=chain.orderbook,
            owner=chain.owner,
            usdc=chain.usdc,
            markers=SymbolMarkers(
                prefixes=tuple(settings.tokens.markers.prefixes), suffixes=tuple(settings.tokens.markers.suffixes)
            ),
        ),
        deployment_block=chain.deployment_block,
        ws_url=chain.ws_url,
        confirmations=chain.confirmations,
        rescan_blocks=chain.rescan_blocks,
        poll_interval=chain.poll_interval_s,
        chunk_blocks=chain.backfill_chunk_blocks,
        pyth=None
        if chain.pyth is None
        else PythConfig(address=chain.pyth, feeds=dict(settings.pyth.feeds), timeout=settings.pyth.timeout_s),
    )
    holder: list[Engine] = []
    intake = FillIntake(intake_config, ledger, lambda signal: observe_intake(holder[0], signal))
    engine = Engine(ledger, broker, options, intake=intake.run, stop_intake=intake.stop)
    engine.alerts.repeat_every = settings.alerts.repeat_every_s
    holder.append(engine)
    await _check_chain(intake)
    return Built(engine, intake)


async def _check_chain(intake: FillIntake) -> None:
    """One chain per ledger, checked before the engine recovers anything: a ledger of another chain is
    refused here (:class:`ChainMismatch` propagates). A node that does not answer now is not an error —
    intake binds the ledger before its first session reads anything, and so refuses it there."""
    try:
        async with asyncio.timeout(PREFLIGHT_TIMEOUT_S):
            chain_id = await intake.bind_chain()
    except (ChainRpcError, OSError, TimeoutError) as exc:
        logger.warning("chain id not checked at start ({}): intake checks it before reading the chain", exc)
        return
    logger.info("ledger bound to chain id {}", chain_id)


def _broker(settings: Settings, store: EventStore) -> Broker:
    kind = settings.broker.kind
    if kind is BrokerKind.ALPACA:
        return AlpacaBroker(settings.alpaca_config())
    if kind is BrokerKind.SCHWAB:
        assert settings.encryption_key is not None  # required by the settings rules for schwab
        cipher = TokenCipher.from_hex(settings.encryption_key)
        return SchwabBroker(settings.schwab_config(), vault=EventStoreTokenVault(store), cipher=cipher)
    return DryRunBroker()


def observe_intake(engine: Engine, signal: IntakeSignal) -> None:
    """Intake's signals → engine readiness, metrics and alerts."""
    if isinstance(signal, IntakeStatus):
        engine.intake_progress(live=signal.state is IntakeState.LIVE)
        if signal.state is IntakeState.RECONNECTING:
            engine.metrics.rpc_errors.inc()
        logger.info("intake {}{}", signal.state.value, f": {signal.detail}" if signal.detail else "")
    elif isinstance(signal, RangeRecorded):
        engine.intake_progress(live=engine.chain_live)
        engine.metrics.chain_head.set(signal.end.number)
    elif isinstance(signal, BackfillProgress):
        logger.info(
            "backfill {:.0%}: blocks {}..{} of {}, {} fills",
            signal.fraction,
            signal.first,
            signal.done_through,
            signal.target,
            signal.fills,
        )
    elif isinstance(signal, ReorgHandled):
        engine.alerts.raise_(
            Alert(
                f"reorg:{signal.detected_at_block}",
                Severity.WARNING,
                f"chain reorganisation at block {signal.detected_at_block}: {len(signal.retracted)} fills retracted",
                action="none: retracted fills are reversed on their positions and hedged back",
            )
        )
    elif isinstance(signal, ReceiptsRead):
        engine.metrics.receipt_reads.inc(len(signal.blocks))
    elif isinstance(signal, IntakeAlert):
        if signal.kind is AlertKind.INCONSISTENT_LOGS:
            engine.metrics.inconsistent_logs.labels(found_by=str(signal.context.get("found_by", ""))).inc(
                int(str(signal.context.get("logs", 1)))
            )
            engine.node_inconsistencies += 1
            engine.node_inconsistency = signal.message
        elif signal.kind is AlertKind.LOGS_UNCONFIRMED:
            engine.metrics.unconfirmed_waits.inc()
        engine.alerts.raise_(Alert(f"intake:{signal.kind.value}", Severity.WARNING, signal.message))
    elif isinstance(signal, IntakeAlertCleared):
        engine.alerts.clear(f"intake:{signal.kind.value}", signal.message)
