"""How numbers read on a screen and in the table/CSV reports — the one place that rounds for people.

The ledger, the views, ``--json`` and the detail views keep every value exact; this module only makes the
text an operator reads. Each function takes the exact value and rounds **half-even, for display only**:

* :func:`shares` — to at most :data:`SHARE_PLACES` (6) decimals, trailing zeros trimmed: ``1.451535``,
  ``-0.3``, ``2``. No thousands separators (share counts stay short).
* :func:`usd` — to whole cents with thousands separators: ``-1,234,567.89``, ``0.00``. PnL and every
  other amount of money.
* :func:`price` — to the broker's tick (:func:`arbtui.domain.limit_price.tick_size`, the same rule the
  limit orders use): cents at or above $1 (``231.40``, ``1,234.57``), $0.0001 below (``0.5123``).

**Never a false zero.** A non-zero value that rounds to zero shows as a bound, never as 0 (a trader must
not read "nothing left" for a carry of 1e-9 shares): ``<0.000001`` / ``>-0.000001`` for shares,
``<0.01`` / ``>-0.01`` for money, ``<0.0001`` for a price. Only an exact zero reads ``0`` (``0.00`` in
money). A negative zero never appears.

:func:`align` pads formatted numbers so that a column of them lines up on the decimal point, and
:func:`sign_style` names the colour of a signed amount (Rich style names, as plain strings: this module
imports nothing but the domain, so the console, the reports and the engine's alert texts can all use it).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import ROUND_HALF_EVEN, Context, Decimal

from arbtui.domain.limit_price import tick_size
from arbtui.domain.values import PriceUsdc, Shares, Usdc

SHARE_PLACES = 6
"""Decimals a share count shows (tokens carry 18; brokers trade 1e-9 at the finest)."""
SHARE_QUANTUM = Decimal(1).scaleb(-SHARE_PLACES)
CENT = Decimal("0.01")
NONE = "—"
"""What a missing value reads (no price yet, no hedge yet)."""

_ROUNDING = Context(prec=400, rounding=ROUND_HALF_EVEN)
"""Wide enough for any value :data:`arbtui.domain.values.EXACT` can hold (200 digits) at any quantum here."""

Amount = Decimal | Shares | Usdc | PriceUsdc


def _exact(value: Amount) -> Decimal:
    return value if isinstance(value, Decimal) else value.value


def _rounded(value: Decimal, quantum: Decimal, *, grouping: bool, trim: bool) -> str:
    """``value`` half-even to ``quantum``; a non-zero value that rounds to zero reads as a bound."""
    if value.is_zero():
        return "0" if trim else format(Decimal(0).quantize(quantum), "f")
    rounded = value.quantize(quantum, context=_ROUNDING)
    if rounded.is_zero():
        bound = format(quantum, "f")
        return f"<{bound}" if value > 0 else f">-{bound}"
    if trim:
        rounded = rounded.normalize(_ROUNDING)
    return format(rounded, ",f" if grouping else "f")


def shares(value: Amount | None) -> str:
    """Shares half-even to 6 decimals, trailing zeros trimmed (``1.451534588906221945`` → ``1.451535``)."""
    if value is None:
        return NONE
    return _rounded(_exact(value), SHARE_QUANTUM, grouping=False, trim=True)


def usd(value: Amount | None, *, grouping: bool = True) -> str:
    """Money half-even to cents, with thousands separators unless ``grouping`` is off (CSV):
    ``-1,234.57``; a sub-cent non-zero amount reads ``<0.01`` or ``>-0.01``."""
    if value is None:
        return NONE
    return _rounded(_exact(value), CENT, grouping=grouping, trim=False)


def price(value: Amount | None, *, grouping: bool = True) -> str:
    """A price per share half-even to the broker's tick: $0.01 at or above $1, $0.0001 below
    (``0.51234`` → ``0.5123``, ``231.405`` → ``231.40``)."""
    if value is None:
        return NONE
    exact = _exact(value)
    tick = tick_size(PriceUsdc(abs(exact)))
    return _rounded(exact, tick, grouping=grouping, trim=False)


def sign_style(value: Amount | None) -> str:
    """The colour of a signed amount (PnL): ``green`` above zero, ``red`` below, none at zero."""
    if value is None:
        return ""
    exact = _exact(value)
    return "green" if exact > 0 else "red" if exact < 0 else ""


def align(texts: Sequence[str]) -> list[str]:
    """Pad formatted numbers to one width so that their decimal points line up: the integer part
    right-aligned, the fraction left-aligned (``["1.5", "-12", "0.25"]`` → ``["  1.5 ", "-12   ",
    "  0.25"]``). Only the first word of a text is the number; the rest (``2.5 (2 wtAAPL)``) follows it."""
    split = [_parts(text) for text in texts]
    whole = max((len(head) for head, _, _ in split), default=0)
    fraction = max((len(frac) for _, frac, _ in split), default=0)
    return [head.rjust(whole) + frac.ljust(fraction) + rest for head, frac, rest in split]


def _parts(text: str) -> tuple[str, str, str]:
    number, space, rest = text.partition(" ")
    head, point, frac = number.partition(".")
    return head, point + frac, space + rest
