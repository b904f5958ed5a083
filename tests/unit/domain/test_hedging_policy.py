"""The hedging policy: which sessions hedge (per symbol), order kinds, the flatten window and its cross
schedule — linear in time from base to max, a function of the clock alone."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest

from arbtui.domain.hedging_policy import (
    FlattenSchedule,
    HedgeOrderKind,
    HedgingPolicy,
    SessionChoice,
    SymbolHedging,
    sessions_of,
)
from arbtui.domain.sessions import NEW_YORK, CloseAhead, MarketSession, weekday_calendar
from arbtui.domain.values import Symbol

AAPL, TSLA = Symbol("AAPL"), Symbol("TSLA")
REGULAR, PRE, POST = MarketSession.REGULAR, MarketSession.PRE, MarketSession.POST
OVERNIGHT, CLOSED = MarketSession.OVERNIGHT, MarketSession.CLOSED
FLATTEN = FlattenSchedule(timedelta(minutes=30), timedelta(seconds=15), Decimal(50), Decimal(200))
CALENDAR = weekday_calendar(date(2026, 3, 1), date(2026, 3, 14))


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


def policy(*choices: SessionChoice, **symbols: SymbolHedging) -> HedgingPolicy:
    return HedgingPolicy(
        sessions=sessions_of(choices),
        limit_cross_bps=Decimal(30),
        reprice_interval=timedelta(seconds=60),
        flatten=FLATTEN,
        symbols={Symbol(k): v for k, v in symbols.items()},
    )


def test_choices_name_market_sessions() -> None:
    assert sessions_of([]) == {REGULAR}
    assert sessions_of([SessionChoice.EXTENDED]) == {REGULAR, PRE, POST}
    assert sessions_of([SessionChoice.OVERNIGHT]) == {REGULAR, OVERNIGHT}


def test_the_default_hedges_in_the_regular_session_only_with_market_orders() -> None:
    default = HedgingPolicy.regular_only()
    assert default.order_kind(AAPL, REGULAR) is HedgeOrderKind.MARKET
    for session in (PRE, POST, OVERNIGHT, CLOSED):
        assert default.order_kind(AAPL, session) is None


def test_extended_sessions_hedge_with_limit_orders() -> None:
    extended = policy(SessionChoice.EXTENDED, SessionChoice.OVERNIGHT)
    assert extended.order_kind(AAPL, REGULAR) is HedgeOrderKind.MARKET
    assert extended.order_kind(AAPL, PRE) is HedgeOrderKind.LIMIT
    assert extended.order_kind(AAPL, POST) is HedgeOrderKind.LIMIT
    assert extended.order_kind(AAPL, OVERNIGHT) is HedgeOrderKind.LIMIT
    assert extended.order_kind(AAPL, CLOSED) is None


def test_a_symbol_overrides_sessions_and_cross() -> None:
    mixed = policy(
        SessionChoice.EXTENDED,
        TSLA=SymbolHedging(sessions=frozenset({REGULAR}), limit_cross_bps=Decimal(80)),
    )
    assert mixed.hedges_in(AAPL, POST)
    assert not mixed.hedges_in(TSLA, POST)
    assert mixed.limit_cross_for(AAPL) == Decimal(30)
    assert mixed.limit_cross_for(TSLA) == Decimal(80)
    only_cross = policy(TSLA=SymbolHedging(limit_cross_bps=Decimal(5)))
    assert only_cross.sessions_for(TSLA) == {REGULAR}


def test_a_policy_without_the_regular_session_is_refused() -> None:
    with pytest.raises(ValueError, match="regular session always hedges"):
        HedgingPolicy(frozenset({PRE}), Decimal(1), timedelta(seconds=60), FLATTEN)
    with pytest.raises(ValueError, match="TSLA: the regular session"):
        policy(TSLA=SymbolHedging(sessions=frozenset({POST})))


def test_a_narrowing_flatten_is_refused() -> None:
    with pytest.raises(ValueError, match="under its base"):
        FlattenSchedule(timedelta(minutes=30), timedelta(seconds=15), Decimal(200), Decimal(50))


# -- the flatten window and its cross --------------------------------------------------------------------
FRIDAY_CLOSE = CALENDAR.close_ahead(ny("2026-03-06 10:00"), frozenset({REGULAR}))
TUESDAY_CLOSE = CALENDAR.close_ahead(ny("2026-03-03 10:00"), frozenset({REGULAR}))


@pytest.mark.parametrize(
    ("at", "cross"),
    [
        ("2026-03-06 15:00", "50"),  # before the window: base
        ("2026-03-06 15:30", "50"),  # the window opens: base
        ("2026-03-06 15:40", "100"),  # a third of the way: 50 + 150/3
        ("2026-03-06 15:45", "125"),
        ("2026-03-06 15:50:00.000001", "150"),  # floored to hundredths of a bp: 150.0000833 → 150
        ("2026-03-06 15:59:59", "199.91"),  # 50 + 150 × 1799/1800 = 199.9166… → 199.91
        ("2026-03-06 16:00", "200"),  # the close: max
        ("2026-03-06 17:00", "200"),
    ],
)
def test_the_flatten_cross_widens_linearly_with_the_clock(at: str, cross: str) -> None:
    assert FRIDAY_CLOSE.closes_at is not None
    assert FLATTEN.cross_bps(ny(at), FRIDAY_CLOSE.closes_at) == Decimal(cross)


def test_the_flatten_cross_over_a_dst_change_counts_real_time() -> None:
    """A two-hour window ending Sunday 03:00 EDT, just after the spring change (02:00 → 03:00), opens at
    00:00 EST: three hours earlier by the wall clock, two in real time. At 01:30 EST (06:30 UTC) 1.5 of
    the 2 real hours are gone — three quarters of the widening, as only exact UTC arithmetic says."""
    schedule = FlattenSchedule(timedelta(hours=2), timedelta(seconds=15), Decimal(0), Decimal(100))
    closes = ny("2026-03-08 03:00")  # 07:00 UTC
    assert schedule.cross_bps(ny("2026-03-08 01:30"), closes) == Decimal(75)  # 06:30 UTC: 1.5 h of 2 h


def test_the_flatten_applies_only_inside_the_window_of_a_long_close() -> None:
    assert FRIDAY_CLOSE.is_long
    assert not FLATTEN.applies(ny("2026-03-06 15:29:59"), FRIDAY_CLOSE)
    assert FLATTEN.applies(ny("2026-03-06 15:30"), FRIDAY_CLOSE)
    assert FLATTEN.applies(ny("2026-03-06 15:59:59"), FRIDAY_CLOSE)
    assert not FLATTEN.applies(ny("2026-03-06 16:00"), FRIDAY_CLOSE)
    assert not TUESDAY_CLOSE.is_long
    assert not FLATTEN.applies(ny("2026-03-03 15:45"), TUESDAY_CLOSE)


def test_an_unknown_close_flattens_at_the_base_cross() -> None:
    unknown = CloseAhead(ny("2026-03-06 10:00"), None, None)
    assert FLATTEN.applies(ny("2026-03-06 10:00"), unknown)
    assert FLATTEN.cross_bps(ny("2026-03-06 10:00"), None) == Decimal(50)


def test_inside_the_flatten_the_policy_crosses_wider_and_reprices_faster() -> None:
    regular = policy(TSLA=SymbolHedging(limit_cross_bps=Decimal(150)))
    assert regular.cross_bps(AAPL, ny("2026-03-06 15:00"), FRIDAY_CLOSE) == Decimal(30)
    assert regular.cross_bps(AAPL, ny("2026-03-06 15:45"), FRIDAY_CLOSE) == Decimal(125)
    assert regular.cross_bps(TSLA, ny("2026-03-06 15:40"), FRIDAY_CLOSE) == Decimal(150)  # its own is wider
    assert regular.reprice_interval_at(ny("2026-03-06 15:00"), FRIDAY_CLOSE) == timedelta(seconds=60)
    assert regular.reprice_interval_at(ny("2026-03-06 15:45"), FRIDAY_CLOSE) == timedelta(seconds=15)
    assert regular.cross_bps(AAPL, ny("2026-03-03 15:45"), TUESDAY_CLOSE) == Decimal(30)


def test_the_cross_is_the_same_after_a_restart() -> None:
    """Nothing but the clock decides the cross: two policies built apart agree at every instant."""
    first, second = policy(), policy()
    for minute in range(0, 31, 5):
        at = ny("2026-03-06 15:30") + timedelta(minutes=minute)
        assert first.cross_bps(AAPL, at, FRIDAY_CLOSE) == second.cross_bps(AAPL, at, FRIDAY_CLOSE)
