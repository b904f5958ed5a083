"""Rain Float decoding: RAINDEX.md's worked examples, sign handling, non-canonical pairs, base units."""

from __future__ import annotations

from decimal import Decimal

import pytest

from arbtui.domain.rain_float import FloatAmountError, RainFloat


def test_the_worked_examples_of_raindex_md() -> None:
    two_and_a_half = RainFloat.from_hex("0xffffffee000000000000000000000000000000000000000022b1c8c1227a0000")
    assert (two_and_a_half.exponent, two_and_a_half.coefficient) == (-18, 2_500_000_000_000_000_000)
    assert two_and_a_half.value == Decimal("2.5")
    half = RainFloat.from_hex("0xffffffff00000000000000000000000000000000000000000000000000000005")
    assert (half.coefficient, half.exponent, half.value) == (5, -1, Decimal("0.5"))


def test_twos_complement_of_both_fields() -> None:
    negative = RainFloat.from_hex("0x00000000" + "f" * 56)
    assert (negative.coefficient, negative.exponent) == (-1, 0)
    extremes = RainFloat.from_hex("0x80000000" + "8" + "0" * 55)
    assert (extremes.coefficient, extremes.exponent) == (-(2**223), -(2**31))
    top = RainFloat.from_hex("0x7fffffff" + "7" + "f" * 55)
    assert (top.coefficient, top.exponent) == (2**223 - 1, 2**31 - 1)
    assert len(str(top.coefficient)) == 68  # int224 reaches 68 digits: valid, kept whole
    assert top.value == Decimal(f"{2**223 - 1}E{2**31 - 1}")


def test_round_trip_and_non_canonical_pairs_are_equal_values() -> None:
    for coefficient, exponent in [(5, 0), (50, -1), (5 * 10**60, -60), (-7, 3), (0, 99), (0, -5)]:
        encoded = RainFloat(coefficient, exponent).to_bytes()
        assert RainFloat.from_bytes(encoded) == RainFloat(coefficient, exponent)
    assert RainFloat(5, 0).value == RainFloat(50, -1).value == RainFloat(5 * 10**60, -60).value
    assert RainFloat(5, 0).to_bytes() != RainFloat(50, -1).to_bytes()


def test_no_28_digit_context_rounds_the_value() -> None:
    coefficient = 10**66 + 1  # 67 digits: the default context would round the trailing 1 away
    value = RainFloat(coefficient, -66).value
    assert value - 1 == Decimal("1E-66")
    assert value.as_tuple().digits[-1] == 1


def test_base_units_exact_or_refused() -> None:
    assert RainFloat(25, -1).to_base_units(18) == 2_500_000_000_000_000_000
    assert RainFloat(25, -1).to_base_units(1) == 25
    assert RainFloat(2500, -3).to_base_units(1) == 25  # trailing zeros are not extra decimals
    assert RainFloat(-125, -2).to_base_units(6) == -1_250_000
    assert RainFloat(0, -(2**31)).to_base_units(6) == 0
    assert RainFloat(7, 5).to_base_units(0) == 700_000
    with pytest.raises(FloatAmountError, match="more decimals than the token's 6"):
        RainFloat(1, -7).to_base_units(6)
    with pytest.raises(FloatAmountError, match="more decimals"):
        RainFloat(3, -(2**31)).to_base_units(18)  # refused at once, no 10**(2**31) built
    with pytest.raises(FloatAmountError, match="absurd"):
        RainFloat(1, 2**31 - 1).to_base_units(18)
    with pytest.raises(ValueError, match="32 bytes"):
        RainFloat.from_bytes(b"\x00" * 31)
