"""One factory builds the engine from the settings tree — for ``arbtui run``, the demo and the tests
alike, so tests run what operators run."""

from __future__ import annotations

from pathlib import Path

from arbtui.brokers.alpaca import AlpacaBroker
from arbtui.brokers.base import Broker
from arbtui.brokers.dry_run import DryRunBroker, DryRunConfig
from arbtui.brokers.schwab import SchwabBroker
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.chain.decode import DecodeConfig, SymbolMarkers
from arbtui.chain.intake import FillIntake, IntakeConfig
from arbtui.chain.pyth import PythConfig
from arbtui.clock import Clock
from arbtui.config import Settings
from arbtui.domain.ids import Ids
from arbtui.domain.manual_hedge import ManualHedgeLimits
from arbtui.domain.position import Threshold, ThresholdKind
from arbtui.domain.values import BrokerKind, PriceUsdc
from arbtui.engine.alerts import Severity
from arbtui.engine.delivery import AlertSink, DeliveryOptions, TelegramSink, WebhookSink
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.hedging import hedging_policy
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.schwab_tokens import EventStoreTokenVault
from arbtui.store.event_store import EventStore
from arbtui.store.ledger import Ledger
from arbtui.store.lock import WriterLock


async def build_engine(
    settings: Settings, *, clock: Clock, ids: Ids, db: Path | None = None, lock: WriterLock | None = None
) -> Engine:
    """Take the ledger's writer lock, open the ledger, check it belongs to the node's chain, and build
    broker, intake and engine as the settings say (only the chain check connects). ``clock`` and ``ids``
    stamp every event and draw every execution id (tests pin both).

    Raises :class:`~arbtui.store.errors.LedgerLocked` when another process writes this ledger and
    :class:`~arbtui.store.errors.ChainMismatch` when the ledger belongs to another chain — both before
    anything is written (the lock before the ledger is even migrated). ``lock``: the ledger's writer lock
    if the caller took it already (the demo, before it checks the file is new); the engine owns it then."""
    store = await EventStore.open(db or settings.database.path, exclusive=True, lock=lock, clock=clock)
    try:
        engine = _build(settings, store, clock, ids)
        await engine.prepare()
        return engine
    except BaseException:
        await store.close()
        raise


def _build(settings: Settings, store: EventStore, clock: Clock, ids: Ids) -> Engine:
    broker = _broker(settings, store, clock)
    threshold = Threshold(kind=ThresholdKind(settings.broker.threshold.value))
    ledger = Ledger(store, broker.kind, clock=clock, ids=ids, threshold=threshold)
    options = EngineOptions(
        check_interval_s=settings.engine.check_interval_s,
        shutdown_timeout_s=settings.engine.shutdown_timeout_s,
        stale_after_s=settings.chain.stale_after_s,
        max_lag_blocks=settings.chain.max_lag_blocks,
        stuck_after_s=settings.engine.stuck_after_s,
        unhedged_alert_usd=float(settings.alerts.unhedged_usd),  # float-ok: an alert threshold
        unhedged_alert_after_s=settings.alerts.unhedged_for_s,
        alert_repeat_s=settings.alerts.repeat_every_s,
        executions=ExecutionOptions(
            poll_interval_s=settings.broker.poll_interval_s,
            max_failures_before_park=settings.engine.max_retries_before_park,
        ),
        manual_limits=ManualHedgeLimits(
            max_shares=settings.manual_hedge.max_shares, max_notional_usd=settings.manual_hedge.max_notional_usd
        ),
        known_symbols=frozenset(settings.pyth.feeds),
        alert_delivery=delivery_options(settings),
        hedging=hedging_policy(settings.hedging),
    )
    config = intake_config(settings)
    return Engine(
        ledger,
        broker,
        options,
        intake=lambda observer: FillIntake(config, ledger, observer),
        alert_sinks=alert_sinks(settings),
    )


def delivery_options(settings: Settings) -> DeliveryOptions:
    alerts = settings.alerts
    return DeliveryOptions(
        queue_size=alerts.queue_size,
        timeout_s=alerts.timeout_s,
        max_attempts=alerts.max_attempts,
        retry_backoff_s=alerts.retry_backoff_s,
        shutdown_grace_s=alerts.shutdown_grace_s,
    )


def alert_sinks(settings: Settings) -> list[AlertSink]:
    """The sinks ``[alerts]`` configures: the webhook when it has a ``url``, Telegram when it has a
    ``chat_id`` (its token is then present: a settings rule)."""
    sinks: list[AlertSink] = []
    webhook = settings.alerts.webhook
    if webhook.url:
        severity = Severity(webhook.min_severity.value)
        sinks.append(WebhookSink(url=webhook.url, min_severity=severity, secret=settings.webhook_secret))
    telegram = settings.alerts.telegram
    if telegram.chat_id:
        assert settings.telegram_bot_token is not None  # required by the settings rules with a chat_id
        sinks.append(
            TelegramSink(
                chat_id=telegram.chat_id,
                token=settings.telegram_bot_token,
                min_severity=Severity(telegram.min_severity.value),
                base_url=telegram.base_url,
            )
        )
    return sinks


def intake_config(settings: Settings) -> IntakeConfig:
    """Intake as the settings say: every configured orderbook (``chain.orderbook`` and
    ``[[chain.orderbooks]]``) read together; a fresh ledger starts at the earliest deployment block, a book
    added later is backfilled from its own."""
    chain = settings.chain
    assert chain.http_url is not None  # required by the settings rules
    books = chain.books
    assert books, "the settings rules require at least one orderbook"
    return IntakeConfig(
        http_url=chain.http_url,
        decode=DecodeConfig(
            orderbooks=tuple(book.address for book in books),
            owner=chain.owner,
            usdc=chain.usdc,
            markers=SymbolMarkers(
                prefixes=tuple(settings.tokens.markers.prefixes),
                suffixes=tuple(settings.tokens.markers.suffixes),
                wrapped_prefixes=tuple(settings.tokens.markers.wrapped_prefixes),
            ),
        ),
        deployment_block=min(book.deployment_block for book in books),
        book_deployment_blocks=tuple((book.address, book.deployment_block) for book in books),
        ws_url=chain.ws_url,
        confirmations=chain.confirmations,
        rescan_blocks=chain.rescan_blocks,
        poll_interval=chain.poll_interval_s,
        chunk_blocks=chain.backfill_chunk_blocks,
        pyth=None
        if chain.pyth is None
        else PythConfig(
            address=chain.pyth,
            feeds=dict(settings.pyth.feeds),
            timeout=settings.pyth.timeout_s,
            method=settings.pyth.method,
        ),
    )


def _broker(settings: Settings, store: EventStore, clock: Clock) -> Broker:
    kind = settings.broker.kind
    if kind is BrokerKind.ALPACA:
        return AlpacaBroker(settings.alpaca_config(), clock=clock)
    if kind is BrokerKind.SCHWAB:
        assert settings.encryption_key is not None  # required by the settings rules for schwab
        cipher = TokenCipher.from_hex(settings.encryption_key)
        return SchwabBroker(settings.schwab_config(), vault=EventStoreTokenVault(store), cipher=cipher, clock=clock)
    price = settings.broker.dry_run_price
    return DryRunBroker(DryRunConfig(default_price=None if price is None else PriceUsdc(price)), clock=clock)
