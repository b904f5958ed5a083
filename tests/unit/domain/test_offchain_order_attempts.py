"""OffchainOrder attempts (after-hours hedging): every transition of an attempt, the rejects, exact
accumulation across attempts, and the old one-market-order streams unchanged."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given as for_all
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.hedging_policy import HedgeOrderKind
from arbtui.domain.offchain_order import (
    SPEC,
    AttemptEnded,
    AttemptPartiallyFilled,
    AttemptPhase,
    AttemptPrepared,
    Cancel,
    CancelRequested,
    CompleteFill,
    ConfirmSubmission,
    EndAttempt,
    Fail,
    OffchainOrderCommand,
    OffchainOrderEvent,
    OrderCancelled,
    OrderFailed,
    OrderFilled,
    OrderStatus,
    PrepareAttempt,
    RequestCancel,
    Submitted,
    UpdatePartialFill,
    attempt_client_id,
    decide,
    initial,
)
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import DIVISION, BrokerKind, Cents, PriceUsdc, Shares, Usdc
from tests.unit.domain.factory import at, exec_id, order_placed
from tests.unit.domain.gwt import given

ID = str(exec_id(7))
PLACED = order_placed("10", broker=BrokerKind.ALPACA)
LIMIT = HedgeOrderKind.LIMIT
MARKET = HedgeOrderKind.MARKET
POST = MarketSession.POST


def prepare(
    price: str | None = "187.50", kind: HedgeOrderKind = LIMIT, session: MarketSession = POST
) -> PrepareAttempt:
    return PrepareAttempt(kind=kind, session=session, limit_price=None if price is None else PriceUsdc(price), at=at(1))


def prepared(n: int, shares: str, price: str | None = "187.50", kind: HedgeOrderKind = LIMIT) -> AttemptPrepared:
    return AttemptPrepared(
        attempt=n,
        kind=kind,
        shares=Shares(shares),
        limit_price=None if price is None else PriceUsdc(price),
        session=POST if kind is LIMIT else MarketSession.REGULAR,
        client_order_id=attempt_client_id(ID, n) if kind is LIMIT else ID,
        at=at(1),
    )


def end(filled: str, price: str | None = "18700") -> EndAttempt:
    return EndAttempt(
        shares_filled=Shares(filled),
        avg_price_cents=None if price is None else Cents(price),
        reason="cancelled",
        at=at(5),
    )


def ended(n: int, filled: str, price: str | None = "18700") -> AttemptEnded:
    return AttemptEnded(
        attempt=n,
        shares_filled=Shares(filled),
        avg_price_cents=None if price is None else Cents(price),
        reason="cancelled",
        at=at(5),
    )


SUB1 = Submitted(broker_order_id="B-1", at=at(2))
SUB2 = Submitted(broker_order_id="B-2", at=at(6))
P1 = prepared(1, "10")
# attempt 1: 4 of 10 filled at $187.00, cancelled; attempt 2 for the 6 left
FIRST_ENDED = (PLACED, P1, SUB1, CancelRequested(attempt=1, reason="reprice", at=at(4)), ended(1, "4"))
P2 = prepared(2, "6", "188.00")
S = OrderStatus


# --- the happy paths ---------------------------------------------------------------------------


def test_a_pending_order_prepares_attempt_one_for_the_whole_execution() -> None:
    state = given(SPEC, ID, PLACED).when(decide, prepare()).then(P1)
    assert state.status is S.PENDING
    assert state.attempt == 1
    assert state.attempt_phase is AttemptPhase.PREPARED
    assert state.client_order_id == f"{ID}-1"
    assert state.order_kind is LIMIT
    assert state.limit_price == PriceUsdc("187.50")
    assert state.session is POST
    assert state.attempt_at == at(1)
    assert state.live_attempt


def test_confirmation_puts_the_attempt_at_the_broker_and_a_repeat_is_a_no_op() -> None:
    state = given(SPEC, ID, PLACED, P1).when(decide, ConfirmSubmission(broker_order_id="B-1", at=at(2))).then(SUB1)
    assert state.status is S.SUBMITTED
    assert state.attempt_phase is AttemptPhase.SUBMITTED
    given(SPEC, ID, PLACED, P1, SUB1).when(decide, ConfirmSubmission(broker_order_id="B-1", at=at(3))).then_nothing()
    given(SPEC, ID, PLACED, P1, SUB1).when(decide, ConfirmSubmission(broker_order_id="B-9", at=at(3))).then_raises(
        InvalidTransition, match="ConfirmSubmission rejected"
    )


def test_an_attempts_partial_fill_is_its_own_and_the_execution_totals_follow() -> None:
    state = (
        given(SPEC, ID, PLACED, P1, SUB1)
        .when(decide, UpdatePartialFill(shares_filled=Shares(3), avg_price_cents=Cents("18700"), at=at(3)))
        .then(AttemptPartiallyFilled(attempt=1, shares_filled=Shares(3), avg_price_cents=Cents("18700"), at=at(3)))
    )
    assert state.status is S.PARTIALLY_FILLED
    assert state.attempt_filled == Shares(3)
    assert state.shares_filled == Shares(3)
    assert state.price_cents == Cents("18700")


def test_a_cancel_request_is_recorded_once() -> None:
    history = (PLACED, P1, SUB1)
    state = (
        given(SPEC, ID, *history)
        .when(decide, RequestCancel(reason="reprice", at=at(4)))
        .then(CancelRequested(attempt=1, reason="reprice", at=at(4)))
    )
    assert state.attempt_phase is AttemptPhase.CANCEL_REQUESTED
    assert state.live_attempt
    cancel_requested = CancelRequested(attempt=1, reason="reprice", at=at(4))
    given(SPEC, ID, *history, cancel_requested).when(decide, RequestCancel(reason="again", at=at(5))).then_nothing()


def test_the_brokers_confirmed_end_settles_the_fill_and_frees_the_remainder() -> None:
    state = given(SPEC, ID, *FIRST_ENDED[:-1]).when(decide, end("4")).then(ended(1, "4"))
    assert state.status is S.PENDING
    assert state.attempt_phase is AttemptPhase.ENDED
    assert not state.live_attempt
    assert state.shares_filled == Shares(4)
    assert state.settled_shares == Shares(4)
    assert state.settled_notional == Usdc("748")
    assert state.remaining == Shares(6)


def test_the_next_attempt_is_for_the_remainder_with_its_own_client_id() -> None:
    state = given(SPEC, ID, *FIRST_ENDED).when(decide, prepare("188.00")).then(P2)
    assert state.attempt_shares == Shares(6)
    assert state.client_order_id == f"{ID}-2"
    assert state.shares_filled == Shares(4)  # the execution's totals are kept across attempts


def test_the_last_attempt_filling_completes_the_execution_at_the_exact_weighted_average() -> None:
    # 4 @ 187.00 then 6 @ 188.005 → (748 + 1128.03) / 10 = 187.603 → 18760.3 cents
    state = (
        given(SPEC, ID, *FIRST_ENDED, P2, SUB2)
        .when(decide, CompleteFill(price_cents=Cents("18800.5"), at=at(7)))
        .then(OrderFilled(shares_filled=Shares(10), price_cents=Cents("18760.3"), at=at(7)))
    )
    assert state.status is S.FILLED
    assert state.shares_filled == Shares(10)


def test_partial_fills_of_the_second_attempt_count_on_top_of_the_first() -> None:
    state = (
        given(SPEC, ID, *FIRST_ENDED, P2, SUB2)
        .when(decide, UpdatePartialFill(shares_filled=Shares(1), avg_price_cents=Cents("19200"), at=at(7)))
        .then(AttemptPartiallyFilled(attempt=2, shares_filled=Shares(1), avg_price_cents=Cents("19200"), at=at(7)))
    )
    assert state.shares_filled == Shares(5)
    assert state.price_cents == Cents("18800")  # (748 + 192) / 5


def test_a_final_cancel_keeps_every_attempts_fill() -> None:
    state = (
        given(SPEC, ID, *FIRST_ENDED, P2, SUB2)
        .when(decide, Cancel(shares_filled=Shares(1), avg_price_cents=Cents("19200"), reason="canceled", at=at(8)))
        .then(OrderCancelled(shares_filled=Shares(5), avg_price_cents=Cents("18800"), reason="canceled", at=at(8)))
    )
    assert state.status is S.CANCELLED


def test_a_final_cancel_between_attempts_closes_with_what_filled() -> None:
    given(SPEC, ID, *FIRST_ENDED).when(
        decide, Cancel(shares_filled=Shares(0), avg_price_cents=None, reason="short of shares", at=at(8))
    ).then(OrderCancelled(shares_filled=Shares(4), avg_price_cents=Cents("18700"), reason="short of shares", at=at(8)))


def test_an_attempt_that_never_reached_the_broker_ends_with_nothing_filled() -> None:
    state = given(SPEC, ID, PLACED, P1).when(decide, end("0", None)).then(ended(1, "0", None))
    assert state.attempt_phase is AttemptPhase.ENDED
    assert state.remaining == Shares(10)


def test_at_the_open_the_remainder_goes_out_as_the_one_market_attempt() -> None:
    state = (
        given(SPEC, ID, *FIRST_ENDED)
        .when(decide, prepare(None, MARKET, MarketSession.REGULAR))
        .then(prepared(2, "6", None, MARKET))
    )
    assert state.client_order_id == ID  # the execution id: an execution has one market attempt


def test_a_market_attempt_that_never_reached_the_broker_may_be_prepared_again() -> None:
    history = (PLACED, P1, ended(1, "0", None), prepared(2, "10", None, MARKET), ended(2, "0", None))
    given(SPEC, ID, *history).when(decide, prepare(None, MARKET, MarketSession.REGULAR)).then(
        prepared(3, "10", None, MARKET)
    )


def test_failing_with_nothing_filled_between_attempts() -> None:
    state = (
        given(SPEC, ID, PLACED, P1, ended(1, "0", None))
        .when(decide, Fail(error="rejected", at=at(9)))
        .then(OrderFailed(error="rejected", at=at(9)))
    )
    assert state.status is S.FAILED


# --- the rejects -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("history", "command", "match"),
    [
        ((PLACED, P1), prepare(), "attempt 1 is prepared"),
        ((PLACED, P1, SUB1), prepare(), "attempt 1 is submitted"),
        ((PLACED, P1, SUB1, CancelRequested(attempt=1, reason="r", at=at(3))), prepare(), "cancel_requested"),
        ((PLACED, Submitted(broker_order_id="B-0", at=at(1))), prepare(), "is at the broker"),
        ((PLACED, P1), RequestCancel(reason="r", at=at(3)), "not at the broker"),
        (FIRST_ENDED, RequestCancel(reason="r", at=at(6)), "not at the broker"),
        ((PLACED, P1), CompleteFill(price_cents=Cents(1), at=at(3)), "not at the broker"),
        (FIRST_ENDED, UpdatePartialFill(shares_filled=Shares(1), avg_price_cents=Cents(1), at=at(6)), "not at"),
        (FIRST_ENDED, end("0"), "already ended"),
        ((PLACED, P1), end("1"), "never confirmed"),
        ((PLACED, P1, SUB1), Fail(error="x", at=at(3)), "live at the broker"),
        (FIRST_ENDED, Fail(error="x", at=at(6)), "already filled"),
        ((*FIRST_ENDED, P2, SUB2), ConfirmSubmission(broker_order_id="B-3", at=at(7)), "submitted as B-2"),
        (
            (PLACED, P1, ended(1, "0", None), prepared(2, "10", None, MARKET), SUB2, ended(2, "0", None)),
            prepare(None, MARKET, MarketSession.REGULAR),
            "one market attempt",
        ),
        ((PLACED, Submitted(broker_order_id="B-0", at=at(1))), RequestCancel(reason="r", at=at(3)), "no attempts"),
        ((PLACED,), end("0"), "no attempts"),
    ],
    ids=str,
)
def test_rejected(history: tuple[OffchainOrderEvent, ...], command: OffchainOrderCommand, match: str) -> None:
    given(SPEC, ID, *history).when(decide, command).then_raises(InvalidTransition, match=match)


@pytest.mark.parametrize(
    ("history", "command", "match"),
    [
        ((PLACED,), prepare(None), "needs a positive limit price"),
        ((PLACED,), prepare("1", MARKET, MarketSession.REGULAR), "no limit price"),
        ((PLACED,), prepare(None, MARKET, POST), "regular session only"),
        ((PLACED,), prepare("1", LIMIT, MarketSession.CLOSED), "closed market"),
        ((PLACED, P1, SUB1), end("10"), "ended with 10 filled"),
        (
            (
                PLACED,
                P1,
                SUB1,
                AttemptPartiallyFilled(attempt=1, shares_filled=Shares(3), avg_price_cents=Cents(1), at=at(3)),
            ),
            end("2"),
            "ended with 2 filled",
        ),
        ((PLACED, P1, SUB1), end("2", None), "without a price"),
        ((PLACED, P1, SUB1), UpdatePartialFill(shares_filled=Shares(10), avg_price_cents=Cents(1), at=at(3)), "grow"),
    ],
    ids=str,
)
def test_rejected_as_invalid(
    history: tuple[OffchainOrderEvent, ...], command: OffchainOrderCommand, match: str
) -> None:
    given(SPEC, ID, *history).when(decide, command).then_raises(InvalidCommand, match=match)


def test_every_terminal_state_of_an_attempted_order_rejects_every_command() -> None:
    filled = (*FIRST_ENDED, P2, SUB2, OrderFilled(shares_filled=Shares(10), price_cents=Cents(1), at=at(9)))
    for command in (prepare(), RequestCancel(reason="r", at=at(9)), end("0"), Fail(error="x", at=at(9))):
        given(SPEC, ID, *filled).when(decide, command).then_raises(InvalidTransition, match="FILLED")


def test_an_old_stream_loads_and_behaves_as_before() -> None:
    """A market order recorded before attempts existed: attempt 0, client id = execution id."""
    state = given(SPEC, ID, PLACED, Submitted(broker_order_id="B-0", at=at(1))).state
    assert state.attempt == 0
    assert state.attempt_phase is None
    assert state.client_order_id is None
    assert state.status is S.SUBMITTED
    given(SPEC, ID, PLACED, Submitted(broker_order_id="B-0", at=at(1))).when(
        decide, CompleteFill(price_cents=Cents("18700"), at=at(2))
    ).then(OrderFilled(shares_filled=Shares(10), price_cents=Cents("18700"), at=at(2)))


# --- exact totals over any sequence of attempts (property) ---------------------------------------

PRICES = st.decimals(min_value=Decimal("0.0001"), max_value=Decimal("5000"), places=4)


@for_all(
    parts=st.lists(st.tuples(st.integers(min_value=0, max_value=3), PRICES), min_size=1, max_size=6),
    last_price=PRICES,
)
@hypothesis_settings(max_examples=200, deadline=None)
def test_any_attempts_add_up_exactly(parts: list[tuple[int, Decimal]], last_price: Decimal) -> None:
    """Attempts that each fill some whole shares before ending, then one that fills the rest: the
    execution's filled quantity is the sum, its notional the exact sum, its average that sum ÷ shares."""
    total = sum(n for n, _ in parts) + 1
    state = SPEC.fold(initial(ID), [order_placed(str(total), broker=BrokerKind.ALPACA)])
    notional = Decimal(0)
    for n, (filled, price) in enumerate(parts, start=1):
        cents = Cents(price * 100)
        for command in (
            prepare(),
            ConfirmSubmission(broker_order_id=f"B-{n}", at=at(n)),
            RequestCancel(reason="reprice", at=at(n)),
            end(str(filled), None if filled == 0 else str(cents)),
        ):
            state = SPEC.fold(state, list(decide(state, command)))
        notional += filled * price
        assert state.shares_filled == Shares(sum(f for f, _ in parts[:n]))
        assert state.settled_notional == Usdc(notional)
    last: tuple[OffchainOrderCommand, ...] = (
        prepare(),
        ConfirmSubmission(broker_order_id="B-last", at=at(99)),
        CompleteFill(price_cents=Cents(last_price * 100), at=at(99)),
    )
    for step in last:
        state = SPEC.fold(state, list(decide(state, step)))
    notional += (total - sum(n for n, _ in parts)) * last_price
    assert state.status is S.FILLED
    assert state.shares_filled == Shares(total)
    assert state.price_cents == Cents(DIVISION.divide(notional * 100, Decimal(total)))
    assert state.attempt == len(parts) + 1
