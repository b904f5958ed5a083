"""Alert delivery against a local receiver (aiohttp on 127.0.0.1): the webhook (JSON, HMAC verified by
the server with the secret) and Telegram's ``sendMessage`` (token in the path, the Bot API's fields),
retries after a 500 and after a timeout, the minimum severity per sink, the queue bound under an alert
storm with a sink that never answers (the engine keeps hedging; drops counted), the grace at stop, the
status on the bus and in the console's status bar, and no secret in any log line or reason."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from loguru import logger
from pydantic import SecretStr
from textual.app import App, ComposeResult

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.clock import SystemClock
from arbtui.config import load_settings
from arbtui.domain.ids import RandomIds
from arbtui.domain.onchain_trade import SkippedFill, SkipReason
from arbtui.domain.values import Direction, TradeId
from arbtui.engine.alerts import Alert, Severity
from arbtui.engine.delivery import (
    SIGNATURE_HEADER,
    DeliveryOptions,
    Outgoing,
    TelegramSink,
    WebhookSink,
    deliver,
)
from arbtui.engine.executions import ExecutionOptions
from arbtui.engine.factory import build_engine
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.messages import AlertRaised, DeliveryReported, EngineMessage
from arbtui.engine.ports import Check, Readiness
from arbtui.store.ledger import Ledger
from arbtui.tui.messages import EngineStatus
from arbtui.tui.model import ConsoleView, fold
from arbtui.tui.widgets import StatusBar
from tests.builders import block, make_fill, tx_hash
from tests.fakes.alert_server import BOT_TOKEN, AlertReceiver, Received
from tests.fakes.clock import FakeClock
from tests.unit.config.support import MINIMAL, write

SECRET = "whsec-test-secret-never-logged"
CHAT = "-1001234567890"
QUICK = DeliveryOptions(queue_size=100, timeout_s=2.0, max_attempts=3, retry_backoff_s=0.01, shutdown_grace_s=5.0)


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    async with AlertReceiver(secret=SECRET) as server:
        yield server


async def until(condition: Callable[[], bool | Awaitable[bool]], limit_s: float = 10.0) -> None:
    """Poll ``condition`` until true; fail the test after ``limit_s`` (a bound, never a measurement)."""
    deadline = asyncio.get_running_loop().time() + limit_s
    while True:
        outcome = condition()
        if outcome if isinstance(outcome, bool) else await outcome:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not true within {limit_s} s")
        await asyncio.sleep(0.01)


def webhook(receiver: AlertReceiver, minimum: Severity = Severity.INFO, secret: str | None = SECRET) -> WebhookSink:
    return WebhookSink(receiver.webhook_url, minimum, None if secret is None else SecretStr(secret))


def telegram(receiver: AlertReceiver, minimum: Severity = Severity.INFO, token: str = BOT_TOKEN) -> TelegramSink:
    return TelegramSink(CHAT, SecretStr(token), minimum, base_url=receiver.url)


def outgoing(key: str = "stuck:e1", severity: Severity = Severity.CRITICAL) -> Outgoing:
    alert = Alert(key, severity, "execution e1 not terminal after 120 s", "arbtui events", symbol="AAPL")
    return Outgoing(alert, datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC))


async def engine_with(
    tmp_path: Path, sinks: list[WebhookSink | TelegramSink], options: DeliveryOptions = QUICK
) -> Engine:
    ledger = await Ledger.open(tmp_path / "ledger.db")
    engine_options = EngineOptions(
        check_interval_s=3600,
        alert_repeat_s=3600,
        alert_delivery=options,
        executions=ExecutionOptions(poll_interval_s=0.01),
    )
    return Engine(ledger, DryRunBroker(), engine_options, alert_sinks=sinks)


def metric(engine: Engine, name: str, sink: str) -> float:
    return engine.metrics.registry.get_sample_value(name, {"sink": sink}) or 0.0


# --- the real engine, built from the settings ---------------------------------------------------------


async def test_an_engine_built_from_the_settings_delivers_its_alert_to_the_webhook_and_telegram(
    receiver: AlertReceiver, tmp_path: Path
) -> None:
    config = write(
        tmp_path,
        MINIMAL.replace("127.0.0.1:8545", "127.0.0.1:9")
        + f'[alerts.webhook]\nurl = "{receiver.webhook_url}"\nmin_severity = "warning"\n'
        + f'[alerts.telegram]\nchat_id = {CHAT}\nbase_url = "{receiver.url}"\n',
    )
    settings = load_settings(config, {"ARBTUI_WEBHOOK_SECRET": SECRET, "ARBTUI_TELEGRAM_BOT_TOKEN": BOT_TOKEN})
    engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), db=tmp_path / "ledger.db")
    assert engine.delivery.sinks == ("webhook", "telegram")
    skipped = SkippedFill(
        trade_id=TradeId(tx_hash(9), 9),
        block_number=5,
        block_hash=block(5).hash,
        reason=SkipReason.UNKNOWN_TOKEN,
        detail="token 0xdead is not configured",
    )
    await engine.start()
    try:
        await engine.ledger.record_range([], [skipped], block(5))  # the health watch raises a WARNING
        await until(lambda: bool(_skipped(receiver.webhooks)) and bool(_skipped(receiver.telegram)))
    finally:
        await engine.stop()
        await engine.ledger.close()

    # the node at 127.0.0.1:9 is down, so intake's own alert is delivered too: only the skipped fill's here
    [hook] = _skipped(receiver.webhooks)
    body = hook.fields
    assert set(body) == {"key", "severity", "message", "action", "symbol", "recovered", "time"}
    assert body["key"] == f"skipped:{skipped.trade_id}"
    assert (body["severity"], body["recovered"], body["symbol"]) == ("warning", False, None)
    assert "unknown_token" in body["message"]
    assert body["action"] == f"arbtui events --aggregate OnChainTrade:{skipped.trade_id}"
    assert abs((datetime.fromisoformat(body["time"]) - datetime.now(UTC)).total_seconds()) < 60
    assert hook.content_type == "application/json"
    assert hook.signature_ok is True  # the server recomputed the HMAC over the exact body with the secret
    [message] = _skipped(receiver.telegram)
    assert message.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert message.fields["chat_id"] == int(CHAT)
    assert "unknown_token" in message.fields["text"]
    assert metric(engine, "arbtui_alerts_delivered_total", "webhook") == len(receiver.webhooks)
    assert metric(engine, "arbtui_alerts_delivered_total", "telegram") == len(receiver.telegram)


def _skipped(received: list[Received]) -> list[Received]:
    return [r for r in received if "skipped" in json.dumps(r.fields)]


# --- the webhook ------------------------------------------------------------------------------------


async def test_the_webhook_body_is_the_alert_signed_with_hmac_sha256(receiver: AlertReceiver) -> None:
    async with httpx.AsyncClient() as client:
        result = await deliver(client, webhook(receiver), outgoing(), QUICK, sleep=FakeClock().sleep)

    assert (result.delivered, result.attempts) == (True, 1)
    [hook] = receiver.webhooks
    assert hook.signature_ok is True
    assert hook.headers[SIGNATURE_HEADER].startswith("sha256=")
    assert json.loads(hook.body) == {
        "key": "stuck:e1",
        "severity": "critical",
        "message": "execution e1 not terminal after 120 s",
        "action": "arbtui events",
        "symbol": "AAPL",
        "recovered": False,
        "time": "2026-01-02T03:04:05.678Z",
    }


async def test_a_webhook_signed_with_another_secret_is_refused_once_and_not_retried(
    receiver: AlertReceiver,
) -> None:
    async with httpx.AsyncClient() as client:
        result = await deliver(
            client, webhook(receiver, secret="not-the-secret"), outgoing(), QUICK, sleep=FakeClock().sleep
        )

    assert receiver.webhooks[0].signature_ok is False
    assert (result.delivered, result.attempts) == (False, 1)
    assert result.reason.startswith("HTTP 401")
    assert "not-the-secret" not in result.reason


async def test_without_a_secret_the_webhook_is_unsigned(receiver: AlertReceiver) -> None:
    receiver.secret = None
    async with httpx.AsyncClient() as client:
        result = await deliver(client, webhook(receiver, secret=None), outgoing(), QUICK, sleep=FakeClock().sleep)

    assert result.delivered
    assert SIGNATURE_HEADER not in receiver.webhooks[0].headers


async def test_a_500_is_retried_after_a_backoff(receiver: AlertReceiver) -> None:
    receiver.faults.server_error(2, route="webhook")
    clock = FakeClock()
    async with httpx.AsyncClient() as client:
        result = await deliver(client, webhook(receiver), outgoing(), QUICK, sleep=clock.sleep)

    assert receiver.faults.fired["server_error"] == 2  # the fault really fired
    assert (result.delivered, result.attempts) == (True, 3)
    assert len(receiver.webhooks) == 1
    assert len(clock.sleeps) == 2  # one backoff before each retry, on the injected clock


async def test_a_timeout_is_retried(receiver: AlertReceiver) -> None:
    receiver.faults.slow(1, delay=2.0, route="webhook")  # handled, then answered after the client gave up
    options = DeliveryOptions(timeout_s=0.3, max_attempts=3, retry_backoff_s=0.01)
    async with httpx.AsyncClient() as client:
        result = await deliver(client, webhook(receiver), outgoing(), options, sleep=FakeClock().sleep)

    assert receiver.faults.fired["slow"] == 1
    assert (result.delivered, result.attempts) == (True, 2)
    assert len(receiver.webhooks) == 2  # at least once: the receiver saw the timed-out attempt too


async def test_retries_are_bounded_and_the_failure_says_why(receiver: AlertReceiver) -> None:
    receiver.faults.server_error(10, route="webhook")
    async with httpx.AsyncClient() as client:
        result = await deliver(client, webhook(receiver), outgoing(), QUICK, sleep=FakeClock().sleep)

    assert receiver.faults.fired["server_error"] == QUICK.max_attempts
    assert (result.delivered, result.attempts) == (False, QUICK.max_attempts)
    assert result.reason.startswith("HTTP 500")


# --- Telegram ---------------------------------------------------------------------------------------


async def test_telegram_gets_send_message_with_chat_id_and_text(receiver: AlertReceiver) -> None:
    async with httpx.AsyncClient() as client:
        numeric = await deliver(client, telegram(receiver), outgoing(), QUICK, sleep=FakeClock().sleep)
        channel = TelegramSink("@arbtui_ops", SecretStr(BOT_TOKEN), base_url=receiver.url)
        named = await deliver(client, channel, outgoing(severity=Severity.WARNING), QUICK, sleep=FakeClock().sleep)

    assert numeric.delivered
    assert named.delivered
    first, second = receiver.telegram
    assert first.path == f"/bot{BOT_TOKEN}/sendMessage"
    assert first.content_type == "application/json"
    assert first.fields == {"chat_id": -1001234567890, "text": first.fields["text"]}  # Integer chat id
    assert first.fields["text"].splitlines() == [
        "[arbtui] CRITICAL AAPL: execution e1 not terminal after 120 s",
        "→ arbtui events",
        "stuck:e1 · 2026-01-02 03:04:05 UTC",
    ]
    assert second.fields["chat_id"] == "@arbtui_ops"  # String: a channel's username


async def test_telegram_with_a_wrong_token_fails_at_once_with_the_bot_api_description(
    receiver: AlertReceiver,
) -> None:
    async with httpx.AsyncClient() as client:
        result = await deliver(
            client, telegram(receiver, token="999:WRONG-token"), outgoing(), QUICK, sleep=FakeClock().sleep
        )

    assert (result.delivered, result.attempts) == (False, 1)
    assert result.reason == "HTTP 401: Unauthorized"
    assert receiver.hits["telegram"] == 1


async def test_telegram_500_is_retried(receiver: AlertReceiver) -> None:
    receiver.faults.server_error(1, route="telegram")
    async with httpx.AsyncClient() as client:
        result = await deliver(client, telegram(receiver), outgoing(), QUICK, sleep=FakeClock().sleep)

    assert receiver.faults.fired["server_error"] == 1
    assert (result.delivered, result.attempts) == (True, 2)


# --- through the engine: severity, recovery, storm, stop -------------------------------------------------


async def test_each_sink_gets_what_the_bus_carries_at_or_above_its_minimum_with_recoveries(
    receiver: AlertReceiver, tmp_path: Path
) -> None:
    engine = await engine_with(tmp_path, [webhook(receiver, Severity.CRITICAL), telegram(receiver, Severity.INFO)])
    await engine.start()
    try:
        engine.alerts.raise_(Alert("intake:silent", Severity.WARNING, "chain silent"))
        engine.alerts.raise_(Alert("engine_fault", Severity.CRITICAL, "engine halted"))
        engine.alerts.raise_(Alert("engine_fault", Severity.CRITICAL, "engine halted"))  # repeat: suppressed
        engine.alerts.clear("engine_fault", "engine running again")
        engine.alerts.clear("intake:silent", "chain live again")
        await until(lambda: len(receiver.telegram) == 4 and len(receiver.webhooks) == 2)
    finally:
        await engine.stop()
        await engine.ledger.close()

    hooks = [(r.fields["key"], r.fields["severity"], r.fields["recovered"]) for r in receiver.webhooks]
    assert hooks == [("engine_fault", "critical", False), ("engine_fault", "info", True)]
    assert [r.fields["text"].split(":")[0] for r in receiver.telegram] == [
        "[arbtui] WARNING",
        "[arbtui] CRITICAL",
        "[arbtui] RECOVERED",
        "[arbtui] RECOVERED",
    ]


async def test_an_alert_storm_on_a_sink_that_never_answers_never_blocks_the_engine(
    receiver: AlertReceiver, tmp_path: Path
) -> None:
    receiver.stalled = True
    options = DeliveryOptions(queue_size=50, timeout_s=30.0, max_attempts=3, shutdown_grace_s=0.2)
    engine = await engine_with(tmp_path, [webhook(receiver)], options)
    reports: list[DeliveryReported] = []

    def keep(message: EngineMessage) -> None:
        if isinstance(message, DeliveryReported):
            reports.append(message)

    engine.bus.listen(keep)
    storm = 5000
    await engine.start()
    try:
        engine.alerts.raise_(Alert("first", Severity.CRITICAL, "the first alert"))
        await until(lambda: receiver.stalled_requests == 1)  # its request hangs from here on
        for n in range(storm):  # synchronous: the bus returns from every publish without waiting
            engine.bus.publish(AlertRaised(Alert(f"storm:{n}", Severity.CRITICAL, f"alert {n}")))
        # … and the engine still hedges meanwhile: a fill past the threshold is hedged and filled
        await engine.ledger.record_range([make_fill(1, "1.5", Direction.SELL)], [], block(1))
        await until(lambda: _hedged(engine))
        status = engine.delivery.status().sinks[0]
        assert (status.pending, status.dropped) == (options.queue_size + 1, storm - options.queue_size)
        await until(lambda: bool(reports) and reports[-1].status.undelivered == storm - options.queue_size)
    finally:
        stopped_at = asyncio.get_running_loop().time()
        await engine.stop()
        stop_took = asyncio.get_running_loop().time() - stopped_at
        await engine.ledger.close()

    assert receiver.stalled_requests == 1
    assert stop_took < options.timeout_s  # the grace bounded the stop, not the sink's timeout
    dropped = metric(engine, "arbtui_alerts_dropped_total", "webhook")
    assert dropped == storm + 1  # every alert but none: 4,950 from the full queue, 51 at the stop
    assert engine.delivery.status().undelivered == storm + 1
    assert reports[-1].status.sinks[0].pending == 0


async def _hedged(engine: Engine) -> bool:
    filled = await engine.store.query("SELECT count(*) FROM offchain_trade_view WHERE status = 'FILLED'")
    return bool(filled[0][0])


async def test_alerts_waiting_at_stop_are_delivered_within_the_grace(receiver: AlertReceiver, tmp_path: Path) -> None:
    engine = await engine_with(tmp_path, [webhook(receiver)])
    await engine.start()
    for n in range(20):
        engine.alerts.raise_(Alert(f"k{n}", Severity.WARNING, f"alert {n}"))
    await engine.stop()
    await engine.ledger.close()

    assert [r.fields["key"] for r in receiver.webhooks] == [f"k{n}" for n in range(20)]
    assert engine.delivery.status().sinks[0].delivered == 20


async def test_failures_reach_the_metrics_the_bus_and_the_console_status_bar(
    receiver: AlertReceiver, tmp_path: Path
) -> None:
    receiver.faults.server_error(100, route="webhook")
    engine = await engine_with(tmp_path, [webhook(receiver)])
    subscription = engine.subscribe()
    await engine.start()
    try:
        engine.alerts.raise_(Alert("a", Severity.CRITICAL, "one"))
        engine.alerts.raise_(Alert("b", Severity.CRITICAL, "two"))
        await until(lambda: engine.delivery.status().sinks[0].failed == 2)
    finally:
        await engine.stop()
        await engine.ledger.close()

    assert metric(engine, "arbtui_alerts_failed_total", "webhook") == 2
    assert metric(engine, "arbtui_alerts_delivered_total", "webhook") == 0
    last_error = engine.delivery.status().sinks[0].last_error
    assert last_error == 'HTTP 500: {"code": 500, "message": "injected server_error"}'
    view = ConsoleView()
    while not subscription.queue.empty():
        view = fold(view, subscription.queue.get_nowait(), lambda: datetime.now(UTC))
    assert view.alerts_undelivered == 2
    app = _Bar()
    async with app.run_test(size=(160, 3)) as pilot:
        bar = app.query_one(StatusBar)
        status = EngineStatus(Readiness({"chain": Check(True)}), "dry_run", None, alerts_undelivered=2)
        bar.show(status, Decimal(0), 0)
        await pilot.pause()
        assert "⚠ alerts undelivered ×2" in str(bar.render())


class _Bar(App[None]):
    def compose(self) -> ComposeResult:
        yield StatusBar()


# --- secrets ----------------------------------------------------------------------------------------


async def test_no_secret_reaches_a_log_line_or_a_reason(
    receiver: AlertReceiver, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)  # as if the process logged everything of the standard logging module
    lines: list[str] = []
    sink_id = logger.add(lambda message: lines.append(str(message)), level="DEBUG", format="{message} {extra}")
    receiver.faults.server_error(100, route="webhook")
    refused = AlertReceiver()  # a Telegram API that is not there: connection refused
    await refused.start()
    port = refused.port
    await refused.stop()
    dead = TelegramSink(CHAT, SecretStr(BOT_TOKEN), Severity.INFO, base_url=f"http://127.0.0.1:{port}")
    sinks: list[WebhookSink | TelegramSink] = [webhook(receiver), telegram(receiver, token="42:WRONG-secret"), dead]
    engine = await engine_with(tmp_path, sinks)
    await engine.start()
    try:
        engine.alerts.raise_(Alert("a", Severity.CRITICAL, "one"))
        await until(lambda: all(s.failed == 1 for s in engine.delivery.status().sinks))
    finally:
        await engine.stop()
        await engine.ledger.close()
        logger.remove(sink_id)

    reasons = [s.last_error or "" for s in engine.delivery.status().sinks]
    assert reasons[1] == "HTTP 401: Unauthorized"
    assert reasons[2].startswith("cannot reach it: ConnectError")
    everything = "\n".join([*lines, caplog.text, *reasons, repr(sinks)])
    assert sum("not delivered to" in line for line in lines) == 3  # the failures were logged …
    for secret in (SECRET, BOT_TOKEN, "WRONG-secret", receiver.webhook_url):
        assert secret not in everything  # … and no secret (nor the webhook's URL) with them
