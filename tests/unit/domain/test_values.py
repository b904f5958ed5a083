"""Exactness of the value types: no float, no rounding, canonical strings, lossless base units, valid ids."""

from __future__ import annotations

from decimal import Decimal, Inexact

import pytest
from pydantic import BaseModel, ValidationError

from arbtui.domain.values import (
    BlockRef,
    Cents,
    Direction,
    ExecutionId,
    InvalidAmount,
    InvalidSymbol,
    PriceUsdc,
    Shares,
    Symbol,
    TradeId,
    Usdc,
    canonical,
    to_decimal,
)

UINT256_MAX = 2**256 - 1
HASH = "0x" + "ab" * 32


def test_decimal_sum_is_exact() -> None:
    total = Shares("0.3") + Shares("0.5") + Shares("0.4")
    assert total == Shares("1.2")
    assert total.value == Decimal("1.2")
    assert str(total) == "1.2"
    assert Shares("0.1") + Shares("0.2") == Shares("0.3")
    assert Shares("1.2") - Shares("1.2") + Shares("-0.2") == Shares("-0.2")


def test_eighteen_decimal_arithmetic_is_exact() -> None:
    tiny = Shares("0.000000000000000001")
    assert tiny.scaled(10**18) == Shares(1)
    big = Shares("123456789012345678901234567890.123456789012345678")
    assert (big + tiny) - big == tiny


def test_arithmetic_that_would_round_raises() -> None:
    huge = Shares(Decimal("1" + "0" * 200))
    with pytest.raises(Inexact):
        _ = huge + Shares("0.1")


@pytest.mark.parametrize("cls", [Shares, Usdc, PriceUsdc, Cents])
@pytest.mark.parametrize("bad", [0.1, 1.0, float("nan"), True, None, [1], "abc", "NaN", "Infinity", "-inf", ""])
def test_constructors_refuse_floats_bools_and_non_numbers(cls: type[Shares], bad: object) -> None:
    with pytest.raises(InvalidAmount):
        cls(bad)


def test_to_decimal_refuses_floats_and_accepts_exact_inputs() -> None:
    with pytest.raises(InvalidAmount, match="exact"):
        to_decimal(0.3)
    assert to_decimal(" 0.3 ") == Decimal("0.3")
    assert to_decimal(7) == Decimal(7)
    assert to_decimal(Decimal("1e-18")) == Decimal("0.000000000000000001")


class Payload(BaseModel):
    shares: Shares
    usdc: Usdc
    price: PriceUsdc
    cents: Cents


GOOD = {"shares": "0.3", "usdc": "60.000001", "price": "200", "cents": "18712.5"}


@pytest.mark.parametrize("field", list(GOOD))
@pytest.mark.parametrize("bad", [0.3, 1.0, True, None])
def test_pydantic_validation_refuses_floats(field: str, bad: object) -> None:
    with pytest.raises(ValidationError):
        Payload.model_validate({**GOOD, field: bad})


def test_pydantic_refuses_a_quantity_of_another_unit() -> None:
    with pytest.raises(ValidationError, match="expected Shares"):
        Payload.model_validate({**GOOD, "shares": Usdc("1")})


def test_pydantic_round_trips_exact_strings() -> None:
    model = Payload.model_validate({**GOOD, "shares": "0.000000000000000001", "usdc": 5})
    dumped = model.model_dump(mode="json")
    assert dumped == {"shares": "0.000000000000000001", "usdc": "5", "price": "200", "cents": "18712.5"}
    assert Payload.model_validate_json(model.model_dump_json()) == model


def test_quantities_of_different_units_do_not_mix() -> None:
    with pytest.raises(TypeError):
        _ = Shares(1) + Usdc(1)  # type: ignore[operator]
    with pytest.raises(TypeError):
        _ = Shares(1) < Usdc(2)  # type: ignore[operator]
    assert Shares(1) != Usdc(1)
    with pytest.raises(InvalidAmount):
        Shares(1).scaled(0.5)  # type: ignore[arg-type]


def test_quantities_are_immutable_and_hash_by_value() -> None:
    s = Shares("1.50")
    with pytest.raises(AttributeError):
        s.value = Decimal(2)  # type: ignore[misc]
    assert s == Shares("1.5")
    assert hash(s) == hash(Shares("1.5"))
    assert hash(Shares("-0")) == hash(Shares(0))
    assert len({Shares("1.0"), Shares("1"), Shares("1.000")}) == 1


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1.20", "1.2"),
        ("-0.2", "-0.2"),
        ("100", "100"),
        ("1E+2", "100"),
        ("0.000", "0"),
        ("-0", "0"),
        ("1e-18", "0.000000000000000001"),
        ("000123.4500", "123.45"),
        (str(UINT256_MAX), str(UINT256_MAX)),
    ],
)
def test_canonical_string_form(text: str, expected: str) -> None:
    assert canonical(Decimal(text)) == expected
    assert str(Shares(text)) == expected
    assert repr(Shares(text)) == f"Shares('{expected}')"


@pytest.mark.parametrize(
    ("raw", "decimals", "text"),
    [
        (1, 18, "0.000000000000000001"),
        (1_200_000_000_000_000_000, 18, "1.2"),
        (UINT256_MAX, 18, "115792089237316195423570985008687907853269984665640564039457.584007913129639935"),
        (UINT256_MAX, 0, str(UINT256_MAX)),
        (UINT256_MAX, 36, "115792089237316195423570985008687907853269.984665640564039457584007913129639935"),
        (0, 18, "0"),
    ],
)
def test_base_units_round_trip_without_loss(raw: int, decimals: int, text: str) -> None:
    shares = Shares.from_base_units(raw, decimals)
    assert str(shares) == text
    assert shares.to_base_units(decimals) == raw
    assert Usdc.from_base_units(raw, decimals).to_base_units(decimals) == raw


def test_usdc_defaults_to_six_decimals() -> None:
    assert str(Usdc.from_base_units(1_234_567)) == "1.234567"
    assert Usdc("1.234567").to_base_units() == 1_234_567


def test_base_units_refuse_values_with_too_many_decimals_or_bad_arguments() -> None:
    with pytest.raises(InvalidAmount, match="more than 6 decimals"):
        Usdc("0.0000001").to_base_units(6)
    with pytest.raises(InvalidAmount):
        Shares.from_base_units(1.0, 18)  # type: ignore[arg-type]
    with pytest.raises(InvalidAmount):
        Shares.from_base_units(True, 18)
    for decimals in (-1, 37):
        with pytest.raises(InvalidAmount, match="decimals"):
            Shares.from_base_units(1, decimals)


def test_rounding_helpers_name_their_direction() -> None:
    assert Shares("1.7").floor_whole() == Shares(1)
    assert Shares("-1.2").floor_whole() == Shares(-1)
    assert Shares("0.1234567899").round_down_to(Decimal("1e-9")) == Shares("0.123456789")
    assert Shares("-0.1234567899").round_down_to(Decimal("1e-9")) == Shares("-0.123456789")
    assert Shares("2.000").is_whole
    assert not Shares("2.000000000000000001").is_whole
    assert Usdc("1.005").round_cents() == Usdc("1.00")
    assert Usdc("1.015").round_cents() == Usdc("1.02")
    assert Cents("18712.5").rounded() == 18712
    assert Cents("18713.5").rounded() == 18714


def test_prices() -> None:
    assert PriceUsdc.per_share(Usdc("60"), Shares("0.3")) == PriceUsdc("200")
    assert PriceUsdc("187.125").to_cents() == Cents("18712.5")
    assert Cents("18712.5").to_price() == PriceUsdc("187.125")
    assert PriceUsdc("10").notional(Shares("0.37")) == Usdc("3.7")
    with pytest.raises(InvalidAmount):
        PriceUsdc.per_share(Usdc(1), Shares.zero())
    third = PriceUsdc.per_share(Usdc(1), Shares(3))
    assert len(str(third).replace("0.", "")) == 60  # 60 significant digits, half-even


def test_direction_sign_convention() -> None:
    assert Direction.BUY.signed(Shares("0.5")) == Shares("0.5")
    assert Direction.SELL.signed(Shares("0.5")) == Shares("-0.5")
    assert Direction.SELL.signed(Shares("-0.5")) == Shares("-0.5")
    assert Direction.to_reduce(Shares("0.2")) is Direction.SELL
    assert Direction.to_reduce(Shares("-0.2")) is Direction.BUY
    assert Direction.BUY.opposite is Direction.SELL
    assert Direction.SELL.opposite is Direction.BUY


@pytest.mark.parametrize("ok", ["AAPL", "A", "BRK.B", "TSLA", "GOOGL", "ABCDEFGHIJ", "BF.AB", "X1"])
def test_valid_symbols(ok: str) -> None:
    assert Symbol(ok) == ok


@pytest.mark.parametrize(
    "bad",
    ["", "aapl", "tAAPL", "AAPL0x", "1AAPL", " AAPL", "AAPL ", "AAPL\n", "ABCDEFGHIJK", "BRK.", "BRK.ABC", "BRK-B"],
)
def test_invalid_symbols(bad: str) -> None:
    with pytest.raises(InvalidSymbol):
        Symbol(bad)


def test_trade_id_text_form_and_parse() -> None:
    assert str(TradeId(HASH, 12)) == f"{HASH}:12"
    assert str(TradeId(HASH, 12, 1)) == f"{HASH}:12:1"
    for text in (f"{HASH}:12", f"{HASH}:12:1", f"{HASH}:0"):
        assert str(TradeId.parse(text)) == text
    assert TradeId(HASH, 1) < TradeId(HASH, 2)


@pytest.mark.parametrize(
    ("tx", "index", "leg"),
    [
        ("0x" + "AB" * 32, 0, 0),
        ("ab" * 32, 0, 0),
        ("0x" + "ab" * 31, 0, 0),
        (HASH, -1, 0),
        (HASH, True, 0),
        (HASH, 0, 2),
        (HASH, 0, -1),
    ],
)
def test_invalid_trade_ids(tx: str, index: int, leg: int) -> None:
    with pytest.raises(ValueError, match=r"tx hash|log index|leg"):
        TradeId(tx, index, leg)


@pytest.mark.parametrize("text", ["", HASH, f"{HASH}:x", f"{HASH}:1:2", f"{HASH}:1:0:0", "0xab:1"])
def test_unparseable_trade_ids(text: str) -> None:
    with pytest.raises(ValueError, match="trade id"):
        TradeId.parse(text)


def test_execution_id_is_a_lower_case_uuid() -> None:
    ok = "0f8fad5b-d9cb-469f-a165-70867728950e"
    assert ExecutionId(ok) == ok
    for bad in (ok.upper(), ok.replace("-", ""), ok[:-1], "", f"{{{ok}}}", ok + " "):
        with pytest.raises(ValueError, match="UUID"):
            ExecutionId(bad)


def test_block_ref_validation() -> None:
    assert BlockRef(0, HASH).number == 0
    for number, block_hash in ((-1, HASH), (True, HASH), (1, HASH.upper())):
        with pytest.raises(ValueError, match="block"):
            BlockRef(number, block_hash)


@pytest.mark.parametrize("leg", [True, 1.0])
def test_trade_id_leg_must_be_an_integer(leg: object) -> None:
    with pytest.raises(ValueError, match="leg"):
        TradeId(HASH, 3, leg)  # type: ignore[arg-type]


@pytest.mark.parametrize("suffix", [":012", ":+12", ":1_2", ": 12", ":12:0"])
def test_trade_id_parse_accepts_only_the_canonical_form(suffix: str) -> None:
    with pytest.raises(ValueError, match="trade id"):
        TradeId.parse(HASH + suffix)
