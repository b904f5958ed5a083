"""Limit prices of hedges outside the regular session, and the reference price they start from. Pure.

A limit hedge crosses the reference price by a number of basis points toward the other side — a buy
pays up to ``reference × (1 + bps/10 000)``, a sell accepts down to ``reference × (1 − bps/10 000)``
— and is then put on the venue's tick: **buys round up, sells round down** (the order may only become
more willing to trade, never less), to $0.01 at or above $1 and to $0.0001 below (Alpaca refuses a finer
price with error 42210000). Exact :class:`~decimal.Decimal` throughout; the only rounding is the
named one onto the tick.

The reference is the latest Pyth price of the symbol recorded in the ledger (it exists in every session,
lesson 34), else the broker position's mark. There is deliberately no third source: an IEX last trade
goes stale after 16:00 and its spreads reach 10–28 % after hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum

from arbtui.domain.values import DIVISION, EXACT, Direction, PriceUsdc, to_decimal

BPS = Decimal(10_000)
"""Basis points in one."""
DOLLAR = Decimal(1)
CENT_TICK = Decimal("0.01")
"""Tick of a price at or above $1."""
SUB_DOLLAR_TICK = Decimal("0.0001")
"""Tick of a price below $1."""
MAX_CROSS_BPS = Decimal(5_000)
"""A cross of half the price or more is refused outright: no configuration should ever get there."""


class InvalidLimitPrice(ValueError):
    """No valid limit price exists for these inputs (a non-positive reference, a cross out of range, a
    sell that would round down to zero)."""


def tick_size(price: PriceUsdc) -> Decimal:
    """The venue's tick for ``price``: $0.01 at or above $1, $0.0001 below."""
    return CENT_TICK if price.value >= DOLLAR else SUB_DOLLAR_TICK


def on_tick(price: PriceUsdc) -> bool:
    """Whether ``price`` is a valid limit price (positive, a whole number of its tick)."""
    if not price.is_positive:
        return False
    tick = tick_size(price)
    return price.value == price.value.quantize(tick, context=DIVISION)


def crossed(reference: PriceUsdc, side: Direction, cross_bps: Decimal | int) -> PriceUsdc:
    """``reference`` moved ``cross_bps`` toward trading: up for a buy, down for a sell (exact, unrounded)."""
    bps = to_decimal(cross_bps)
    if not reference.is_positive:
        raise InvalidLimitPrice(f"reference price must be positive, got {reference}")
    if bps < 0 or bps >= MAX_CROSS_BPS:
        raise InvalidLimitPrice(f"cross must be 0 to under {MAX_CROSS_BPS} bps, got {bps}")
    factor = EXACT.add(BPS, bps) if side is Direction.BUY else EXACT.subtract(BPS, bps)
    return PriceUsdc(EXACT.divide(EXACT.multiply(reference.value, factor), BPS))


def round_to_tick(price: PriceUsdc, side: Direction) -> PriceUsdc:
    """Onto the tick of ``price``: up for a buy, down for a sell. The result is always on its own tick
    (a sub-dollar buy may round up to exactly $1.00, which is a valid cent price)."""
    tick = tick_size(price)
    rounding = ROUND_CEILING if side is Direction.BUY else ROUND_FLOOR
    rounded = price.value.quantize(tick, rounding=rounding, context=DIVISION)
    if rounded <= 0:
        raise InvalidLimitPrice(f"a {side.value.lower()} at {price} rounds to no price at all")
    return PriceUsdc(rounded)


def limit_price(reference: PriceUsdc, side: Direction, cross_bps: Decimal | int) -> PriceUsdc:
    """The limit price of a hedge on ``side``: the reference crossed by ``cross_bps``, on the tick."""
    return round_to_tick(crossed(reference, side, cross_bps), side)


class ReferenceSource(StrEnum):
    """Where a limit hedge's reference price came from (shown beside every limit order)."""

    PYTH = "pyth"
    """The latest Pyth price of the symbol recorded in the ledger."""
    BROKER_MARK = "broker_mark"
    """The broker position's mark (market value ÷ quantity)."""


@dataclass(frozen=True, slots=True)
class ReferencePrice:
    price: PriceUsdc
    source: ReferenceSource


def reference_price(latest_pyth: PriceUsdc | None, broker_mark: PriceUsdc | None) -> ReferencePrice | None:
    """The price a limit hedge starts from: the latest Pyth price, else the broker position's mark;
    ``None`` when neither exists (the hedge is then held, never priced off anything else). A
    non-positive price is no price."""
    if latest_pyth is not None and latest_pyth.is_positive:
        return ReferencePrice(latest_pyth, ReferenceSource.PYTH)
    if broker_mark is not None and broker_mark.is_positive:
        return ReferencePrice(broker_mark, ReferenceSource.BROKER_MARK)
    return None
