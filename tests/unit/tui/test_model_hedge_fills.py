"""The console's view counts the hedge fills the bus reports — the inventory pane reads the venues again
when the count moves: a broker fill, whole or partial, counts; a placement, a submission, a failure or an
onchain fill does not."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from arbtui.domain import offchain_order, onchain_trade
from arbtui.domain.events import DomainEvent
from arbtui.domain.offchain_order import OrderFailed, OrderFilled, PartiallyFilled, Placed, Submitted
from arbtui.domain.values import BrokerKind, Cents, Direction, Shares, Symbol
from arbtui.engine.messages import Committed, CommittedChange
from arbtui.tui.model import ConsoleView, fold

AT = datetime(2026, 1, 2, 15, 0, tzinfo=UTC)
EXECUTION = "e0000001-0000-4000-8000-000000000000"


def order_commit(version: int, *events: DomainEvent) -> Committed:
    state = offchain_order.initial(EXECUTION)
    return Committed((CommittedChange(offchain_order.AGGREGATE, EXECUTION, version, state, tuple(events)),))


def counted(*messages: Committed) -> int:
    view = ConsoleView()
    for message in messages:
        view = fold(view, message, lambda: AT)
    return view.hedge_fills


def test_a_broker_fill_whole_or_partial_counts_once_per_commit() -> None:
    placed = Placed(
        symbol=Symbol("AAPL"), shares=Shares("2"), direction=Direction.BUY, broker=BrokerKind.ALPACA,
        trigger_reason="threshold", at=AT,
    )  # fmt: skip
    partial = PartiallyFilled(shares_filled=Shares("1"), avg_price_cents=Cents(Decimal(23140)), at=AT)
    filled = OrderFilled(shares_filled=Shares("2"), price_cents=Cents(Decimal(23140)), at=AT)
    assert counted(order_commit(1, placed), order_commit(2, Submitted(broker_order_id="b-1", at=AT))) == 0
    assert counted(order_commit(3, partial)) == 1
    assert counted(order_commit(3, partial), order_commit(4, filled)) == 2
    assert counted(order_commit(2, OrderFailed(error="rejected", at=AT))) == 0


def test_an_onchain_fill_is_not_a_hedge_fill() -> None:
    change = CommittedChange(onchain_trade.AGGREGATE, "0xabc:0", 1, onchain_trade.initial("0xabc:0"), ())
    assert counted(Committed((change,))) == 0
