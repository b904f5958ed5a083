"""The display rules (arbtui.display): half-even rounding for people, never a false zero, prices on the
broker's tick, columns aligned on the decimal point. Pure: no I/O."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from arbtui import display
from arbtui.domain.values import PriceUsdc, Shares, Usdc


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("1.451534588906221945", "1.451535"),
        ("-0.218106420", "-0.218106"),
        ("-0.21810642", "-0.218106"),  # the carry and the net of one position now read alike
        ("2.500000000000000000", "2.5"),
        ("100", "100"),
        ("1E+2", "100"),
        ("0", "0"),
        ("-0", "0"),
        ("0.0000025", "0.000002"),  # half-even: the tie goes to the even digit
        ("0.0000035", "0.000004"),
        ("-0.0000035", "-0.000004"),
        ("123456789012345678901234567890.123456789", "123456789012345678901234567890.123457"),
    ],
)
def test_shares_round_half_even_to_six_places_and_trim(exact: str, shown: str) -> None:
    assert display.shares(Decimal(exact)) == shown
    assert display.shares(Shares(exact)) == shown


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("0.000000000000000001", "<0.000001"),
        ("0.0000005", "<0.000001"),  # half-even rounds it to 0: a bound, never 0
        ("-0.0000005", ">-0.000001"),
        ("-0.000000001", ">-0.000001"),
        ("0.0000005000000001", "0.000001"),
    ],
)
def test_a_non_zero_share_count_never_reads_zero(exact: str, shown: str) -> None:
    assert display.shares(Decimal(exact)) == shown


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("1234567.891", "1,234,567.89"),
        ("-1234567.891", "-1,234,567.89"),
        ("0.005", "<0.01"),  # half-even to 0.00: sub-cent money is a bound
        ("-0.004", ">-0.01"),
        ("0.015", "0.02"),
        ("0.025", "0.02"),
        ("-0.025", "-0.02"),
        ("0", "0.00"),
        ("12", "12.00"),
        (
            "1.40000000000000000000000000000000000000000000000001",  # a FIFO PnL with ~50 digits
            "1.40",
        ),
        ("98765432109876543210.987", "98,765,432,109,876,543,210.99"),
    ],
)
def test_money_in_cents_with_thousands_separators(exact: str, shown: str) -> None:
    assert display.usd(Decimal(exact)) == shown
    assert display.usd(Usdc(exact)) == shown


def test_money_without_grouping_for_csv() -> None:
    assert display.usd(Decimal("-1234567.891"), grouping=False) == "-1234567.89"
    assert display.price(Decimal("1234.5"), grouping=False) == "1234.50"


@pytest.mark.parametrize(
    ("exact", "shown"),
    [
        ("231.4", "231.40"),
        ("231.405", "231.40"),  # half-even on the cent tick
        ("231.415", "231.42"),
        ("1234.5678", "1,234.57"),
        ("1", "1.00"),
        ("0.99995", "1.0000"),  # below $1: the $0.0001 tick
        ("0.51234", "0.5123"),
        ("0.51235", "0.5124"),
        ("0.00004", "<0.0001"),
        ("0.12", "0.1200"),
    ],
)
def test_prices_on_the_brokers_tick(exact: str, shown: str) -> None:
    assert display.price(Decimal(exact)) == shown
    assert display.price(PriceUsdc(exact)) == shown


def test_missing_values_read_as_a_dash() -> None:
    assert display.shares(None) == display.usd(None) == display.price(None) == "—"


def test_sign_colour() -> None:
    assert display.sign_style(Decimal("0.001")) == "green"
    assert display.sign_style(Usdc("-5")) == "red"
    assert display.sign_style(Decimal(0)) == ""
    assert display.sign_style(None) == ""


def test_align_lines_up_decimal_points() -> None:
    assert display.align(["1.5", "-12", "0.25", "—"]) == ["  1.5 ", "-12   ", "  0.25", "  —   "]
    assert display.align(["2.5 (2 wtAAPL)", "0.123456"]) == ["2.5      (2 wtAAPL)", "0.123456"]
    assert display.align(["<0.000001", "3"]) == ["<0.000001", " 3       "]
    assert display.align([]) == []


@given(st.decimals(allow_nan=False, allow_infinity=False, places=18, min_value=-(10**12), max_value=10**12))
def test_shares_text_is_within_half_a_millionth_and_zero_only_for_zero(value: Decimal) -> None:
    text = display.shares(value)
    if value.is_zero():
        assert text == "0"
    elif text.startswith(("<", ">")):
        assert 0 < abs(value) <= Decimal("0.0000005")
    else:
        assert abs(Decimal(text) - value) <= Decimal("0.0000005")
        assert Decimal(text) != 0
        assert not text.endswith("0") or "." not in text  # trailing zeros trimmed


@given(st.decimals(allow_nan=False, allow_infinity=False, places=30, min_value=-(10**15), max_value=10**15))
def test_money_text_is_within_half_a_cent(value: Decimal) -> None:
    text = display.usd(value)
    if value.is_zero():
        assert text == "0.00"
    elif text.startswith(("<", ">")):
        assert 0 < abs(value) <= Decimal("0.005")
    else:
        assert abs(Decimal(text.replace(",", "")) - value) <= Decimal("0.005")
        assert text.split(".")[1].__len__() == 2
