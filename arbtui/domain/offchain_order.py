"""OffchainOrder — one broker execution. Aggregate id: the execution id (also the client order id).

State machine (anything else is rejected with :class:`InvalidTransition`)::

    PENDING ──ConfirmSubmission──▶ SUBMITTED ──UpdatePartialFill──▶ PARTIALLY_FILLED ─┐
       │                             │  │                              │  ▲ (more fills)│
       │                             │  └──────────CompleteFill────────┴──┴──▶ FILLED   │
       └──Fail──▶ FAILED ◀──Fail─────┴──────────────────Fail──────────────────────────┘
                              SUBMITTED / PARTIALLY_FILLED ──Cancel──▶ CANCELLED

Recovery rule: a PENDING order whose client id the broker knows is confirmed (SUBMITTED); one the
broker does not know is submitted again with the same id. Confirming the same broker order id twice
is a no-op, so a retried confirmation after a crash is harmless.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, assert_never

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.values import BrokerKind, Cents, Direction, ExecutionId, Shares, Symbol

AGGREGATE = "OffchainOrder"


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    SUBMITTED = "SUBMITTED"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    FAILED = "FAILED"
    CANCELLED = "CANCELLED"

    @property
    def is_terminal(self) -> bool:
        return self in (OrderStatus.FILLED, OrderStatus.FAILED, OrderStatus.CANCELLED)


# --- commands ---------------------------------------------------------------------------------


class Place(Frozen):
    symbol: Symbol
    shares: Shares
    direction: Direction
    broker: BrokerKind
    trigger_reason: str
    at: datetime


class ConfirmSubmission(Frozen):
    broker_order_id: str
    at: datetime


class UpdatePartialFill(Frozen):
    shares_filled: Shares
    avg_price_cents: Cents
    at: datetime


class CompleteFill(Frozen):
    price_cents: Cents
    at: datetime


class Fail(Frozen):
    error: str
    at: datetime


class Cancel(Frozen):
    """The broker cancelled or expired the order; ``shares_filled`` may be non-zero."""

    shares_filled: Shares
    avg_price_cents: Cents | None
    reason: str
    at: datetime


OffchainOrderCommand = Place | ConfirmSubmission | UpdatePartialFill | CompleteFill | Fail | Cancel

# --- events -----------------------------------------------------------------------------------


class Placed(DomainEvent):
    symbol: Symbol
    shares: Shares
    direction: Direction
    broker: BrokerKind
    trigger_reason: str
    at: datetime


class Submitted(DomainEvent):
    broker_order_id: str
    at: datetime


class PartiallyFilled(DomainEvent):
    shares_filled: Shares
    avg_price_cents: Cents
    at: datetime


class OrderFilled(DomainEvent):
    shares_filled: Shares
    price_cents: Cents
    at: datetime


class OrderFailed(DomainEvent):
    error: str
    at: datetime


class OrderCancelled(DomainEvent):
    shares_filled: Shares
    avg_price_cents: Cents | None
    reason: str
    at: datetime


OffchainOrderEvent = Placed | Submitted | PartiallyFilled | OrderFilled | OrderFailed | OrderCancelled

# --- state ------------------------------------------------------------------------------------


class OffchainOrder(Frozen):
    execution_id: str
    status: OrderStatus | None = None
    symbol: Symbol | None = None
    shares: Shares = Shares.zero()
    direction: Direction | None = None
    broker: BrokerKind | None = None
    trigger_reason: str = ""
    broker_order_id: str | None = None
    shares_filled: Shares = Shares.zero()
    price_cents: Cents | None = None
    error: str | None = None
    placed_at: datetime | None = None
    submitted_at: datetime | None = None
    completed_at: datetime | None = None


def initial(execution_id: str) -> OffchainOrder:
    ExecutionId(execution_id)
    return OffchainOrder(execution_id=execution_id)


def decide(state: OffchainOrder, command: OffchainOrderCommand) -> list[OffchainOrderEvent]:
    match command:
        case Place():
            if state.status is not None:
                raise _invalid(state, "Place", "already placed")
            if not command.shares.is_positive:
                raise InvalidCommand(AGGREGATE, state.execution_id, "shares must be positive")
            if command.broker is BrokerKind.SCHWAB and not command.shares.is_whole:
                raise InvalidCommand(AGGREGATE, state.execution_id, "Schwab takes whole shares only")
            return [Placed(**command.model_dump())]
        case ConfirmSubmission():
            _open(state, "ConfirmSubmission")
            if state.broker_order_id is not None:
                if command.broker_order_id == state.broker_order_id:
                    return []
                raise _invalid(state, "ConfirmSubmission", f"already submitted as {state.broker_order_id}")
            return [Submitted(broker_order_id=command.broker_order_id, at=command.at)]
        case Fail():
            _open(state, "Fail")
            if state.shares_filled.is_positive:
                raise _invalid(state, "Fail", f"{state.shares_filled} already filled: cancel with that quantity")
            return [OrderFailed(error=command.error, at=command.at)]
        case UpdatePartialFill():
            _submitted(state, "UpdatePartialFill")
            if command.shares_filled == state.shares_filled:
                return []
            if not state.shares_filled < command.shares_filled < state.shares:
                raise InvalidCommand(
                    AGGREGATE,
                    state.execution_id,
                    f"partial fill {command.shares_filled} must grow from {state.shares_filled} below {state.shares}",
                )
            return [PartiallyFilled(**command.model_dump())]
        case CompleteFill():
            _submitted(state, "CompleteFill")
            return [OrderFilled(shares_filled=state.shares, price_cents=command.price_cents, at=command.at)]
        case Cancel():
            _submitted(state, "Cancel")
            if command.shares_filled < state.shares_filled or command.shares_filled >= state.shares:
                raise InvalidCommand(
                    AGGREGATE,
                    state.execution_id,
                    f"cancelled with {command.shares_filled} filled; had {state.shares_filled} of {state.shares}",
                )
            return [OrderCancelled(**command.model_dump())]
        case _:
            assert_never(command)


OpenStatus = Literal[OrderStatus.PENDING, OrderStatus.SUBMITTED, OrderStatus.PARTIALLY_FILLED]


def _open(state: OffchainOrder, command: str) -> OpenStatus:
    """The status of a placed order that is not terminal, or ``command`` is rejected."""
    status = state.status
    match status:
        case OrderStatus.PENDING | OrderStatus.SUBMITTED | OrderStatus.PARTIALLY_FILLED:
            return status
        case None | OrderStatus.FILLED | OrderStatus.FAILED | OrderStatus.CANCELLED:
            raise _invalid(state, command, f"order is {status or 'not placed'}")
        case _:
            assert_never(status)


def _submitted(state: OffchainOrder, command: str) -> None:
    """An open order the broker has seen, or ``command`` is rejected."""
    status = _open(state, command)
    match status:
        case OrderStatus.SUBMITTED | OrderStatus.PARTIALLY_FILLED:
            return
        case OrderStatus.PENDING:
            raise _invalid(state, command, "order was never submitted")
        case _:
            assert_never(status)


def _invalid(state: OffchainOrder, command: str, why: str) -> InvalidTransition:
    return InvalidTransition(AGGREGATE, state.execution_id, f"{command} rejected: {why}")


def evolve(state: OffchainOrder, event: OffchainOrderEvent) -> OffchainOrder:
    match event:
        case Placed():
            return state.evolved(
                status=OrderStatus.PENDING,
                symbol=event.symbol,
                shares=event.shares,
                direction=event.direction,
                broker=event.broker,
                trigger_reason=event.trigger_reason,
                placed_at=event.at,
            )
        case Submitted():
            return state.evolved(
                status=OrderStatus.SUBMITTED,
                broker_order_id=event.broker_order_id,
                submitted_at=event.at,
            )
        case PartiallyFilled():
            return state.evolved(
                status=OrderStatus.PARTIALLY_FILLED,
                shares_filled=event.shares_filled,
                price_cents=event.avg_price_cents,
            )
        case OrderFilled():
            return state.evolved(
                status=OrderStatus.FILLED,
                shares_filled=event.shares_filled,
                price_cents=event.price_cents,
                completed_at=event.at,
            )
        case OrderFailed():
            return state.evolved(status=OrderStatus.FAILED, error=event.error, completed_at=event.at)
        case OrderCancelled():
            return state.evolved(
                status=OrderStatus.CANCELLED,
                shares_filled=event.shares_filled,
                price_cents=event.avg_price_cents,
                error=event.reason,
                completed_at=event.at,
            )
        case _:
            assert_never(event)


SPEC: AggregateSpec[OffchainOrder, OffchainOrderEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=OffchainOrder,
    event_types=(Placed, Submitted, PartiallyFilled, OrderFilled, OrderFailed, OrderCancelled),
    initial=initial,
    evolve=evolve,
)
