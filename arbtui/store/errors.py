"""Typed errors of the store. Each names what it concerns (aggregate and sequence, or file).

```
StoreError
├── ConcurrencyConflict     another writer appended to the aggregate first: reload and decide again
├── CorruptEvent            a stored event cannot be read (bad JSON, fails validation, sequence gap)
│   └── UnknownEventType    an event type or version this build does not know
├── SchemaError             the database schema does not fit this build
│   ├── SchemaTooNew            written by a newer arbtui: refuse to touch it
│   └── MigrationChanged        an applied migration file was edited afterwards
├── DatabaseUnavailable     locked past the busy timeout, unreadable or not a database
├── LedgerLocked            another process holds the ledger's writer lock (one writer per ledger)
└── ChainMismatch           the ledger was recorded on another chain (one chain per ledger)
```
"""

from __future__ import annotations


class StoreError(Exception):
    """Base of every error raised by :mod:`arbtui.store`."""


class ConcurrencyConflict(StoreError):
    def __init__(self, aggregate_type: str, aggregate_id: str, sequence: int) -> None:
        super().__init__(f"{aggregate_type} {aggregate_id}: sequence {sequence} was appended by another writer first")
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.sequence = sequence


class CorruptEvent(StoreError):
    def __init__(self, aggregate_type: str, aggregate_id: str, sequence: int, reason: str) -> None:
        super().__init__(f"{aggregate_type} {aggregate_id} sequence {sequence}: {reason}")
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.sequence = sequence
        self.reason = reason

    def __reduce__(self) -> tuple[type[CorruptEvent], tuple[str, str, int, str]]:  # crosses process pools
        return (type(self), (self.aggregate_type, self.aggregate_id, self.sequence, self.reason))


class UnknownEventType(CorruptEvent):
    pass


class SchemaError(StoreError):
    pass


class SchemaTooNew(SchemaError):
    pass


class MigrationChanged(SchemaError):
    pass


class DatabaseUnavailable(StoreError):
    pass


class LedgerLocked(StoreError):
    """Another process writes this ledger (or its lock file cannot be opened): nothing was touched."""


class ChainMismatch(StoreError):
    def __init__(self, ledger: str, recorded: int, now: int) -> None:
        super().__init__(
            f"ledger {ledger} belongs to chain id {recorded} but the node answers chain id {now}:"
            " one chain per ledger; point chain.http_url at that chain, or give this chain its own --db"
        )
        self.ledger = ledger
        self.recorded = recorded
        self.now = now
