"""OffchainOrder: every allowed transition of the state machine and every rejected one."""

from __future__ import annotations

import pytest

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.offchain_order import (
    SPEC,
    Cancel,
    CompleteFill,
    ConfirmSubmission,
    Fail,
    OffchainOrderCommand,
    OffchainOrderEvent,
    OrderCancelled,
    OrderFailed,
    OrderFilled,
    OrderStatus,
    PartiallyFilled,
    Place,
    Placed,
    Submitted,
    UpdatePartialFill,
    decide,
    initial,
)
from arbtui.domain.values import BrokerKind, Cents, Direction, Shares, Symbol
from tests.unit.domain.factory import BUY, SELL, at, exec_id, order_placed
from tests.unit.domain.gwt import given

ID = str(exec_id(1))
PLACED = order_placed("2")
SUBMITTED = Submitted(broker_order_id="B-1", at=at(1))
PARTIAL = PartiallyFilled(shares_filled=Shares("0.5"), avg_price_cents=Cents("18712.5"), at=at(2))
FILLED = OrderFilled(shares_filled=Shares(2), price_cents=Cents("18700"), at=at(3))
FAILED = OrderFailed(error="rejected", at=at(3))
CANCELLED = OrderCancelled(shares_filled=Shares("0.5"), avg_price_cents=Cents("18712.5"), reason="expired", at=at(3))

S = OrderStatus
HISTORIES: dict[OrderStatus | None, tuple[OffchainOrderEvent, ...]] = {
    None: (),
    S.PENDING: (PLACED,),
    S.SUBMITTED: (PLACED, SUBMITTED),
    S.PARTIALLY_FILLED: (PLACED, SUBMITTED, PARTIAL),
    S.FILLED: (PLACED, SUBMITTED, FILLED),
    S.FAILED: (PLACED, FAILED),
    S.CANCELLED: (PLACED, SUBMITTED, PARTIAL, CANCELLED),
}


def place(shares: str = "2", broker: BrokerKind = BrokerKind.SCHWAB, direction: Direction = BUY) -> Place:
    return Place(
        symbol=Symbol("AAPL"),
        shares=Shares(shares),
        direction=direction,
        broker=broker,
        trigger_reason="threshold",
        at=at(),
    )


def update(filled: str) -> UpdatePartialFill:
    return UpdatePartialFill(shares_filled=Shares(filled), avg_price_cents=Cents("18700"), at=at(2))


def cancel(filled: str) -> Cancel:
    return Cancel(shares_filled=Shares(filled), avg_price_cents=Cents("18712.5"), reason="expired", at=at(3))


COMMANDS: dict[str, OffchainOrderCommand] = {
    "Place": place(),
    "ConfirmSubmission": ConfirmSubmission(broker_order_id="B-1", at=at(1)),
    "UpdatePartialFill": update("1"),
    "CompleteFill": CompleteFill(price_cents=Cents("18700"), at=at(3)),
    "Fail": Fail(error="rejected", at=at(3)),
    "Cancel": cancel("1"),
}

ALLOWED: dict[tuple[OrderStatus | None, str], tuple[OffchainOrderEvent, ...]] = {
    (None, "Place"): (PLACED,),
    (S.PENDING, "ConfirmSubmission"): (SUBMITTED,),
    (S.PENDING, "Fail"): (FAILED,),
    (S.SUBMITTED, "ConfirmSubmission"): (),
    (S.SUBMITTED, "UpdatePartialFill"): (
        PartiallyFilled(shares_filled=Shares(1), avg_price_cents=Cents("18700"), at=at(2)),
    ),
    (S.SUBMITTED, "CompleteFill"): (FILLED,),
    (S.SUBMITTED, "Fail"): (FAILED,),
    (S.SUBMITTED, "Cancel"): (
        OrderCancelled(shares_filled=Shares(1), avg_price_cents=Cents("18712.5"), reason="expired", at=at(3)),
    ),
    (S.PARTIALLY_FILLED, "ConfirmSubmission"): (),
    (S.PARTIALLY_FILLED, "UpdatePartialFill"): (
        PartiallyFilled(shares_filled=Shares(1), avg_price_cents=Cents("18700"), at=at(2)),
    ),
    (S.PARTIALLY_FILLED, "CompleteFill"): (FILLED,),
    (S.PARTIALLY_FILLED, "Cancel"): (
        OrderCancelled(shares_filled=Shares(1), avg_price_cents=Cents("18712.5"), reason="expired", at=at(3)),
    ),
}

EXPECTED_STATUS = {
    "Placed": S.PENDING,
    "Submitted": S.SUBMITTED,
    "PartiallyFilled": S.PARTIALLY_FILLED,
    "OrderFilled": S.FILLED,
    "OrderFailed": S.FAILED,
    "OrderCancelled": S.CANCELLED,
}

ALL_CASES = [(status, name) for status in HISTORIES for name in COMMANDS]


@pytest.mark.parametrize(("status", "command"), [c for c in ALL_CASES if c in ALLOWED], ids=str)
def test_allowed_transition(status: OrderStatus | None, command: str) -> None:
    expected = ALLOWED[(status, command)]
    state = given(SPEC, ID, *HISTORIES[status]).when(decide, COMMANDS[command]).then(*expected)
    if expected:
        assert state.status is EXPECTED_STATUS[expected[-1].event_type()]
    else:
        assert state.status is status


@pytest.mark.parametrize(("status", "command"), [c for c in ALL_CASES if c not in ALLOWED], ids=str)
def test_rejected_transition(status: OrderStatus | None, command: str) -> None:
    given(SPEC, ID, *HISTORIES[status]).when(decide, COMMANDS[command]).then_raises(
        InvalidTransition, match=f"{command} rejected"
    )


def test_every_terminal_state_rejects_every_command() -> None:
    terminal = [status for status in HISTORIES if status is not None and status.is_terminal]
    assert set(terminal) == {S.FILLED, S.FAILED, S.CANCELLED}
    for status in terminal:
        for command in COMMANDS.values():
            given(SPEC, ID, *HISTORIES[status]).when(decide, command).then_raises(InvalidTransition)


def test_placed_state_carries_the_order() -> None:
    state = given(SPEC, ID).when(decide, place("3", direction=SELL)).then(order_placed("3", SELL))
    assert state.status is S.PENDING
    assert state.shares == Shares(3)
    assert state.direction is SELL
    assert state.symbol == "AAPL"
    assert state.broker is BrokerKind.SCHWAB


def test_complete_fill_fills_the_whole_order_at_the_average_price() -> None:
    state = given(SPEC, ID, PLACED, SUBMITTED, PARTIAL).when(decide, COMMANDS["CompleteFill"]).then(FILLED)
    assert state.shares_filled == Shares(2)
    assert state.price_cents == Cents("18700")
    assert state.completed_at == at(3)


def test_confirm_same_broker_id_twice_is_a_no_op_and_another_id_is_rejected() -> None:
    history = (PLACED, SUBMITTED)
    given(SPEC, ID, *history).when(decide, ConfirmSubmission(broker_order_id="B-1", at=at(9))).then_nothing()
    given(SPEC, ID, *history).when(decide, ConfirmSubmission(broker_order_id="B-2", at=at(9))).then_raises(
        InvalidTransition, match="already submitted as B-1"
    )


def test_fail_after_a_partial_fill_is_rejected() -> None:
    given(SPEC, ID, PLACED, SUBMITTED, PARTIAL).when(decide, COMMANDS["Fail"]).then_raises(
        InvalidTransition, match="already filled"
    )


@pytest.mark.parametrize("shares", ["1.5", "0.000000001", "2.000000000000000001"])
def test_schwab_refuses_fractional_shares_at_place(shares: str) -> None:
    given(SPEC, ID).when(decide, place(shares)).then_raises(InvalidCommand, match="whole shares")


@pytest.mark.parametrize("broker", [BrokerKind.ALPACA, BrokerKind.DRY_RUN])
def test_fractional_brokers_accept_fractional_shares(broker: BrokerKind) -> None:
    given(SPEC, ID).when(decide, place("0.37", broker)).then(order_placed("0.37", broker=broker))


@pytest.mark.parametrize("shares", ["0", "-1"])
def test_place_needs_positive_shares(shares: str) -> None:
    given(SPEC, ID).when(decide, place(shares)).then_raises(InvalidCommand, match="positive")


@pytest.mark.parametrize("filled", ["0.5", "0.4", "2", "2.5"])
def test_partial_fills_must_grow_and_stay_below_the_order(filled: str) -> None:
    history = (PLACED, SUBMITTED, PARTIAL)
    if filled == "0.5":  # the same report again is a no-op
        given(SPEC, ID, *history).when(decide, update(filled)).then_nothing()
    else:
        given(SPEC, ID, *history).when(decide, update(filled)).then_raises(InvalidCommand, match="must grow")


def test_partial_fills_accumulate() -> None:
    state = (
        given(SPEC, ID, PLACED, SUBMITTED, PARTIAL)
        .when(decide, update("1.25"))
        .then(PartiallyFilled(shares_filled=Shares("1.25"), avg_price_cents=Cents("18700"), at=at(2)))
    )
    assert state.shares_filled == Shares("1.25")


@pytest.mark.parametrize("filled", ["0.4", "2", "3"])
def test_cancel_cannot_shrink_the_fill_or_reach_the_order_size(filled: str) -> None:
    given(SPEC, ID, PLACED, SUBMITTED, PARTIAL).when(decide, cancel(filled)).then_raises(
        InvalidCommand, match="cancelled with"
    )


def test_cancel_with_nothing_filled_is_allowed_once_submitted() -> None:
    state = (
        given(SPEC, ID, PLACED, SUBMITTED)
        .when(decide, cancel("0"))
        .then(OrderCancelled(shares_filled=Shares(0), avg_price_cents=Cents("18712.5"), reason="expired", at=at(3)))
    )
    assert state.status is S.CANCELLED


def test_initial_requires_an_execution_id() -> None:
    with pytest.raises(ValueError, match="UUID"):
        initial("not-a-uuid")
    assert initial(ID).status is None


def test_placed_event_serialises_amounts_as_strings() -> None:
    payload = order_placed("0.37", broker=BrokerKind.ALPACA).model_dump(mode="json")
    assert payload["shares"] == "0.37"
    assert payload["direction"] == "BUY"
    assert payload["broker"] == "alpaca"
    assert Placed.model_validate(payload) == order_placed("0.37", broker=BrokerKind.ALPACA)
