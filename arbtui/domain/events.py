"""Base of every domain event and aggregate.

An aggregate is two pure functions over frozen values — ``decide(state, command) -> events`` (every
business check lives there) and ``evolve(state, event) -> state`` (no checks, no I/O) — plus the
:class:`AggregateSpec` that tells the store its name, its event types and how to start and fold it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict

_new = object.__new__
_set = object.__setattr__


class Frozen(BaseModel):
    """Immutable value with strict field names: base of commands, events and states."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=False)

    # Trusted construction for ``evolve``, which folds already-validated values and has no checks.
    # Both give the same instance pydantic's own ``model_construct``/``model_copy`` would (no extras,
    # no private attributes on these models), without their generic per-field bookkeeping.

    @classmethod
    def trusted(cls, **fields: Any) -> Self:
        """``model_construct`` given every field, in declaration order, of already-valid values."""
        made = _new(cls)
        _set(made, "__dict__", fields)
        _set(made, "__pydantic_fields_set__", set(fields))
        _set(made, "__pydantic_extra__", None)
        _set(made, "__pydantic_private__", None)
        return made

    def evolved(self, **changes: Any) -> Self:
        """``model_copy(update=changes)``: a shallow copy with ``changes`` applied, unvalidated."""
        made = _new(type(self))
        values = self.__dict__.copy()
        values.update(changes)
        _set(made, "__dict__", values)
        _set(made, "__pydantic_fields_set__", self.__pydantic_fields_set__.union(changes))
        _set(made, "__pydantic_extra__", None)
        _set(made, "__pydantic_private__", None)
        return made


class DomainEvent(Frozen):
    """A fact that happened. ``event_type`` is the class name; bump ``event_version`` on any change."""

    event_version: ClassVar[str] = "1.0"

    @classmethod
    def event_type(cls) -> str:
        return cls.__name__


S = TypeVar("S", bound=Frozen)
E = TypeVar("E", bound=DomainEvent)


@dataclass(frozen=True)
class AggregateSpec(Generic[S, E]):
    """What the store needs to know to persist, load and fold one kind of aggregate."""

    type_name: str
    state_type: type[S]
    event_types: tuple[type[E], ...]
    initial: Callable[[str], S]
    evolve: Callable[[S, E], S]
    snapshot_version: str = "1"
    _by_name: dict[str, type[E]] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_name", {cls.event_type(): cls for cls in self.event_types})

    def event_class(self, event_type: str) -> type[E] | None:
        return self._by_name.get(event_type)

    def fold(self, state: S, events: list[E]) -> S:
        for event in events:
            state = self.evolve(state, event)
        return state
