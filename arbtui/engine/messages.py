"""Everything the engine says, as one closed union: the console, the HTTP service and the engine's own
health watch read these and nothing else of the engine's state.

A consumer matches on :data:`EngineMessage` with ``assert_never`` in the last case, so a message added
here is a type error wherever it is not handled yet.
"""

from __future__ import annotations

from dataclasses import dataclass

from arbtui.brokers.base import MarketClock
from arbtui.chain.signals import IntakeSignal
from arbtui.domain.sessions import SessionNow
from arbtui.engine.alerts import Alert, DeliveryStatus
from arbtui.engine.ports import Readiness
from arbtui.store.event_store import Committed as CommittedChange

__all__ = [
    "AlertCleared",
    "AlertRaised",
    "Committed",
    "CommittedChange",
    "DeliveryReported",
    "EngineMessage",
    "IntakeReported",
    "MarketStatus",
    "ReadinessChanged",
]


@dataclass(frozen=True, slots=True)
class Committed:
    """One ledger commit: every aggregate it changed, with its events and its state after them."""

    changes: tuple[CommittedChange, ...]


@dataclass(frozen=True, slots=True)
class AlertRaised:
    """A condition that needs an operator (repeats at most once per ``alerts.repeat_every_s``)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class AlertCleared:
    """The recovery notice of a raised alert (``alert.recovered`` is true)."""

    alert: Alert


@dataclass(frozen=True, slots=True)
class DeliveryReported:
    """How delivery to the alert sinks goes (webhook, Telegram): published when a count changed, at most
    once a second."""

    status: DeliveryStatus


@dataclass(frozen=True, slots=True)
class IntakeReported:
    """What chain intake reported: its state, the head, ranges recorded, node disagreements…"""

    signal: IntakeSignal


@dataclass(frozen=True, slots=True)
class MarketStatus:
    """The broker clock's answer: open or not, with the next open and close; and the session now with
    its next transition from the broker's calendar (``session.describe()``: ``POST → CLOSED 20:00 ET``),
    ``None`` when the calendar could not be read. Published at a scan when either changed."""

    clock: MarketClock
    session: SessionNow | None = None


@dataclass(frozen=True, slots=True)
class ReadinessChanged:
    """The readiness checks after a change (chain, broker, database, engine)."""

    readiness: Readiness


EngineMessage = (
    Committed | AlertRaised | AlertCleared | DeliveryReported | IntakeReported | MarketStatus | ReadinessChanged
)
