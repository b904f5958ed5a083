"""The demo market's pure parts: the price walk, the sizes, the quotes and the solver's choice of move."""

from __future__ import annotations

import random
from collections import Counter
from decimal import Decimal

import pytest

from arbtui.demo.market import (
    BPS,
    LISTINGS,
    MIN_PRICE,
    UNKNOWN,
    WRAPPED,
    Book,
    Move,
    PriceWalk,
    Strategy,
    Trade,
    price_raw,
    price_usd,
    quote_usdc,
    random_shares,
)
from arbtui.demo.solver import SolverStats, float_bytes
from arbtui.domain.rain_float import RainFloat
from arbtui.domain.values import Direction, PriceUsdc, Shares


def test_prices_convert_exactly_to_pyth_integers_and_back() -> None:
    assert price_raw("231.40") == 23_140_000_000
    assert price_usd(23_140_000_001) == PriceUsdc("231.40000001")
    with pytest.raises(ValueError, match="more than 8 decimals"):
        price_raw("1.000000001")


def test_the_walk_moves_each_price_by_at_most_its_step_and_never_below_one_dollar() -> None:
    rng = random.Random(5)
    walk = PriceWalk.starting(max_step_bps=15)
    seen: set[int] = set()
    for _ in range(500):
        before = dict(walk.prices)
        walk.tick(rng)
        for ticker, raw in walk.prices.items():
            assert abs(raw - before[ticker]) * BPS <= before[ticker] * 15
            seen.add(raw)
    assert len(seen) > 100, "the prices actually walk"
    low = PriceWalk({"AAPL": MIN_PRICE}, max_step_bps=500)
    for _ in range(200):
        low.tick(rng)
        assert low.prices["AAPL"] >= MIN_PRICE


def test_the_same_seed_walks_the_same_way() -> None:
    first, second = PriceWalk.starting(), PriceWalk.starting()
    a, b = random.Random(11), random.Random(11)
    for _ in range(50):
        first.tick(a)
        second.tick(b)
    assert first.prices == second.prices
    assert first.prices != PriceWalk.starting().prices


def test_sizes_are_fractional_within_bounds_and_truncated_to_the_token_precision() -> None:
    rng = random.Random(3)
    eighteen = [random_shares(rng, 18) for _ in range(300)]
    assert all(10**16 <= raw <= 2 * 10**18 for raw in eighteen)
    assert sum(1 for raw in eighteen if raw % 10**9) > 250, "18-decimal sizes use every digit"
    assert len(set(eighteen)) == len(eighteen)
    nine = [random_shares(rng, 9) for _ in range(300)]
    assert all(10**7 <= raw <= 2 * 10**9 for raw in nine)
    assert random_shares(random.Random(8), 9) == random_shares(random.Random(8), 18) // 10**9


def test_quotes_are_pyth_price_plus_or_minus_the_spread_in_our_favour_rounded_down() -> None:
    price = price_raw("200.00")
    one_and_a_half = 15 * 10**17
    assert quote_usdc(one_and_a_half, 18, price, 10, Direction.SELL) == 300_300_000  # 1.5 × 200 × 1.001
    assert quote_usdc(one_and_a_half, 18, price, 10, Direction.BUY) == 299_700_000  # 1.5 × 200 × 0.999
    assert quote_usdc(1, 18, price, 0, Direction.SELL) == 0  # 200e-18 USDC: dust rounds down
    assert quote_usdc(1_500_000_000, 9, price, 0, Direction.BUY) == 300_000_000


def test_the_strategy_makes_every_kind_of_move_at_quoted_prices() -> None:
    strategy = Strategy(random.Random(21), PriceWalk.starting())
    trades = [strategy.next_trade() for _ in range(2000)]
    moves = Counter(trade.move for trade in trades)
    assert set(moves) == set(Move)
    assert moves[Move.TAKE] > 1000
    for trade in trades:
        assert trade.shares > 0
        assert trade.usdc > 0
        price = Decimal(trade.usdc).scaleb(-6) / trade.amount.value
        pyth = price_usd(trade.price).value
        spread = Decimal(0) if trade.move is Move.CLEAR_OURS else Decimal("0.0041")
        assert pyth * (1 - spread) - Decimal("0.01") <= price <= pyth * (1 + spread), trade
        if trade.move is Move.UNKNOWN_TOKEN:
            assert trade.listing == UNKNOWN
        else:
            assert trade.listing in LISTINGS
    assert {trade.direction for trade in trades} == {Direction.BUY, Direction.SELL}


def test_the_same_seed_makes_the_same_moves() -> None:
    def moves(seed: int) -> list[Trade]:
        strategy = Strategy(random.Random(seed), PriceWalk.starting())
        return [strategy.next_trade() for _ in range(50)]

    assert moves(4) == moves(4)
    assert moves(4) != moves(5)


def test_delays_average_one_over_the_rate() -> None:
    strategy = Strategy(random.Random(2), PriceWalk.starting())
    delays = [strategy.next_delay(2.0) for _ in range(4000)]
    assert all(d > 0 for d in delays)
    assert 0.45 < sum(delays) / len(delays) < 0.55


def test_the_solver_record_counts_fills_skips_and_the_net_each_move_adds() -> None:
    aapl = LISTINGS[0]
    stats = SolverStats()
    stats.count(Trade(Move.TAKE, aapl, Direction.BUY, 15 * 10**17, 1, 1), block=9)
    stats.count(Trade(Move.CLEAR_OTHER, aapl, Direction.SELL, 4 * 10**17, 1, 1), block=12)
    stats.count(Trade(Move.CLEAR_OURS, aapl, Direction.SELL, 10**18, 1, 1), block=11)
    stats.count(Trade(Move.UNKNOWN_TOKEN, UNKNOWN, Direction.SELL, 10**18, 1, 1), block=13)
    stats.count(Trade(Move.OTHER_OWNER, aapl, Direction.SELL, 10**18, 1, 1), block=14)
    assert (stats.fills, stats.clears_both_ours, stats.unknown_token_fills, stats.other_owner_fills) == (4, 1, 1, 1)
    assert stats.net == {"AAPL": Shares("1.1")}
    assert (stats.transactions, stats.last_block) == (5, 14)


def test_a_wrapped_trade_sends_wrapper_units_worth_exactly_the_underlying_it_records() -> None:
    wrapper = WRAPPED[Book.V6]["tAAPL"]
    assert (wrapper.token, wrapper.rate) == ("wtAAPL", Decimal("1.25"))
    trade = Trade(Move.TAKE, LISTINGS[0], Direction.SELL, 1_234_567_890_123_456_789, 285_000_000, 1)
    underlying, raw = trade.wrapped(wrapper)
    assert raw == 987_654_312_098_765_428  # ⌊u / 5⌋ · 4
    assert underlying.shares == wrapper.assets(raw) == raw * 5 // 4 == 1_234_567_890_123_456_785
    assert Decimal(raw) * wrapper.rate == underlying.shares
    assert (underlying.usdc, underlying.direction, underlying.listing) == (285_000_000, Direction.SELL, LISTINGS[0])


def test_demo_floats_are_exact_base_unit_amounts() -> None:
    for raw, decimals in ((1_234_567_890_123_456_789, 18), (468_750_000, 6), (1, 9), (2 * 10**18, 18)):
        decoded = RainFloat.from_bytes(float_bytes(raw, decimals))
        assert decoded.value == Decimal(raw).scaleb(-decimals)


def test_the_solver_record_counts_our_fills_per_book_and_the_wrapped_ones() -> None:
    aapl = LISTINGS[0]
    stats = SolverStats()
    stats.count(Trade(Move.TAKE, aapl, Direction.BUY, 10**18, 1, 1), block=1)
    stats.count(Trade(Move.CLEAR_OURS, aapl, Direction.SELL, 10**18, 1, 1), block=2, book=Book.V6, wrapped=True)
    stats.count(Trade(Move.OTHER_OWNER, aapl, Direction.SELL, 10**18, 1, 1), block=3, book=Book.V6, wrapped=True)
    stats.count(Trade(Move.UNKNOWN_TOKEN, UNKNOWN, Direction.SELL, 10**18, 1, 1), block=4, book=Book.V6)
    assert stats.by_book == {Book.V4: 1, Book.V6: 2}
    assert (stats.fills, stats.wrapped_fills) == (3, 2)
