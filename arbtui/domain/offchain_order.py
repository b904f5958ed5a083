"""OffchainOrder — one broker execution. Aggregate id: the execution id.

State machine (anything else is rejected with :class:`InvalidTransition`)::

    PENDING ──ConfirmSubmission──▶ SUBMITTED ──UpdatePartialFill──▶ PARTIALLY_FILLED ─┐
       │                             │  │                              │  ▲ (more fills)│
       │                             │  └──────────CompleteFill────────┴──┴──▶ FILLED   │
       └──Fail──▶ FAILED ◀──Fail─────┴──────────────────Fail──────────────────────────┘
                              SUBMITTED / PARTIALLY_FILLED ──Cancel──▶ CANCELLED

Recovery rule: a PENDING order whose client id the broker knows is confirmed (SUBMITTED); one the
broker does not know is submitted again with the same id. Confirming the same broker order id twice
is a no-op, so a retried confirmation after a crash is harmless.

**Attempts** (after-hours hedging). An execution placed in the regular session goes out as one market
order whose client id is the execution id, exactly as above (``attempt`` stays 0: the streams recorded
before attempts existed are such orders). Otherwise each broker order is an *attempt* ``n`` = 1, 2, …
recorded as events of this same aggregate, each step written *before* the broker is called::

    (no live attempt) ──PrepareAttempt──▶ PREPARED ──ConfirmSubmission──▶ SUBMITTED
        ▲                                    │                              │  UpdatePartialFill (its own)
        │                                    │ EndAttempt (never placed)    │
        │                                    ▼                              ▼
        └─────────────────────────────── ENDED ◀──EndAttempt── CANCEL_REQUESTED ◀──RequestCancel──┘

A limit attempt's client id is ``<execution>-<n>``; a market attempt's is the execution id itself (so
an execution has at most one market attempt, and a stream of today's shape stays valid). An attempt
ends only when the broker confirms it (cancelled or expired, with its cumulative fill, reconciled);
the next attempt is for the remainder. ``shares_filled`` and ``price_cents`` always describe the whole
execution: the filled quantity and exact notional of ended attempts accumulate, and the average is
the one division of their sum. The execution is terminal only when the attempts together filled it
(``CompleteFill`` of the live attempt), when it failed with nothing filled (``Fail``), or when it is
finally cancelled with what has filled (``Cancel``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Literal, assert_never

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.hedging_policy import HedgeOrderKind
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import DIVISION, BrokerKind, Cents, Direction, ExecutionId, PriceUsdc, Shares, Symbol, Usdc

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


class AttemptPhase(StrEnum):
    """Where the current attempt stands (``None`` on an order without attempts)."""

    PREPARED = "prepared"
    """Recorded, maybe sent: the broker is asked for it by client id before anything else."""
    SUBMITTED = "submitted"
    """The broker accepted it and it may still fill."""
    CANCEL_REQUESTED = "cancel_requested"
    """A cancel was asked for (recorded before the call); live until the broker confirms the end."""
    ENDED = "ended"
    """The broker confirmed it is over; its fill is reconciled; nothing of this execution is live."""


def attempt_client_id(execution_id: str, attempt: int) -> str:
    """``<execution>-<n>``: the client order id of limit attempt ``n``."""
    return f"{execution_id}-{attempt}"


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


class PrepareAttempt(Frozen):
    """Send the next attempt for what is left: a market order (regular session) or a limit order at
    ``limit_price`` for ``session``. Recorded before the broker is called."""

    kind: HedgeOrderKind
    session: MarketSession
    limit_price: PriceUsdc | None
    at: datetime


class RequestCancel(Frozen):
    """Ask the broker to cancel the live attempt (recorded before the call)."""

    reason: str
    at: datetime


class EndAttempt(Frozen):
    """The broker confirmed the attempt is over without filling it all — cancelled or expired with
    ``shares_filled`` (its own cumulative fill) — or, with nothing filled and no broker order, that
    the prepared attempt never reached it."""

    shares_filled: Shares
    avg_price_cents: Cents | None
    reason: str
    at: datetime


OffchainOrderCommand = (
    Place
    | ConfirmSubmission
    | UpdatePartialFill
    | CompleteFill
    | Fail
    | Cancel
    | PrepareAttempt
    | RequestCancel
    | EndAttempt
)

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


class AttemptPrepared(DomainEvent):
    attempt: int
    kind: HedgeOrderKind
    shares: Shares
    limit_price: PriceUsdc | None
    session: MarketSession
    client_order_id: str
    at: datetime


class AttemptPartiallyFilled(DomainEvent):
    """The live attempt's own cumulative fill and its average price."""

    attempt: int
    shares_filled: Shares
    avg_price_cents: Cents
    at: datetime


class CancelRequested(DomainEvent):
    attempt: int
    reason: str
    at: datetime


class AttemptEnded(DomainEvent):
    """The broker confirmed attempt ``attempt`` over with ``shares_filled`` of its own filled."""

    attempt: int
    shares_filled: Shares
    avg_price_cents: Cents | None
    reason: str
    at: datetime


OffchainOrderEvent = (
    Placed
    | Submitted
    | PartiallyFilled
    | OrderFilled
    | OrderFailed
    | OrderCancelled
    | AttemptPrepared
    | AttemptPartiallyFilled
    | CancelRequested
    | AttemptEnded
)

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
    # -- attempts (0: a single market order whose client id is the execution id) ------------------
    attempt: int = 0
    """The current (or last) attempt's number."""
    attempt_phase: AttemptPhase | None = None
    order_kind: HedgeOrderKind | None = None
    """The current attempt's kind (``None`` without attempts: a market order)."""
    limit_price: PriceUsdc | None = None
    """The current attempt's limit price (``None`` for a market attempt)."""
    session: MarketSession | None = None
    """The session the current attempt was sent for."""
    client_order_id: str | None = None
    """The current attempt's client order id (``None`` without attempts: the execution id).
    With attempts, :attr:`broker_order_id` is the latest order the broker accepted (kept while the
    next attempt is only prepared); :attr:`attempt_phase` says whether it is live."""
    attempt_shares: Shares = Shares.zero()
    """What the current attempt asks for: the execution's remainder when it was prepared."""
    attempt_filled: Shares = Shares.zero()
    """The current attempt's own cumulative fill."""
    attempt_price_cents: Cents | None = None
    attempt_at: datetime | None = None
    """When the current attempt was prepared (its age decides the reprice)."""
    cancel_requested_at: datetime | None = None
    settled_shares: Shares = Shares.zero()
    """Filled by attempts that have ended."""
    settled_notional: Usdc = Usdc.zero()
    """Exact Σ quantity × price of those fills."""
    market_order_id: str | None = None
    """The broker's id of the market attempt once it was accepted: its client id is the execution id,
    so no second one may follow (a market attempt that never reached the broker may be prepared again)."""

    @property
    def remaining(self) -> Shares:
        """What is still to fill."""
        return self.shares - self.shares_filled

    @property
    def live_attempt(self) -> bool:
        """An attempt may be at the broker (recorded, confirmed or being cancelled)."""
        return self.attempt_phase in (AttemptPhase.PREPARED, AttemptPhase.SUBMITTED, AttemptPhase.CANCEL_REQUESTED)


def initial(execution_id: str) -> OffchainOrder:
    ExecutionId(execution_id)
    return OffchainOrder(execution_id=execution_id)


def decide(state: OffchainOrder, command: OffchainOrderCommand) -> list[OffchainOrderEvent]:
    if state.attempt > 0 and not isinstance(command, Place):
        return _decide_attempt(state, command)
    match command:
        case Place():
            if state.status is not None:
                raise _invalid(state, "Place", "already placed")
            if not command.shares.is_positive:
                raise InvalidCommand(AGGREGATE, state.execution_id, "shares must be positive")
            if command.broker is BrokerKind.SCHWAB and not command.shares.is_whole:
                raise InvalidCommand(AGGREGATE, state.execution_id, "Schwab takes whole shares only")
            return [Placed(**command.model_dump())]
        case PrepareAttempt():
            if _open(state, "PrepareAttempt") is not OrderStatus.PENDING:
                raise _invalid(state, "PrepareAttempt", f"order {state.broker_order_id} is at the broker")
            return [_prepared(state, command)]
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
        case RequestCancel() | EndAttempt():
            _open(state, type(command).__name__)
            raise _invalid(state, type(command).__name__, "the order has no attempts")
        case _:
            assert_never(command)


def _decide_attempt(state: OffchainOrder, command: OffchainOrderCommand) -> list[OffchainOrderEvent]:
    """The same commands on an order sent as attempts (``attempt`` ≥ 1)."""
    name = type(command).__name__
    _open(state, name)
    phase = state.attempt_phase
    assert phase is not None  # every attempt starts with AttemptPrepared
    match command:
        case Place():
            raise _invalid(state, name, "already placed")
        case PrepareAttempt():
            if phase is not AttemptPhase.ENDED:
                raise _invalid(state, name, f"attempt {state.attempt} is {phase.value}")
            if command.kind is HedgeOrderKind.MARKET and state.market_order_id is not None:
                raise _invalid(state, name, "an execution has one market attempt (its client id is the execution id)")
            return [_prepared(state, command)]
        case ConfirmSubmission():
            if phase is not AttemptPhase.PREPARED:
                if command.broker_order_id == state.broker_order_id:
                    return []
                raise _invalid(state, name, f"attempt {state.attempt} is {phase.value} as {state.broker_order_id}")
            return [Submitted(broker_order_id=command.broker_order_id, at=command.at)]
        case UpdatePartialFill():
            _attempt_at_broker(state, name)
            if command.shares_filled == state.attempt_filled:
                return []
            if not state.attempt_filled < command.shares_filled < state.attempt_shares:
                raise InvalidCommand(
                    AGGREGATE,
                    state.execution_id,
                    f"attempt {state.attempt}: partial fill {command.shares_filled} must grow from"
                    f" {state.attempt_filled} below {state.attempt_shares}",
                )
            return [
                AttemptPartiallyFilled(
                    attempt=state.attempt,
                    shares_filled=command.shares_filled,
                    avg_price_cents=command.avg_price_cents,
                    at=command.at,
                )
            ]
        case RequestCancel():
            if phase is AttemptPhase.CANCEL_REQUESTED:
                return []
            _attempt_at_broker(state, name)
            return [CancelRequested(attempt=state.attempt, reason=command.reason, at=command.at)]
        case EndAttempt():
            if phase is AttemptPhase.ENDED:
                raise _invalid(state, name, f"attempt {state.attempt} already ended")
            _attempt_final_fill(state, command.shares_filled, command.avg_price_cents, name)
            return [
                AttemptEnded(
                    attempt=state.attempt,
                    shares_filled=command.shares_filled,
                    avg_price_cents=command.avg_price_cents,
                    reason=command.reason,
                    at=command.at,
                )
            ]
        case CompleteFill():
            _attempt_at_broker(state, name)
            total = _with_attempt(state, state.attempt_shares, command.price_cents)
            return [OrderFilled(shares_filled=state.shares, price_cents=total, at=command.at)]
        case Fail():
            if phase in (AttemptPhase.SUBMITTED, AttemptPhase.CANCEL_REQUESTED):
                raise _invalid(state, name, f"attempt {state.attempt} is live at the broker")
            if state.shares_filled.is_positive:
                raise _invalid(state, name, f"{state.shares_filled} already filled: cancel with that quantity")
            return [OrderFailed(error=command.error, at=command.at)]
        case Cancel():
            # finally cancelled: the live attempt's last fill (or none, between attempts) closes the books
            _attempt_final_fill(state, command.shares_filled, command.avg_price_cents, name)
            if phase is AttemptPhase.ENDED and command.shares_filled.is_positive:
                raise _invalid(state, name, f"attempt {state.attempt} already ended with its fill")
            filled = state.settled_shares + (Shares.zero() if phase is AttemptPhase.ENDED else command.shares_filled)
            price = None
            if filled.is_positive:
                if phase is AttemptPhase.ENDED or not command.shares_filled.is_positive:
                    price = state.price_cents
                else:
                    assert command.avg_price_cents is not None  # _attempt_final_fill
                    price = _with_attempt(state, command.shares_filled, command.avg_price_cents)
            return [OrderCancelled(shares_filled=filled, avg_price_cents=price, reason=command.reason, at=command.at)]
        case _:
            assert_never(command)


def _prepared(state: OffchainOrder, command: PrepareAttempt) -> AttemptPrepared:
    attempt = state.attempt + 1
    if command.session is MarketSession.CLOSED:
        raise InvalidCommand(AGGREGATE, state.execution_id, "no attempt is sent to a closed market")
    match command.kind:
        case HedgeOrderKind.MARKET:
            if command.limit_price is not None:
                raise InvalidCommand(AGGREGATE, state.execution_id, "a market attempt has no limit price")
            if command.session is not MarketSession.REGULAR:
                raise InvalidCommand(AGGREGATE, state.execution_id, "market orders trade in the regular session only")
            client_id = state.execution_id
        case HedgeOrderKind.LIMIT:
            if command.limit_price is None or not command.limit_price.is_positive:
                raise InvalidCommand(AGGREGATE, state.execution_id, "a limit attempt needs a positive limit price")
            client_id = attempt_client_id(state.execution_id, attempt)
        case _:
            assert_never(command.kind)
    return AttemptPrepared(
        attempt=attempt,
        kind=command.kind,
        shares=state.remaining,
        limit_price=command.limit_price,
        session=command.session,
        client_order_id=client_id,
        at=command.at,
    )


def _attempt_at_broker(state: OffchainOrder, command: str) -> None:
    if state.attempt_phase not in (AttemptPhase.SUBMITTED, AttemptPhase.CANCEL_REQUESTED):
        phase = state.attempt_phase.value if state.attempt_phase else "none"
        raise _invalid(state, command, f"attempt {state.attempt} is {phase}, not at the broker")


def _attempt_final_fill(state: OffchainOrder, filled: Shares, price: Cents | None, command: str) -> None:
    """``filled`` is a valid last word on the current attempt: it never shrinks, stays below the
    attempt's size (a full fill is ``CompleteFill``), carries a price when positive; an attempt the
    broker never accepted filled nothing."""
    if state.attempt_phase is AttemptPhase.PREPARED and filled.is_positive:
        raise _invalid(state, command, f"attempt {state.attempt} was never confirmed at the broker")
    if filled.is_positive and price is None:
        raise InvalidCommand(AGGREGATE, state.execution_id, f"{filled} filled without a price")
    if state.attempt_phase is AttemptPhase.ENDED:
        return
    if filled < state.attempt_filled or filled >= state.attempt_shares:
        raise InvalidCommand(
            AGGREGATE,
            state.execution_id,
            f"attempt {state.attempt} ended with {filled} filled; had {state.attempt_filled} of {state.attempt_shares}",
        )


def _notional(shares: Shares, price: Cents) -> Usdc:
    return price.to_price().notional(shares)


def _average(shares: Shares, notional: Usdc) -> Cents:
    """The volume-weighted average price in cents (the one division; 60 digits, half-even)."""
    return Cents(DIVISION.divide(DIVISION.multiply(notional.value, 100), shares.value))


def _with_attempt(state: OffchainOrder, filled: Shares, price: Cents) -> Cents:
    """The execution's average once the current attempt's fill is ``filled`` at ``price``."""
    shares = state.settled_shares + filled
    return _average(shares, state.settled_notional + _notional(filled, price))


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
                status=OrderStatus.PARTIALLY_FILLED if state.shares_filled.is_positive else OrderStatus.SUBMITTED,
                broker_order_id=event.broker_order_id,
                submitted_at=state.submitted_at or event.at,
                attempt_phase=AttemptPhase.SUBMITTED if state.attempt else None,
                market_order_id=event.broker_order_id
                if state.attempt and state.order_kind is HedgeOrderKind.MARKET
                else state.market_order_id,
            )
        case PartiallyFilled():
            return state.evolved(
                status=OrderStatus.PARTIALLY_FILLED,
                shares_filled=event.shares_filled,
                price_cents=event.avg_price_cents,
            )
        case OrderFilled():
            return state.evolved(
                attempt_phase=AttemptPhase.ENDED if state.attempt else None,
                status=OrderStatus.FILLED,
                shares_filled=event.shares_filled,
                price_cents=event.price_cents,
                completed_at=event.at,
            )
        case OrderFailed():
            return state.evolved(
                status=OrderStatus.FAILED,
                error=event.error,
                completed_at=event.at,
                attempt_phase=AttemptPhase.ENDED if state.attempt else None,
            )
        case OrderCancelled():
            return state.evolved(
                status=OrderStatus.CANCELLED,
                shares_filled=event.shares_filled,
                price_cents=event.avg_price_cents,
                error=event.reason,
                completed_at=event.at,
                attempt_phase=AttemptPhase.ENDED if state.attempt else None,
            )
        case AttemptPrepared():
            return state.evolved(
                status=OrderStatus.PENDING,
                attempt=event.attempt,
                attempt_phase=AttemptPhase.PREPARED,
                order_kind=event.kind,
                limit_price=event.limit_price,
                session=event.session,
                client_order_id=event.client_order_id,
                attempt_shares=event.shares,
                attempt_filled=Shares.zero(),
                attempt_price_cents=None,
                attempt_at=event.at,
                cancel_requested_at=None,
            )
        case AttemptPartiallyFilled():
            return _attempt_fill(state, event.shares_filled, event.avg_price_cents).evolved(
                status=OrderStatus.PARTIALLY_FILLED
            )
        case CancelRequested():
            return state.evolved(attempt_phase=AttemptPhase.CANCEL_REQUESTED, cancel_requested_at=event.at)
        case AttemptEnded():
            ended = _attempt_fill(state, event.shares_filled, event.avg_price_cents)
            return ended.evolved(
                status=OrderStatus.PENDING,
                attempt_phase=AttemptPhase.ENDED,
                settled_shares=ended.shares_filled,
                settled_notional=_settled(state, event.shares_filled, event.avg_price_cents),
                attempt_filled=Shares.zero(),
                attempt_price_cents=None,
                error=event.reason,
            )
        case _:
            assert_never(event)


def _settled(state: OffchainOrder, filled: Shares, price: Cents | None) -> Usdc:
    if price is None or not filled.is_positive:
        return state.settled_notional
    return state.settled_notional + _notional(filled, price)


def _attempt_fill(state: OffchainOrder, filled: Shares, price: Cents | None) -> OffchainOrder:
    """The current attempt's cumulative fill is ``filled`` at ``price``: the execution's totals follow."""
    total = state.settled_shares + filled
    average = state.price_cents
    if price is not None and filled.is_positive:
        average = _average(total, _settled(state, filled, price))
    return state.evolved(attempt_filled=filled, attempt_price_cents=price, shares_filled=total, price_cents=average)


SPEC: AggregateSpec[OffchainOrder, OffchainOrderEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=OffchainOrder,
    event_types=(
        Placed,
        Submitted,
        PartiallyFilled,
        OrderFilled,
        OrderFailed,
        OrderCancelled,
        AttemptPrepared,
        AttemptPartiallyFilled,
        CancelRequested,
        AttemptEnded,
    ),
    initial=initial,
    evolve=evolve,
)
