"""Limit prices: crossed by basis points, buys rounded up and sells down onto the tick ($0.01 at or above
$1, $0.0001 below), exact decimals only; and the reference price rule (Pyth, then the broker's mark)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtui.domain.limit_price import (
    InvalidLimitPrice,
    ReferencePrice,
    ReferenceSource,
    crossed,
    limit_price,
    on_tick,
    reference_price,
    round_to_tick,
    tick_size,
)
from arbtui.domain.values import Direction, PriceUsdc

BUY, SELL = Direction.BUY, Direction.SELL


def p(text: str) -> PriceUsdc:
    return PriceUsdc(text)


@pytest.mark.parametrize(
    ("reference", "side", "bps", "expected"),
    [
        # given a reference, when a hedge crosses it by bps, then the limit is on the tick
        ("187.12", BUY, 50, "188.06"),  # 188.0556 → up
        ("187.12", SELL, 50, "186.18"),  # 186.1844 → down
        ("187.12", BUY, 0, "187.12"),
        ("187.12", SELL, 0, "187.12"),
        ("100", BUY, 1, "100.01"),  # exactly on the tick: no rounding
        ("100", SELL, 1, "99.99"),
        ("0.5", BUY, 30, "0.5015"),  # sub-dollar: four decimals
        ("0.5", SELL, 30, "0.4985"),
        ("0.12345", BUY, 10, "0.1236"),  # 0.12357345 → up
        ("0.12345", SELL, 10, "0.1233"),  # 0.12332655 → down
        ("0.0002", SELL, 100, "0.0001"),  # 0.000198 → down, still a price
        # the $1 boundary
        ("0.9999", BUY, 1, "1.00"),  # 0.99999999 → below $1, up to 1.0000: a valid cent price
        ("0.9990", BUY, 15, "1.01"),  # 1.0004985 → at or above $1: cents, up
        ("1", SELL, 1, "0.9999"),  # 0.9999 → below $1: four decimals
        ("1", BUY, 1, "1.01"),  # 1.0001 → cents, up
        ("1.0049", SELL, 49, "0.9999"),  # 0.99997599 → below $1, down
    ],
)
def test_limit_prices(reference: str, side: Direction, bps: int, expected: str) -> None:
    assert limit_price(p(reference), side, bps) == p(expected)


def test_the_cross_is_exact() -> None:
    assert crossed(p("187.12"), BUY, 50) == p("188.0556")
    assert crossed(p("187.12"), SELL, Decimal("12.5")) == p("186.8861")


def test_ticks() -> None:
    assert tick_size(p("1")) == Decimal("0.01")
    assert tick_size(p("0.9999")) == Decimal("0.0001")
    assert on_tick(p("1.01"))
    assert not on_tick(p("1.005"))
    assert on_tick(p("0.9999"))
    assert not on_tick(p("0.99995"))
    assert not on_tick(p("0"))


def test_a_sell_that_rounds_to_nothing_is_refused() -> None:
    with pytest.raises(InvalidLimitPrice, match="rounds to no price"):
        limit_price(p("0.00005"), SELL, 0)


@pytest.mark.parametrize("bps", [-1, 5000, 20000])
def test_a_cross_out_of_range_is_refused(bps: int) -> None:
    with pytest.raises(InvalidLimitPrice, match="cross"):
        limit_price(p("10"), BUY, bps)


def test_a_non_positive_reference_is_refused() -> None:
    with pytest.raises(InvalidLimitPrice, match="positive"):
        limit_price(p("0"), BUY, 10)


prices = st.decimals(min_value=Decimal("0.0002"), max_value=Decimal("100000"), places=6, allow_nan=False)
crosses = st.integers(min_value=0, max_value=1000)


@given(prices, crosses)
def test_a_buy_never_pays_less_than_its_cross_and_lands_on_the_tick(reference: Decimal, bps: int) -> None:
    price = limit_price(PriceUsdc(reference), BUY, bps)
    exact = crossed(PriceUsdc(reference), BUY, bps)
    assert on_tick(price)
    assert price >= exact
    assert price.value - exact.value < tick_size(price)  # one tick at most (the tick of the result)


@given(prices, crosses)
def test_a_sell_never_asks_more_than_its_cross_and_lands_on_the_tick(reference: Decimal, bps: int) -> None:
    price = limit_price(PriceUsdc(reference), SELL, bps)
    exact = crossed(PriceUsdc(reference), SELL, bps)
    assert on_tick(price)
    assert price <= exact
    assert exact.value - price.value < tick_size(exact)


@given(prices)
def test_rounding_a_price_on_its_tick_changes_nothing(reference: Decimal) -> None:
    for side in (BUY, SELL):
        once = round_to_tick(PriceUsdc(reference), side)
        assert round_to_tick(once, side) == once


# -- the reference price ------------------------------------------------------------------------------
def test_pyth_comes_first() -> None:
    assert reference_price(p("187.5"), p("186")) == ReferencePrice(p("187.5"), ReferenceSource.PYTH)


def test_the_broker_mark_when_no_pyth_price() -> None:
    assert reference_price(None, p("186")) == ReferencePrice(p("186"), ReferenceSource.BROKER_MARK)


def test_no_reference_at_all_holds_the_hedge() -> None:
    assert reference_price(None, None) is None
    assert reference_price(p("0"), p("0")) is None
    assert reference_price(p("0"), p("3")) == ReferencePrice(p("3"), ReferenceSource.BROKER_MARK)
