"""Alerts: what needs an operator, each with the exact action that resolves it.

An alert with the same key repeats at most once per ``repeat_every`` seconds, and clearing its
condition sends one recovery notice (lesson 27: an alert storm is as useless as silence).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import StrEnum

from loguru import logger


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


@dataclass(frozen=True)
class Alert:
    key: str
    """Identity of the condition (``execution_failed:AAPL``): repeats and recovery are per key."""
    severity: Severity
    message: str
    action: str = ""
    """What resolves it: a key in the console or a CLI command to copy."""
    symbol: str | None = None
    recovered: bool = False


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
"""Severities in order: a sink with a minimum severity receives every alert ranked at or above it."""


@dataclass(frozen=True, slots=True)
class SinkStatus:
    """One delivery sink's counts since the engine started (``arbtui.engine.delivery``)."""

    sink: str
    delivered: int = 0
    failed: int = 0
    """Alerts every attempt of which failed (the sink refused, timed out, was unreachable)."""
    dropped: int = 0
    """Alerts that never reached an attempt: the sink's queue was full (oldest dropped), or the engine
    stopped before their turn."""
    pending: int = 0
    last_error: str | None = None
    """Why the latest failure failed (one line, no secret)."""

    @property
    def undelivered(self) -> int:
        return self.failed + self.dropped


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    """Every configured sink's :class:`SinkStatus`."""

    sinks: tuple[SinkStatus, ...] = ()

    @property
    def undelivered(self) -> int:
        """Alerts that reached a sink's queue and never the sink (failed or dropped), all sinks."""
        return sum(sink.undelivered for sink in self.sinks)


@dataclass
class Alerts:
    publish: Callable[[Alert], None]
    repeat_every: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _last: dict[str, float] = field(default_factory=dict)

    def raise_(self, alert: Alert) -> None:
        now = self.clock()
        last = self._last.get(alert.key)
        if last is not None and now - last < self.repeat_every:
            return
        self._last[alert.key] = now
        log = logger.bind(alert=alert.key, symbol=alert.symbol)
        (log.error if alert.severity is Severity.CRITICAL else log.warning)(
            "{}{}", alert.message, f" — {alert.action}" if alert.action else ""
        )
        self.publish(alert)

    def clear(self, key: str, message: str) -> None:
        if self._last.pop(key, None) is None:
            return
        logger.bind(alert=key).info("recovered: {}", message)
        self.publish(Alert(key=key, severity=Severity.INFO, message=message, recovered=True))

    @property
    def active(self) -> list[str]:
        return sorted(self._last)
