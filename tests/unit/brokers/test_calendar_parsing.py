"""Calendar answers in each broker's published shape → our :class:`TradingCalendar` (no network).

The payloads are the documented examples: Alpaca's ``GET /v2/calendar`` rows (``session_open`` written
``"0400"``) and Schwab's ``GET /marketdata/v1/markets?markets=equity`` answer for 2022-04-14.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest

from arbtui.brokers.alpaca.parsing import parse_calendar
from arbtui.brokers.base import BrokerPosition, BrokerProtocolError
from arbtui.brokers.schwab.parsing import loads, parse_market_hours
from arbtui.domain.sessions import NEW_YORK, MarketSession
from arbtui.domain.values import PriceUsdc, Shares, Symbol, Usdc


def ny(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=NEW_YORK)


ALPACA_ROWS: list[dict[str, Any]] = [
    {
        "date": "2026-11-25",
        "open": "09:30",
        "close": "16:00",
        "session_open": "0400",
        "session_close": "2000",
        "settlement_date": "2026-11-27",
    },
    {
        "date": "2026-11-27",
        "open": "09:30",
        "close": "13:00",
        "session_open": "0400",
        "session_close": "1700",
        "settlement_date": "2026-11-30",
    },
    {"date": "2026-11-30", "open": "09:30", "close": "16:00", "session_open": "04:00", "session_close": "20:00"},
]


def test_alpaca_calendar_reads_the_raw_session_fields() -> None:
    calendar = parse_calendar(ALPACA_ROWS, date(2026, 11, 25), date(2026, 11, 30))
    assert calendar.overnight
    assert [d.day for d in calendar.days] == [date(2026, 11, 25), date(2026, 11, 27), date(2026, 11, 30)]
    wednesday, friday, monday = calendar.days
    assert (wednesday.pre_open, wednesday.post_close) == (ny("2026-11-25 04:00"), ny("2026-11-25 20:00"))
    assert friday.early_close
    assert (friday.close, friday.post_close) == (ny("2026-11-27 13:00"), ny("2026-11-27 17:00"))
    assert monday.pre_open == ny("2026-11-30 04:00")  # "HH:MM" read as well as "HHMM"
    assert calendar.session_at(ny("2026-11-26 12:00")).session is MarketSession.CLOSED  # Thanksgiving


def test_alpaca_rows_outside_the_asked_range_are_ignored() -> None:
    calendar = parse_calendar(ALPACA_ROWS, date(2026, 11, 26), date(2026, 11, 27))
    assert [d.day for d in calendar.days] == [date(2026, 11, 27)]


def test_alpaca_without_session_fields_falls_back_to_the_regular_hours() -> None:
    rows = [{"date": "2026-11-25", "open": "09:30", "close": "16:00"}]
    (day,) = parse_calendar(rows, date(2026, 11, 25), date(2026, 11, 25)).days
    assert (day.pre_open, day.post_close) == (day.open, day.close)


@pytest.mark.parametrize(
    "raw",
    [
        {"date": "2026-11-25"},
        [{"date": "2026-11-25", "open": "9:30am", "close": "16:00"}],
        [{"date": "someday", "open": "09:30", "close": "16:00"}],
        [{"open": "09:30", "close": "16:00"}],
        [{"date": "2026-11-25", "open": "16:00", "close": "09:30"}],
    ],
)
def test_an_unreadable_alpaca_calendar_is_a_protocol_error(raw: object) -> None:
    with pytest.raises(BrokerProtocolError, match="alpaca calendar"):
        parse_calendar(raw, date(2026, 11, 25), date(2026, 11, 25))


SCHWAB_OPEN = b"""{"equity": {"EQ": {"date": "2022-04-14", "marketType": "EQUITY", "product": "EQ",
  "productName": "equity", "isOpen": true, "sessionHours": {
  "preMarket": [{"start": "2022-04-14T07:00:00-04:00", "end": "2022-04-14T09:30:00-04:00"}],
  "regularMarket": [{"start": "2022-04-14T09:30:00-04:00", "end": "2022-04-14T16:00:00-04:00"}],
  "postMarket": [{"start": "2022-04-14T16:00:00-04:00", "end": "2022-04-14T20:00:00-04:00"}]}}}}"""
SCHWAB_CLOSED = b"""{"equity": {"equity": {"date": "2022-04-15", "marketType": "EQUITY", "isOpen": false}}}"""


def test_schwab_market_hours_in_the_published_shape() -> None:
    day = parse_market_hours(loads(SCHWAB_OPEN), date(2022, 4, 14))
    assert day is not None
    assert (day.pre_open, day.open, day.close, day.post_close) == (
        ny("2022-04-14 07:00"),
        ny("2022-04-14 09:30"),
        ny("2022-04-14 16:00"),
        ny("2022-04-14 20:00"),
    )


def test_a_closed_schwab_day_is_no_trading_day() -> None:
    assert parse_market_hours(loads(SCHWAB_CLOSED), date(2022, 4, 15)) is None


def test_schwab_without_extended_sessions_has_regular_hours_only() -> None:
    raw = loads(SCHWAB_OPEN)
    del raw["equity"]["EQ"]["sessionHours"]["preMarket"]
    raw["equity"]["EQ"]["sessionHours"]["postMarket"] = []
    day = parse_market_hours(raw, date(2022, 4, 14))
    assert day is not None
    assert (day.pre_open, day.post_close) == (day.open, day.close)


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"equity": {}},
        {"equity": {"EQ": {"isOpen": True, "sessionHours": {"regularMarket": [{"start": "2022-04-14T09:30:00"}]}}}},
        {"equity": {"EQ": {"isOpen": True, "sessionHours": {"regularMarket": [{"start": "x", "end": "y"}]}}}},
    ],
)
def test_unreadable_schwab_hours_are_a_protocol_error(raw: object) -> None:
    with pytest.raises(BrokerProtocolError, match="schwab"):
        parse_market_hours(raw, date(2022, 4, 14))


def test_a_position_mark_is_market_value_per_share() -> None:
    short = BrokerPosition(Symbol("AAPL"), Shares("-4"), market_value=Usdc("-750.5"))
    assert short.mark == PriceUsdc(Decimal("187.625"))
    assert BrokerPosition(Symbol("AAPL"), Shares("4")).mark is None
