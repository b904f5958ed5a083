"""Typed errors of the domain. Every rejection names the aggregate it concerns.

```
DomainError
├── InvalidCommand          the command itself is malformed (zero shares, missing reason, …)
└── RejectedTransition      valid command, wrong state for it
    ├── InvalidTransition       e.g. Enrich before Filled, CompleteFill on a Failed order
    ├── ExecutionPending        a second execution for a symbol that already has one
    ├── UnknownExecution        completing an execution the position is not waiting for
    ├── KillSwitchEngaged       manual hedges refused until the kill switch is cleared
    └── ControlStateConflict    pause when paused, resume when not paused, …
```
"""

from __future__ import annotations


class DomainError(Exception):
    """A command was rejected by an aggregate's rules."""

    def __init__(self, aggregate_type: str, aggregate_id: str, message: str) -> None:
        super().__init__(f"{aggregate_type} {aggregate_id}: {message}")
        self.aggregate_type = aggregate_type
        self.aggregate_id = aggregate_id
        self.message = message


class InvalidCommand(DomainError):
    """The command carries values no state could accept."""


class RejectedTransition(DomainError):
    """The command is well-formed but not allowed in the aggregate's current state."""


class InvalidTransition(RejectedTransition):
    """The state machine has no such transition."""


class ExecutionPending(RejectedTransition):
    """A symbol may have at most one execution in flight."""


class UnknownExecution(RejectedTransition):
    """The execution named is not the one the position is waiting for."""


class KillSwitchEngaged(RejectedTransition):
    """The kill switch is engaged: no hedge, automatic or manual, may be placed."""


class ControlStateConflict(RejectedTransition):
    """Pause/resume/kill-switch command that does not fit the current control state."""
