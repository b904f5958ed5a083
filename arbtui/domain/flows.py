"""Decisions that span aggregates and must be recorded together, in one store transaction.

Each function takes the current states and returns :class:`Change` lists; the store appends them
atomically. This is where the exactly-once guarantees are composed:

* a fill reaches its Position only in the same change set as the trade's (unique) ``Filled`` event;
* a reorg reverses the Position only together with the trade's (unique) ``Reorged`` event;
* a placement on a Position creates its OffchainOrder in the same change set, so an execution can
  never exist on one side only.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.errors import InvalidTransition
from arbtui.domain.events import AggregateSpec, DomainEvent
from arbtui.domain.values import Cents, ExecutionId, Shares, Symbol


@dataclass(frozen=True)
class Change:
    """Events to append to one aggregate on top of the version that was decided on."""

    spec: AggregateSpec[Any, Any]
    aggregate_id: str
    events: tuple[DomainEvent, ...]


def witness_fill(
    trade: onchain_trade.OnChainTrade,
    pos: position.Position,
    fill: onchain_trade.OnChainFill,
    context: position.HedgeContext,
) -> list[Change]:
    """Record a fill once; acknowledge it on its position; place a hedge if the threshold is met."""
    trade_events = onchain_trade.decide(trade, onchain_trade.Witness(fill=fill, at=context.at))
    if not trade_events:
        return []
    ack = position.AcknowledgeFill(
        trade_id=str(fill.trade_id),
        direction=fill.direction,
        amount=fill.amount,
        price_usdc=fill.price_usdc,
        context=context,
    )
    return [
        Change(onchain_trade.SPEC, trade.trade_id, tuple(trade_events)),
        *position_changes(pos, position.decide(pos, ack)),
    ]


def retract_fill(
    trade: onchain_trade.OnChainTrade,
    pos: position.Position,
    retract: onchain_trade.Retract,
    at: datetime,
) -> list[Change]:
    """Flag a reorged trade once and reverse its effect on the position."""
    trade_events = onchain_trade.decide(trade, retract)
    if not trade_events or trade.fill is None:
        return []
    reverse = position.ReverseFill(
        trade_id=trade.trade_id, direction=trade.fill.direction, amount=trade.fill.amount, at=at
    )
    return [
        Change(onchain_trade.SPEC, trade.trade_id, tuple(trade_events)),
        *position_changes(pos, position.decide(pos, reverse)),
    ]


def position_changes(pos: position.Position, events: list[position.PositionEvent]) -> list[Change]:
    """The position's events plus, for each placement among them, the new OffchainOrder."""
    if not events:
        return []
    changes = [Change(position.SPEC, pos.symbol, tuple(events))]
    for event in events:
        if isinstance(event, position.OffChainOrderPlaced):
            order = offchain_order.initial(event.execution_id)
            placed = offchain_order.decide(
                order,
                offchain_order.Place(
                    symbol=Symbol(pos.symbol),
                    shares=event.shares,
                    direction=event.direction,
                    broker=event.broker,
                    trigger_reason=event.trigger_reason,
                    at=event.at,
                ),
            )
            changes.append(Change(offchain_order.SPEC, event.execution_id, tuple(placed)))
    return changes


def complete_execution(
    order: offchain_order.OffchainOrder,
    pos: position.Position,
    *,
    shares_filled: Shares,
    price_cents: Cents,
    at: datetime,
) -> list[Change]:
    """The broker filled the order (wholly, or partly before cancelling): the order ends, and the
    position turns the filled shares into hedged ones and returns any unfilled rest to ``net``.

    ``shares_filled`` and ``price_cents`` are the broker's report of its order — with attempts, the
    current attempt's; the position is given the execution's totals over every attempt."""
    if order.broker_order_id is None:
        raise InvalidTransition(
            offchain_order.AGGREGATE, order.execution_id, "a fill was reported for an order never submitted"
        )
    ordered = order.attempt_shares if order.attempt else order.shares
    if shares_filled == ordered:
        command: offchain_order.CompleteFill | offchain_order.Cancel = offchain_order.CompleteFill(
            price_cents=price_cents, at=at
        )
    else:
        command = offchain_order.Cancel(
            shares_filled=shares_filled, avg_price_cents=price_cents, reason="partially filled, rest cancelled", at=at
        )
    return finish_execution(order, pos, command)


def finish_execution(
    order: offchain_order.OffchainOrder,
    pos: position.Position,
    command: offchain_order.CompleteFill | offchain_order.Cancel,
) -> list[Change]:
    """End the execution with what its orders filled (``CompleteFill``, or a final ``Cancel``): the
    position is given the totals over every attempt, exactly as the order records them."""
    order_events = offchain_order.decide(order, command)
    after = offchain_order.SPEC.fold(order, order_events)
    if not after.shares_filled.is_positive or after.price_cents is None or after.broker_order_id is None:
        raise InvalidTransition(offchain_order.AGGREGATE, order.execution_id, "nothing filled: fail it instead")
    pos_events = position.decide(
        pos,
        position.CompleteExecution(
            execution_id=ExecutionId(order.execution_id),
            shares_filled=after.shares_filled,
            price_cents=after.price_cents,
            broker_order_id=after.broker_order_id,
            at=command.at,
        ),
    )
    return [Change(offchain_order.SPEC, order.execution_id, tuple(order_events)), *position_changes(pos, pos_events)]


def fail_execution(
    order: offchain_order.OffchainOrder, pos: position.Position, *, error: str, at: datetime
) -> list[Change]:
    """The order failed with nothing filled: the reservation goes back to the position's ``net``."""
    order_events = offchain_order.decide(order, offchain_order.Fail(error=error, at=at))
    pos_events = position.decide(
        pos, position.FailExecution(execution_id=ExecutionId(order.execution_id), error=error, at=at)
    )
    return [Change(offchain_order.SPEC, order.execution_id, tuple(order_events)), *position_changes(pos, pos_events)]
