"""Pure decoding: Raindex logs → our fills (no I/O)."""

from __future__ import annotations

import pytest

from arbtui.chain import decode
from arbtui.chain.decode import DecodeConfig, RawLog, SymbolMarkers, TokenFacts, TokenProblem, decode_range
from arbtui.domain.onchain_trade import OnChainFill, SkippedFill, SkipReason
from arbtui.domain.values import Direction, InvalidSymbol, PriceUsdc, Shares, Symbol, TradeId, Usdc
from tests.chain_support.logs import (
    AAPL0X,
    BOOK,
    NVDAS1,
    OTHER,
    OWNER,
    TAAPL,
    TX,
    USDC,
    after_clear_data,
    clear_data,
    config,
    order,
    raw,
    standard_tokens,
    take_data,
    take_log,
)

SELLS_AAPL = order(OWNER, inputs=[(USDC, 6)], outputs=[(TAAPL, 18)])  # receives USDC, gives tAAPL
BUYS_AAPL = order(OWNER, inputs=[(TAAPL, 18)], outputs=[(USDC, 6)])


def run(logs: list[RawLog], tokens: dict[str, TokenFacts] | None = None) -> tuple[list[OnChainFill], list[SkippedFill]]:
    return decode_range(logs, standard_tokens() if tokens is None else tokens, config())


def test_topics_match_the_reference_hashes() -> None:
    assert decode.TAKE_ORDER_V2 == "0x10de99b9032184587540c04e1850dff94a7683ae1fcc9eb06098621c739c0275"
    assert decode.TAKE_ORDER_V2_BYTES32 == "0xdb6a7f7c95db17afba67ed8b030afd2d087b130ec173b9f15ccde01097dd9353"
    assert decode.CLEAR_V2 == "0x692ee69af2843c70772be93470669f3c73e583316a047b6bfefdae5629de37ce"
    assert decode.AFTER_CLEAR == "0x3f20e55919cca701abb2a40ab72542b25ea7eed63a50f979dd2cd3231e5f488d"


def test_take_of_our_sell_order_reads_amounts_from_the_takers_side() -> None:
    # The taker received 2.5 tAAPL (its input) and paid 468.75 USDC (its output): we SOLD 2.5 shares.
    fills, skips = run([take_log(SELLS_AAPL, taker_input=25 * 10**17, taker_output=468_750_000)])
    assert skips == []
    (fill,) = fills
    assert fill.direction is Direction.SELL
    assert fill.amount == Shares("2.5")
    assert fill.usdc_amount == Usdc("468.75")
    assert fill.price_usdc == PriceUsdc("187.5")
    assert (fill.shares_raw, fill.share_decimals, fill.usdc_raw, fill.usdc_decimals) == (
        25 * 10**17,
        18,
        468_750_000,
        6,
    )
    assert fill.symbol == Symbol("AAPL")
    assert fill.token_symbol == "tAAPL"
    assert fill.token_address == TAAPL
    assert fill.trade_id == TradeId(TX, 0)
    assert fill.source_event == "TakeOrderV2"


def test_take_of_our_buy_order_with_asymmetric_decimals() -> None:
    # NVDAs1 has 9 decimals: the taker received 100.000001 USDC and paid 0.75 NVDA → we BOUGHT 0.75.
    buys_nvda = order(OWNER, inputs=[(NVDAS1, 9)], outputs=[(USDC, 6)])
    fills, _ = run([take_log(buys_nvda, taker_input=100_000_001, taker_output=750_000_000)])
    (fill,) = fills
    assert fill.direction is Direction.BUY
    assert fill.symbol == "NVDA"
    assert fill.amount == Shares("0.75")
    assert fill.usdc_amount == Usdc("100.000001")
    assert fill.price_usdc == PriceUsdc.per_share(Usdc("100.000001"), Shares("0.75"))
    assert str(fill.price_usdc).startswith("133.33333466666")


def test_io_indexes_pick_the_declared_entries() -> None:
    multi = order(OWNER, inputs=[(AAPL0X, 18), (USDC, 6)], outputs=[(USDC, 6), (TAAPL, 18)])
    log = raw(decode.TAKE_ORDER_V2, take_data(multi, 1, 1, 10**18, 200_000_000), 3)
    (fill,), _ = run([log])
    assert (fill.symbol, fill.direction, fill.usdc_amount) == (Symbol("AAPL"), Direction.SELL, Usdc(200))
    assert fill.token_symbol == "tAAPL"


def test_both_take_order_topic_forms_decode_alike() -> None:
    a = take_log(SELLS_AAPL, 10**18, 150_000_000, 0)
    b = take_log(SELLS_AAPL, 10**18, 150_000_000, 1, topic=decode.TAKE_ORDER_V2_BYTES32)
    fills, _ = run([a, b])
    assert [f.trade_id.log_index for f in fills] == [0, 1]
    assert fills[0].amount == fills[1].amount == Shares(1)


def test_other_owners_and_other_contracts_are_ignored() -> None:
    theirs = order(OTHER, inputs=[(USDC, 6)], outputs=[(TAAPL, 18)])
    ours_elsewhere = take_log(SELLS_AAPL, 10**18, 10**6, 2, address="0x" + "99" * 20)
    assert run([take_log(theirs, 10**18, 10**6, 1), ours_elsewhere]) == ([], [])


def _clear(alice: tuple[object, ...], bob: tuple[object, ...], change: tuple[int, int, int, int]) -> list[RawLog]:
    return [
        raw(decode.CLEAR_V2, clear_data(alice, bob, (0, 0, 0, 0)), 4),
        raw(decode.AFTER_CLEAR, after_clear_data(*change), 5),
    ]


def test_clear_where_we_are_alice() -> None:
    bob = order(OTHER, inputs=[(TAAPL, 18)], outputs=[(USDC, 6)])
    # (aliceOutput, bobOutput, aliceInput, bobInput): alice gives 3 tAAPL, receives 600 USDC.
    (fill,), skips = run(_clear(SELLS_AAPL, bob, (3 * 10**18, 600_000_000, 600_000_000, 3 * 10**18)))
    assert skips == []
    assert (fill.direction, fill.amount, fill.usdc_amount) == (Direction.SELL, Shares(3), Usdc(600))
    assert fill.trade_id == TradeId(TX, 4)
    assert fill.source_event == "ClearV2"


def test_clear_where_we_are_bob() -> None:
    alice = order(OTHER, inputs=[(USDC, 6)], outputs=[(TAAPL, 18)])
    (fill,), _ = run(_clear(alice, BUYS_AAPL, (2 * 10**18, 380_000_000, 380_000_000, 2 * 10**18)))
    assert (fill.direction, fill.amount, fill.usdc_amount) == (Direction.BUY, Shares(2), Usdc(380))
    assert fill.trade_id == TradeId(TX, 4, leg=0)


def test_clear_where_both_orders_are_ours_gives_two_fills() -> None:
    fills, _ = run(_clear(SELLS_AAPL, BUYS_AAPL, (10**18, 190_000_000, 190_000_000, 10**18)))
    assert [(f.trade_id, f.direction) for f in fills] == [
        (TradeId(TX, 4, 0), Direction.SELL),
        (TradeId(TX, 4, 1), Direction.BUY),
    ]
    assert fills[0].amount == fills[1].amount == Shares(1)


def test_several_fills_in_one_transaction_keep_distinct_ids_in_chain_order() -> None:
    logs = [take_log(SELLS_AAPL, (i + 1) * 10**18, 100_000_000, i) for i in (2, 0, 1)]
    fills, _ = run(logs)
    assert [f.trade_id.log_index for f in fills] == [0, 1, 2]
    assert [f.amount for f in fills] == [Shares(1), Shares(2), Shares(3)]


@pytest.mark.parametrize(
    ("symbol", "ticker"),
    [("tAAPL", "AAPL"), ("AAPL0x", "AAPL"), ("NVDAs1", "NVDA"), ("tBRK.B", "BRK.B"), ("tT", "T")],
)
def test_symbol_markers(symbol: str, ticker: str) -> None:
    assert SymbolMarkers().ticker(symbol) == ticker


@pytest.mark.parametrize("symbol", ["AAPL", "tesla", "tAAPL0x", "xAAPL", "t", "0x", "taapl", "USDC"])
def test_unsupported_symbol_markers(symbol: str) -> None:
    with pytest.raises(InvalidSymbol):
        SymbolMarkers().ticker(symbol)


def test_markers_are_configurable() -> None:
    assert SymbolMarkers(prefixes=(), suffixes=("x",)).ticker("AAPLx") == "AAPL"
    with pytest.raises(InvalidSymbol):
        SymbolMarkers(prefixes=(), suffixes=("x",)).ticker("tAAPL")


# --- hostile and malformed input: every case is a SkippedFill with a reason ----------------------

FAKE_USDC = "0x00000000000000000000000000000000000fa4e0"
BAD = "0x00000000000000000000000000000000000bad00"


def _one_skip(logs: list[RawLog], tokens: dict[str, TokenFacts] | None = None) -> SkippedFill:
    fills, skips = run(logs, tokens)
    assert fills == []
    assert len(skips) == 1, skips
    return skips[0]


def _with(**extra: TokenFacts) -> dict[str, TokenFacts]:
    tokens = standard_tokens()
    tokens.update({facts.address: facts for facts in extra.values()})
    return tokens


def test_truncated_data_is_malformed() -> None:
    good = take_log(SELLS_AAPL, 10**18, 10**6, 0)
    skip = _one_skip([raw(decode.TAKE_ORDER_V2, good.data[:100], 0)])
    assert skip.reason is SkipReason.MALFORMED_LOG
    assert skip.trade_id == TradeId(TX, 0)
    assert "does not decode" in skip.detail
    assert TX in skip.detail


def test_wrong_topic_count_is_malformed() -> None:
    log = raw(decode.TAKE_ORDER_V2, take_log(SELLS_AAPL, 10**18, 10**6).data, 0, extra_topics=["0x" + "00" * 32])
    assert _one_skip([log]).reason is SkipReason.MALFORMED_LOG


def test_io_index_out_of_range_is_malformed() -> None:
    log = raw(decode.TAKE_ORDER_V2, take_data(SELLS_AAPL, 5, 0, 10**18, 10**6), 0)
    skip = _one_skip([log])
    assert skip.reason is SkipReason.MALFORMED_LOG
    assert "out of range" in skip.detail


def test_unknown_token() -> None:
    odd = order(OWNER, inputs=[(USDC, 6)], outputs=[(BAD, 18)])
    tokens = _with(bad=TokenFacts(BAD, None, None, (TokenProblem.NO_CONTRACT,)))
    assert _one_skip([take_log(odd, 10**18, 10**6)], tokens).reason is SkipReason.UNKNOWN_TOKEN


def test_symbol_reverting() -> None:
    odd = order(OWNER, inputs=[(USDC, 6)], outputs=[(BAD, 18)])
    tokens = _with(bad=TokenFacts(BAD, None, 18, (TokenProblem.SYMBOL_REVERTED,), "symbol() reverted"))
    assert _one_skip([take_log(odd, 10**18, 10**6)], tokens).reason is SkipReason.SYMBOL_UNREADABLE


def test_absurd_decimals() -> None:
    odd = order(OWNER, inputs=[(USDC, 6)], outputs=[(BAD, 77)])
    tokens = _with(bad=TokenFacts(BAD, "tABSD", 77))
    skip = _one_skip([take_log(odd, 10**18, 10**6)], tokens)
    assert skip.reason is SkipReason.BAD_DECIMALS
    assert "absurd" in skip.detail


def test_decimals_mismatch() -> None:
    odd = order(OWNER, inputs=[(USDC, 6)], outputs=[(TAAPL, 6)])  # order declares 6, token says 18
    skip = _one_skip([take_log(odd, 10**6, 10**6)])
    assert skip.reason is SkipReason.BAD_DECIMALS
    assert "declares 6" in skip.detail


@pytest.mark.parametrize(("taker_input", "taker_output"), [(0, 10**6), (10**18, 0)])
def test_zero_amounts(taker_input: int, taker_output: int) -> None:
    assert _one_skip([take_log(SELLS_AAPL, taker_input, taker_output)]).reason is SkipReason.ZERO_AMOUNT


def test_non_usdc_pair() -> None:
    equity_for_equity = order(OWNER, inputs=[(AAPL0X, 18)], outputs=[(TAAPL, 18)])
    assert _one_skip([take_log(equity_for_equity, 10**18, 10**18)]).reason is SkipReason.NON_USDC_PAIR


def test_usdc_is_matched_by_address_not_by_name() -> None:
    impostor = order(OWNER, inputs=[(FAKE_USDC, 6)], outputs=[(TAAPL, 18)])
    tokens = _with(fake=TokenFacts(FAKE_USDC, "USDC", 6))
    assert _one_skip([take_log(impostor, 10**18, 10**6)], tokens).reason is SkipReason.NON_USDC_PAIR


def test_unsupported_symbol_marker() -> None:
    plain = order(OWNER, inputs=[(USDC, 6)], outputs=[(BAD, 18)])
    tokens = _with(bad=TokenFacts(BAD, "tesla", 18))
    assert _one_skip([take_log(plain, 10**18, 10**6)], tokens).reason is SkipReason.UNSUPPORTED_SYMBOL


def test_missing_after_clear_skips_each_of_our_legs() -> None:
    logs = [raw(decode.CLEAR_V2, clear_data(SELLS_AAPL, BUYS_AAPL, (0, 0, 0, 0)), 4)]
    fills, skips = run(logs)
    assert fills == []
    assert [(s.reason, s.trade_id.leg) for s in skips] == [
        (SkipReason.MISSING_AFTER_CLEAR, 0),
        (SkipReason.MISSING_AFTER_CLEAR, 1),
    ]


def test_after_clear_of_another_transaction_does_not_pair() -> None:
    logs = [
        raw(decode.CLEAR_V2, clear_data(SELLS_AAPL, order(OTHER, [], []), (0, 0, 0, 0)), 4),
        raw(decode.AFTER_CLEAR, after_clear_data(1, 1, 1, 1), 5, tx="0x" + "ef" * 32),
    ]
    assert _one_skip(logs).reason is SkipReason.MISSING_AFTER_CLEAR


def test_a_bad_log_does_not_hide_the_good_ones_around_it() -> None:
    good_a = take_log(SELLS_AAPL, 10**18, 10**6, 0)
    bad = raw(decode.TAKE_ORDER_V2, b"\x00" * 7, 1)
    good_b = take_log(SELLS_AAPL, 10**18, 10**6, 2)
    fills, skips = run([good_a, bad, good_b])
    assert [f.trade_id.log_index for f in fills] == [0, 2]
    assert [s.trade_id.log_index for s in skips] == [1]


def test_config_validates_addresses() -> None:
    with pytest.raises(ValueError, match="owner"):
        DecodeConfig(orderbook=BOOK, owner="0x123", usdc=USDC)
    assert DecodeConfig(orderbook=BOOK.upper().replace("0X", "0x"), owner=OWNER, usdc=USDC).orderbook == BOOK


def test_rpc_envelope_is_parsed_and_checked() -> None:
    obj = {
        "address": BOOK,
        "topics": [decode.TAKE_ORDER_V2],
        "data": "0x" + take_log(SELLS_AAPL, 1, 1).data.hex(),
        "blockNumber": "0x10",
        "blockHash": "0x" + "cd" * 32,
        "transactionHash": TX,
        "logIndex": "0x2",
        "blockTimestamp": "0x65",
    }
    log = RawLog.from_rpc(obj)
    assert (log.block_number, log.log_index, log.block_timestamp, log.removed) == (16, 2, 101, False)
    with pytest.raises(decode.DecodeError):
        RawLog.from_rpc({**obj, "transactionHash": None})
