"""What a hedge attempt needs before it goes out: the session it goes into, its reference and limit
price, and the preflight that keeps it inside the account (no short, no margin).

The engine asks these in order before every attempt (:mod:`arbtui.engine.executions`):

1. the session now, from the broker's calendar (:class:`~arbtui.brokers.calendar.MarketCalendar`,
   re-read when stale) and the ``[hedging]`` policy's order kind for the symbol — market in the regular
   session, limit in another hedging session, otherwise the hedge is *held* until the next transition;
2. for a limit: the reference price — the latest Pyth price of the symbol in the ledger, else the broker
   position's mark, else held (never an IEX last) — crossed by the policy's cross (widening inside a
   flatten window before a long close) and put on the tick;
3. the preflight: a sell needs the shares at the broker; a buy needs quantity × price within the
   account's non-marginable buying power when the broker gives it, else its cash. A refusal names the
   figure, both amounts and the fix, and holds only that symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import assert_never

from arbtui.brokers.base import Broker, BrokerPosition
from arbtui.domain.hedging_policy import HedgeOrderKind
from arbtui.domain.limit_price import ReferencePrice, reference_price, tick_size
from arbtui.domain.values import DIVISION, Direction, PriceUsdc, Shares, Symbol
from arbtui.store.event_store import EventStore

CENT = Decimal("0.01")

LATEST_PYTH = (
    "SELECT json_extract(payload, '$.pyth_price.price') FROM onchain_trade_view"
    " WHERE symbol = ? AND json_extract(payload, '$.pyth_price.price') IS NOT NULL"
    " ORDER BY block_number DESC, log_index DESC LIMIT 1"
)
"""The newest Pyth price recorded with a fill of the symbol (the enrichment of that fill)."""


async def latest_pyth_price(store: EventStore, symbol: Symbol) -> PriceUsdc | None:
    """The latest Pyth price of ``symbol`` already in the ledger, or ``None``."""
    rows = await store.query(LATEST_PYTH, (str(symbol),))
    if not rows or rows[0][0] is None:
        return None
    price = PriceUsdc(Decimal(str(rows[0][0])))
    return price if price.is_positive else None


def broker_mark(position: BrokerPosition | None) -> PriceUsdc | None:
    """The broker position's mark: market value ÷ quantity (``None`` without both)."""
    if position is None or position.market_value is None or position.quantity.is_zero:
        return None
    return PriceUsdc.per_share(abs(position.market_value), abs(position.quantity))


async def reference_for(store: EventStore, symbol: Symbol, position: BrokerPosition | None) -> ReferencePrice | None:
    return reference_price(await latest_pyth_price(store, symbol), broker_mark(position))


def broker_position(positions: tuple[BrokerPosition, ...], symbol: Symbol) -> BrokerPosition | None:
    return next((each for each in positions if each.symbol == symbol), None)


@dataclass(frozen=True, slots=True)
class PreflightRefusal:
    """Why an attempt may not go out; :attr:`figure` is the account figure that refused it."""

    figure: str
    """``shares`` (a sell), ``non_marginable_buying_power`` or ``cash`` (a buy)."""
    needed: Decimal
    available: Decimal
    message: str
    action: str


def _price(price: PriceUsdc) -> str:
    """``$201.00``: a price on its tick ($0.0001 below a dollar)."""
    return f"${price.value.quantize(tick_size(price), context=DIVISION)}"


def _usd(amount: Decimal, *, up: bool = False) -> str:
    """``$402.00``: dollars to the cent (a shortfall rounds up: adding it is always enough)."""
    rounding = ROUND_CEILING if up else ROUND_HALF_EVEN
    return f"${amount.quantize(CENT, rounding=rounding, context=DIVISION):,}"


async def preflight(
    broker: Broker,
    symbol: Symbol,
    side: Direction,
    quantity: Shares,
    price: PriceUsdc | None,
    kind: HedgeOrderKind,
    positions: tuple[BrokerPosition, ...],
) -> PreflightRefusal | None:
    """``None`` when the attempt fits the account; otherwise the refusal (see the module docstring).

    ``price`` is the limit (a limit) or the estimated price (a market order); a buy without one is not
    checked against the account (nothing to multiply), which the caller says in the log."""
    match side:
        case Direction.SELL:
            held = broker_position(positions, symbol)
            have = held.quantity if held is not None else Shares.zero()
            if have < quantity:
                return PreflightRefusal(
                    figure="shares",
                    needed=quantity.value,
                    available=have.value,
                    message=f"{symbol}: sell {quantity} needs the shares at the broker, which holds {have}",
                    action=f"move {quantity - have} {symbol} shares to the broker account (no short is opened)",
                )
            return None
        case Direction.BUY:
            if price is None:
                return None
            balances = await broker.balances()
            cost = price.notional(quantity)
            figure, available = (
                ("non_marginable_buying_power", balances.non_marginable_buying_power)
                if balances.non_marginable_buying_power is not None
                else ("cash", balances.cash)
            )
            if cost > available:
                what = "limit" if kind is HedgeOrderKind.LIMIT else "estimated price"
                return PreflightRefusal(
                    figure=figure,
                    needed=cost.value,
                    available=available.value,
                    message=f"{symbol}: buy {quantity} × {_price(price)} ({what}) = {_usd(cost.value)} exceeds"
                    f" {figure} {_usd(available.value)}",
                    action=f"add {_usd(cost.value - available.value, up=True)} of cash to the broker account"
                    " (no margin is used)",
                )
            return None
        case _:
            assert_never(side)
