"""Alert delivery: every alert and recovery notice the bus carries, to the sinks configured in
``[alerts]`` (a generic webhook, Telegram), without ever holding up hedging.

* **The engine only enqueues.** A bus listener puts each alert on one bounded queue per sink — no I/O,
  no waiting — and one task per sink sends them over HTTP (httpx). A full queue drops its **oldest**
  alert and counts it: the newest say what is true now, and a recovery notice is never lost behind the
  storm that preceded it.
* **What the bus carries, no more.** Repeats and recovery notices are the engine's rules
  (:class:`~arbtui.engine.alerts.Alerts`, lesson 27); a sink receives every alert at or above its
  minimum severity, and the recovery notice (severity ``info``) of every alert it received.
* **Retries, bounded.** A timeout, a dropped connection, a 5xx, a 408 or a 429 is tried again, at most
  ``max_attempts`` attempts in all, after the project's :class:`~arbtui.clock.Backoff` (a ``Retry-After``
  honoured, capped at a minute); any other answer fails the alert at once.
* **Failures are visible**: per sink, Prometheus counters (``arbtui_alerts_delivered_total``,
  ``arbtui_alerts_failed_total``, ``arbtui_alerts_dropped_total``) and a gauge (``arbtui_alerts_queued``), a
  :class:`~arbtui.engine.messages.DeliveryReported` on the bus (the console's status bar), and one log
  line per failed alert with the reason.
* **Secrets** (the webhook's HMAC secret, the bot token) come from the environment. No URL and no secret
  is ever logged or put in a reason: the bot token is part of Telegram's URL, so reasons are built from
  the answer and scrubbed of the token besides, and httpx's own request log (INFO, with the URL) is
  silenced.
* **Stop**: alerts still waiting get ``shutdown_grace_s``; those left then are counted as dropped.

The webhook body is the alert as JSON (``key``, ``severity``, ``message``, ``action``, ``symbol``,
``recovered``, ``time`` — when the engine published it, ISO-8601 UTC), and with ``ARBTUI_WEBHOOK_SECRET``
set it carries ``X-Arbtui-Signature: sha256=<hex HMAC-SHA256 of the exact body bytes>``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import logging
import random
import re
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import NamedTuple, Protocol, assert_never

import httpx
from loguru import logger
from prometheus_client import Counter, Gauge
from pydantic import SecretStr

from arbtui.brokers.resilience import parse_retry_after
from arbtui.clock import Backoff, Clock, Jitter, Sleep
from arbtui.engine.alerts import SEVERITY_RANK, Alert, DeliveryStatus, Severity, SinkStatus
from arbtui.engine.bus import Bus
from arbtui.engine.messages import (
    AlertCleared,
    AlertRaised,
    Committed,
    DeliveryReported,
    EngineMessage,
    IntakeReported,
    MarketStatus,
    ReadinessChanged,
)
from arbtui.engine.metrics import Metrics

SIGNATURE_HEADER = "X-Arbtui-Signature"
"""``sha256=`` + the hex HMAC-SHA256 of the exact body bytes, keyed with ``ARBTUI_WEBHOOK_SECRET``."""
MAX_BACKOFF_S = 30.0
"""The backoff between attempts never grows beyond this."""
MAX_RETRY_AFTER_S = 60.0
"""A sink's ``Retry-After`` (or Telegram's ``retry_after``) is honoured up to this."""
STATUS_EVERY_S = 1.0
"""At most one :class:`DeliveryReported` per this many seconds (a storm of drops is one message)."""
TELEGRAM_MAX_TEXT = 4096
"""The Bot API's limit on a message's text."""
MAX_TRACKED_KEYS = 10_000
"""Alerts per sink whose recovery notice is still owed to it (the oldest forgotten beyond)."""


@dataclass(frozen=True)
class DeliveryOptions:
    """``[alerts]``' delivery settings."""

    queue_size: int = 1000
    """Alerts waiting per sink; when full, the oldest is dropped and counted."""
    timeout_s: float = 5.0
    """One attempt: connect, send, answer."""
    max_attempts: int = 4
    """Attempts per alert and sink, the first included."""
    retry_backoff_s: float = 1.0
    """Backoff before the second attempt, doubled after each failure (full jitter, capped)."""
    shutdown_grace_s: float = 5.0
    """On stop, how long alerts still waiting may take."""

    def __post_init__(self) -> None:
        if self.queue_size < 1 or self.max_attempts < 1:
            raise ValueError("queue_size and max_attempts must be at least 1")


class Outgoing(NamedTuple):
    """One alert on its way to a sink, stamped when the engine published it (a tuple: cheap to make on
    the engine's side)."""

    alert: Alert
    at: datetime


@dataclass(frozen=True, slots=True)
class Request:
    """One HTTP POST."""

    url: str
    content: bytes
    headers: dict[str, str]


@dataclass(frozen=True, slots=True)
class Answer:
    """What one attempt came to."""

    ok: bool
    retry: bool = False
    reason: str = ""
    retry_after: float | None = None


@dataclass(frozen=True, slots=True)
class Result:
    """What the delivery of one alert to one sink came to, after every attempt it took."""

    sink: str
    delivered: bool
    attempts: int
    reason: str = ""


class AlertSink(Protocol):
    """Where alerts go: how one becomes a request, and how an answer is judged."""

    @property
    def name(self) -> str: ...

    @property
    def min_severity(self) -> Severity: ...

    def request(self, outgoing: Outgoing) -> Request: ...

    def judge(self, response: httpx.Response) -> Answer: ...

    def redact(self, text: str) -> str:
        """``text`` with every secret of the sink (and its URL) taken out."""
        ...


def alert_json(outgoing: Outgoing) -> dict[str, object]:
    """The alert as the webhook sends it."""
    alert = outgoing.alert
    return {
        "key": alert.key,
        "severity": alert.severity.value,
        "message": alert.message,
        "action": alert.action,
        "symbol": alert.symbol,
        "recovered": alert.recovered,
        "time": outgoing.at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
    }


def sign(secret: SecretStr, body: bytes) -> str:
    """The :data:`SIGNATURE_HEADER` value for ``body``."""
    digest = hmac.new(secret.get_secret_value().encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def _one_line(text: str, limit: int = 200) -> str:
    return " ".join(text.split())[:limit]


def _scrub(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<redacted>")
    return text


def _status_answer(response: httpx.Response, detail: str, retry_after: float | None = None) -> Answer:
    """A non-success answer: 5xx, 408 and 429 are worth another attempt, any other is final."""
    status = response.status_code
    retry = status >= 500 or status in (408, 429)
    if retry_after is None and status == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"), datetime.now(UTC))
    return Answer(False, retry, f"HTTP {status}" + (f": {detail}" if detail else ""), retry_after)


@dataclass(frozen=True)
class WebhookSink:
    """A JSON POST of :func:`alert_json`; any 2xx is delivered. Signed when ``secret`` is set."""

    url: str = field(repr=False)  # a webhook URL may itself be a capability (Slack's, Discord's)
    min_severity: Severity = Severity.WARNING
    secret: SecretStr | None = field(default=None, repr=False)
    name: str = "webhook"

    def request(self, outgoing: Outgoing) -> Request:
        body = json.dumps(alert_json(outgoing), separators=(",", ":"), ensure_ascii=False).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "arbtui-alerts"}
        if self.secret is not None:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        return Request(self.url, body, headers)

    def judge(self, response: httpx.Response) -> Answer:
        if response.is_success:
            return Answer(True)
        return _status_answer(response, _one_line(response.text, 120))

    def redact(self, text: str) -> str:
        return _scrub(text, self.url, None if self.secret is None else self.secret.get_secret_value())


_NUMERIC_CHAT = re.compile(r"-?[0-9]+")


def telegram_text(outgoing: Outgoing) -> str:
    """The message a Telegram chat reads: plain text (no ``parse_mode``: nothing to escape)."""
    alert = outgoing.alert
    head = "RECOVERED" if alert.recovered else alert.severity.value.upper()
    lines = [f"[arbtui] {head}{f' {alert.symbol}' if alert.symbol else ''}: {alert.message}"]
    if alert.action:
        lines.append(f"→ {alert.action}")
    lines.append(f"{alert.key} · {outgoing.at.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC")
    return "\n".join(lines)[:TELEGRAM_MAX_TEXT]


@dataclass(frozen=True)
class TelegramSink:
    """The Bot API's ``sendMessage``: ``POST <base_url>/bot<token>/sendMessage`` with a JSON body of
    ``chat_id`` and ``text``; delivered when the answer is ``{"ok": true, …}``."""

    chat_id: str
    token: SecretStr = field(repr=False)
    min_severity: Severity = Severity.WARNING
    base_url: str = "https://api.telegram.org"
    name: str = "telegram"

    def request(self, outgoing: Outgoing) -> Request:
        chat: int | str = int(self.chat_id) if _NUMERIC_CHAT.fullmatch(self.chat_id) else self.chat_id
        body = json.dumps({"chat_id": chat, "text": telegram_text(outgoing)}, ensure_ascii=False).encode()
        url = f"{self.base_url.rstrip('/')}/bot{self.token.get_secret_value()}/sendMessage"
        return Request(url, body, {"Content-Type": "application/json", "User-Agent": "arbtui-alerts"})

    def judge(self, response: httpx.Response) -> Answer:
        try:
            data = response.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            if response.is_success:
                return Answer(False, reason=f"HTTP {response.status_code}: not a Bot API answer")
            return _status_answer(response, _one_line(response.text, 120))
        if response.is_success and data.get("ok") is True:
            return Answer(True)
        description = _one_line(str(data.get("description", "")), 200)
        parameters = data.get("parameters")
        retry_after = parameters.get("retry_after") if isinstance(parameters, dict) else None
        if response.is_success:  # 200 without ok: true
            return Answer(False, reason=f"HTTP {response.status_code}: {description or 'not ok'}")
        seconds = float(retry_after) if isinstance(retry_after, int | float) else None
        return _status_answer(response, description, seconds)

    def redact(self, text: str) -> str:
        return _scrub(text, self.token.get_secret_value())


async def _attempt(client: httpx.AsyncClient, sink: AlertSink, request: Request, timeout_s: float) -> Answer:
    try:
        response = await client.post(request.url, content=request.content, headers=request.headers, timeout=timeout_s)
    except httpx.TimeoutException:
        return Answer(False, retry=True, reason=f"no answer within {timeout_s:g} s")
    except httpx.TransportError as exc:
        return Answer(False, retry=True, reason=f"cannot reach it: {type(exc).__name__}: {_one_line(str(exc))}")
    return sink.judge(response)


async def deliver(
    client: httpx.AsyncClient,
    sink: AlertSink,
    outgoing: Outgoing,
    options: DeliveryOptions,
    *,
    sleep: Sleep,
    rng: random.Random | None = None,
) -> Result:
    """Send one alert to one sink, retrying as the module says. Never raises for the sink's faults."""
    request = sink.request(outgoing)
    backoff = Backoff(options.retry_backoff_s, MAX_BACKOFF_S, jitter=Jitter.FULL, sleep=sleep, rng=rng)
    attempt = 0
    while True:
        attempt += 1
        answer = await _attempt(client, sink, request, options.timeout_s)
        if answer.ok:
            return Result(sink.name, True, attempt)
        if not answer.retry or attempt >= options.max_attempts:
            return Result(sink.name, False, attempt, sink.redact(answer.reason))
        if answer.retry_after is None:
            await backoff.wait()
        else:
            backoff.next_delay()  # a failure all the same: the next wait without one grows
            await backoff.sleep(min(answer.retry_after, MAX_RETRY_AFTER_S))


def quiet_httpx_log() -> None:
    """httpx logs every request's URL at INFO, and Telegram's URL carries the bot token: keep its loggers
    (and httpcore's, which traces each request at DEBUG) at WARNING whatever the process configures for the
    standard ``logging`` module."""
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _Lane:
    """One sink: its queue, its counts, and the keys of the alerts it received (for recovery notices).

    The queue is a plain deque: the engine's side appends (or drops the oldest) and sets an event, no
    lock and no metric on that path — the drop counter and the queue gauge are brought up to date by the
    sending side and the status report (at most a second late)."""

    def __init__(self, sink: AlertSink, size: int, metrics: Metrics) -> None:
        self.sink = sink
        self.size = size
        self.minimum = SEVERITY_RANK[sink.min_severity]
        self.waiting: deque[Outgoing] = deque()
        self.wake = asyncio.Event()
        """Set when an alert was queued (the sending task waits on it when the queue is empty)."""
        self.idle = asyncio.Event()
        """Set while nothing waits and nothing is being sent (what a stop waits for)."""
        self.idle.set()
        self.raised: dict[str, None] = {}
        """Keys of the alerts it received and not yet their recovery, oldest first (at most
        :data:`MAX_TRACKED_KEYS`: keys that never recover, one per skipped fill, must not grow forever)."""
        self.current: Outgoing | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._dropped_counted = 0
        self.last_error: str | None = None
        self.dropping = False
        """A drop was logged since the last delivery (one line per storm, not per alert)."""
        self.delivered_metric: Counter = metrics.alerts_delivered.labels(sink.name)
        self.failed_metric: Counter = metrics.alerts_failed.labels(sink.name)
        self.dropped_metric: Counter = metrics.alerts_dropped.labels(sink.name)
        self.queued_metric: Gauge = metrics.alerts_queued.labels(sink.name)

    def wants(self, alert: Alert) -> bool:
        if alert.recovered and alert.key in self.raised:
            del self.raised[alert.key]
            return True
        if SEVERITY_RANK[alert.severity] < self.minimum:
            return False
        if not alert.recovered and self.minimum > SEVERITY_RANK[Severity.INFO]:  # an info sink gets every notice
            self.raised[alert.key] = None
            if len(self.raised) > MAX_TRACKED_KEYS:
                del self.raised[next(iter(self.raised))]
        return True

    def put(self, outgoing: Outgoing) -> bool:
        """Queue ``outgoing``; False when the oldest waiting alert was dropped for it."""
        full = len(self.waiting) >= self.size
        if full:
            self.waiting.popleft()
            self.dropped += 1
        self.waiting.append(outgoing)
        self.idle.clear()
        self.wake.set()
        return not full

    def update_metrics(self) -> None:
        if self.dropped > self._dropped_counted:
            self.dropped_metric.inc(self.dropped - self._dropped_counted)
            self._dropped_counted = self.dropped
        self.queued_metric.set(len(self.waiting))

    def status(self) -> SinkStatus:
        pending = len(self.waiting) + (self.current is not None)
        return SinkStatus(self.sink.name, self.delivered, self.failed, self.dropped, pending, self.last_error)


class AlertDelivery:
    """The engine's alert delivery: listens on ``bus`` from construction (alerts raised before
    :meth:`start` wait in the queues), sends from :meth:`start` to :meth:`stop`."""

    def __init__(
        self,
        bus: Bus,
        sinks: Sequence[AlertSink],
        options: DeliveryOptions,
        metrics: Metrics,
        clock: Clock,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self._bus = bus
        self._options = options
        self._clock = clock
        self._rng = rng
        self._lanes = [_Lane(sink, options.queue_size, metrics) for sink in sinks]
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._changed = asyncio.Event()
        if self._lanes:
            bus.listen(self._on_message)

    @property
    def sinks(self) -> tuple[str, ...]:
        return tuple(lane.sink.name for lane in self._lanes)

    def status(self) -> DeliveryStatus:
        return DeliveryStatus(tuple(lane.status() for lane in self._lanes))

    # --- the engine's side: enqueue only ------------------------------------------------------

    def _on_message(self, message: EngineMessage) -> None:
        match message:
            case AlertRaised(alert) | AlertCleared(alert):
                self.offer(alert)
            case Committed() | DeliveryReported() | IntakeReported() | MarketStatus() | ReadinessChanged():
                pass
            case _:
                assert_never(message)

    def offer(self, alert: Alert) -> None:
        """Queue ``alert`` for every sink that wants it; a full queue drops its oldest. Never waits."""
        at: datetime | None = None
        for lane in self._lanes:
            if not lane.wants(alert):
                continue
            at = at or self._clock.now()
            if not lane.put(Outgoing(alert, at)):
                self._changed.set()
                if not lane.dropping:
                    lane.dropping = True
                    logger.bind(sink=lane.sink.name).warning(
                        "alert queue of {} full ({}): dropping the oldest alerts (counted in arbtui_alerts_dropped)",
                        lane.sink.name,
                        lane.size,
                    )

    # --- the sending side ---------------------------------------------------------------------

    def start(self) -> None:
        """One sending task per sink (nothing without sinks). Call from the engine's event loop."""
        if not self._lanes or self._tasks:
            return
        quiet_httpx_log()
        self._client = httpx.AsyncClient(follow_redirects=False)
        self._tasks = [
            asyncio.create_task(self._send_forever(lane), name=f"alerts:{lane.sink.name}") for lane in self._lanes
        ]
        self._tasks.append(asyncio.create_task(self._report_forever(), name="alerts:status"))

    async def stop(self) -> None:
        """Give alerts still waiting ``shutdown_grace_s``, then stop; those left are counted as dropped."""
        if not self._tasks:
            return
        drained = asyncio.gather(*(lane.idle.wait() for lane in self._lanes))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(drained, self._options.shutdown_grace_s)
        # counted before the cancellation, which clears what was in flight
        left_over = [len(lane.waiting) + (lane.current is not None) for lane in self._lanes]
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for lane, left in zip(self._lanes, left_over, strict=True):
            lane.waiting.clear()
            lane.current = None
            lane.dropped += left
            lane.update_metrics()
            lane.idle.set()
            if left:
                logger.bind(sink=lane.sink.name).warning(
                    "{} alert(s) not delivered to {}: the engine stopped first", left, lane.sink.name
                )
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        self._bus.publish(DeliveryReported(self.status()))

    async def _send_forever(self, lane: _Lane) -> None:
        assert self._client is not None
        while True:
            if not lane.waiting:
                lane.idle.set()
                lane.wake.clear()
                await lane.wake.wait()
                continue
            outgoing = lane.current = lane.waiting.popleft()
            lane.update_metrics()
            try:
                result = await deliver(
                    self._client, lane.sink, outgoing, self._options, sleep=self._clock.sleep, rng=self._rng
                )
            finally:
                lane.current = None
            self._record(lane, outgoing, result)

    def _record(self, lane: _Lane, outgoing: Outgoing, result: Result) -> None:
        if result.delivered:
            lane.delivered += 1
            lane.delivered_metric.inc()
            lane.dropping = False
        else:
            lane.failed += 1
            lane.failed_metric.inc()
            lane.last_error = result.reason
            logger.bind(sink=lane.sink.name, alert=outgoing.alert.key).warning(
                "alert {} not delivered to {} after {} attempt(s): {}",
                outgoing.alert.key,
                lane.sink.name,
                result.attempts,
                result.reason,
            )
        self._changed.set()

    async def _report_forever(self) -> None:
        while True:
            await self._changed.wait()
            self._changed.clear()
            for lane in self._lanes:
                lane.update_metrics()
            self._bus.publish(DeliveryReported(self.status()))
            await asyncio.sleep(STATUS_EVERY_S)


PROBE_KEY = "alerts_test"


def probe_alert(sink: AlertSink, sender: str) -> Alert:
    """What ``arbtui alerts test`` sends: at the sink's own minimum severity, so it passes whatever
    routing the receiver applies to real alerts."""
    return Alert(
        key=PROBE_KEY,
        severity=sink.min_severity,
        message=f"test alert from arbtui on {sender}: this sink receives the bot's alerts",
        action="nothing to do (sent by `arbtui alerts test`)",
    )


async def send_probes(sinks: Sequence[AlertSink], options: DeliveryOptions, clock: Clock, sender: str) -> list[Result]:
    """One test alert to every sink at once, with the retries real alerts get; one result per sink."""
    quiet_httpx_log()
    async with httpx.AsyncClient(follow_redirects=False) as client:
        return list(
            await asyncio.gather(
                *(
                    deliver(client, sink, Outgoing(probe_alert(sink, sender), clock.now()), options, sleep=clock.sleep)
                    for sink in sinks
                )
            )
        )
