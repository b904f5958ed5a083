"""Cross-aggregate decisions: a fill, a reorg and a placement are each recorded together, exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from arbtui.domain import flows, offchain_order, onchain_trade, position
from arbtui.domain.errors import InvalidTransition
from arbtui.domain.events import DomainEvent
from arbtui.domain.values import BrokerKind, Symbol
from tests.unit.domain.factory import BUY, SELL, acked, at, ctx, exec_id, fill, lot, placed, tid

RETRACT = onchain_trade.Retract(reorg_depth=1, detected_at_block=5)


def trade_state(*events: onchain_trade.OnChainTradeEvent, n: int = 1) -> onchain_trade.OnChainTrade:
    return onchain_trade.SPEC.fold(onchain_trade.initial(tid(n)), list(events))


def pos_state(*events: position.PositionEvent) -> position.Position:
    return position.SPEC.fold(position.initial("AAPL"), list(events))


def summary(changes: list[flows.Change]) -> list[tuple[str, str, list[DomainEvent]]]:
    return [(c.spec.type_name, c.aggregate_id, list(c.events)) for c in changes]


def test_witness_fill_records_the_trade_and_acknowledges_it_on_its_position() -> None:
    f = fill(1, "0.4")
    changes = flows.witness_fill(trade_state(), pos_state(), f, ctx(5))
    assert summary(changes) == [
        ("OnChainTrade", tid(1), [onchain_trade.Filled(fill=f, at=at())]),
        ("Position", "AAPL", [acked(1, "0.4")]),
    ]


def test_witness_fill_of_a_known_trade_changes_nothing() -> None:
    f = fill(1, "0.4")
    trade = trade_state(onchain_trade.Filled(fill=f, at=at()))
    assert flows.witness_fill(trade, pos_state(acked(1, "0.4")), f, ctx(5)) == []


def test_witness_fill_that_crosses_the_threshold_places_and_creates_the_order_together() -> None:
    f = fill(3, "0.4")
    changes = flows.witness_fill(trade_state(n=3), pos_state(acked(1, "0.3"), acked(2, "0.5")), f, ctx(7))
    expected_order = offchain_order.Placed(
        symbol=Symbol("AAPL"), shares=placed(7, BUY, "1").shares, direction=BUY, broker=BrokerKind.SCHWAB,
        trigger_reason="threshold", at=at(),
    )  # fmt: skip
    assert summary(changes) == [
        ("OnChainTrade", tid(3), [onchain_trade.Filled(fill=f, at=at())]),
        ("Position", "AAPL", [acked(3, "0.4"), placed(7, BUY, "1", lot(1, "-0.3"), lot(2, "-0.5"), lot(3, "-0.2"))]),
        ("OffchainOrder", str(exec_id(7)), [expected_order]),
    ]
    order = offchain_order.SPEC.fold(offchain_order.initial(str(exec_id(7))), [expected_order])
    assert order.status is offchain_order.OrderStatus.PENDING


def test_witness_fill_while_paused_records_without_placing() -> None:
    changes = flows.witness_fill(trade_state(), pos_state(acked(2, "0.9")), fill(1, "0.4"), ctx(allowed=False))
    assert [c.spec.type_name for c in changes] == ["OnChainTrade", "Position"]
    assert changes[1].events == (acked(1, "0.4"),)


def test_retract_fill_reverses_the_position_once() -> None:
    f = fill(1, "0.4", SELL)
    trade = trade_state(onchain_trade.Filled(fill=f, at=at()))
    pos = pos_state(acked(1, "0.4"), acked(2, "0.3"))
    changes = flows.retract_fill(trade, pos, RETRACT, at(9))
    reversed_ = position.OnChainFillReversed(trade_id=tid(1), direction=SELL, amount=f.amount, at=at(9))
    assert summary(changes) == [
        ("OnChainTrade", tid(1), [onchain_trade.Reorged(reorg_depth=1, detected_at_block=5)]),
        ("Position", "AAPL", [reversed_]),
    ]
    after = position.SPEC.fold(pos, [reversed_])
    assert after.net == pos_state(acked(2, "0.3")).net
    # the second retraction of the same trade changes nothing
    flagged = onchain_trade.SPEC.fold(trade, [onchain_trade.Reorged(reorg_depth=1, detected_at_block=5)])
    assert flows.retract_fill(flagged, after, RETRACT, at(10)) == []


def test_retract_fill_of_an_unknown_trade_is_rejected() -> None:
    with pytest.raises(InvalidTransition, match="cannot retract"):
        flows.retract_fill(trade_state(), pos_state(), RETRACT, at())


def test_refill_after_reorg_acknowledges_again() -> None:
    f = fill(1, "0.4")
    trade = trade_state(
        onchain_trade.Filled(fill=f, at=at()), onchain_trade.Reorged(reorg_depth=1, detected_at_block=5)
    )
    pos = pos_state(
        acked(1, "0.4"), position.OnChainFillReversed(trade_id=tid(1), direction=SELL, amount=f.amount, at=at())
    )
    changes = flows.witness_fill(trade, pos, f, ctx())
    assert [c.spec.type_name for c in changes] == ["OnChainTrade", "Position"]
    assert (
        position.SPEC.fold(pos, [e for e in changes[1].events if isinstance(e, position.OnChainFillAcknowledged)]).net
        == pos_state(acked(1, "0.4")).net
    )


def test_position_changes_creates_an_order_per_placement_and_nothing_for_no_events() -> None:
    pos = pos_state(acked(1, "2.5", BUY))
    events: list[position.PositionEvent] = [placed(4, SELL, "2", lot(1, "2"), reason="manual")]
    changes = flows.position_changes(pos, events)
    assert [(c.spec.type_name, c.aggregate_id) for c in changes] == [
        ("Position", "AAPL"),
        ("OffchainOrder", str(exec_id(4))),
    ]
    order_events: Any = changes[1].events
    assert order_events[0].trigger_reason == "manual"
    assert order_events[0].direction is SELL
    assert flows.position_changes(pos, []) == []
