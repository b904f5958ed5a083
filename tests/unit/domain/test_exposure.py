"""Time-weighted unhedged exposure per session, hand-checked.

Given fills and hedge fills (Position events) and the broker's calendar, when the exposure over a period
is computed, then each session's hours and USD·hours are the hand-worked figures. Weeks of late 2026:
Thanksgiving Thursday 26 November (a holiday), Friday 27 closes at 13:00 (after hours to 17:00), DST
ends Sunday 1 November at 02:00.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest

from arbtui.domain import offchain_order, position
from arbtui.domain.exposure import (
    ExposureChange,
    ExposureReport,
    ExposureSession,
    HedgeProgress,
    PeriodError,
    exposure_changes,
    hedge_progress,
    session_stretches,
    time_weighted,
)
from arbtui.domain.sessions import NEW_YORK, TradingCalendar, weekday_calendar
from arbtui.domain.values import BrokerKind, Cents, Direction, PriceUsdc, Shares, Symbol
from tests.unit.domain.factory import ack, at, ctx, exec_id, tid

REGULAR, PRE, POST = ExposureSession.REGULAR, ExposureSession.PRE, ExposureSession.POST
OVERNIGHT, CLOSED, WEEKEND = ExposureSession.OVERNIGHT, ExposureSession.CLOSED, ExposureSession.WEEKEND
THANKSGIVING = date(2026, 11, 26)
BLACK_FRIDAY = date(2026, 11, 27)
ALPACA = weekday_calendar(
    date(2026, 10, 19), date(2026, 12, 18), holidays=[THANKSGIVING], early_closes=[BLACK_FRIDAY], overnight=True
)
MONDAY_JANUARY = weekday_calendar(date(2025, 12, 29), date(2026, 1, 16))
"""Around the domain factory's T0 (Monday 5 January 2026, 10:00 New York)."""
SCHWAB = weekday_calendar(date(2026, 10, 19), date(2026, 12, 18), pre_open=time(7, 0), overnight=False)


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def held(symbol: str, at: str, shares: str, price: str) -> ExposureChange:
    return ExposureChange(symbol, ny(at), Shares(shares), PriceUsdc(price))


def report(changes: list[ExposureChange], since: str, until: str, calendar: TradingCalendar = ALPACA) -> ExposureReport:
    return time_weighted(changes, calendar, ny(since), ny(until))


def hours(result: ExposureReport) -> dict[ExposureSession, Decimal]:
    return {row.session: row.hours for row in result.sessions if row.session is not None}


def usd_hours(result: ExposureReport) -> dict[ExposureSession, Decimal]:
    return {row.session: row.usd_hours for row in result.sessions if row.session is not None}


def d(text: str) -> Decimal:
    return Decimal(text)


# --- splitting the period by session -----------------------------------------------------------


def test_a_weekend_after_a_friday_fill_falls_in_every_session_but_regular() -> None:
    """Given 2 shares at $100 unhedged from Friday 16:00, when reported to Monday's open, then after hours
    4 h, the weekend 48 h (Friday 20:00 → Sunday 20:00), overnight 8 h, pre-market 5.5 h — $200 each."""
    result = report([held("AAPL", "2026-12-04 16:00", "2", "100")], "2026-12-04 16:00", "2026-12-07 09:30")
    assert hours(result) == {REGULAR: 0, PRE: d("5.5"), POST: 4, OVERNIGHT: 8, CLOSED: 0, WEEKEND: 48}
    assert usd_hours(result) == {REGULAR: 0, PRE: 1100, POST: 800, OVERNIGHT: 1600, CLOSED: 0, WEEKEND: 9600}
    assert (result.total.hours, result.total.usd_hours, result.total.average_usd) == (d("65.5"), d("13100"), d("200"))
    assert result.total.usd_seconds == 13100 * 3600  # exact, before any division


def test_a_holiday_is_closed_its_eve_has_no_overnight_and_an_early_close_shortens_the_day() -> None:
    """Given 1 share at $100 from Wednesday 16:00 before Thanksgiving to Monday's open: Wednesday after
    hours 4 h; Thanksgiving closed 24 h (Wed 20:00 → Thu 20:00, no overnight into a holiday); overnight into
    Friday 8 h and into Monday 8 h; pre-market 5.5 h twice; Friday regular 09:30–13:00 and after hours
    13:00–17:00; the weekend Friday 17:00 → Sunday 20:00 = 51 h."""
    result = report([held("AAPL", "2026-11-25 12:00", "1", "100")], "2026-11-25 16:00", "2026-11-30 09:30")
    assert hours(result) == {REGULAR: d("3.5"), PRE: 11, POST: 8, OVERNIGHT: 16, CLOSED: 24, WEEKEND: 51}
    assert result.total.hours == d("113.5")  # Wed 16:00 → Mon 09:30: 5 days less 6.5 h
    assert usd_hours(result)[CLOSED] == 2400


def test_the_weekend_dst_ends_in_is_an_hour_longer() -> None:
    """Given the weekend of Sunday 1 November (clocks back at 02:00): Friday 20:00 EDT → Sunday 20:00 EST is
    49 hours, not 48."""
    result = report([held("AAPL", "2026-10-30 10:00", "1", "10")], "2026-10-30 16:00", "2026-11-02 09:30")
    assert hours(result)[WEEKEND] == 49
    assert usd_hours(result)[WEEKEND] == 490


def test_a_venue_without_overnight_is_closed_at_night_and_over_the_whole_weekend() -> None:
    """Given Schwab's hours (pre-market from 07:00, no overnight): Tuesday 20:00 → Wednesday 07:00 is closed
    (11 h); Friday 20:00 → Monday 07:00 is the weekend (59 h)."""
    night = report([held("AAPL", "2026-12-01 12:00", "1", "1")], "2026-12-01 20:00", "2026-12-02 07:00", SCHWAB)
    assert hours(night) == {REGULAR: 0, PRE: 0, POST: 0, OVERNIGHT: 0, CLOSED: 11, WEEKEND: 0}
    weekend = report([held("AAPL", "2026-12-04 12:00", "1", "1")], "2026-12-04 20:00", "2026-12-07 07:00", SCHWAB)
    assert hours(weekend)[WEEKEND] == 59


def test_stretches_cover_the_period_without_gap_or_overlap() -> None:
    stretches = session_stretches(ALPACA, ny("2026-11-20 00:00"), ny("2026-12-02 00:00"))
    assert stretches[0].start == ny("2026-11-20 00:00")
    assert stretches[-1].end == ny("2026-12-02 00:00")
    assert all(a.end == b.start for a, b in itertools.pairwise(stretches))


# --- the notional over time -----------------------------------------------------------------------


def test_a_hedge_fill_ends_the_exposure_it_offsets() -> None:
    """Given 3 shares sold onchain at $10 at 10:00 and hedged at 10:30, when Tuesday's regular session is
    reported, then $30 for half an hour: 15 USD·h over 6.5 h, an average of $2.307692."""
    changes = [held("AAPL", "2026-12-01 10:00", "-3", "10"), held("AAPL", "2026-12-01 10:30", "0", "10")]
    result = report(changes, "2026-12-01 09:30", "2026-12-01 16:00")
    regular = result.of(REGULAR)
    assert (regular.hours, regular.usd_hours, regular.average_usd) == (d("6.5"), d("15"), d("2.307692"))


def test_symbols_add_and_a_new_fill_price_revalues_the_whole_position() -> None:
    """Given AAPL 1 @ $200 at 10:00, MSFT −0.5 @ $400 at 10:30 and AAPL 2 @ $210 at 11:00, when 10:00–12:00 is
    reported, then ½ h × $200 + ½ h × $400 + 1 h × $620 = 920 USD·h."""
    changes = [
        held("AAPL", "2026-12-01 10:00", "1", "200"),
        held("AAPL", "2026-12-01 11:00", "2", "210"),
        held("MSFT", "2026-12-01 10:30", "-0.5", "400"),
    ]
    result = report(changes, "2026-12-01 10:00", "2026-12-01 12:00")
    assert result.total.usd_hours == 920
    assert result.total.average_usd == 460


def test_exposure_from_before_the_period_counts_from_its_start_and_changes_at_one_instant_make_one_step() -> None:
    """Given 1 share at $100 since 09:00 and, at 10:30, a hedge fill and a new fill at one instant, when
    10:00–11:00 is reported, then only the period's hour counts, at the state each instant ended with."""
    changes = [
        held("AAPL", "2026-12-01 09:00", "1", "100"),
        held("AAPL", "2026-12-01 10:30", "0", "100"),
        held("AAPL", "2026-12-01 10:30", "3", "100"),
    ]
    result = report(changes, "2026-12-01 10:00", "2026-12-01 11:00")
    assert result.of(REGULAR).usd_hours == 50 + 150
    assert result.of(PRE).hours == 0


def test_no_change_means_no_exposure() -> None:
    result = report([], "2026-12-01 00:00", "2026-12-08 00:00")
    assert result.total.usd_seconds == 0
    assert result.total.hours == 168


@pytest.mark.parametrize(
    ("since", "until", "words"),
    [
        (ny("2026-12-02 00:00"), ny("2026-12-01 00:00"), "empty"),
        (datetime(2026, 12, 1), ny("2026-12-02 00:00"), "aware"),
        (ny("2026-12-01 00:00"), ny("2027-01-05 00:00"), "not inside the broker's calendar"),
    ],
)
def test_a_period_that_cannot_be_reported_is_one_clear_error(since: datetime, until: datetime, words: str) -> None:
    with pytest.raises(PeriodError, match=words):
        time_weighted([], ALPACA, since, until)


# --- from the Position's own events ---------------------------------------------------------------


def _events() -> list[position.PositionEvent]:
    """Fills, a hedge filled in part, a failed hedge, a reorged fill and a BUY hedge, through the aggregate."""
    threshold = position.CheckThreshold
    state = position.initial("AAPL")
    events: list[position.PositionEvent] = []

    def apply(command: position.PositionCommand) -> None:
        nonlocal state
        for event in position.decide(state, command):
            state = position.evolve(state, event)
            events.append(event)

    t = datetime(2026, 12, 1, 15, tzinfo=UTC)
    apply(ack(1, "2.5", Direction.BUY, price="100", context=ctx(1, allowed=False)))
    apply(threshold(reason="open", context=ctx(2, broker=BrokerKind.ALPACA)))  # SELL 2 placed
    apply(ack(2, "0.75", Direction.BUY, price="110", context=ctx(3, allowed=False)))
    apply(position.CompleteExecution(execution_id=exec_id(2), shares_filled=Shares("1.5"), price_cents=Cents(10_000),
                                     broker_order_id="b-1", at=t))  # fmt: skip
    apply(threshold(reason="again", context=ctx(4, broker=BrokerKind.ALPACA)))  # SELL 2 placed
    apply(position.FailExecution(execution_id=exec_id(4), error="refused", at=t))
    apply(position.ReverseFill(trade_id=tid(1), direction=Direction.BUY, amount=Shares("2.5"), at=t))
    apply(
        threshold(reason="flip", context=ctx(5, broker=BrokerKind.ALPACA))
    )  # net −0.75: under one share, nothing placed
    apply(ack(3, "4", Direction.SELL, price="90", context=ctx(6, allowed=False)))
    apply(threshold(reason="short", context=ctx(7, broker=BrokerKind.ALPACA)))  # BUY placed
    apply(position.CompleteExecution(execution_id=exec_id(7), shares_filled=Shares("4"),
                                     price_cents=Cents(9_000), broker_order_id="b-2", at=t))  # fmt: skip
    return events


def test_changes_follow_the_aggregate_unhedged_shares_event_by_event() -> None:
    """The fold without lots or PnL (the report's fast path) agrees with ``net + reserved`` of the
    Position evolved through the same events, after every event that changes them."""
    events = _events()
    assert any(isinstance(e, position.OffChainOrderFailed) for e in events)
    assert any(isinstance(e, position.OnChainFillReversed) for e in events)
    state = position.initial("AAPL")
    expected: list[tuple[Shares, PriceUsdc | None]] = []
    for event in events:
        state = position.evolve(state, event)
        if isinstance(
            event, position.OnChainFillAcknowledged | position.OnChainFillReversed | position.OffChainOrderFilled
        ):
            expected.append((state.net + state.reserved, state.last_price))
    got = [(change.unhedged, change.price) for change in exposure_changes("AAPL", events)]
    assert got == expected
    assert got[-1][0] == state.filled_net - state.hedged


# --- a hedge that fills in parts ------------------------------------------------------------------


def _order_events(
    execution: str, parts: list[tuple[int, str]], *, complete_at: int | None
) -> list[offchain_order.OffchainOrderEvent]:
    """A SELL of 2 placed at T0, confirmed, partly filled ``parts`` (seconds after T0, cumulative shares),
    and completed at ``complete_at`` (``None``: still open)."""
    state = offchain_order.initial(execution)
    events: list[offchain_order.OffchainOrderEvent] = []

    def apply(command: offchain_order.OffchainOrderCommand) -> None:
        nonlocal state
        for event in offchain_order.decide(state, command):
            state = offchain_order.evolve(state, event)
            events.append(event)

    apply(offchain_order.Place(symbol=Symbol("AAPL"), shares=Shares(2), direction=Direction.SELL,
                               broker=BrokerKind.ALPACA, trigger_reason="threshold", at=at(0)))  # fmt: skip
    apply(offchain_order.ConfirmSubmission(broker_order_id="b-1", at=at(0)))
    for seconds, filled in parts:
        apply(offchain_order.UpdatePartialFill(shares_filled=Shares(filled), avg_price_cents=Cents(10_000),
                                               at=at(seconds)))  # fmt: skip
    if complete_at is not None:
        apply(offchain_order.CompleteFill(price_cents=Cents(10_000), at=at(complete_at)))
    return events


def _position_events(*, complete_at: int | None) -> list[position.PositionEvent]:
    """2 bought onchain at $100 at T0, a SELL 2 hedge placed at once, completed at ``complete_at``."""
    state = position.initial("AAPL")
    events: list[position.PositionEvent] = []
    commands: list[position.PositionCommand] = [
        ack(1, "2", Direction.BUY, price="100", context=ctx(1, allowed=False)),
        position.CheckThreshold(reason="open", context=ctx(2, broker=BrokerKind.ALPACA)),
    ]
    if complete_at is not None:
        commands.append(position.CompleteExecution(execution_id=exec_id(2), shares_filled=Shares(2),
                                                   price_cents=Cents(10_000), broker_order_id="b-1",
                                                   at=at(complete_at)))  # fmt: skip
    for command in commands:
        for event in position.decide(state, command):
            state = position.evolve(state, event)
            events.append(event)
    return events


def test_hedge_progress_is_each_change_of_the_executions_cumulative_fill() -> None:
    events = _order_events(exec_id(2), [(3600, "0.5"), (7200, "1.2")], complete_at=10_800)
    progress = list(hedge_progress(exec_id(2), events))
    assert [(p.at, p.filled) for p in progress] == [(at(3600), Shares("0.5")), (at(7200), Shares("1.2")),
                                                    (at(10_800), Shares(2))]  # fmt: skip


def test_a_hedge_filled_in_parts_shrinks_the_exposure_as_each_part_fills() -> None:
    """$200 for an hour, then $150 (0.5 filled), $80 (1.2 filled), nothing once the whole 2 filled at 3 h —
    the Position's own fill at the end takes off only what the parts had not: 200 + 150 + 80 = 430 USD·h."""
    order = _order_events(exec_id(2), [(3600, "0.5"), (7200, "1.2")], complete_at=10_800)
    progress: dict[str, list[HedgeProgress]] = {exec_id(2): list(hedge_progress(exec_id(2), order))}
    changes = list(exposure_changes("AAPL", _position_events(complete_at=10_800), progress))
    assert [(c.at, c.unhedged) for c in changes] == [
        (at(0), Shares(2)), (at(3600), Shares("1.5")), (at(7200), Shares("0.8")), (at(10_800), Shares(0))
    ]  # fmt: skip
    result = time_weighted(changes, MONDAY_JANUARY, at(0), at(4 * 3600))
    assert result.total.usd_hours == 430


def test_an_execution_still_open_counts_its_fills_so_far() -> None:
    order = _order_events(exec_id(2), [(3600, "0.5")], complete_at=None)
    progress: dict[str, list[HedgeProgress]] = {exec_id(2): list(hedge_progress(exec_id(2), order))}
    changes = list(exposure_changes("AAPL", _position_events(complete_at=None), progress))
    assert [c.unhedged for c in changes] == [Shares(2), Shares("1.5")]
    assert time_weighted(changes, MONDAY_JANUARY, at(0), at(2 * 3600)).total.usd_hours == 200 + 150
