"""Realized PnL of one symbol: FIFO lot matching over both venues' fills. Pure: no I/O.

Every fill — an onchain fill of our order or a broker fill of a hedge — is a trade in one book: a BUY
adds shares, a SELL removes them. Open *lots* (signed shares at the price they were traded at, oldest
first) always share one sign. A trade of the lots' sign (or into an empty book) opens a lot; a trade of
the other sign closes lots from the front, each match realizing

    (sell price − buy price) × matched shares

and whatever is left of the trade after the last lot opens a lot of its own sign (the book flips
through zero). Prices are USD per share: USDC per share onchain (one USDC = one dollar), the broker's
cents divided by 100 exactly. Arithmetic is exact (:data:`~arbtui.domain.values.EXACT`); nothing here
rounds. The method, with a worked example, is in ``docs/pnl.md``.

The :class:`PnlBook` is part of the Position state (``Position.book``), so it is snapshotted, cached and
rebuilt with it; the store turns each trade's step into one ``metrics_pnl_view`` row (:func:`row`).
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from arbtui.domain.events import Frozen
from arbtui.domain.values import EXACT, Direction, PriceUsdc, Shares, Usdc, Venue


class PnlLot(Frozen):
    """Open shares from one trade (signed: + long, − short) at the price they were traded at."""

    source: str
    shares: Shares
    price: PriceUsdc


class PnlBook(Frozen):
    """Open lots (one sign, oldest first), realized PnL so far, and how many trades it has seen."""

    lots: tuple[PnlLot, ...] = ()
    realized: Usdc = Usdc.zero()
    trades: int = 0
    position: Shares = Shares.zero()
    """Signed shares held across both venues since the first fill (Σ buys − Σ sells = Σ lots)."""

    def price_of(self, source: str) -> PriceUsdc | None:
        """The price of ``source``'s open lot, if it still has one."""
        for lot in self.lots:
            if lot.source == source:
                return lot.price
        return None


class Trade(Frozen):
    """One fill as the book sees it."""

    venue: Venue
    ref: str
    direction: Direction
    shares: Shares
    price: PriceUsdc
    at: datetime


class PnlRow(Frozen):
    """What one trade did to the book: one ``metrics_pnl_view`` row."""

    symbol: str
    number: int
    trade: Trade
    realized: Usdc
    cumulative: Usdc
    position_after: Shares


def book_trade(book: PnlBook, source: str, direction: Direction, shares: Shares, price: PriceUsdc) -> PnlBook:
    """The book after one trade of ``shares`` (a positive magnitude) at ``price``."""
    size = shares.value.copy_abs()
    buy = direction is Direction.BUY
    signed = size if buy else size.copy_negate()
    position = Shares(EXACT.add(book.position.value, signed))
    lots = book.lots
    if not lots or (lots[0].shares.value > 0) == buy:  # opens (or adds to) the book: nothing to match
        opened = PnlLot.trusted(source=source, shares=Shares(signed), price=price)
        return PnlBook.trusted(lots=(*lots, opened), realized=book.realized, trades=book.trades + 1, position=position)
    rest = list(lots)
    realized = book.realized.value
    left = size  # of the trade, still to match
    while rest and left:
        head = rest[0]
        held = head.shares.value
        matched = min(held.copy_abs(), left)
        # a long lot closed by a sale gains (price − cost); a short lot closed by a purchase gains (cost − price)
        gain = EXACT.multiply(EXACT.subtract(price.value, head.price.value), matched)
        realized = EXACT.add(realized, gain) if held > 0 else EXACT.subtract(realized, gain)
        if matched == held.copy_abs():
            rest.pop(0)
        else:
            remains = EXACT.subtract(held, matched) if held > 0 else EXACT.add(held, matched)
            rest[0] = PnlLot.trusted(source=head.source, shares=Shares(remains), price=head.price)
        left = EXACT.subtract(left, matched)
    if left:  # the trade outlasted the book: it flips through zero
        rest.append(PnlLot.trusted(source=source, shares=Shares(left if buy else left.copy_negate()), price=price))
    return PnlBook.trusted(lots=tuple(rest), realized=Usdc(realized), trades=book.trades + 1, position=position)


def unrealized(book: PnlBook, mark: PriceUsdc) -> Usdc:
    """What the open lots would realize if closed at ``mark`` (the latest Pyth price), exactly:
    Σ (mark − lot price) × lot shares — a long lot gains when the mark is above its cost, a short lot
    (negative shares) when it is below its sale price. Zero for a flat book."""
    total = Decimal(0)
    for lot in book.lots:
        total = EXACT.add(total, EXACT.multiply(EXACT.subtract(mark.value, lot.price.value), lot.shares.value))
    return Usdc(total)


def reversal_price(book: PnlBook, source: str, fallback: PriceUsdc | None) -> PriceUsdc | None:
    """The price a reorged fill leaves the book at: its own lot's, else ``fallback`` (its position's
    last fill price)."""
    return book.price_of(source) or fallback


def unbook(book: PnlBook, source: str, direction: Direction, shares: Shares, fallback: PriceUsdc | None) -> PnlBook:
    """A reorged fill leaves the book as an opposite trade at its own price (while its lot is still
    open, that lot shrinks; PnL it already realized is reversed at the price it was booked at)."""
    price = reversal_price(book, source, fallback)
    if price is None:
        return book
    return book_trade(book, f"reversed:{source}", direction.opposite, shares, price)


def apply(book: PnlBook, trade: Trade) -> PnlBook:
    return book_trade(book, trade.ref, trade.direction, trade.shares, trade.price)


def row(symbol: str, trade: Trade, before: PnlBook, after: PnlBook) -> PnlRow:
    """The row for ``trade``, which took the book from ``before`` to ``after``."""
    return PnlRow.trusted(
        symbol=symbol,
        number=after.trades,
        trade=trade,
        realized=after.realized - before.realized,
        cumulative=after.realized,
        position_after=after.position,
    )


def fold(symbol: str, trades: list[Trade]) -> tuple[PnlBook, list[PnlRow]]:
    """Every trade of one symbol through a fresh book: the final book and one row per trade."""
    book = PnlBook()
    rows = []
    for trade in trades:
        after = apply(book, trade)
        rows.append(row(symbol, trade, book, after))
        book = after
    return book, rows
