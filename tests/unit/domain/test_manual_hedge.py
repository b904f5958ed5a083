"""The manual-hedge rules on their own: limits named in the refusal, the open-net rule both ways."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbtui.domain.manual_hedge import (
    LimitExceeded,
    ManualHedgeLimits,
    OverHedge,
    PricedAt,
    UnknownSymbol,
    check_known,
    check_limits,
    check_over_hedge,
    exceeds_net,
)
from arbtui.domain.values import Direction, PriceUsdc, Shares

LIMITS = ManualHedgeLimits(max_shares=Decimal(10), max_notional_usd=Decimal(1000))
AT_100 = PricedAt(price=PriceUsdc("100"), source="the latest Pyth price")


@pytest.mark.parametrize(
    ("net", "direction", "shares", "beyond"),
    [
        ("2.5", Direction.SELL, "2.5", False),
        ("2.5", Direction.SELL, "2.6", True),
        ("2.5", Direction.BUY, "0.1", True),  # the wrong way
        ("-3", Direction.BUY, "3", False),
        ("-3", Direction.BUY, "3.000000001", True),
        ("0", Direction.BUY, "1", True),
        ("0", Direction.SELL, "1", True),
    ],
)
def test_the_open_net_bounds_a_manual_hedge(net: str, direction: Direction, shares: str, beyond: bool) -> None:
    assert exceeds_net(Shares(net), direction, Shares(shares)) is beyond


def test_an_over_hedge_is_refused_unless_allowed_and_then_reported() -> None:
    with pytest.raises(OverHedge, match=r"open net is 0\.5, so a sell hedges at most 0\.5"):
        check_over_hedge("AAPL", Shares("0.5"), Direction.SELL, Shares(1), allowed=False)
    assert check_over_hedge("AAPL", Shares("0.5"), Direction.SELL, Shares(1), allowed=True) is True
    assert check_over_hedge("AAPL", Shares("0.5"), Direction.SELL, Shares("0.5"), allowed=False) is False


def test_limits_name_the_key_that_refused() -> None:
    check_limits("AAPL", Direction.BUY, Shares(10), LIMITS, AT_100)  # exactly at both limits
    with pytest.raises(LimitExceeded, match=r"manual_hedge\.max_shares = 10"):
        check_limits("AAPL", Direction.BUY, Shares("10.5"), LIMITS, AT_100)
    wide = ManualHedgeLimits(max_shares=Decimal(100), max_notional_usd=Decimal(1000))
    with pytest.raises(LimitExceeded, match=r"\$1100.00 at the latest Pyth price 100 .*max_notional_usd = 1000"):
        check_limits("AAPL", Direction.SELL, Shares(11), wide, AT_100)
    with pytest.raises(LimitExceeded, match="no price recorded for AAPL"):
        check_limits("AAPL", Direction.SELL, Shares(1), wide, None)


def test_unknown_symbols_list_the_known_ones() -> None:
    check_known("AAPL", {"AAPL", "TSLA"})
    with pytest.raises(UnknownSymbol, match=r"unknown symbol \(known: AAPL, TSLA\)"):
        check_known("APPL", {"TSLA", "AAPL"})
