"""The timeline is generic (pure): any event type — one this module has never heard of, like the limit
hedges' reprices — renders as its type name, the time the ledger recorded it, its actor, the exact time
since the previous event, and its payload's fields; the order is the sequence, whatever order the events
arrive in."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from arbtui.domain.events import DomainEvent
from arbtui.domain.position import Lot, PendingExecution, Position
from arbtui.domain.values import Cents, Direction, ExecutionId, Shares
from arbtui.reporting.detail import ENGINE_ACTOR, Kind, Related, command, related, timeline
from arbtui.store.detail import Detail
from arbtui.store.log import StoredEvent

ORDER = "e0000001-0000-4000-8000-000000000000"


class LimitRepriced(DomainEvent):
    """Stands for an event type added after this renderer was written."""

    limit_cents: Cents
    remaining: Shares
    at: datetime


class CancelRequested(DomainEvent):
    reason: str
    at: datetime


def _stored(sequence: int, event: DomainEvent, recorded_at: str, **metadata: object) -> StoredEvent:
    return StoredEvent(
        position=100 + sequence,
        aggregate_type="OffchainOrder",
        aggregate_id=ORDER,
        sequence=sequence,
        event=event,
        metadata={"recorded_at": recorded_at, "correlation_id": ORDER, **metadata},
    )


AT = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)
EVENTS = [
    _stored(
        2,
        CancelRequested(reason="market closing", at=AT),
        "2026-11-24T14:30:01.250001Z",
        actor="console:ops",
        reason="flatten",
    ),
    _stored(1, LimitRepriced(limit_cents=Cents("18712.5"), remaining=Shares("0.125"), at=AT), "2026-11-24T14:30:00Z"),
]


def test_an_unknown_event_type_shows_its_name_fields_actor_and_exact_step_latency() -> None:
    first, second = timeline(EVENTS)
    assert (first.sequence, first.event_type, first.actor, first.since_previous) == (
        1,
        "LimitRepriced",
        ENGINE_ACTOR,
        None,
    )
    assert first.fields == {"limit_cents": "18712.5", "remaining": "0.125", "at": "2026-11-24T14:30:00Z"}
    assert (second.event_type, second.actor, second.since_previous) == (
        "CancelRequested",
        "console:ops",
        Decimal("1.250001"),
    )
    assert second.lines() == [
        f"#2   2026-11-24T14:30:01.250001Z  +1.250001s  console:ops  CancelRequested  (via {ORDER}, reason 'flatten')",
        "      reason  market closing",
        "      at      2026-11-24T14:30:00Z",
    ]
    assert first.lines()[1:3] == ["      limit_cents  18712.5", "      remaining    0.125"]


def test_nested_fields_are_flattened_to_dotted_and_indexed_names() -> None:
    class Placed(DomainEvent):
        contributions: tuple[dict[str, str], ...]
        empty: tuple[str, ...]

    [step] = timeline(
        [_stored(1, Placed(contributions=({"source": "t1", "shares": "0.5"},), empty=()), "2026-11-24T14:30:00Z")]
    )
    assert step.lines()[1:] == [
        "      contributions[0].source  t1",
        "      contributions[0].shares  0.5",
        "      empty                    []",
    ]


def test_the_command_names_the_ledger_and_quotes_what_a_shell_would_split() -> None:
    assert command(Kind.ORDER, ORDER) == f"arbtui show order {ORDER}"
    assert command(Kind.POSITION, "AAPL", Path("/var/lib/arb tui/ledger.db")) == (
        "arbtui --db '/var/lib/arb tui/ledger.db' show position AAPL"
    )


def test_an_event_without_a_readable_time_says_so_and_no_latency_is_guessed() -> None:
    first, second = timeline(
        [
            _stored(1, CancelRequested(reason="a", at=AT), "not a time"),
            _stored(2, CancelRequested(reason="b", at=AT), "2026-11-24T14:30:00Z"),
        ]
    )
    assert first.recorded_at is None
    assert "(no time recorded)" in first.lines()[0]
    assert second.since_previous is None


def test_a_position_links_its_pending_execution_and_the_fills_of_its_lots_never_a_manual_lot() -> None:
    pending = PendingExecution(
        execution_id=ExecutionId(ORDER), direction=Direction.SELL, shares=Shares("1"), contributions=()
    )
    lots = (
        Lot(source=f"{'0x' + '1' * 64}:3", shares=Shares("0.25")),
        Lot(source=f"manual:{ORDER}", shares=Shares("0.5")),
    )
    state = Position(symbol="AAPL", pending=pending, lots=lots)
    detail = Detail("Position", "AAPL", 9, state, (), ())
    assert related(Kind.POSITION, detail) == (
        Related(Kind.ORDER, ORDER, "pending"),
        Related(Kind.FILL, f"{'0x' + '1' * 64}:3", "0.25 unhedged"),
    )
