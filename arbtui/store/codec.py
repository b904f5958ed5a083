"""Event (de)serialisation: the only translation between stored rows and domain events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.store.errors import CorruptEvent, UnknownEventType


def encode_event(event: DomainEvent) -> tuple[str, str, str]:
    """``(event_type, event_version, payload_json)`` for an ``events`` row."""
    return event.event_type(), event.event_version, event.model_dump_json()


def decode_event(
    spec: AggregateSpec[Any, Any],
    aggregate_id: str,
    sequence: int,
    event_type: str,
    event_version: str,
    payload: str | bytes,
) -> DomainEvent:
    cls = spec.event_class(event_type)
    if cls is None:
        raise UnknownEventType(spec.type_name, aggregate_id, sequence, f"unknown event type {event_type!r}")
    if event_version != cls.event_version:
        raise UnknownEventType(
            spec.type_name,
            aggregate_id,
            sequence,
            f"{event_type} version {event_version!r} is not known (this build reads {cls.event_version!r})",
        )
    try:
        event: DomainEvent = cls.model_validate_json(payload)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        raise CorruptEvent(
            spec.type_name,
            aggregate_id,
            sequence,
            f"{event_type} payload is invalid at {where}: {first['msg']}",
        ) from exc
    return event


def encode_state(spec: AggregateSpec[Any, Any], state: Frozen) -> str:
    return json.dumps({"v": spec.snapshot_version, "state": state.model_dump(mode="json")}, separators=(",", ":"))


def decode_state(spec: AggregateSpec[Any, Any], payload: str) -> Frozen | None:
    """A snapshot's state, or None if it was written by another state version or cannot be read
    (snapshots are an optimisation: the caller then replays the whole stream)."""
    try:
        data = json.loads(payload)
        if data.get("v") != spec.snapshot_version:
            return None
        state: Frozen = spec.state_type.model_validate(data["state"])
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return state


def iso(moment: datetime) -> str:
    """Metadata timestamps: UTC ISO-8601, always with microseconds, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def view_time(moment: datetime | None) -> str | None:
    """Timestamps in views: UTC, ``YYYY-MM-DD HH:MM:SS.ffffff`` — SQLite's own format, so dashboard
    filters like ``created_at > datetime('now', '-7 days')`` compare correctly as text."""
    if moment is None:
        return None
    text = moment.isoformat(" ", "microseconds")
    if text.endswith("+00:00"):  # already UTC (the usual case): the same text without converting
        return text[:-6]
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"))


def dumps(payload: dict[str, Any]) -> str:
    """Canonical JSON for view payloads: rebuilt views come out byte-identical."""
    return _CANONICAL.encode(payload)
