"""The console's read model: each symbol's PnL book and the Pyth price published last among its fills'
reads, against a real SQLite ledger."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

from arbtui.domain.onchain_trade import Enrich, PythPrice
from arbtui.domain.values import Direction, PriceUsdc, Shares
from arbtui.store.ledger import Ledger
from arbtui.store.read_model import LedgerReadModel
from tests.builders import block, make_fill

PUBLISHED = 1_764_000_000


def _pyth(value: int, published: int) -> Enrich:
    return Enrich(
        gas_used=1,
        pyth_price=PythPrice(feed_id="0x" + "ab" * 32, value=value, conf=1, expo=-5, publish_time=published),
    )


async def test_marks_carry_each_books_lots_and_the_pyth_price_published_last(ledger: Ledger, db_path: Path) -> None:
    """The AAPL fill in the later block carries an *older* Pyth read (a block-end price read late): the
    mark is the price published last, not the one recorded last. NVDA's fill has no Pyth read: no mark.
    The books are the Position aggregates' own (open lots at their fill prices, exact)."""
    first = make_fill(1, "0.4", Direction.SELL, price="231.4", block_number=1)
    second = make_fill(2, "0.000000000000000001", Direction.SELL, price="231", block_number=2)
    await ledger.record_range([first], [], block(1))
    await ledger.enrich(first.trade_id, _pyth(23_151_234, PUBLISHED + 60))
    await ledger.record_range([second], [], block(2))
    await ledger.enrich(second.trade_id, _pyth(23_100_000, PUBLISHED))
    await ledger.record_range(
        [make_fill(3, "0.5", Direction.BUY, symbol="NVDA", price="120", block_number=3)], [], block(3)
    )

    marks = {mark.symbol: mark for mark in LedgerReadModel(db_path).marks()}

    assert set(marks) == {"AAPL", "NVDA"}
    aapl = marks["AAPL"]
    assert aapl.pyth is not None
    assert aapl.pyth.price == PriceUsdc("231.51234")
    assert aapl.pyth.published_at == datetime.fromtimestamp(PUBLISHED + 60, UTC)
    assert [(lot.shares, lot.price) for lot in aapl.book.lots] == [
        (Shares("-0.4"), PriceUsdc("231.4")),
        (Shares("-0.000000000000000001"), PriceUsdc("231")),
    ]
    assert aapl.book.position == Shares(-Decimal("0.400000000000000001"))
    assert marks["NVDA"].pyth is None
    assert marks["NVDA"].book.trades == 1
