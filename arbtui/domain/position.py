"""Position — the hedging state of one symbol. Aggregate id: the broker ticker.

Sign convention: ``net`` is the exposure still to hedge. An onchain BUY (our order received equity)
adds to it, an onchain SELL subtracts; positive ``net`` is hedged by a broker SELL, negative by a BUY.

Accounting identity, true after every event (property-tested)::

    accumulated_long − accumulated_short  ==  hedged + reserved + net

where ``reserved`` is the signed size of the execution in flight. Fills are facts and always apply —
while an execution is pending, while hedging is paused. A placement happens only when nothing is
pending, hedging is allowed and the threshold is met; its shares are *reserved* until the execution
ends: filled shares become ``hedged``, unfilled or failed shares go back to ``net`` (lesson 7).

``lots`` attribute the unhedged ``net`` to the fills that caused it, oldest first; they always share
one sign and sum to ``net``. A placement takes its shares from the front, and those contributions are
the audit link from the broker order back to its fills (``trade_execution_link_view``).

Deduplication of fills is not this aggregate's job: a fill reaches ``AcknowledgeFill`` only through
:func:`arbtui.domain.flows.witness_fill`, in the same transaction as the trade's unique ``Filled``
event, so the store's keys make a second acknowledgement impossible without an unbounded id set here.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import assert_never

from arbtui.domain import pnl
from arbtui.domain.errors import ExecutionPending, InvalidCommand, UnknownExecution
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen
from arbtui.domain.values import Audit, BrokerKind, Cents, Direction, ExecutionId, PriceUsdc, Shares

AGGREGATE = "Position"
ONE_SHARE = Shares(1)


class ThresholdKind(StrEnum):
    SHARES = "shares"
    DOLLARS = "dollars"


class Threshold(Frozen):
    """When to hedge. ``shares``: once |net| ≥ 1, execute floor(|net|) and carry the signed rest.
    ``dollars`` (Alpaca fractional): once |net| × price ≥ ``min_notional``, execute |net| rounded
    toward zero to ``quantum`` shares."""

    kind: ThresholdKind = ThresholdKind.SHARES
    min_notional: Decimal = Decimal(1)
    quantum: Decimal = Decimal("0.000000001")

    def hedge_size(self, net: Shares, price: PriceUsdc | None) -> Shares:
        """Signed shares to execute now for ``net`` (zero when the threshold is not met)."""
        match self.kind:
            case ThresholdKind.SHARES:
                return net.floor_whole() if abs(net) >= ONE_SHARE else Shares.zero()
            case ThresholdKind.DOLLARS:
                if price is None:
                    return Shares.zero()
                size = net.round_down_to(self.quantum)
                if size.is_zero or price.notional(abs(size)).value < self.min_notional:
                    return Shares.zero()
                return size
            case _:
                assert_never(self.kind)


class Lot(Frozen):
    """Unhedged shares attributed to one source: a trade id, or ``manual:<execution>`` for an
    over-hedge placed by hand."""

    source: str
    shares: Shares


class PendingExecution(Frozen):
    execution_id: ExecutionId
    direction: Direction
    shares: Shares
    contributions: tuple[Lot, ...]

    @property
    def reserved(self) -> Shares:
        """Signed exposure this execution removes: a SELL reserves +shares, a BUY −shares."""
        return self.shares if self.direction is Direction.SELL else -self.shares


# --- commands ---------------------------------------------------------------------------------


class HedgeContext(Frozen):
    """What the engine knows that the position does not: may it hedge, where, under which id."""

    hedging_allowed: bool
    broker: BrokerKind
    execution_id: ExecutionId
    at: datetime


class AcknowledgeFill(Frozen):
    trade_id: str
    direction: Direction
    amount: Shares
    price_usdc: PriceUsdc
    context: HedgeContext


class CheckThreshold(Frozen):
    """Re-evaluate a position (periodic check, resume, market open, after a failure)."""

    reason: str
    context: HedgeContext


class PlaceManualHedge(Frozen):
    direction: Direction
    shares: Shares
    broker: BrokerKind
    execution_id: ExecutionId
    audit: Audit


class CompleteExecution(Frozen):
    execution_id: ExecutionId
    shares_filled: Shares
    price_cents: Cents
    broker_order_id: str
    at: datetime


class FailExecution(Frozen):
    execution_id: ExecutionId
    error: str
    at: datetime


class ReverseFill(Frozen):
    trade_id: str
    direction: Direction
    amount: Shares
    at: datetime


class UpdateThreshold(Frozen):
    threshold: Threshold
    at: datetime


PositionCommand = (
    AcknowledgeFill
    | CheckThreshold
    | PlaceManualHedge
    | CompleteExecution
    | FailExecution
    | ReverseFill
    | UpdateThreshold
)

# --- events -----------------------------------------------------------------------------------


class OnChainFillAcknowledged(DomainEvent):
    trade_id: str
    direction: Direction
    amount: Shares
    price_usdc: PriceUsdc
    at: datetime


class OffChainOrderPlaced(DomainEvent):
    execution_id: ExecutionId
    direction: Direction
    shares: Shares
    broker: BrokerKind
    trigger_reason: str
    contributions: tuple[Lot, ...]
    at: datetime


class OffChainOrderFilled(DomainEvent):
    execution_id: ExecutionId
    shares_filled: Shares
    price_cents: Cents
    broker_order_id: str
    at: datetime


class OffChainOrderFailed(DomainEvent):
    execution_id: ExecutionId
    error: str
    at: datetime


class OnChainFillReversed(DomainEvent):
    trade_id: str
    direction: Direction
    amount: Shares
    at: datetime


class ThresholdUpdated(DomainEvent):
    threshold: Threshold
    at: datetime


PositionEvent = (
    OnChainFillAcknowledged
    | OffChainOrderPlaced
    | OffChainOrderFilled
    | OffChainOrderFailed
    | OnChainFillReversed
    | ThresholdUpdated
)

# --- state ------------------------------------------------------------------------------------


class Position(Frozen):
    symbol: str
    net: Shares = Shares.zero()
    accumulated_long: Shares = Shares.zero()
    accumulated_short: Shares = Shares.zero()
    hedged: Shares = Shares.zero()
    pending: PendingExecution | None = None
    lots: tuple[Lot, ...] = ()
    threshold: Threshold = Threshold()
    last_price: PriceUsdc | None = None
    last_updated: datetime | None = None
    last_hedge_at: datetime | None = None
    book: pnl.PnlBook = pnl.PnlBook()
    """Realized PnL: FIFO lots over both venues' fills (:mod:`arbtui.domain.pnl`)."""

    @property
    def reserved(self) -> Shares:
        return self.pending.reserved if self.pending else Shares.zero()

    @property
    def filled_net(self) -> Shares:
        """Σ signed onchain fills."""
        return self.accumulated_long - self.accumulated_short


def initial(symbol: str) -> Position:
    return Position(symbol=symbol)


def decide(state: Position, command: PositionCommand) -> list[PositionEvent]:
    match command:
        case AcknowledgeFill():
            if not command.amount.is_positive:
                raise InvalidCommand(AGGREGATE, state.symbol, f"fill {command.trade_id}: shares must be positive")
            ack = OnChainFillAcknowledged(
                trade_id=command.trade_id,
                direction=command.direction,
                amount=command.amount,
                price_usdc=command.price_usdc,
                at=command.context.at,
            )
            return [ack, *_maybe_place(evolve(state, ack), command.context, "threshold")]
        case CheckThreshold():
            return _maybe_place(state, command.context, command.reason)
        case PlaceManualHedge():
            return [_manual(state, command)]
        case CompleteExecution():
            pending = _expect_pending(state, command.execution_id)
            if not command.shares_filled.is_positive or command.shares_filled > pending.shares:
                raise InvalidCommand(
                    AGGREGATE,
                    state.symbol,
                    f"execution {command.execution_id}: filled {command.shares_filled} of {pending.shares}",
                )
            return [
                OffChainOrderFilled(
                    execution_id=command.execution_id,
                    shares_filled=command.shares_filled,
                    price_cents=command.price_cents,
                    broker_order_id=command.broker_order_id,
                    at=command.at,
                )
            ]
        case FailExecution():
            _expect_pending(state, command.execution_id)
            return [OffChainOrderFailed(execution_id=command.execution_id, error=command.error, at=command.at)]
        case ReverseFill():
            return [
                OnChainFillReversed(
                    trade_id=command.trade_id, direction=command.direction, amount=command.amount, at=command.at
                )
            ]
        case UpdateThreshold():
            if command.threshold == state.threshold:
                return []
            return [ThresholdUpdated(threshold=command.threshold, at=command.at)]
        case _:
            assert_never(command)


def _maybe_place(state: Position, context: HedgeContext, reason: str) -> list[PositionEvent]:
    if state.pending is not None or not context.hedging_allowed:
        return []
    size = state.threshold.hedge_size(state.net, state.last_price)
    if size.is_zero:
        return []
    contributions, _ = _take(state.lots, size)
    return [
        OffChainOrderPlaced(
            execution_id=context.execution_id,
            direction=Direction.to_reduce(size),
            shares=abs(size),
            broker=context.broker,
            trigger_reason=reason,
            contributions=contributions,
            at=context.at,
        )
    ]


def _manual(state: Position, command: PlaceManualHedge) -> OffChainOrderPlaced:
    if state.pending is not None:
        raise ExecutionPending(AGGREGATE, state.symbol, f"execution {state.pending.execution_id} is still in flight")
    if not command.shares.is_positive:
        raise InvalidCommand(AGGREGATE, state.symbol, "manual hedge: shares must be positive")
    if not command.audit.reason.strip() or not command.audit.actor.strip():
        raise InvalidCommand(AGGREGATE, state.symbol, "manual hedge: actor and reason are required")
    removes = command.shares if command.direction is Direction.SELL else -command.shares
    contributions, _ = _take(state.lots, removes)
    return OffChainOrderPlaced(
        execution_id=command.execution_id,
        direction=command.direction,
        shares=command.shares,
        broker=command.broker,
        trigger_reason="manual",
        contributions=tuple(lot for lot in contributions if not lot.source.startswith("manual:")),
        at=command.audit.at,
    )


def _expect_pending(state: Position, execution_id: ExecutionId) -> PendingExecution:
    if state.pending is None or state.pending.execution_id != execution_id:
        waiting = state.pending.execution_id if state.pending else "none"
        raise UnknownExecution(AGGREGATE, state.symbol, f"execution {execution_id} is not pending (pending: {waiting})")
    return state.pending


# --- evolve -----------------------------------------------------------------------------------


def evolve(state: Position, event: PositionEvent) -> Position:
    match event:
        case OnChainFillAcknowledged():
            return _acknowledged(state, event)
        case OffChainOrderPlaced():
            return _placed(state, event)
        case OffChainOrderFilled():
            return _filled(state, event)
        case OffChainOrderFailed():
            return _failed(state, event)
        case OnChainFillReversed():
            return _reversed(state, event)
        case ThresholdUpdated():
            return state.evolved(threshold=event.threshold, last_updated=event.at)
        case _:
            assert_never(event)


def _acknowledged(state: Position, event: OnChainFillAcknowledged) -> Position:
    signed = event.direction.signed(event.amount)
    is_buy = event.direction is Direction.BUY
    return state.evolved(
        net=state.net + signed,
        accumulated_long=state.accumulated_long + (signed if is_buy else Shares.zero()),
        accumulated_short=state.accumulated_short + (Shares.zero() if is_buy else -signed),
        lots=_absorb(state.lots, Lot.trusted(source=event.trade_id, shares=signed), front=False),
        last_price=event.price_usdc,
        book=pnl.book_trade(state.book, event.trade_id, event.direction, event.amount, event.price_usdc),
        last_updated=event.at,
    )


def _placed(state: Position, event: OffChainOrderPlaced) -> Position:
    removes = event.shares if event.direction is Direction.SELL else -event.shares
    contributions, lots = _take(state.lots, removes)
    pending = PendingExecution.trusted(
        execution_id=event.execution_id,
        direction=event.direction,
        shares=event.shares,
        contributions=contributions,
    )
    return state.evolved(net=state.net - removes, lots=lots, pending=pending, last_updated=event.at)


def _filled(state: Position, event: OffChainOrderFilled) -> Position:
    pending = _pending(state)
    filled = event.shares_filled if pending.direction is Direction.SELL else -event.shares_filled
    unfilled = pending.reserved - filled
    returned = _tail(pending.contributions, unfilled)
    lots = state.lots
    for lot in reversed(returned):
        lots = _absorb(lots, lot, front=True)
    return state.evolved(
        net=state.net + unfilled,
        hedged=state.hedged + filled,
        lots=lots,
        pending=None,
        book=pnl.book_trade(
            state.book, event.execution_id, pending.direction, event.shares_filled, event.price_cents.to_price()
        ),
        last_updated=event.at,
        last_hedge_at=event.at,
    )


def _failed(state: Position, event: OffChainOrderFailed) -> Position:
    pending = _pending(state)
    lots = state.lots
    for lot in reversed(pending.contributions):
        lots = _absorb(lots, lot, front=True)
    return state.evolved(
        net=state.net + pending.reserved,
        lots=lots,
        pending=None,
        last_updated=event.at,
    )


def _pending(state: Position) -> PendingExecution:
    if state.pending is None:  # evolve trusts decide; a gap here means a corrupt log
        raise ValueError(f"{AGGREGATE} {state.symbol}: execution event without a pending execution")
    return state.pending


def _take(lots: tuple[Lot, ...], amount: Shares) -> tuple[tuple[Lot, ...], tuple[Lot, ...]]:
    """Take signed ``amount`` from the front of same-signed ``lots``. Returns (contributions, rest).
    What the lots cannot cover (a manual over-hedge) becomes an opposite lot owned by no fill."""
    taken: list[Lot] = []
    rest = list(lots)
    remaining = amount
    while rest and not remaining.is_zero and rest[0].shares.is_positive == remaining.is_positive:
        head = rest[0]
        if _fits(head.shares, remaining):
            taken.append(head)
            remaining = remaining - head.shares
            rest.pop(0)
        else:
            taken.append(Lot.trusted(source=head.source, shares=remaining))
            rest[0] = Lot.trusted(source=head.source, shares=head.shares - remaining)
            remaining = Shares.zero()
    if not remaining.is_zero:
        overhedge = Lot.trusted(source="manual:over-hedge", shares=-remaining)
        taken.append(Lot.trusted(source="manual:over-hedge", shares=remaining))
        rest = list(_absorb(tuple(rest), overhedge, front=False))
    return tuple(taken), tuple(rest)


def _tail(contributions: tuple[Lot, ...], amount: Shares) -> tuple[Lot, ...]:
    """The last ``amount`` (signed) of ``contributions``: the part of an execution that did not fill."""
    out: list[Lot] = []
    remaining = amount
    for lot in reversed(contributions):
        if remaining.is_zero:
            break
        part = lot.shares if _fits(lot.shares, remaining) else remaining
        out.append(Lot.trusted(source=lot.source, shares=part))
        remaining = remaining - part
    return tuple(reversed(out))


def _reversed(state: Position, event: OnChainFillReversed) -> Position:
    """Undo a reorged fill. Its unhedged lot shrinks first. If part of it is reserved by the execution
    in flight, that part of the reservation is re-attributed to other unhedged fills of the same sign
    (whatever they cannot cover stays reserved as ``reorged:<trade>``, mirrored by an opposite lot), so
    a later failure returns shares to the fills that really caused them. The rest — already hedged —
    is absorbed as an opposite lot, to be hedged back."""
    reversal = -event.direction.signed(event.amount)
    lots, remaining = _cancel_own(state.lots, event.trade_id, reversal)
    pending = state.pending
    if pending is not None and not remaining.is_zero:
        own = _sum(lot.shares for lot in pending.contributions if lot.source == event.trade_id)
        covered = own if _fits(own, remaining) else -remaining
        if not covered.is_zero and own.is_positive != remaining.is_positive:
            taken, lots = _take_same_sign(lots, covered)
            uncovered = covered - _sum(lot.shares for lot in taken)
            orphan = f"reorged:{event.trade_id}"
            contributions = [*_without(pending.contributions, event.trade_id, covered), *taken]
            if not uncovered.is_zero:
                contributions.append(Lot.trusted(source=orphan, shares=uncovered))
                lots = _absorb(lots, Lot.trusted(source=orphan, shares=-uncovered), front=False)
            pending = pending.evolved(contributions=tuple(contributions))
            remaining = remaining + covered
    if not remaining.is_zero:
        lots = _absorb(lots, Lot.trusted(source=event.trade_id, shares=remaining), front=False)
    is_buy = event.direction is Direction.BUY
    return state.evolved(
        net=state.net + reversal,
        accumulated_long=state.accumulated_long + (reversal if is_buy else Shares.zero()),
        accumulated_short=state.accumulated_short + (Shares.zero() if is_buy else -reversal),
        lots=lots,
        pending=pending,
        last_updated=event.at,
        book=pnl.unbook(state.book, event.trade_id, event.direction, event.amount, state.last_price),
    )


def _cancel_own(lots: tuple[Lot, ...], source: str, signed: Shares) -> tuple[tuple[Lot, ...], Shares]:
    """Offset ``signed`` against ``source``'s own opposite lot; returns (lots, what it did not cover)."""
    rest = list(lots)
    for i, lot in enumerate(rest):
        if lot.source != source or lot.shares.is_positive == signed.is_positive:
            continue
        if _fits(lot.shares, signed):
            rest.pop(i)
            return tuple(rest), signed + lot.shares
        rest[i] = Lot.trusted(source=source, shares=lot.shares + signed)
        return tuple(rest), Shares.zero()
    return lots, signed


def _take_same_sign(lots: tuple[Lot, ...], amount: Shares) -> tuple[tuple[Lot, ...], tuple[Lot, ...]]:
    """Take up to ``amount`` from the front lots of the same sign (never creating an over-hedge lot)."""
    taken: list[Lot] = []
    rest = list(lots)
    remaining = amount
    while rest and not remaining.is_zero and rest[0].shares.is_positive == remaining.is_positive:
        head = rest.pop(0)
        if _fits(head.shares, remaining):
            taken.append(head)
            remaining = remaining - head.shares
        else:
            taken.append(Lot.trusted(source=head.source, shares=remaining))
            rest.insert(0, Lot.trusted(source=head.source, shares=head.shares - remaining))
            remaining = Shares.zero()
    return tuple(taken), tuple(rest)


def _without(contributions: tuple[Lot, ...], source: str, amount: Shares) -> list[Lot]:
    """``contributions`` with ``amount`` (same sign as them) removed from ``source``'s entries."""
    out: list[Lot] = []
    remaining = amount
    for lot in contributions:
        if lot.source == source and not remaining.is_zero:
            part = lot.shares if _fits(lot.shares, remaining) else remaining
            remaining = remaining - part
            if part != lot.shares:
                out.append(Lot.trusted(source=source, shares=lot.shares - part))
            continue
        out.append(lot)
    return out


def _fits(part: Shares, whole: Shares) -> bool:
    """``abs(part) <= abs(whole)``, exactly (``copy_abs`` needs no context), without two new Shares."""
    return part.value.copy_abs() <= whole.value.copy_abs()


def _sum(values: Iterable[Shares]) -> Shares:
    total = Shares.zero()
    for value in values:
        total = total + value
    return total


def _absorb(lots: tuple[Lot, ...], lot: Lot, *, front: bool) -> tuple[Lot, ...]:
    """Add a signed lot: first offset opposite-signed lots oldest first, then queue what remains
    (at the back for a new fill, at the front for shares returned from an execution)."""
    if not lots or lots[0].shares.is_positive == lot.shares.is_positive:
        # lots share one sign, so none is opposite: queue it without scanning. This is every fill while a
        # hedge is pending (a closed market's weekend of them), so it must not cost O(lots) Python work.
        return _queue(lots, lot, front=front)
    rest = list(lots)
    remaining = lot.shares
    for i, own in enumerate(rest):  # the lot's own opposite shares first (a returned reorg reservation)
        if own.source == lot.source and own.shares.is_positive != remaining.is_positive:
            if _fits(own.shares, remaining):
                remaining = remaining + own.shares
                rest.pop(i)
            else:
                rest[i] = Lot.trusted(source=own.source, shares=own.shares + remaining)
                remaining = Shares.zero()
            break
    while rest and not remaining.is_zero and rest[0].shares.is_positive != remaining.is_positive:
        head = rest[0]
        if _fits(head.shares, remaining):
            remaining = remaining + head.shares
            rest.pop(0)
        else:
            rest[0] = Lot.trusted(source=head.source, shares=head.shares + remaining)
            remaining = Shares.zero()
    if remaining.is_zero:
        return tuple(rest)
    return _queue(tuple(rest), Lot.trusted(source=lot.source, shares=remaining), front=front)


def _queue(lots: tuple[Lot, ...], new: Lot, *, front: bool) -> tuple[Lot, ...]:
    """Put a lot of the queue's own sign at the front or back, merging it with a neighbour of its source."""
    if front:
        if lots and lots[0].source == new.source:
            return (Lot.trusted(source=new.source, shares=new.shares + lots[0].shares), *lots[1:])
        return (new, *lots)
    if lots and lots[-1].source == new.source:
        return (*lots[:-1], Lot.trusted(source=new.source, shares=lots[-1].shares + new.shares))
    return (*lots, new)


SPEC: AggregateSpec[Position, PositionEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=Position,
    event_types=(
        OnChainFillAcknowledged,
        OffChainOrderPlaced,
        OffChainOrderFilled,
        OffChainOrderFailed,
        OnChainFillReversed,
        ThresholdUpdated,
    ),
    initial=initial,
    evolve=evolve,
    snapshot_version="2",  # 2: the PnL book
)
