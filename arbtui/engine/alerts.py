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
