"""Operator control — pause, resume, kill switch, manual-hedge audit. Aggregate id: ``"control"``.

Every override is an event carrying who did it and why, so the log answers "who stopped hedging AAPL
on Friday, and why". Pausing stops new hedges (fills are still recorded); the kill switch stops every
hedge, manual ones included, until it is cleared. Resuming never clears the kill switch.
"""

from __future__ import annotations

from typing import assert_never

from pydantic import Field

from arbtui.domain.errors import ControlStateConflict, InvalidCommand, KillSwitchEngaged
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.values import Audit, Direction, ExecutionId, Shares, Symbol

AGGREGATE = "Control"
CONTROL_ID = "control"


class Pause(Frozen):
    symbol: Symbol | None
    audit: Audit


class Resume(Frozen):
    symbol: Symbol | None
    audit: Audit


class EngageKillSwitch(Frozen):
    audit: Audit


class ClearKillSwitch(Frozen):
    audit: Audit


class RequestManualHedge(Frozen):
    symbol: Symbol
    direction: Direction
    shares: Shares
    execution_id: ExecutionId
    audit: Audit


ControlCommand = Pause | Resume | EngageKillSwitch | ClearKillSwitch | RequestManualHedge


class HedgingPaused(DomainEvent):
    symbol: Symbol | None
    audit: Audit


class HedgingResumed(DomainEvent):
    symbol: Symbol | None
    audit: Audit


class KillSwitchEngagedEvent(DomainEvent):
    audit: Audit

    @classmethod
    def event_type(cls) -> str:
        return "KillSwitchEngaged"


class KillSwitchCleared(DomainEvent):
    audit: Audit


class ManualHedgeRequested(DomainEvent):
    symbol: Symbol
    direction: Direction
    shares: Shares
    execution_id: ExecutionId
    audit: Audit


ControlEvent = HedgingPaused | HedgingResumed | KillSwitchEngagedEvent | KillSwitchCleared | ManualHedgeRequested


class Control(Frozen):
    paused_all: Audit | None = None
    paused_symbols: dict[str, Audit] = Field(default_factory=dict)
    kill_switch: Audit | None = None

    def hedging_allowed(self, symbol: str) -> bool:
        return self.kill_switch is None and self.paused_all is None and symbol not in self.paused_symbols


def initial(aggregate_id: str) -> Control:
    return Control()


def decide(state: Control, command: ControlCommand) -> list[ControlEvent]:
    audit = command.audit
    if not audit.actor.strip() or not audit.reason.strip():
        raise InvalidCommand(AGGREGATE, CONTROL_ID, f"{type(command).__name__}: actor and reason are required")
    match command:
        case Pause():
            if command.symbol is None and state.paused_all is not None:
                raise _conflict("all hedging is already paused")
            if command.symbol is not None and command.symbol in state.paused_symbols:
                raise _conflict(f"{command.symbol} is already paused")
            return [HedgingPaused(symbol=command.symbol, audit=audit)]
        case Resume():
            if command.symbol is None and state.paused_all is None and not state.paused_symbols:
                raise _conflict("hedging is not paused")
            if command.symbol is not None:
                if state.paused_all is not None:
                    raise _conflict(f"all hedging is paused: resume everything to resume {command.symbol}")
                if command.symbol not in state.paused_symbols:
                    raise _conflict(f"{command.symbol} is not paused")
            return [HedgingResumed(symbol=command.symbol, audit=audit)]
        case EngageKillSwitch():
            if state.kill_switch is not None:
                raise _conflict("the kill switch is already engaged")
            return [KillSwitchEngagedEvent(audit=audit)]
        case ClearKillSwitch():
            if state.kill_switch is None:
                raise _conflict("the kill switch is not engaged")
            return [KillSwitchCleared(audit=audit)]
        case RequestManualHedge():
            return [_manual_hedge(state, command)]
        case _:
            assert_never(command)


def _manual_hedge(state: Control, command: RequestManualHedge) -> ManualHedgeRequested:
    if state.kill_switch is not None:
        raise KillSwitchEngaged(
            AGGREGATE, CONTROL_ID, f"manual hedge refused: kill switch engaged by {state.kill_switch.actor}"
        )
    if not command.shares.is_positive:
        raise InvalidCommand(AGGREGATE, CONTROL_ID, "manual hedge: shares must be positive")
    return ManualHedgeRequested(
        symbol=command.symbol,
        direction=command.direction,
        shares=command.shares,
        execution_id=command.execution_id,
        audit=command.audit,
    )


def _conflict(message: str) -> ControlStateConflict:
    return ControlStateConflict(AGGREGATE, CONTROL_ID, message)


def evolve(state: Control, event: ControlEvent) -> Control:
    match event:
        case HedgingPaused():
            if event.symbol is None:
                return state.model_copy(update={"paused_all": event.audit})
            return state.model_copy(update={"paused_symbols": {**state.paused_symbols, event.symbol: event.audit}})
        case HedgingResumed():
            if event.symbol is None:
                return state.model_copy(update={"paused_all": None, "paused_symbols": {}})
            rest = {k: v for k, v in state.paused_symbols.items() if k != event.symbol}
            return state.model_copy(update={"paused_symbols": rest})
        case KillSwitchEngagedEvent():
            return state.model_copy(update={"kill_switch": event.audit})
        case KillSwitchCleared():
            return state.model_copy(update={"kill_switch": None})
        case ManualHedgeRequested():
            return state  # the request is audit only: the Position and the execution carry the hedge
        case _:
            assert_never(event)


SPEC: AggregateSpec[Control, ControlEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=Control,
    event_types=(
        HedgingPaused,
        HedgingResumed,
        KillSwitchEngagedEvent,
        KillSwitchCleared,
        ManualHedgeRequested,
    ),
    initial=initial,
    evolve=evolve,
)
