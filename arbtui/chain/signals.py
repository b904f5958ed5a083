"""What intake tells the rest of the bot: progress, recorded ranges, reorgs, alerts, state changes.

Delivered synchronously to one ``IntakeObserver`` callable (the engine forwards them to its bus); a
signal is a frozen value, never a log line. Alerts carry a :class:`AlertKind` so the receiver can
decide without parsing text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from arbtui.domain.onchain_trade import Enrich, SkippedFill
from arbtui.domain.values import BlockRef, TradeId


class IntakeState(StrEnum):
    CONNECTING = "connecting"
    BACKFILLING = "backfilling"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    STOPPED = "stopped"


class AlertKind(StrEnum):
    CONNECTION_LOST = "connection_lost"
    SUBSCRIPTION_ENDED = "subscription_ended"
    NODE_BEHIND = "node_behind"
    INCONSISTENT_LOGS = "inconsistent_logs"
    """The node's answers disagree: its receipts or a re-read hold logs its ``eth_getLogs`` answer lacked."""
    LOGS_UNCONFIRMED = "logs_unconfirmed"
    """A block may hold our logs, the answer holds none, and its receipts cannot be read: intake waits."""
    REORG = "reorg"
    REORG_BEYOND_CHECKPOINTS = "reorg_beyond_checkpoints"
    FILL_SKIPPED = "fill_skipped"
    RANGE_TOO_LARGE = "range_too_large"
    ENRICHMENT_FAILED = "enrichment_failed"
    UNKNOWN_TOPIC = "unknown_topic"
    """A configured orderbook emitted a log whose topic0 no generation this build reads has (a newer
    interface version?): its fills would go unseen. Context: ``orderbook``, ``topic``, ``block``, ``tx``."""


@dataclass(frozen=True)
class IntakeStatus:
    state: IntakeState
    detail: str = ""


@dataclass(frozen=True)
class BackfillProgress:
    """Backfill has recorded everything through ``done_through`` of ``first..target``."""

    first: int
    done_through: int
    target: int
    fills: int

    @property
    def fraction(self) -> float:
        span = self.target - self.first + 1
        return 1.0 if span <= 0 else (self.done_through - self.first + 1) / span


@dataclass(frozen=True)
class RangeRecorded:
    """Blocks ``first..end.number`` are in the ledger (one transaction); ``new_fills`` were not there before."""

    first: int
    end: BlockRef
    new_fills: tuple[TradeId, ...]
    skipped: tuple[SkippedFill, ...]


@dataclass(frozen=True)
class OrderbookBackfilled:
    """The history backfill of an added orderbook recorded blocks ``first..done_through`` of
    ``first_block..through_block`` (one transaction); ``new_fills`` were not there before."""

    orderbook: str
    first: int
    done_through: int
    first_block: int
    through_block: int
    new_fills: tuple[TradeId, ...]
    skipped: tuple[SkippedFill, ...]

    @property
    def complete(self) -> bool:
        return self.done_through >= self.through_block


@dataclass(frozen=True)
class ReceiptsRead:
    """Blocks whose bloom may hold our logs while the log answer held none were read again from their
    receipts; ``recovered`` of our logs were found there (0 for each block = a bloom false positive)."""

    blocks: tuple[int, ...]
    recovered: int


@dataclass(frozen=True)
class ReorgHandled:
    old_cursor: BlockRef
    fork_point: BlockRef | None
    retracted: tuple[TradeId, ...]
    detected_at_block: int


@dataclass(frozen=True)
class FillEnriched:
    trade_id: TradeId
    enrichment: Enrich


@dataclass(frozen=True)
class IntakeAlert:
    kind: AlertKind
    message: str
    context: Mapping[str, object] = field(default_factory=dict)


@dataclass(frozen=True)
class IntakeAlertCleared:
    """The condition of an earlier :class:`IntakeAlert` of this kind is over (one recovery notice)."""

    kind: AlertKind
    message: str


@dataclass(frozen=True)
class HeadSeen:
    """The node's newest block, as intake last learned it (a ``newHeads`` header or ``eth_blockNumber``);
    sent only when it moved up. With :class:`RangeRecorded` it gives how far behind the ledger is."""

    number: int


IntakeSignal = (
    IntakeStatus
    | HeadSeen
    | BackfillProgress
    | RangeRecorded
    | OrderbookBackfilled
    | ReceiptsRead
    | ReorgHandled
    | FillEnriched
    | IntakeAlert
    | IntakeAlertCleared
)
IntakeObserver = Callable[[IntakeSignal], None]


def ignore(signal: IntakeSignal) -> None:
    """The observer used when none is given."""
