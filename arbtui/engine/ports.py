"""What the engine offers the layers above it (HTTP service, console, CLI): operator control and
readiness; what it says is :mod:`arbtui.engine.messages`. ``EngineControl`` implements
:class:`OperatorControl` and the health watch :class:`ReadinessSource`: the API and the console call
only these.

Errors: every control method raises :class:`arbtui.domain.errors.DomainError` subclasses when the rules
refuse the action — :class:`~arbtui.domain.errors.InvalidCommand` (malformed: zero shares, empty reason)
and :class:`~arbtui.domain.errors.RejectedTransition` (state conflict: already paused, kill switch
engaged, an execution already in flight) — and :class:`arbtui.store.errors.StoreError` when the ledger
cannot be written. Nothing is recorded when an error is raised.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from arbtui.domain.position import Position
from arbtui.domain.values import Direction, ExecutionId, Shares, Symbol
from arbtui.store.detail import Detail as Detail  # re-exported: what ReadModel.detail returns
from arbtui.store.detail import Link as Link
from arbtui.store.errors import StoreError as StoreError  # re-exported: a control action's "ledger down"
from arbtui.store.log import StoredEvent as StoredEvent
from arbtui.store.read_model import Mark as Mark  # re-exported: the console reads these
from arbtui.store.read_model import PythMark as PythMark
from arbtui.store.read_model import Seed

if TYPE_CHECKING:
    from arbtui.engine.bus import Subscription


@dataclass(frozen=True)
class Check:
    """One readiness condition: ``ok`` and, when not, why (one line an operator can act on)."""

    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class Readiness:
    """``ready`` only when every check is ok: chain connected with lag in bound, broker reachable,
    database writable."""

    checks: dict[str, Check] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(check.ok for check in self.checks.values())


class OperatorControl(Protocol):
    """Operator actions; each is an audited event with actor and reason."""

    async def pause(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        """Stop new hedges for one symbol, or all (``None``). Fills are still recorded."""
        ...

    async def resume(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        """Undo a pause; positions are re-evaluated at once (a past-threshold one hedges now)."""
        ...

    async def engage_kill_switch(self, *, actor: str, reason: str) -> None:
        """Stop every hedge, manual ones included, until :meth:`clear_kill_switch`."""
        ...

    async def clear_kill_switch(self, *, actor: str, reason: str) -> None: ...

    async def manual_hedge(
        self,
        symbol: Symbol,
        direction: Direction,
        shares: Shares,
        *,
        actor: str,
        reason: str,
        allow_overhedge: bool = False,
    ) -> ExecutionId:
        """Place a hedge by hand through the normal execution path; returns its execution id.
        Raises :class:`~arbtui.domain.manual_hedge.UnknownSymbol`, ``LimitExceeded`` or, beyond the
        open net without ``allow_overhedge``, ``OverHedge`` (nothing recorded). An allowed over-hedge
        also pauses automatic hedging of the symbol."""
        ...


class ReadinessSource(Protocol):
    """Where ``/ready`` asks (the engine's health watch)."""

    async def readiness(self) -> Readiness:
        """The current readiness checks (cheap: from state the engine keeps, no network round trip)."""
        ...


class ReadModel(Protocol):
    """The ledger's history as the console reads it (blocking: run it in a thread)."""

    @property
    def path(self) -> Path:
        """The ledger file (the reports open it read-only)."""
        ...

    def seed(self, *, fills: int, orders: int) -> Seed:
        """Every position, the control state, and the latest ``fills`` trades and ``orders`` executions."""
        ...

    def position_at(self, symbol: str, until: datetime | None) -> tuple[Position, int]:
        """A position as of ``until`` (``None``: now), and how many events that is."""
        ...

    def detail(self, aggregate_type: str, aggregate_id: str, *, limit: int | None = None) -> Detail | None:
        """One aggregate now: its state, its events with their metadata (the last ``limit``, or all), and
        the fill ↔ execution links; ``None`` when the ledger has no event of it. Raises
        :class:`StoreError` when the ledger cannot be read."""
        ...

    def marks(self) -> list[Mark]:
        """Every symbol's PnL book (realized, open lots) and the latest Pyth price the ledger holds for it,
        by symbol, from one read transaction (the PnL screen values the open lots at that price)."""
        ...


class HostedEngine(Protocol):
    """The engine as the console hosts it: its lifecycle, its bus, the control surface and the ledger's
    read model — nothing of its internals."""

    @property
    def control(self) -> OperatorControl: ...

    @property
    def read_model(self) -> ReadModel: ...

    @property
    def venue(self) -> str:
        """The broker's name (``alpaca``, ``schwab``, ``dry_run``)."""
        ...

    @property
    def fault(self) -> BaseException | None:
        """Why the engine halted, if it did."""
        ...

    @property
    def in_flight(self) -> int:
        """Executions driven right now."""
        ...

    @property
    def shutdown_timeout_s(self) -> float:
        """How long broker calls in flight may take to finish when the engine stops."""
        ...

    def subscribe(self) -> Subscription:
        """Every message the engine publishes from now on."""
        ...

    async def start(self) -> None: ...

    async def wait(self) -> None:
        """Until the engine stopped or halted."""
        ...

    async def stop(self) -> bool:
        """Graceful; True when every broker call in flight finished in time."""
        ...
