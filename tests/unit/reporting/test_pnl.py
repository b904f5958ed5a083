"""FIFO PnL book: hand-worked examples and a brute-force property check (pure, no I/O)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from arbtui.domain import pnl, position
from arbtui.domain.pnl import Trade
from arbtui.domain.values import Cents, Direction, PriceUsdc, Shares, Usdc, Venue
from arbtui.store.codec import dumps
from arbtui.store.pnl_rows import encode, payload
from arbtui.store.pnl_rows import trade_of as trade_of_event
from tests.unit.domain.factory import BUY, SELL, ack, complete, ctx, tid
from tests.unit.domain.gwt import given as given_events

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def trade(n: int, direction: Direction, shares: str, price: str, venue: Venue = Venue.ONCHAIN) -> Trade:
    return Trade(
        venue=venue,
        ref=f"t{n}",
        direction=direction,
        shares=Shares(shares),
        price=PriceUsdc(price),
        at=T0 + timedelta(seconds=n),
    )


def summary(rows: list[pnl.PnlRow]) -> list[tuple[str, str, str]]:
    return [(str(r.realized), str(r.cumulative), str(r.position_after)) for r in rows]


def test_seed_batching_example_three_sells_hedged_by_one_buy() -> None:
    """0.3 @150, 0.5 @151, 0.4 @152 sold onchain; 1 share bought back at $149.50: the buy closes
    0.3 and 0.5 whole and 0.2 of the third lot: 0.15 + 0.75 + 0.50 = 1.40, carrying −0.2 @152."""
    book, rows = pnl.fold(
        "AAPL",
        [
            trade(1, SELL, "0.3", "150"),
            trade(2, SELL, "0.5", "151"),
            trade(3, SELL, "0.4", "152"),
            trade(4, BUY, "1", "149.5", Venue.OFFCHAIN),
        ],
    )
    assert summary(rows) == [("0", "0", "-0.3"), ("0", "0", "-0.8"), ("0", "0", "-1.2"), ("1.4", "1.4", "-0.2")]
    assert [(lot.source, str(lot.shares), str(lot.price)) for lot in book.lots] == [("t3", "-0.2", "152")]
    assert [r.number for r in rows] == [1, 2, 3, 4]


def test_a_trade_larger_than_the_book_flips_it_through_zero() -> None:
    """Long 2 @100; selling 3 @110 realizes +20 on the 2 and opens a short of 1 @110; buying it
    back at $105.25 realizes +4.75 and leaves the book flat."""
    book, rows = pnl.fold(
        "AAPL",
        [trade(1, BUY, "2", "100"), trade(2, SELL, "3", "110"), trade(3, BUY, "1", "105.25", Venue.OFFCHAIN)],
    )
    assert summary(rows) == [("0", "0", "2"), ("20", "20", "-1"), ("4.75", "24.75", "0")]
    assert book.lots == ()


def test_a_hedge_dearer_than_the_fill_is_a_loss() -> None:
    _, rows = pnl.fold("AAPL", [trade(1, SELL, "1", "100"), trade(2, BUY, "1", "100.1", Venue.OFFCHAIN)])
    assert summary(rows) == [("0", "0", "-1"), ("-0.1", "-0.1", "0")]


def test_partial_matches_leave_the_rest_of_the_oldest_lot_first() -> None:
    """Two longs; a sale of 1.5 takes all of the first and half of the second (FIFO, not the cheaper)."""
    book, rows = pnl.fold("AAPL", [trade(1, BUY, "1", "10"), trade(2, BUY, "1", "20"), trade(3, SELL, "1.5", "30")])
    assert summary(rows)[-1] == ("25", "25", "0.5")  # (30-10)*1 + (30-20)*0.5
    assert [(lot.source, str(lot.shares)) for lot in book.lots] == [("t2", "0.5")]


def test_sub_cent_broker_prices_and_tiny_fractions_stay_exact() -> None:
    _, rows = pnl.fold(
        "AAPL", [trade(1, SELL, "0.000000000000000001", "187.123456"), trade(2, BUY, "0.000000000000000001", "187.125")]
    )
    assert str(rows[-1].realized) == "-0.000000000000000000001544"


def test_the_position_books_fills_and_broker_fills_with_the_executions_side() -> None:
    """Through the Position aggregate: onchain sells, then the hedge (a broker BUY) fills at 200.125."""
    state = given_events(position.SPEC, "AAPL").state
    for n, amount in ((1, "0.6"), (2, "0.6")):
        state = position.SPEC.fold(state, position.decide(state, ack(n, amount, SELL, price="200", context=ctx(1))))
    assert state.pending is not None
    filled = position.decide(state, complete(1, "1", cents="20012.5"))
    trade_of = trade_of_event(state, filled[0])
    assert trade_of is not None
    assert (trade_of.venue, trade_of.direction, str(trade_of.price)) == (Venue.OFFCHAIN, BUY, "200.125")
    after = position.SPEC.fold(state, filled)
    assert str(after.book.realized) == "-0.125"  # bought back dearer than sold: 1 × (200 − 200.125)
    assert str(after.book.position) == "-0.2"
    assert [lot.source for lot in after.book.lots] == [tid(2)]


def test_a_reversed_fill_leaves_the_book_at_its_own_price() -> None:
    state = given_events(position.SPEC, "AAPL").state
    state = position.SPEC.fold(state, position.decide(state, ack(1, "0.4", SELL, price="150", context=ctx(1))))
    reversal = position.decide(
        state, position.ReverseFill(trade_id=tid(1), direction=SELL, amount=Shares("0.4"), at=T0)
    )
    after = position.SPEC.fold(state, reversal)
    assert (after.book.lots, str(after.book.realized)) == ((), "0")


# --- property: Σ realized equals an independent brute force -----------------------------------

ATOM = Fraction(1, 10)  # trades are whole tenths of a share, so the brute force can go one atom at a time


def brute_force_realized(trades: list[tuple[Direction, int, int]]) -> Fraction:
    """Split every trade into 0.1-share atoms; match atoms one by one, oldest first."""
    queue: list[tuple[int, Fraction]] = []  # (+1 long / -1 short, price)
    realized = Fraction(0)
    for direction, tenths, cents in trades:
        price = Fraction(cents, 100)
        side = 1 if direction is Direction.BUY else -1
        for _ in range(tenths):
            if queue and queue[0][0] != side:
                held_side, held_price = queue.pop(0)
                sell, buy = (price, held_price) if held_side == 1 else (held_price, price)
                realized += (sell - buy) * ATOM
            else:
                queue.append((side, price))
    return realized


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 40), st.integers(1, 50_000)), min_size=1, max_size=25
    )
)
def test_realized_pnl_equals_a_brute_force_atom_by_atom_match(trades: list[tuple[Direction, int, int]]) -> None:
    book, rows = pnl.fold(
        "AAPL",
        [trade(i, d, str(Decimal(t).scaleb(-1)), str(Cents(c).to_price())) for i, (d, t, c) in enumerate(trades)],
    )
    expected = brute_force_realized(trades)
    assert Fraction(book.realized.value) == expected
    assert Fraction(book.position.value) == sum((Fraction(lot.shares.value) for lot in book.lots), Fraction(0))
    assert len({lot.shares.is_positive for lot in book.lots}) <= 1  # open lots share one sign
    total = Usdc.zero()
    for row in rows:
        total = total + row.realized
        assert row.cumulative == total
    assert Fraction(book.position.value) == sum(
        (Fraction(t if d is BUY else -t, 10) for d, t, _ in trades), Fraction(0)
    )


def test_the_book_survives_a_position_snapshot() -> None:
    """Snapshots carry the book (version 2); an older snapshot is not read, so the stream is replayed."""
    from arbtui.store.codec import decode_state, encode_state

    state = given_events(position.SPEC, "AAPL").state
    for n, amount in ((1, "0.6"), (2, "0.7")):
        state = position.SPEC.fold(state, position.decide(state, ack(n, amount, SELL, price="150.5", context=ctx(1))))
    state = position.SPEC.fold(state, position.decide(state, complete(1, "1", cents="15010")))
    assert state.book.lots
    restored = decode_state(position.SPEC, encode_state(position.SPEC, state))
    assert restored == state
    older = encode_state(position.SPEC, state).replace('"v":"2"', '"v":"1"')
    assert decode_state(position.SPEC, older) is None


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.sampled_from([BUY, SELL]), st.integers(1, 10**6), st.integers(1, 10**7)), min_size=1, max_size=12
    ),
    st.sampled_from(["AAPL", "NVDA"]),
    st.integers(1, 10**9),
)
def test_the_fast_row_encoding_is_the_canonical_json(
    trades: list[tuple[Direction, int, int]], symbol: str, sequence: int
) -> None:
    """``pnl_rows.encode`` writes by hand exactly what ``dumps(payload(...))`` writes (rebuild and
    the live path compare rows byte for byte, and dashboards parse them)."""
    _, rows = pnl.fold(
        symbol,
        [
            trade(
                i, d, str(Decimal(q).scaleb(-6)), str(Cents(c).to_price()), Venue.OFFCHAIN if i % 2 else Venue.ONCHAIN
            )
            for i, (d, q, c) in enumerate(trades)
        ],
    )
    for row in rows:
        assert encode(row, sequence) == dumps(payload(row, sequence))
        assert json.loads(encode(row, sequence))["realized_pnl"] == str(row.realized)


@pytest.mark.parametrize(("venue", "stored"), [(Venue.ONCHAIN, "ONCHAIN"), (Venue.OFFCHAIN, "OFFCHAIN")])
def test_the_view_names_each_venue_as_the_dashboards_read_it(venue: Venue, stored: str) -> None:
    """``metrics_pnl_view.trade_type`` keeps the strings operators' dashboards read."""
    _, [row] = pnl.fold("AAPL", [trade(1, BUY, "1", "100", venue)])
    assert payload(row, 7)["trade_type"] == stored
    assert json.loads(encode(row, 7))["trade_type"] == stored


def test_unrealized_values_the_open_lots_at_the_mark() -> None:
    """Long lots gain above their cost, short lots below their sale price; a flat book is worth nothing."""
    long_book = pnl.book_trade(pnl.PnlBook(), "a", Direction.BUY, Shares("2"), PriceUsdc("100"))
    long_book = pnl.book_trade(long_book, "b", Direction.BUY, Shares("0.5"), PriceUsdc("104"))
    assert pnl.unrealized(long_book, PriceUsdc("103")) == Usdc("5.5")  # 2 × 3 + 0.5 × −1
    short = pnl.book_trade(pnl.PnlBook(), "c", Direction.SELL, Shares("0.000000000000000001"), PriceUsdc("231.4"))
    assert pnl.unrealized(short, PriceUsdc("231.5")) == Usdc("-0.0000000000000000001")  # exact, never rounded
    flat = pnl.book_trade(long_book, "d", Direction.SELL, Shares("2.5"), PriceUsdc("1"))
    assert pnl.unrealized(flat, PriceUsdc("999")) == Usdc.zero()
