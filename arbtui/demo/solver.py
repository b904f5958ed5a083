"""The simulated solver: while each symbol's Pyth price random-walks in MockPyth (and at the local
broker), it takes and clears our owner's orders on the orderbook stand-in at Pyth price ± spread, at
random sizes and random intervals — plus the odd clear where both sides are ours, a take in a token
the bot cannot map (recorded as skipped) and a take of another owner's order (ignored). Each move goes
to one of the chosen books (:data:`arbtui.demo.market.BOOK_CHOICES`): the V4 stand-in with integer
amounts, or the V6 stand-in with rain Float amounts, where AAPL trades as the wrapped ``wtAAPL``.

Transactions go out through :class:`arbtui.demo.deploy.ChainDriver` in a worker thread, so the event
loop (and the console in it) never waits on the node.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from decimal import Decimal

from arbtui.demo.deploy import OTHER_OWNER, OUR_OWNER, ChainDriver, OrderTuple, OrderV4Tuple, order, order_v6
from arbtui.demo.market import PRICE_EXPO, USDC_DECIMALS, WRAPPED, Book, Listing, Move, PriceWalk, Strategy, Trade
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.rain_float import RainFloat
from arbtui.domain.values import Direction, Shares

PRICE_MAX_AGE_S = 10**9
"""The stand-in reads Pyth with this max age: a stale demo price still enriches the fill."""


@dataclass
class SolverStats:
    """What the solver sent: the independent record the demo's summary and tests compare against."""

    fills: int = 0
    """Fills of our orders the bot should record."""
    unknown_token_fills: int = 0
    """Fills of our orders in an unmappable token: the bot should record them as skipped."""
    other_owner_fills: int = 0
    clears_both_ours: int = 0
    transactions: int = 0
    price_updates: int = 0
    last_block: int = 0
    net: dict[str, Shares] = field(default_factory=dict)
    """Σ signed fills of our orders per ticker (our BUY +, SELL −)."""
    by_book: dict[Book, int] = field(default_factory=dict)
    """Fills of our orders the bot should record, per book."""
    wrapped_fills: int = 0
    """Of those, fills in a wrapped (ERC-4626) token: recorded in the underlying shares."""

    def count(self, trade: Trade, block: int, *, book: Book = Book.V4, wrapped: bool = False) -> None:
        before = self.fills
        self._count(trade, block)
        ours = self.fills - before
        if ours:
            self.by_book[book] = self.by_book.get(book, 0) + ours
            if wrapped:
                self.wrapped_fills += ours

    def _count(self, trade: Trade, block: int) -> None:
        self.transactions += 1
        self.last_block = max(self.last_block, block)
        if trade.move is Move.UNKNOWN_TOKEN:
            self.unknown_token_fills += 1
        elif trade.move is Move.OTHER_OWNER:
            self.other_owner_fills += 1
        elif trade.move is Move.CLEAR_OURS:
            self.clears_both_ours += 1
            self.fills += 2
        else:
            self.fills += 1
        for ticker, signed in trade.signed_fills.items():
            self.net[ticker] = self.net.get(ticker, Shares.zero()) + signed


class Solver:
    """Runs until :meth:`stop`; ``broker_prices`` (the local broker's price table) follows the walk."""

    def __init__(
        self,
        driver: ChainDriver,
        strategy: Strategy,
        *,
        rate: float,
        price_rng: random.Random,
        broker_prices: MutableMapping[str, Decimal] | None = None,
        price_every_s: float = 1.0,
        books: tuple[Book, ...] = (Book.V4,),
        book_rng: random.Random | None = None,
    ) -> None:
        if not books:
            raise ValueError("the solver needs at least one book")
        self.driver = driver
        self.books = books
        self.book_rng = book_rng or random.Random()
        """Which book each move goes to: its own RNG, so a seed's moves are the same whichever books run."""
        self.strategy = strategy
        self.price_rng = price_rng
        """The walk's own RNG: the moves (strategy's RNG) stay the same for a seed however time passes."""
        self.rate = rate
        self.broker_prices = broker_prices
        self.price_every_s = price_every_s
        self.stats = SolverStats()
        self._stopping = asyncio.Event()
        self._feeds = {ticker: KNOWN_FEEDS[ticker] for ticker in strategy.walk.prices}

    @property
    def walk(self) -> PriceWalk:
        return self.strategy.walk

    def stop(self) -> None:
        self._stopping.set()

    async def run(self) -> None:
        """Publish the opening prices, then trade and move prices until stopped."""
        await self.publish_prices()
        async with asyncio.TaskGroup() as group:
            group.create_task(self._move_prices())
            group.create_task(self._trade())

    async def _sleep(self, seconds: float) -> bool:
        """Wait ``seconds``; False when stopped meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)
        return not self._stopping.is_set()

    async def _move_prices(self) -> None:
        while await self._sleep(self.price_every_s):
            self.walk.tick(self.price_rng)
            await self.publish_prices()

    async def _trade(self) -> None:
        while await self._sleep(self.strategy.next_delay(self.rate)):
            await self.send(self.strategy.next_trade())

    async def publish_prices(self) -> None:
        """Every ticker's current walk price into MockPyth (one transaction) and the broker's table."""
        updates = [(self._feeds[t], raw, max(1, raw // 2000), PRICE_EXPO) for t, raw in self.walk.prices.items()]
        await asyncio.to_thread(self.driver.push_prices, updates)
        self.stats.price_updates += 1
        if self.broker_prices is not None:
            for ticker in self.walk.prices:
                self.broker_prices[ticker] = self.walk.price(ticker).value.quantize(Decimal("0.01"))

    async def send(self, trade: Trade) -> None:
        book = self.books[0] if len(self.books) == 1 else self.book_rng.choice(self.books)
        wrapper = WRAPPED.get(book, {}).get(trade.listing.token)
        token, token_raw = trade.listing.token, trade.shares
        if wrapper is not None:
            trade, token_raw = trade.wrapped(wrapper)
            token = wrapper.token
        if book is Book.V6:
            sent = await asyncio.to_thread(self._send_v6_sync, trade, token, token_raw)
        else:
            sent = await asyncio.to_thread(self._send_sync, trade)
        self.stats.count(trade, sent, book=book, wrapped=wrapper is not None)

    # --- transactions (worker thread) ----------------------------------------------------------

    def _orders(self, listing: Listing, owner: str) -> dict[Direction, OrderTuple]:
        """``owner``'s SELL order of ``listing`` (receives USDC, gives tokens) and its BUY order."""
        d = self.driver.deployment
        token = d.tokens[listing.token]
        return {
            Direction.SELL: order(owner, [(d.usdc, 6)], [(token, listing.decimals)]),
            Direction.BUY: order(owner, [(token, listing.decimals)], [(d.usdc, 6)]),
        }

    def _send_sync(self, trade: Trade) -> int:
        feeds = [self._feeds[trade.listing.ticker]] if trade.listing.ticker else []
        if trade.move in (Move.TAKE, Move.UNKNOWN_TOKEN, Move.OTHER_OWNER):
            owner = OTHER_OWNER if trade.move is Move.OTHER_OWNER else OUR_OWNER
            taken = self._orders(trade.listing, owner)[trade.direction]
            # The event carries the taker's input (what the order gave) and output (what it received).
            gave, received = (
                (trade.shares, trade.usdc) if trade.direction is Direction.SELL else (trade.usdc, trade.shares)
            )
            sent = self.driver.take([(taken, 0, 0, gave, received)], pyth_feeds=feeds, max_age=PRICE_MAX_AGE_S)
            return sent.block_number
        ours = self._orders(trade.listing, OUR_OWNER)
        if trade.move is Move.CLEAR_OURS:  # our SELL order (alice) against our BUY order (bob)
            alice, bob = ours[Direction.SELL], ours[Direction.BUY]
            change = (trade.shares, trade.usdc, trade.usdc, trade.shares)
        else:  # our order (alice) against the other owner's opposite order (bob); bob pays the spread
            alice = ours[trade.direction]
            bob = self._orders(trade.listing, OTHER_OWNER)[trade.direction.opposite]
            if trade.direction is Direction.SELL:
                change = (trade.shares, trade.usdc, trade.usdc, trade.shares)
            else:
                change = (trade.usdc, trade.shares, trade.shares, trade.usdc)
        sent = self.driver.clear(alice, bob, (0, 0, 0, 0), change, pyth_feeds=feeds)
        return sent.block_number

    # --- the V6 book: the same moves with Float amounts, in ``token`` (a wrapper where the book has one) ----

    def _orders_v6(self, token_name: str, owner: str) -> dict[Direction, OrderV4Tuple]:
        d = self.driver.deployment
        token = d.tokens[token_name]
        return {
            Direction.SELL: order_v6(owner, [d.usdc], [token]),
            Direction.BUY: order_v6(owner, [token], [d.usdc]),
        }

    def _send_v6_sync(self, trade: Trade, token: str, token_raw: int) -> int:
        """``trade`` on the V6 stand-in: ``token_raw`` base units of ``token`` (in the listing's decimals)."""
        feeds = [self._feeds[trade.listing.ticker]] if trade.listing.ticker else []
        shares, usdc = float_bytes(token_raw, trade.listing.decimals), float_bytes(trade.usdc, USDC_DECIMALS)
        if trade.move in (Move.TAKE, Move.UNKNOWN_TOKEN, Move.OTHER_OWNER):
            owner = OTHER_OWNER if trade.move is Move.OTHER_OWNER else OUR_OWNER
            taken = self._orders_v6(token, owner)[trade.direction]
            gave, received = (shares, usdc) if trade.direction is Direction.SELL else (usdc, shares)
            sent = self.driver.take_v6([(taken, 0, 0, gave, received)], pyth_feeds=feeds, max_age=PRICE_MAX_AGE_S)
            return sent.block_number
        ours = self._orders_v6(token, OUR_OWNER)
        if trade.move is Move.CLEAR_OURS:
            alice, bob = ours[Direction.SELL], ours[Direction.BUY]
            change = (shares, usdc, usdc, shares)
        else:
            alice = ours[trade.direction]
            bob = self._orders_v6(token, OTHER_OWNER)[trade.direction.opposite]
            change = (shares, usdc, usdc, shares) if trade.direction is Direction.SELL else (usdc, shares, shares, usdc)
        sent = self.driver.clear_v6(alice, bob, (0, 0, 0, 0), change, pyth_feeds=feeds)
        return sent.block_number


def float_bytes(raw: int, decimals: int) -> bytes:
    """``raw`` base units of a ``decimals`` token as a rain Float (coefficient ``raw``, exponent
    ``-decimals``): exact, never through a binary float."""
    return RainFloat(coefficient=raw, exponent=-decimals).to_bytes()
