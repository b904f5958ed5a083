"""Pure decoding of V5/V6 fill events (``TakeOrderV3``, ``ClearV3`` + ``AfterClearV2``): Float amounts,
IOs without decimals, several orderbooks in one range (no I/O).

The Float words here are packed by :func:`word` — the documented layout (int32 exponent over an int224
coefficient, two's complement), written in the test, not arbtui's encoder; the integration tests take
theirs from Rain's own ``@rainlanguage/float``."""

from __future__ import annotations

import pytest

from arbtui.chain import decode
from arbtui.chain.decode import DecodeConfig, RawLog, TokenFacts, decode_range
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill, SkipReason
from arbtui.domain.values import Direction, PriceUsdc, Shares, Symbol, TradeId, Usdc
from tests.chain_support.logs import (
    BOOK,
    BOOK_V6,
    NVDAS1,
    OTHER,
    OWNER,
    TAAPL,
    TX,
    USDC,
    after_clear_data,
    after_clear_v2_data,
    clear_v3_data,
    config_both,
    order,
    order_v6,
    raw,
    standard_tokens,
    take_data,
    take_v3_data,
)

TWO_DEC = "0x00000000000000000000000000000000000aa0d2"
"""An equity with fewer decimals than USDC (2)."""


def word(coefficient: int, exponent: int) -> bytes:
    """A Float as the interface documents it (test-side packing)."""
    return (((exponent % 2**32) << 224) | (coefficient % 2**224)).to_bytes(32, "big")


def tokens() -> dict[str, TokenFacts]:
    return {**standard_tokens(), TWO_DEC: TokenFacts(TWO_DEC, "tBRK", 2)}


SELLS_AAPL = order_v6(OWNER, inputs=[USDC], outputs=[TAAPL])
BUYS_AAPL = order_v6(OWNER, inputs=[TAAPL], outputs=[USDC])
THEIR_BUY = order_v6(OTHER, inputs=[TAAPL], outputs=[USDC])
THEIR_SELL = order_v6(OTHER, inputs=[USDC], outputs=[TAAPL])


def take_v3(taken: tuple[object, ...], taker_input: bytes, taker_output: bytes, log_index: int = 0,
            **kwargs: object) -> RawLog:  # fmt: skip
    data = take_v3_data(taken, 0, 0, taker_input, taker_output)
    return raw(decode.TAKE_ORDER_V3, data, log_index, **{"address": BOOK_V6, **kwargs})  # type: ignore[arg-type]


def run(logs: list[RawLog], config: DecodeConfig | None = None) -> tuple[list[OnChainFill], list[SkippedFill]]:
    return decode_range(logs, tokens(), config or config_both())


def test_v6_topics_match_the_reference_hashes() -> None:
    assert decode.TAKE_ORDER_V3 == "0x194f1feb3b4d7076a2c272e774e792e0c48bb8c7aa1a9a3671c1cd6da9e6b4c1"
    assert decode.CLEAR_V3 == "0x6fa7f4c28634b0a9d6831401c45ae468195fb63aed07308935c35374ff5d9e39"
    assert decode.AFTER_CLEAR_V2 == "0xd9fa84dd790c969daa5c33d8050dc06b4a9b59d5b42e2be5f5e8ae20447f618d"
    assert set(decode.INTAKE_TOPICS) >= {decode.TAKE_ORDER_V3, decode.CLEAR_V3, decode.AFTER_CLEAR_V2}
    assert set(decode.INTAKE_TOPICS) < decode.KNOWN_ORDERBOOK_TOPICS


def test_the_worked_examples_of_raindex_md_decode_exactly() -> None:
    # 0xffffffee…22b1c8c1227a0000 = 2.5 tokens; (5, -1) = 0.5 tokens — as whole-token amounts of a take
    two_and_a_half = bytes.fromhex("ffffffee000000000000000000000000000000000000000022b1c8c1227a0000")
    half = bytes.fromhex("ffffffff00000000000000000000000000000000000000000000000000000005")
    fills, skips = run([take_v3(SELLS_AAPL, taker_input=two_and_a_half, taker_output=half)])
    assert skips == []
    (fill,) = fills
    assert (fill.amount, fill.usdc_amount, fill.price_usdc) == (Shares("2.5"), Usdc("0.5"), PriceUsdc("0.2"))


def test_v6_take_of_our_sell_reads_the_takers_side_with_decimals_from_the_token() -> None:
    # the taker received 2.5 tAAPL and paid 468.75 USDC: we SOLD 2.5 shares at 187.5
    fills, skips = run([take_v3(SELLS_AAPL, taker_input=word(25, -1), taker_output=word(46875, -2))])
    assert skips == []
    (fill,) = fills
    assert fill.direction is Direction.SELL
    assert (fill.amount, fill.usdc_amount, fill.price_usdc) == (Shares("2.5"), Usdc("468.75"), PriceUsdc("187.5"))
    assert (fill.shares_raw, fill.share_decimals, fill.usdc_raw, fill.usdc_decimals) == (
        25 * 10**17,
        18,
        468_750_000,
        6,
    )
    assert fill.symbol == Symbol("AAPL")
    assert fill.source_event == "TakeOrderV3"
    assert fill.orderbook == BOOK_V6


def test_v6_take_of_our_buy_with_asymmetric_decimals() -> None:
    # 9-decimal NVDAs1: the taker got 100.000001 USDC from us and paid 0.75 NVDAs1 → we BOUGHT 0.75
    buys = order_v6(OWNER, inputs=[NVDAS1], outputs=[USDC])
    fills, skips = run([take_v3(buys, taker_input=word(100000001, -6), taker_output=word(75, -2))])
    assert skips == []
    (fill,) = fills
    assert (fill.direction, fill.symbol) == (Direction.BUY, Symbol("NVDA"))
    assert (fill.amount, fill.usdc_amount) == (Shares("0.75"), Usdc("100.000001"))
    assert (fill.shares_raw, fill.share_decimals) == (750_000_000, 9)


def test_an_equity_with_fewer_decimals_than_usdc() -> None:
    buys = order_v6(OWNER, inputs=[TWO_DEC], outputs=[USDC])
    fills, skips = run([take_v3(buys, taker_input=word(123456789, -6), taker_output=word(125, -2))])
    assert skips == []
    (fill,) = fills
    assert (fill.amount, fill.usdc_amount, fill.shares_raw, fill.share_decimals) == (
        Shares("1.25"), Usdc("123.456789"), 125, 2,
    )  # fmt: skip
    assert fill.price_usdc == PriceUsdc("98.7654312")


def test_non_canonical_floats_are_the_same_amounts() -> None:
    a = run([take_v3(SELLS_AAPL, word(25, -1), word(46875, -2))])[0][0]
    b = run([take_v3(SELLS_AAPL, word(25 * 10**40, -41), word(468750000000, -9))])[0][0]
    assert (a.amount, a.usdc_amount, a.shares_raw, a.usdc_raw) == (b.amount, b.usdc_amount, b.shares_raw, b.usdc_raw)


@pytest.mark.parametrize(
    ("shares", "usdc", "reason"),
    [
        (word(1, -19), word(1, 0), SkipReason.TOO_MANY_DECIMALS),  # 1e-19 tAAPL: finer than 18 decimals
        (word(1, 0), word(1, -7), SkipReason.TOO_MANY_DECIMALS),  # 1e-7 USDC: finer than 6 decimals
        (word(0, 0), word(1, 0), SkipReason.ZERO_AMOUNT),
        (word(0, -30), word(1, 0), SkipReason.ZERO_AMOUNT),
        (word(-25, -1), word(1, 0), SkipReason.ZERO_AMOUNT),  # negative
        (word(1, 0), word(-1, 0), SkipReason.ZERO_AMOUNT),
        (word(1, 2**31 - 1), word(1, 0), SkipReason.MALFORMED_LOG),  # absurd: more than a uint256 of units
    ],
)
def test_bad_float_amounts_are_skipped_with_the_reason(shares: bytes, usdc: bytes, reason: SkipReason) -> None:
    fills, skips = run([take_v3(SELLS_AAPL, taker_input=shares, taker_output=usdc)])
    assert fills == []
    (skip,) = skips
    assert skip.reason is reason
    assert skip.trade_id == TradeId(TX, 0)
    assert "block 100" in skip.detail


def test_truncated_v3_data_is_a_malformed_skip() -> None:
    data = take_v3_data(SELLS_AAPL, 0, 0, word(1, 0), word(1, 0))
    for cut in (len(data) - 1, len(data) // 2, 31):
        fills, skips = run([raw(decode.TAKE_ORDER_V3, data[:cut], 0, address=BOOK_V6)])
        assert fills == []
        assert [s.reason for s in skips] == [SkipReason.MALFORMED_LOG]
        assert "TakeOrderV3 data does not decode" in skips[0].detail


def clear_pair(alice: tuple[object, ...], bob: tuple[object, ...], change: tuple[bytes, ...], *,
               after_topic: str = decode.AFTER_CLEAR_V2, after_address: str = BOOK_V6) -> list[RawLog]:  # fmt: skip
    return [
        raw(decode.CLEAR_V3, clear_v3_data(alice, bob, (0, 0, 0, 0)), 3, address=BOOK_V6),
        raw(after_topic, after_clear_v2_data(*change), 4, address=after_address),
    ]


def test_v6_clears_as_alice_as_bob_and_both() -> None:
    # change = (aliceOutput, bobOutput, aliceInput, bobInput)
    alice_sells = clear_pair(SELLS_AAPL, THEIR_BUY, (word(3, 0), word(600, 0), word(600, 0), word(3, 0)))
    fills, skips = run(alice_sells)
    assert skips == []
    assert [(f.direction, f.amount, f.usdc_amount, f.source_event) for f in fills] == [
        (Direction.SELL, Shares(3), Usdc(600), "ClearV3")
    ]
    bob_buys = clear_pair(THEIR_SELL, BUYS_AAPL, (word(2, 0), word(380, 0), word(380, 0), word(2, 0)))
    fills, _ = run(bob_buys)
    assert [(f.direction, f.amount, f.usdc_amount, f.trade_id.leg) for f in fills] == [
        (Direction.BUY, Shares(2), Usdc(380), 0)
    ]
    both = clear_pair(SELLS_AAPL, BUYS_AAPL, (word(1, 0), word(190, 0), word(190, 0), word(1, 0)))
    fills, _ = run(both)
    assert [(f.direction, f.amount, f.trade_id.leg) for f in fills] == [
        (Direction.SELL, Shares(1), 0), (Direction.BUY, Shares(1), 1),
    ]  # fmt: skip


def test_clear_v3_without_after_clear_v2_is_skipped_per_leg_of_ours() -> None:
    lone = [raw(decode.CLEAR_V3, clear_v3_data(SELLS_AAPL, BUYS_AAPL, (0, 0, 0, 0)), 3, address=BOOK_V6)]
    fills, skips = run(lone)
    assert fills == []
    assert [(s.reason, s.trade_id.leg) for s in skips] == [
        (SkipReason.MISSING_AFTER_CLEAR, 0),
        (SkipReason.MISSING_AFTER_CLEAR, 1),
    ]
    assert "ClearV3 without a following AfterClearV2" in skips[0].detail


def test_an_after_clear_of_the_other_generation_or_another_book_does_not_pair() -> None:
    change = (word(3, 0), word(600, 0), word(600, 0), word(3, 0))
    v4_after = [
        *clear_pair(SELLS_AAPL, THEIR_BUY, change)[:1],
        raw(decode.AFTER_CLEAR, after_clear_data(3, 600, 600, 3), 4, address=BOOK_V6),
    ]
    other_book = clear_pair(SELLS_AAPL, THEIR_BUY, change, after_address=BOOK)
    for logs in (v4_after, other_book):
        fills, skips = run(logs)
        assert fills == []
        assert [s.reason for s in skips] == [SkipReason.MISSING_AFTER_CLEAR]


def test_v4_and_v6_books_in_one_range_and_unconfigured_books_ignored() -> None:
    v4_sell = order(OWNER, inputs=[(USDC, 6)], outputs=[(TAAPL, 18)])
    logs = [
        raw(decode.TAKE_ORDER_V2, take_data(v4_sell, 0, 0, 10**18, 200_000_000), 0, address=BOOK),
        take_v3(BUYS_AAPL, taker_input=word(190, 0), taker_output=word(1, 0), log_index=1),
        take_v3(SELLS_AAPL, word(1, 0), word(1, 0), log_index=2, address="0x" + "99" * 20),
        raw(decode.TAKE_ORDER_V2, take_data(v4_sell, 0, 0, 1, 1), 3, address="0x" + "98" * 20),
    ]
    fills, skips = run(logs)
    assert skips == []
    assert [(f.source_event, f.orderbook, f.direction, f.symbol) for f in fills] == [
        ("TakeOrderV2", BOOK, Direction.SELL, Symbol("AAPL")),
        ("TakeOrderV3", BOOK_V6, Direction.BUY, Symbol("AAPL")),
    ]
    only_v4 = DecodeConfig(orderbook=BOOK, owner=OWNER, usdc=USDC)
    assert [f.orderbook for f in run(logs, only_v4)[0]] == [BOOK]


def test_a_v6_io_index_out_of_range_is_malformed() -> None:
    data = take_v3_data(SELLS_AAPL, 0, 5, word(1, 0), word(1, 0))
    fills, skips = run([raw(decode.TAKE_ORDER_V3, data, 0, address=BOOK_V6)])
    assert fills == []
    assert skips[0].reason is SkipReason.MALFORMED_LOG
    assert "output IO index 5 out of range" in skips[0].detail


def test_v6_vault_id_is_read_from_bytes32() -> None:
    sides, _ = decode.extract_sides([take_v3(order_v6(OWNER, [USDC], [TAAPL], vault=0), word(1, 0), word(1, 0))],
                                    config_both())  # fmt: skip
    assert (sides[0].received.vault_id, sides[0].received.decimals) == (0, None)
