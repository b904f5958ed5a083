"""Given-When-Then for pure aggregates: ``given(spec, id, *events).when(decide, command).then(*events)``.

``given`` folds the history with the aggregate's own ``evolve`` (through :meth:`AggregateSpec.fold`);
``when`` names the decision to run; ``then`` runs it and compares the emitted events, and
``then_raises`` expects a typed rejection. Besides the comparison, every ``then`` checks what any
decision must satisfy: it is deterministic, it leaves the given state untouched, every event it emits
is one the spec registers, and each event survives the store's JSON round trip unchanged, so folding
the decoded events gives the same state as folding the emitted ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

import pytest

from arbtui.domain.errors import DomainError
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen

S = TypeVar("S", bound=Frozen)
E = TypeVar("E", bound=DomainEvent)
C = TypeVar("C")
X = TypeVar("X", bound=DomainError)


def round_trip(spec: AggregateSpec[Any, Any], event: DomainEvent) -> DomainEvent:
    """Encode ``event`` as the store does (type name + JSON payload) and decode it through ``spec``."""
    cls = spec.event_class(event.event_type())
    assert cls is not None, f"{event.event_type()} is not registered in {spec.type_name}"
    decoded = cls.model_validate_json(event.model_dump_json())
    assert isinstance(decoded, DomainEvent)
    return decoded


@dataclass(frozen=True)
class Given(Generic[S, E]):
    spec: AggregateSpec[S, E]
    aggregate_id: str
    history: tuple[E, ...]

    @property
    def state(self) -> S:
        return self.spec.fold(self.spec.initial(self.aggregate_id), list(self.history))

    def when(self, decide: Callable[[S, C], Sequence[E]], command: C) -> When[S, E, C]:
        return When(self, decide, command)


@dataclass(frozen=True)
class When(Generic[S, E, C]):
    given: Given[S, E]
    decide: Callable[[S, C], Sequence[E]]
    command: C

    def _run(self) -> tuple[S, list[E]]:
        state = self.given.state
        before = state.model_copy(deep=True)
        events = list(self.decide(state, self.command))
        assert state == before, "decide must not change the state it is given"
        assert list(self.decide(state, self.command)) == events, "decide must be deterministic"
        return state, events

    def events(self) -> list[E]:
        """Run the decision and return its events without comparing them (for detailed assertions)."""
        return self._run()[1]

    def then(self, *expected: E) -> S:
        """Assert the decision emits exactly ``expected``; return the state after them."""
        state, events = self._run()
        assert events == list(expected), f"\nexpected {list(expected)!r}\n     got {events!r}"
        after = self.given.spec.fold(state, events)
        decoded = cast(list[E], [round_trip(self.given.spec, e) for e in events])
        replayed = self.given.spec.fold(state, decoded)
        assert replayed == after, "events must fold to the same state after a JSON round trip"
        return after

    def then_nothing(self) -> S:
        """Assert the command is accepted as a no-op (no event)."""
        return self.then()

    def then_raises(self, error: type[X], match: str | None = None) -> X:
        """Assert the decision is rejected with ``error`` (exact type), its message matching ``match``."""
        state = self.given.state
        with pytest.raises(DomainError) as info:
            self.decide(state, self.command)
        raised = info.value
        assert type(raised) is error, f"expected {error.__name__}, got {type(raised).__name__}: {raised}"
        assert raised.aggregate_type == self.given.spec.type_name
        if match is not None:
            assert re.search(match, str(raised)), f"{str(raised)!r} does not match {match!r}"
        assert isinstance(raised, error)
        return raised


def given(spec: AggregateSpec[S, E], aggregate_id: str, *events: E) -> Given[S, E]:
    """Start a scenario from the aggregate's initial state and ``events``."""
    return Given(spec, aggregate_id, tuple(events))
