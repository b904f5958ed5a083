"""The demo market, pure: listed tokens, each symbol's Pyth price as a seeded random walk, and the
solver's next move (which order, which side, how many shares, at what price). No I/O and no clock: the
solver (:mod:`arbtui.demo.solver`) sends what this decides.

Amounts are integers in base units throughout — shares in the token's decimals, USDC in 6 decimals,
prices as Pyth publishes them (``PRICE_EXPO``) — so every fill is exact.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum

from arbtui.domain.values import Direction, PriceUsdc, Shares, Usdc

PRICE_EXPO = -8
"""Pyth's exponent for the equity feeds: price = value · 10^-8 USD."""
USDC_DECIMALS = 6
SHARE_DECIMALS = 18
BPS = 10_000
MIN_PRICE = 10**8
"""The walk never goes below $1."""


@dataclass(frozen=True)
class Listing:
    """A token the demo deploys. ``ticker`` is the broker symbol behind it, None for a token the bot
    cannot map (its fills of our orders must be recorded as skipped)."""

    token: str
    decimals: int
    ticker: str | None
    start_price: str
    """USD, e.g. ``"231.40"``."""


LISTINGS: tuple[Listing, ...] = (
    Listing("tAAPL", 18, "AAPL", "231.40"),
    Listing("tTSLA", 18, "TSLA", "352.10"),
    Listing("tMSFT", 18, "MSFT", "418.25"),
    Listing("NVDAs1", 9, "NVDA", "141.60"),
)
UNKNOWN = Listing("WETH", 18, None, "3120.00")
"""Not a tokenized equity: no symbol marker maps it to a broker ticker."""


@dataclass(frozen=True)
class Opening:
    """What our owner holds of one asset when the demo starts: whole units in its orderbook vault and at
    the broker (USDC: the broker side is the account's cash)."""

    onchain: str
    broker: str


OPENING: dict[str, Opening] = {
    "AAPL": Opening("40", "38"),
    "TSLA": Opening("25", "20"),
    "MSFT": Opening("120", "12"),
    "NVDA": Opening("10", "30"),
}
"""The demo's opening inventory, chosen so the inventory pane always has something to say: AAPL and TSLA
near the 50/50 target, MSFT far onchain-heavy (0.91: it keeps its drift alert until the hedges have bought
some 40 shares more than they sold) and NVDA broker-heavy (0.25, close enough to the line that hedging can
move it across)."""
OPENING_USDC = "50000"
"""USDC in our vault (the local broker's cash is 100,000: 0.33 onchain, within the target)."""
VAULT_ID = 7
"""The vault of every demo order (:func:`arbtui.demo.deploy.order`'s default), where the demo deposits."""


class Book(StrEnum):
    """An orderbook generation the demo runs: the V4 stand-in (integer amounts, ``TakeOrderV2``/``ClearV2``)
    or the V6 stand-in (rain Float amounts, ``TakeOrderV3``/``ClearV3``)."""

    V4 = "v4"
    V6 = "v6"


BOOK_CHOICES: dict[str, tuple[Book, ...]] = {"v4": (Book.V4,), "v6": (Book.V6,), "both": (Book.V4, Book.V6)}
"""``arbtui demo --orderbook``: the books each choice deploys into the config and trades on."""


@dataclass(frozen=True)
class Wrapper:
    """An ERC-4626 wrapped equity the demo deploys (a ``TestVault`` over ``underlying``, same decimals):
    ``numerator / denominator`` underlying shares per wrapper share."""

    token: str
    underlying: str
    numerator: int
    denominator: int

    @property
    def rate(self) -> Decimal:
        return Decimal(self.numerator) / Decimal(self.denominator)

    def wrapper_raw(self, underlying_raw: int) -> int:
        """Wrapper base units worth at most ``underlying_raw`` whose ``convertToAssets`` (rounded down by the
        vault) is exact: a whole number of ``numerator``-unit steps."""
        return underlying_raw // self.numerator * self.denominator

    def assets(self, wrapper_raw: int) -> int:
        """``convertToAssets(wrapper_raw)`` as the vault computes it."""
        return wrapper_raw * self.numerator // self.denominator


WRAPPED: dict[Book, dict[str, Wrapper]] = {Book.V6: {"tAAPL": Wrapper("wtAAPL", "tAAPL", 5, 4)}}
"""Per book, the listings traded there as a wrapped ``wt`` token: on V6, AAPL trades as wtAAPL at 1.25
tAAPL per wtAAPL (as today's orderbooks trade wrapped equities)."""


def price_raw(usd: str | Decimal) -> int:
    """USD → Pyth integer at :data:`PRICE_EXPO` (exact; refuses sub-unit precision)."""
    scaled = Decimal(usd).scaleb(-PRICE_EXPO)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"price {usd} has more than {-PRICE_EXPO} decimals")
    return int(scaled)


def price_usd(raw: int) -> PriceUsdc:
    return PriceUsdc(Decimal(raw).scaleb(PRICE_EXPO))


@dataclass
class PriceWalk:
    """Each ticker's price, moving by a uniform random step of at most ``max_step_bps`` per tick."""

    prices: dict[str, int]
    max_step_bps: int = 15

    @classmethod
    def starting(cls, listings: tuple[Listing, ...] = LISTINGS, max_step_bps: int = 15) -> PriceWalk:
        return cls({li.ticker: price_raw(li.start_price) for li in listings if li.ticker}, max_step_bps)

    def tick(self, rng: random.Random) -> None:
        for ticker, raw in self.prices.items():
            step = rng.randint(-self.max_step_bps, self.max_step_bps)
            change = raw * abs(step) // BPS  # rounded toward zero: a move never exceeds its step
            self.prices[ticker] = max(MIN_PRICE, raw + change if step > 0 else raw - change)

    def price(self, ticker: str) -> PriceUsdc:
        return price_usd(self.prices[ticker])


def random_shares(rng: random.Random, decimals: int, max_shares: int = 2) -> int:
    """A fractional size in base units of a ``decimals`` token: uniform in [0.01, max_shares] shares
    drawn at 18 decimals (every digit random), truncated to the token's precision."""
    drawn = rng.randint(10**SHARE_DECIMALS // 100, max_shares * 10**SHARE_DECIMALS)
    if decimals >= SHARE_DECIMALS:
        return drawn * _unit(decimals - SHARE_DECIMALS)
    return drawn // _unit(SHARE_DECIMALS - decimals)


def quote_usdc(shares: int, decimals: int, price: int, spread_bps: int, ours: Direction) -> int:
    """USDC base units for ``shares`` at ``price`` ± spread, in our favour: our order sells above the
    Pyth price and buys below it. Rounded down (a taker never overpays by a dust unit)."""
    adjusted = price * (BPS + spread_bps if ours is Direction.SELL else BPS - spread_bps)
    return shares * adjusted * _unit(USDC_DECIMALS) // (_unit(decimals) * _unit(-PRICE_EXPO) * BPS)


def _unit(decimals: int) -> int:
    """10^decimals, for decimals ≥ 0."""
    if decimals < 0:
        raise ValueError(f"negative decimals: {decimals}")
    return int(10**decimals)


class Move(StrEnum):
    TAKE = "take"
    """A taker fills one of our orders."""
    CLEAR_OURS = "clear_ours"
    """A clear where both sides are our orders: two fills, opposite sides, same size."""
    CLEAR_OTHER = "clear_other"
    """A clear of one of our orders against another owner's."""
    UNKNOWN_TOKEN = "unknown_token"
    """A take of our order in a token that maps to no ticker: recorded as skipped."""
    OTHER_OWNER = "other_owner"
    """A take of someone else's order: not ours, ignored by the bot."""


MOVE_WEIGHTS: dict[Move, int] = {
    Move.TAKE: 80,
    Move.CLEAR_OURS: 6,
    Move.CLEAR_OTHER: 6,
    Move.UNKNOWN_TOKEN: 4,
    Move.OTHER_OWNER: 4,
}


@dataclass(frozen=True)
class Trade:
    """One move: ``direction`` is our order's side (for OTHER_OWNER: the other owner's)."""

    move: Move
    listing: Listing
    direction: Direction
    shares: int
    """Base units of the listing's token."""
    usdc: int
    """USDC base units our order received (SELL) or gave (BUY)."""
    price: int
    """The Pyth price the quote was made at (:data:`PRICE_EXPO`)."""

    @property
    def amount(self) -> Shares:
        return Shares.from_base_units(self.shares, self.listing.decimals)

    @property
    def notional(self) -> Usdc:
        return Usdc.from_base_units(self.usdc, USDC_DECIMALS)

    def wrapped(self, wrapper: Wrapper) -> tuple[Trade, int]:
        """This trade in ``wrapper`` tokens: (the trade in the underlying shares the fill will record, the
        wrapper base units sent). The underlying amount is rounded down to what the wrapper amount is
        exactly worth; the USDC stays (at most a few base units of shares cheaper)."""
        raw = wrapper.wrapper_raw(self.shares)
        return replace(self, shares=wrapper.assets(raw)), raw

    @property
    def signed_fills(self) -> dict[str, Shares]:
        """Net shares per ticker this move adds to our positions (BUY +, SELL −)."""
        ticker = self.listing.ticker
        if ticker is None or self.move in (Move.UNKNOWN_TOKEN, Move.OTHER_OWNER, Move.CLEAR_OURS):
            return {}
        return {ticker: self.direction.signed(self.amount)}


@dataclass
class Strategy:
    """What the simulated solver does next, from a seeded RNG."""

    rng: random.Random
    walk: PriceWalk
    listings: tuple[Listing, ...] = LISTINGS
    unknown: Listing = UNKNOWN
    spread_bps: tuple[int, int] = (5, 40)
    weights: dict[Move, int] = field(default_factory=lambda: dict(MOVE_WEIGHTS))

    def next_delay(self, rate: float) -> float:
        """Seconds until the next move: exponential with mean 1/rate (a Poisson stream of fills)."""
        return self.rng.expovariate(rate)

    def next_trade(self) -> Trade:
        move = self.rng.choices(list(self.weights), weights=list(self.weights.values()))[0]
        if move is Move.UNKNOWN_TOKEN:
            listing, price = self.unknown, price_raw(self.unknown.start_price)
        else:
            listing = self.rng.choice(self.listings)
            assert listing.ticker is not None
            price = self.walk.prices[listing.ticker]
        direction = self.rng.choice((Direction.BUY, Direction.SELL))
        shares = random_shares(self.rng, listing.decimals)
        spread = 0 if move is Move.CLEAR_OURS else self.rng.randint(*self.spread_bps)
        usdc = max(1, quote_usdc(shares, listing.decimals, price, spread, direction))
        return Trade(move, listing, direction, shares, usdc, price)
