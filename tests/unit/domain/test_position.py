"""Position: batching with a signed carry, reservations, FIFO lots, manual hedges, reversals, thresholds."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbtui.domain import position
from arbtui.domain.errors import ExecutionPending, InvalidCommand, UnknownExecution
from arbtui.domain.position import SPEC, Threshold, ThresholdKind, decide
from arbtui.domain.values import Audit, BrokerKind, Direction, PriceUsdc, Shares
from tests.unit.domain.factory import (
    BUY,
    SELL,
    ack,
    acked,
    at,
    complete,
    completed,
    ctx,
    exec_id,
    fail,
    failed,
    lot,
    placed,
    tid,
)
from tests.unit.domain.gwt import given

SYMBOL = "AAPL"
DOLLARS = Threshold(kind=ThresholdKind.DOLLARS)


def check_identity(state: position.Position) -> None:
    """Σ signed fills == hedged + reserved + net; lots sum to net and share one sign."""
    assert state.filled_net == state.hedged + state.reserved + state.net
    assert sum((x.shares for x in state.lots), Shares.zero()) == state.net
    assert len({x.shares.is_positive for x in state.lots}) <= 1
    assert all(not x.shares.is_zero for x in state.lots)


def manual(
    n: int, direction: Direction, shares: str, *, actor: str = "alice", reason: str = "rebalance"
) -> position.PlaceManualHedge:
    return position.PlaceManualHedge(
        direction=direction,
        shares=Shares(shares),
        broker=BrokerKind.SCHWAB,
        execution_id=exec_id(n),
        audit=Audit(actor=actor, reason=reason, at=at()),
    )


def reverse(n: int, amount: str, direction: Direction = SELL) -> position.ReverseFill:
    return position.ReverseFill(trade_id=tid(n), direction=direction, amount=Shares(amount), at=at())


def reversed_(n: int, amount: str, direction: Direction = SELL) -> position.OnChainFillReversed:
    return position.OnChainFillReversed(trade_id=tid(n), direction=direction, amount=Shares(amount), at=at())


def check(reason: str = "periodic", *, n: int = 7, allowed: bool = True) -> position.CheckThreshold:
    return position.CheckThreshold(reason=reason, context=ctx(n, allowed=allowed))


# --- batching with a signed carry -------------------------------------------------------------


def test_three_sells_batch_into_one_buy_of_exactly_one_share_with_carry() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.3"), acked(2, "0.5"))
        .when(decide, ack(3, "0.4", context=ctx(7)))
        .then(acked(3, "0.4"), placed(7, BUY, "1", lot(1, "-0.3"), lot(2, "-0.5"), lot(3, "-0.2")))
    )
    assert state.net == Shares("-0.2")
    assert str(state.net) == "-0.2"
    assert state.net.value == Decimal("-0.2")
    assert state.lots == (lot(3, "-0.2"),)
    assert state.pending is not None
    assert state.pending.execution_id == exec_id(7)
    assert state.pending.shares == Shares(1)
    assert state.reserved == Shares(-1)
    assert state.accumulated_short == Shares("1.2")
    assert state.accumulated_long == Shares.zero()
    assert {c.source: abs(c.shares) for c in state.pending.contributions} == {
        tid(1): Shares("0.3"),
        tid(2): Shares("0.5"),
        tid(3): Shares("0.2"),
    }
    check_identity(state)


def test_fills_below_one_share_do_not_place() -> None:
    state = given(SPEC, SYMBOL, acked(1, "0.3"), acked(2, "0.5")).when(decide, ack(3, "0.1")).then(acked(3, "0.1"))
    assert state.net == Shares("-0.9")
    assert state.pending is None
    check_identity(state)


def test_three_buys_batch_into_one_sell_with_positive_carry() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.3", BUY), acked(2, "0.5", BUY))
        .when(decide, ack(3, "0.4", BUY, context=ctx(8)))
        .then(acked(3, "0.4", BUY), placed(8, SELL, "1", lot(1, "0.3"), lot(2, "0.5"), lot(3, "0.2")))
    )
    assert state.net == Shares("0.2")
    assert state.reserved == Shares(1)
    assert state.accumulated_long == Shares("1.2")
    check_identity(state)


def test_whole_share_multiple_places_floor_and_keeps_the_fraction() -> None:
    state = (
        given(SPEC, SYMBOL)
        .when(decide, ack(1, "3.75", context=ctx(2)))
        .then(acked(1, "3.75"), placed(2, BUY, "3", lot(1, "-3")))
    )
    assert state.net == Shares("-0.75")
    assert state.lots == (lot(1, "-0.75"),)


def test_exactly_one_share_places_and_leaves_nothing() -> None:
    state = (
        given(SPEC, SYMBOL).when(decide, ack(1, "1", BUY)).then(acked(1, "1", BUY), placed(1, SELL, "1", lot(1, "1")))
    )
    assert state.net.is_zero
    assert state.lots == ()


def test_opposite_fills_net_out_oldest_first() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.7"), acked(2, "0.4"))
        .when(decide, ack(3, "0.9", BUY))
        .then(acked(3, "0.9", BUY))
    )
    assert state.net == Shares("-0.2")
    assert state.lots == (lot(2, "-0.2"),)
    check_identity(state)


def test_zero_or_negative_fill_is_an_invalid_command() -> None:
    given(SPEC, SYMBOL).when(decide, ack(1, "0")).then_raises(InvalidCommand, match="positive")
    given(SPEC, SYMBOL).when(decide, ack(1, "-1")).then_raises(InvalidCommand, match="positive")


# --- fills are facts: applied while pending and while paused -----------------------------------

PENDING_BUY_1 = (
    acked(1, "0.3"),
    acked(2, "0.5"),
    acked(3, "0.4"),
    placed(7, BUY, "1", lot(1, "-0.3"), lot(2, "-0.5"), lot(3, "-0.2")),
)


def test_fill_while_an_execution_is_pending_is_applied_without_a_placement() -> None:
    state = given(SPEC, SYMBOL, *PENDING_BUY_1).when(decide, ack(4, "2.5", context=ctx(8))).then(acked(4, "2.5"))
    assert state.net == Shares("-2.7")
    assert state.pending is not None
    assert state.pending.execution_id == exec_id(7)
    check_identity(state)


def test_fill_while_paused_is_applied_without_a_placement() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.9"))
        .when(decide, ack(2, "1.6", context=ctx(allowed=False)))
        .then(acked(2, "1.6"))
    )
    assert state.net == Shares("-2.5")
    assert state.pending is None
    check_identity(state)


def test_check_threshold_places_after_resume() -> None:
    history = (acked(1, "0.9"), acked(2, "1.6"))
    given(SPEC, SYMBOL, *history).when(decide, check(allowed=False)).then_nothing()
    state = (
        given(SPEC, SYMBOL, *history)
        .when(decide, check("resume", n=9))
        .then(placed(9, BUY, "2", lot(1, "-0.9"), lot(2, "-1.1"), reason="resume"))
    )
    assert state.net == Shares("-0.5")
    assert state.lots == (lot(2, "-0.5"),)


def test_check_threshold_with_nothing_to_do_or_something_pending_emits_nothing() -> None:
    given(SPEC, SYMBOL, acked(1, "0.99")).when(decide, check()).then_nothing()
    given(SPEC, SYMBOL, *PENDING_BUY_1, acked(4, "5")).when(decide, check(n=8)).then_nothing()


# --- execution outcomes -------------------------------------------------------------------------


def test_complete_turns_the_reservation_into_hedged_shares() -> None:
    state = given(SPEC, SYMBOL, *PENDING_BUY_1).when(decide, complete(7, "1")).then(completed(7, "1"))
    assert state.pending is None
    assert state.hedged == Shares(-1)
    assert state.net == Shares("-0.2")
    assert state.lots == (lot(3, "-0.2"),)
    assert state.last_hedge_at == at()
    check_identity(state)


def test_complete_a_sell_hedges_positive_exposure() -> None:
    history = (acked(1, "1.5", BUY), placed(2, SELL, "1", lot(1, "1")))
    state = given(SPEC, SYMBOL, *history).when(decide, complete(2, "1")).then(completed(2, "1"))
    assert state.hedged == Shares(1)
    assert state.net == Shares("0.5")
    check_identity(state)


PENDING_BUY_2 = (acked(1, "1.2"), acked(2, "1.3"), placed(7, BUY, "2", lot(1, "-1.2"), lot(2, "-0.8")))


def test_partial_complete_hedges_what_filled_and_returns_the_rest_to_net() -> None:
    state = given(SPEC, SYMBOL, *PENDING_BUY_2).when(decide, complete(7, "1.5")).then(completed(7, "1.5"))
    assert state.hedged == Shares("-1.5")
    assert state.net == Shares("-1.0")
    assert state.lots == (lot(2, "-1.0"),)
    assert state.pending is None
    check_identity(state)


def test_failed_execution_returns_the_whole_reservation_and_nothing_is_lost() -> None:
    state = (
        given(SPEC, SYMBOL, *PENDING_BUY_2).when(decide, fail(7, "broker said no")).then(failed(7, "broker said no"))
    )
    assert state.pending is None
    assert state.hedged.is_zero
    assert state.net == Shares("-2.5")
    assert state.lots == (lot(1, "-1.2"), lot(2, "-1.3"))
    check_identity(state)
    # the next fill triggers again, for the whole amount
    given(SPEC, SYMBOL, *PENDING_BUY_2, failed(7)).when(decide, ack(3, "0.1", context=ctx(8))).then(
        acked(3, "0.1"), placed(8, BUY, "2", lot(1, "-1.2"), lot(2, "-0.8"))
    )
    # and so does the periodic checker
    given(SPEC, SYMBOL, *PENDING_BUY_2, failed(7)).when(decide, check("after failure", n=8)).then(
        placed(8, BUY, "2", lot(1, "-1.2"), lot(2, "-0.8"), reason="after failure")
    )


def test_fills_during_a_failed_execution_are_kept_behind_the_returned_shares() -> None:
    state = given(SPEC, SYMBOL, *PENDING_BUY_2, acked(3, "0.4")).when(decide, fail(7)).then(failed(7))
    assert state.lots == (lot(1, "-1.2"), lot(2, "-1.3"), lot(3, "-0.4"))
    assert state.net == Shares("-2.9")
    check_identity(state)


@pytest.mark.parametrize(
    "history",
    [pytest.param((), id="nothing-pending"), pytest.param(PENDING_BUY_2, id="other-pending")],
)
def test_complete_or_fail_of_an_unknown_execution_is_rejected(history: tuple[position.PositionEvent, ...]) -> None:
    given(SPEC, SYMBOL, *history).when(decide, complete(99, "1")).then_raises(UnknownExecution, match="not pending")
    given(SPEC, SYMBOL, *history).when(decide, fail(99)).then_raises(UnknownExecution, match="not pending")


def test_completing_twice_is_rejected() -> None:
    given(SPEC, SYMBOL, *PENDING_BUY_2, completed(7, "2")).when(decide, complete(7, "2")).then_raises(UnknownExecution)
    given(SPEC, SYMBOL, *PENDING_BUY_2, failed(7)).when(decide, fail(7)).then_raises(UnknownExecution)


@pytest.mark.parametrize("filled", ["2.000000000000000001", "3", "0", "-1"])
def test_overfill_or_non_positive_fill_is_an_invalid_command(filled: str) -> None:
    given(SPEC, SYMBOL, *PENDING_BUY_2).when(decide, complete(7, filled)).then_raises(InvalidCommand, match="filled")


# --- manual hedges ------------------------------------------------------------------------------


def test_manual_hedge_takes_shares_from_the_oldest_fills() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.5"), acked(2, "0.4"))
        .when(decide, manual(5, BUY, "0.6"))
        .then(placed(5, BUY, "0.6", lot(1, "-0.5"), lot(2, "-0.1"), reason="manual"))
    )
    assert state.net == Shares("-0.3")
    assert state.reserved == Shares("-0.6")
    check_identity(state)


def test_manual_hedge_while_pending_is_rejected() -> None:
    given(SPEC, SYMBOL, *PENDING_BUY_2).when(decide, manual(5, BUY, "1")).then_raises(ExecutionPending, match="flight")


@pytest.mark.parametrize("shares", ["0", "-1"])
def test_manual_hedge_without_positive_shares_is_rejected(shares: str) -> None:
    given(SPEC, SYMBOL, acked(1, "3")).when(decide, manual(5, BUY, shares)).then_raises(
        InvalidCommand, match="positive"
    )


@pytest.mark.parametrize(("actor", "reason"), [("alice", ""), ("alice", "   "), ("", "why"), (" ", "why")])
def test_manual_hedge_needs_actor_and_reason(actor: str, reason: str) -> None:
    given(SPEC, SYMBOL, acked(1, "3")).when(decide, manual(5, BUY, "1", actor=actor, reason=reason)).then_raises(
        InvalidCommand, match="actor and reason"
    )


def test_manual_over_hedge_beyond_net_creates_opposite_exposure() -> None:
    history = (acked(1, "0.5"),)
    state = (
        given(SPEC, SYMBOL, *history)
        .when(decide, manual(5, BUY, "2"))
        .then(placed(5, BUY, "2", lot(1, "-0.5"), reason="manual"))
    )
    assert state.net == Shares("1.5")
    assert state.reserved == Shares(-2)
    assert state.lots == (lot("manual:over-hedge", "1.5"),)
    check_identity(state)
    assert state.pending is not None
    assert sum((c.shares for c in state.pending.contributions), Shares.zero()) == Shares(-2)

    state_event = placed(5, BUY, "2", lot(1, "-0.5"), reason="manual")
    done = given(SPEC, SYMBOL, *history, state_event)
    filled = done.when(decide, complete(5, "2")).then(completed(5, "2"))
    assert filled.hedged == Shares(-2)
    assert filled.net == Shares("1.5")
    check_identity(filled)
    # a failed over-hedge restores the position exactly
    back = given(SPEC, SYMBOL, *history, state_event).when(decide, fail(5)).then(failed(5))
    assert back.net == Shares("-0.5")
    assert back.lots == (lot(1, "-0.5"),)
    check_identity(back)


def test_manual_hedge_against_the_direction_of_net() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.5"))
        .when(decide, manual(5, SELL, "1"))
        .then(placed(5, SELL, "1", reason="manual"))
    )
    assert state.net == Shares("-1.5")
    check_identity(state)


# --- reversals (reorgs) ---------------------------------------------------------------------------


def test_reverse_fill_removes_its_unhedged_lot() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.3"), acked(2, "0.5")).when(decide, reverse(1, "0.3")).then(reversed_(1, "0.3"))
    )
    assert state.net == Shares("-0.5")
    assert state.lots == (lot(2, "-0.5"),)
    assert state.accumulated_short == Shares("0.5")
    check_identity(state)


def test_reverse_a_buy() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.8", BUY)).when(decide, reverse(1, "0.8", BUY)).then(reversed_(1, "0.8", BUY))
    )
    assert state.net.is_zero
    assert state.accumulated_long.is_zero
    assert state.lots == ()


def test_reverse_of_an_already_hedged_fill_creates_exposure_hedged_back() -> None:
    history = (acked(1, "1.2"), placed(2, BUY, "1", lot(1, "-1")), completed(2, "1"))
    state = given(SPEC, SYMBOL, *history).when(decide, reverse(1, "1.2")).then(reversed_(1, "1.2"))
    assert state.net == Shares(1)
    assert state.hedged == Shares(-1)
    assert state.lots == (lot(1, "1"),)
    check_identity(state)
    given(SPEC, SYMBOL, *history, reversed_(1, "1.2")).when(decide, check("reorg", n=3)).then(
        placed(3, SELL, "1", lot(1, "1"), reason="reorg")
    )


# --- thresholds -------------------------------------------------------------------------------


def test_dollar_threshold_places_all_fractional_shares_once_worth_a_dollar() -> None:
    state = (
        given(SPEC, SYMBOL, position.ThresholdUpdated(threshold=DOLLARS, at=at()))
        .when(decide, ack(1, "0.37", price="10", context=ctx(4, broker=BrokerKind.ALPACA)))
        .then(acked(1, "0.37", price="10"), placed(4, BUY, "0.37", lot(1, "-0.37"), broker=BrokerKind.ALPACA))
    )
    assert state.net.is_zero


def test_dollar_threshold_below_a_dollar_does_not_place() -> None:
    state = (
        given(SPEC, SYMBOL, position.ThresholdUpdated(threshold=DOLLARS, at=at()))
        .when(decide, ack(1, "0.05", price="10"))
        .then(acked(1, "0.05", price="10"))
    )
    assert state.net == Shares("-0.05")


def test_dollar_threshold_exactly_one_dollar_places() -> None:
    given(SPEC, SYMBOL, position.ThresholdUpdated(threshold=DOLLARS, at=at())).when(
        decide, ack(1, "0.1", BUY, price="10", context=ctx(4))
    ).then(acked(1, "0.1", BUY, price="10"), placed(4, SELL, "0.1", lot(1, "0.1")))


def test_dollar_threshold_rounds_toward_zero_to_the_quantum() -> None:
    state = (
        given(SPEC, SYMBOL, position.ThresholdUpdated(threshold=DOLLARS, at=at()))
        .when(decide, ack(1, "0.1234567891234", price="100", context=ctx(4)))
        .then(
            acked(1, "0.1234567891234", price="100"),
            placed(4, BUY, "0.123456789", lot(1, "-0.123456789")),
        )
    )
    assert state.net == Shares("-0.0000000001234")
    check_identity(state)


def test_hedge_size_without_a_price_is_zero() -> None:
    assert DOLLARS.hedge_size(Shares("-50"), None) == Shares.zero()
    assert DOLLARS.hedge_size(Shares("-50"), PriceUsdc("10")) == Shares("-50")
    assert Threshold().hedge_size(Shares("-2.5"), None) == Shares(-2)
    assert Threshold().hedge_size(Shares("0.999999999999999999"), PriceUsdc("1000")) == Shares.zero()


def test_update_threshold_records_a_change_and_ignores_the_same_value() -> None:
    cmd = position.UpdateThreshold(threshold=DOLLARS, at=at())
    state = given(SPEC, SYMBOL).when(decide, cmd).then(position.ThresholdUpdated(threshold=DOLLARS, at=at()))
    assert state.threshold.kind is ThresholdKind.DOLLARS
    given(SPEC, SYMBOL, position.ThresholdUpdated(threshold=DOLLARS, at=at())).when(decide, cmd).then_nothing()
    given(SPEC, SYMBOL).when(decide, position.UpdateThreshold(threshold=Threshold(), at=at())).then_nothing()


def test_threshold_change_does_not_place_by_itself() -> None:
    state = (
        given(SPEC, SYMBOL, acked(1, "0.5", price="10"))
        .when(decide, position.UpdateThreshold(threshold=DOLLARS, at=at()))
        .then(position.ThresholdUpdated(threshold=DOLLARS, at=at()))
    )
    assert state.pending is None
    given(SPEC, SYMBOL, acked(1, "0.5", price="10"), position.ThresholdUpdated(threshold=DOLLARS, at=at())).when(
        decide, check(n=3)
    ).then(placed(3, BUY, "0.5", lot(1, "-0.5"), reason="periodic"))


# --- known defects ----------------------------------------------------------------------------


def test_fail_after_reversal_does_not_attribute_exposure_to_the_reversed_trade() -> None:
    history = (
        acked(1, "0.6"),
        acked(2, "0.6"),
        placed(7, BUY, "1", lot(1, "-0.6"), lot(2, "-0.4")),
        reversed_(1, "0.6"),
    )
    state = given(SPEC, SYMBOL, *history).when(decide, fail(7)).then(failed(7))
    check_identity(state)
    assert state.net == Shares("-0.6")  # only trade 2 remains
    assert state.lots == (lot(2, "-0.6"),)
