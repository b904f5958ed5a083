"""The rules a manual hedge must pass before it reaches the broker (pure: no I/O).

1. **Known symbol**: configured (a Pyth feed) or seen in the ledger; ``APPL`` for ``AAPL`` is refused
   with the list of known symbols, never sent.
2. **Limits**: at most ``max_shares`` shares and ``max_notional_usd`` US dollars at the latest price
   (the latest Pyth price recorded for the symbol, else its last fill's price; with neither the
   notional cannot be checked and the hedge is refused).
3. **Within the open net**: a SELL hedges a positive net, a BUY a negative one, and never more than
   |net|. Anything beyond would be undone by the next automatic hedge at once (the operator pays two
   trades and changes nothing), so it is refused unless the operator says ``allow_overhedge`` — and
   then automatic hedging of that symbol is paused (audited) so the bot leaves it in place.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from arbtui.domain.errors import InvalidCommand, RejectedTransition
from arbtui.domain.events import Frozen
from arbtui.domain.values import Direction, PriceUsdc, Shares

AGGREGATE = "Position"

DEFAULT_MAX_SHARES = Decimal(100)
DEFAULT_MAX_NOTIONAL_USD = Decimal(25_000)


class ManualHedgeLimits(Frozen):
    """``[manual_hedge]``: the largest manual hedge accepted."""

    max_shares: Decimal = DEFAULT_MAX_SHARES
    max_notional_usd: Decimal = DEFAULT_MAX_NOTIONAL_USD


class UnknownSymbol(InvalidCommand):
    """The symbol is neither configured nor in the ledger."""


class LimitExceeded(InvalidCommand):
    """A manual hedge larger than a configured limit."""


class OverHedge(RejectedTransition):
    """A manual hedge beyond the open net, without ``allow_overhedge``."""


class PricedAt(Frozen):
    """The price a notional is judged at, and where it came from (for the message)."""

    price: PriceUsdc
    source: str


def check_known(symbol: str, known: Iterable[str]) -> None:
    """Raise :class:`UnknownSymbol` (listing the known symbols) unless ``symbol`` is among ``known``."""
    names = sorted(set(known))
    if symbol not in names:
        listed = ", ".join(names) if names else "none yet"
        raise UnknownSymbol(
            AGGREGATE, symbol, f"unknown symbol (known: {listed}); configure it in [pyth.feeds] to hedge it"
        )


def check_limits(
    symbol: str, direction: Direction, shares: Shares, limits: ManualHedgeLimits, priced: PricedAt | None
) -> None:
    """Raise :class:`LimitExceeded` naming the limit a manual hedge breaks."""
    words = f"{direction.value.lower()} {shares} {symbol}"
    if shares.value > limits.max_shares:
        raise LimitExceeded(
            AGGREGATE,
            symbol,
            f"manual hedge {words} refused: more than manual_hedge.max_shares = {limits.max_shares} shares",
        )
    if priced is None:
        raise LimitExceeded(
            AGGREGATE,
            symbol,
            f"manual hedge {words} refused: no price recorded for {symbol} yet, so manual_hedge.max_notional_usd"
            " cannot be checked",
        )
    notional = priced.price.notional(shares).value
    if notional > limits.max_notional_usd:
        raise LimitExceeded(
            AGGREGATE,
            symbol,
            f"manual hedge {words} refused: ${notional:.2f} at {priced.source} {priced.price} is more than"
            f" manual_hedge.max_notional_usd = {limits.max_notional_usd}",
        )


def exceeds_net(net: Shares, direction: Direction, shares: Shares) -> bool:
    """True when ``direction shares`` would hedge more than the open ``net`` (or the wrong way)."""
    hedgeable = net if direction is Direction.SELL else -net
    return shares > hedgeable


def check_over_hedge(symbol: str, net: Shares, direction: Direction, shares: Shares, *, allowed: bool) -> bool:
    """``True`` when the hedge is an allowed over-hedge (the caller pauses the symbol); raises
    :class:`OverHedge` when it is one and not allowed; ``False`` when it stays within the net."""
    if not exceeds_net(net, direction, shares):
        return False
    if allowed:
        return True
    hedgeable = net if direction is Direction.SELL else -net
    at_most = hedgeable if hedgeable.is_positive else Shares.zero()
    raise OverHedge(
        AGGREGATE,
        symbol,
        f"manual hedge {direction.value.lower()} {shares} {symbol} refused: the open net is {net}, so a"
        f" {direction.value.lower()} hedges at most {at_most} — the bot would undo the rest at once. To place"
        f" it anyway and pause automatic hedging of {symbol}, pass --allow-overhedge",
    )
