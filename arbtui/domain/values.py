"""Exact value types of the trading domain.

Every amount carries its unit in its type and is an exact :class:`~decimal.Decimal` underneath; no
float ever enters. Arithmetic runs in :data:`EXACT`, a decimal context that *raises* instead of
rounding, so a silent loss of precision is impossible: the only place that rounds on purpose is
:meth:`PriceUsdc.per_share` (a division) and the explicit ``round_*`` helpers, each of which names
its rounding mode.

Serialised form (event payloads, views, JSON): the canonical decimal string — no exponent, no
trailing zeros, ``"0"`` for zero (:func:`canonical`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from decimal import (
    ROUND_DOWN,
    ROUND_HALF_EVEN,
    Context,
    Decimal,
    DivisionByZero,
    Inexact,
    InvalidOperation,
    Overflow,
    Rounded,
)
from enum import StrEnum
from typing import Any, ClassVar, Self, TypeVar

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

from arbtui.domain.events import Frozen

# 200 significant digits hold any uint256 (78 digits) scaled by any sane number of decimals.
EXACT = Context(
    prec=200,
    rounding=ROUND_HALF_EVEN,
    traps=[Inexact, Rounded, InvalidOperation, DivisionByZero, Overflow],
)
"""Context for money arithmetic: any operation that would round raises ``decimal.Inexact``."""

DIVISION = Context(prec=60, rounding=ROUND_HALF_EVEN, traps=[InvalidOperation, DivisionByZero, Overflow])
"""Context for the one inherently inexact operation (a price from two amounts): 60 digits, half-even."""

MAX_TOKEN_DECIMALS = 36
"""Token decimals above this are refused as absurd (ERC-20s use 0–18; USDC uses 6)."""


class InvalidAmount(ValueError):
    """A value that cannot be an amount of its unit (not finite, not a number, wrong sign, …)."""


def to_decimal(value: object) -> Decimal:
    """Parse an exact decimal from ``Decimal``, ``int`` or a decimal string. Floats are refused."""
    if type(value) is Decimal and value.is_finite():  # the hot path: arithmetic results
        return value
    if type(value) is str:  # the other hot path: stored amounts
        return _parse(value)
    if isinstance(value, bool | float):
        raise InvalidAmount(f"refusing {type(value).__name__} {value!r}: amounts must be exact")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, str):
        return _parse(value)
    else:
        raise InvalidAmount(f"not an amount: {value!r}")
    if not result.is_finite():
        raise InvalidAmount(f"not a finite number: {value!r}")
    return result


def _parse(value: str) -> Decimal:
    try:
        result = Decimal(value.strip())
    except InvalidOperation as exc:
        raise InvalidAmount(f"not a decimal number: {value!r}") from exc
    if not result.is_finite():
        raise InvalidAmount(f"not a finite number: {value!r}")
    return result


def canonical(value: Decimal) -> str:
    """The one string form of an exact decimal: ``"1.2"``, ``"-0.2"``, ``"100"``, ``"0"``."""
    if value.is_zero():
        return "0"
    return format(value.normalize(EXACT), "f")


_Q = TypeVar("_Q", bound="_Quantity")


class _Quantity:
    """Base of the unit-carrying decimal amounts. Subclasses are frozen dataclasses with one field."""

    __slots__ = ()
    value: Decimal
    unit: ClassVar[str] = ""

    def __init__(self, value: object) -> None:
        object.__setattr__(self, "value", to_decimal(value))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    # arithmetic within one unit -------------------------------------------------------------
    # Results of EXACT operations on finite operands are finite Decimals: no need to re-validate.
    def __add__(self, other: Self) -> Self:
        if type(other) is not type(self):
            self._same_unit(other)
        return _make(type(self), EXACT.add(self.value, other.value))

    def __sub__(self, other: Self) -> Self:
        if type(other) is not type(self):
            self._same_unit(other)
        return _make(type(self), EXACT.subtract(self.value, other.value))

    def __neg__(self) -> Self:
        return _make(type(self), EXACT.minus(self.value))

    def __abs__(self) -> Self:
        return _make(type(self), EXACT.abs(self.value))

    def scaled(self, factor: int | Decimal) -> Self:
        """Exact product with a dimensionless factor."""
        return _make(type(self), EXACT.multiply(self.value, to_decimal(factor)))

    # comparisons ----------------------------------------------------------------------------
    def _same_unit(self, other: object) -> None:
        if type(other) is not type(self):
            raise TypeError(f"cannot combine {type(self).__name__} with {type(other).__name__}")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self.value == other.value

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.value))

    def __lt__(self, other: Self) -> bool:
        self._same_unit(other)
        return self.value < other.value

    def __le__(self, other: Self) -> bool:
        self._same_unit(other)
        return self.value <= other.value

    def __gt__(self, other: Self) -> bool:
        self._same_unit(other)
        return self.value > other.value

    def __ge__(self, other: Self) -> bool:
        self._same_unit(other)
        return self.value >= other.value

    # predicates -----------------------------------------------------------------------------
    @property
    def is_zero(self) -> bool:
        return self.value.is_zero()

    @property
    def is_positive(self) -> bool:
        return self.value > 0

    @property
    def is_negative(self) -> bool:
        return self.value < 0

    @classmethod
    def zero(cls) -> Self:
        return _make(cls, _ZERO)

    # text -----------------------------------------------------------------------------------
    def __str__(self) -> str:
        return canonical(self.value)

    def __repr__(self) -> str:
        return f"{type(self).__name__}('{self}')"

    def __format__(self, spec: str) -> str:
        return format(self.value, spec) if spec else str(self)

    # pydantic: validate from str/int/Decimal (never float), serialise as the canonical string ----
    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            cls._coerce,
            serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="always"),
        )

    @classmethod
    def _coerce(cls, value: object) -> Self:
        if type(value) is cls:
            return value  # type: ignore[return-value,unused-ignore]
        if isinstance(value, _Quantity):
            raise InvalidAmount(f"expected {cls.__name__}, got {type(value).__name__}")
        return _make(cls, to_decimal(value))


_ZERO = Decimal(0)
_new = object.__new__
_set = object.__setattr__


def _make(cls: type[_Q], value: Decimal) -> _Q:
    """Trusted construction: ``value`` is already a finite ``Decimal`` (checked or an EXACT result)."""
    quantity = _new(cls)
    _set(quantity, "value", value)
    return quantity


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class Shares(_Quantity):
    """A number of shares of one equity; may be signed (a net position) or a positive magnitude."""

    value: Decimal
    unit: ClassVar[str] = "shares"

    @classmethod
    def from_base_units(cls, raw: int, decimals: int) -> Shares:
        """Token base units → shares, exactly (``raw / 10**decimals``)."""
        return cls(_scale_down(raw, decimals))

    def to_base_units(self, decimals: int) -> int:
        """Shares → token base units; raises ``decimal.Inexact`` if not representable."""
        return _scale_up(self.value, decimals)

    def floor_whole(self) -> Shares:
        """Whole shares toward zero, keeping the sign: 1.7 → 1, -1.2 → -1."""
        return Shares(self.value.to_integral_value(rounding=ROUND_DOWN, context=DIVISION))

    def round_down_to(self, quantum: Decimal) -> Shares:
        """Toward zero to a multiple of ``quantum`` (e.g. Alpaca's 1e-9 share increment)."""
        return Shares(self.value.quantize(quantum, rounding=ROUND_DOWN, context=DIVISION))

    @property
    def is_whole(self) -> bool:
        return self.value == self.value.to_integral_value(context=DIVISION)


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class Usdc(_Quantity):
    """An amount of USDC (or of US dollars at the broker: one unit, one dollar)."""

    value: Decimal
    unit: ClassVar[str] = "USDC"
    DECIMALS: ClassVar[int] = 6

    @classmethod
    def from_base_units(cls, raw: int, decimals: int = 6) -> Usdc:
        return cls(_scale_down(raw, decimals))

    def to_base_units(self, decimals: int = 6) -> int:
        return _scale_up(self.value, decimals)

    def round_cents(self) -> Usdc:
        """Half-even to whole cents — for display and reports only, never for the books."""
        return Usdc(self.value.quantize(Decimal("0.01"), rounding=ROUND_HALF_EVEN, context=DIVISION))


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class PriceUsdc(_Quantity):
    """A price per share in USDC (dollars)."""

    value: Decimal
    unit: ClassVar[str] = "USDC/share"

    @classmethod
    def per_share(cls, usdc: Usdc, shares: Shares) -> PriceUsdc:
        """``usdc / shares`` to 60 significant digits, half-even — the one rounding division here."""
        if shares.is_zero:
            raise InvalidAmount("price of zero shares is undefined")
        return cls(DIVISION.divide(usdc.value, shares.value))

    def notional(self, shares: Shares) -> Usdc:
        """Exact value of ``shares`` at this price."""
        return Usdc(EXACT.multiply(self.value, shares.value))

    def to_cents(self) -> Cents:
        return Cents(EXACT.multiply(self.value, Decimal(100)))


@dataclass(frozen=True, slots=True, init=False, eq=False, repr=False)
class Cents(_Quantity):
    """A broker price per share in cents, exact (sub-cent averages allowed: ``"18712.5"``)."""

    value: Decimal
    unit: ClassVar[str] = "cents/share"

    def to_price(self) -> PriceUsdc:
        return PriceUsdc(EXACT.divide(self.value, Decimal(100)))

    def rounded(self) -> int:
        """Whole cents, half-even: the integer the views' ``price_cents`` column shows."""
        return int(self.value.to_integral_value(rounding=ROUND_HALF_EVEN, context=DIVISION))


def _scale_down(raw: int, decimals: int) -> Decimal:
    _check_decimals(decimals)
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise InvalidAmount(f"base units must be an integer, got {raw!r}")
    return EXACT.scaleb(Decimal(raw), -decimals)


def _scale_up(value: Decimal, decimals: int) -> int:
    _check_decimals(decimals)
    scaled = EXACT.scaleb(value, decimals)
    integral = scaled.to_integral_value(context=DIVISION)
    if integral != scaled:
        raise InvalidAmount(f"{canonical(value)} has more than {decimals} decimals")
    return int(integral)


def _check_decimals(decimals: int) -> None:
    if isinstance(decimals, bool) or not isinstance(decimals, int) or not 0 <= decimals <= MAX_TOKEN_DECIMALS:
        raise InvalidAmount(f"token decimals must be 0..{MAX_TOKEN_DECIMALS}, got {decimals!r}")


class Direction(StrEnum):
    """A side: of our order onchain, or of a broker order. Values as the views show them."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> Direction:
        return Direction.SELL if self is Direction.BUY else Direction.BUY

    def signed(self, shares: Shares) -> Shares:
        """Exposure sign convention: an onchain BUY adds to net (+), an onchain SELL subtracts (−)."""
        magnitude = abs(shares)
        return magnitude if self is Direction.BUY else -magnitude

    @classmethod
    def to_reduce(cls, net: Shares) -> Direction:
        """The broker side that reduces ``net``: positive net → SELL, negative → BUY."""
        return cls.SELL if net.is_positive else cls.BUY


class Venue(StrEnum):
    """Where a trade happens or an asset is held: onchain (our orders on the Raindex orderbook) or
    offchain (the broker). The value is what ``metrics_pnl_view.trade_type`` stores; a report that names
    a venue in words says so at its own edge (the inventory's ``onchain``/``broker``)."""

    ONCHAIN = "ONCHAIN"
    OFFCHAIN = "OFFCHAIN"


class Audit(Frozen):
    """Who did an operator action, why, and when: recorded with every control event (its JSON is part of
    their stored payloads) and carried by a manual hedge. The one audit type of the project: the HTTP
    bodies and the console build it, the engine records it."""

    actor: str
    reason: str
    at: datetime


class BrokerKind(StrEnum):
    SCHWAB = "schwab"
    ALPACA = "alpaca"
    DRY_RUN = "dry_run"


_TICKER = re.compile(r"^[A-Z][A-Z0-9]{0,9}(\.[A-Z]{1,2})?$")


class Symbol(str):
    """A broker ticker (``AAPL``, ``BRK.B``) — the one symbol convention in every view and table."""

    __slots__ = ()

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or not _TICKER.fullmatch(value):
            raise InvalidSymbol(f"not a broker ticker: {value!r}")
        return super().__new__(cls, value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


class InvalidSymbol(ValueError):
    """Not a broker ticker."""


_TX_HASH = re.compile(r"^0x[0-9a-f]{64}$")
_TRADE_ID = re.compile(r"(0x[0-9a-f]{64}):(0|[1-9][0-9]*)(:1)?")


@dataclass(frozen=True, slots=True, order=True)
class TradeId:
    """Identity of one onchain fill: the log's ``(tx_hash, log_index)``.

    When both orders of a clear are ours, the clear yields two fills from one log; the second (bob's)
    carries ``leg=1`` so the two stay distinct. ``str(TradeId)`` is the aggregate id and view id:
    ``"0x…:12"`` or ``"0x…:12:1"``.
    """

    tx_hash: str
    log_index: int
    leg: int = 0

    def __post_init__(self) -> None:
        if not isinstance(self.tx_hash, str) or not _TX_HASH.fullmatch(self.tx_hash):
            raise ValueError(f"tx hash must be lower-case 0x + 64 hex, got {self.tx_hash!r}")
        if isinstance(self.log_index, bool) or not isinstance(self.log_index, int) or self.log_index < 0:
            raise ValueError(f"log index must be a non-negative integer, got {self.log_index!r}")
        if type(self.leg) is not int or self.leg not in (0, 1):
            raise ValueError(f"leg must be 0 or 1, got {self.leg!r}")

    def __str__(self) -> str:
        base = f"{self.tx_hash}:{self.log_index}"
        return base if self.leg == 0 else f"{base}:{self.leg}"

    @classmethod
    def parse(cls, text: str) -> TradeId:
        """Only the canonical form ``str(TradeId)`` produces: one text, one trade."""
        match = _TRADE_ID.fullmatch(text) if isinstance(text, str) else None
        if match is None:
            raise ValueError(f"not a trade id: {text!r}")
        # the pattern already guarantees what __post_init__ checks: skip checking twice
        parsed = _new(cls)
        _set(parsed, "tx_hash", match[1])
        _set(parsed, "log_index", int(match[2]))
        _set(parsed, "leg", 1 if match[3] else 0)
        return parsed

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        def coerce(value: object) -> TradeId:
            if isinstance(value, TradeId):
                return value
            if isinstance(value, str):
                return cls.parse(value)
            raise ValueError(f"not a trade id: {value!r}")

        return core_schema.no_info_plain_validator_function(
            coerce, serialization=core_schema.plain_serializer_function_ser_schema(str, when_used="always")
        )


_EXECUTION_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


class ExecutionId(str):
    """Identity of one broker execution: a lower-case UUID, also the broker's client order id."""

    __slots__ = ()

    def __new__(cls, value: str) -> Self:
        if not isinstance(value, str) or not _EXECUTION_ID.fullmatch(value):
            raise ValueError(f"execution id must be a lower-case UUID, got {value!r}")
        return super().__new__(cls, value)

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: GetCoreSchemaHandler) -> core_schema.CoreSchema:
        return core_schema.no_info_after_validator_function(
            cls, core_schema.str_schema(), serialization=core_schema.to_string_ser_schema()
        )


_BLOCK_HASH = _TX_HASH


@dataclass(frozen=True, slots=True)
class BlockRef:
    """A block by number and hash: the chain cursor, and the unit of reorg detection."""

    number: int
    hash: str

    def __post_init__(self) -> None:
        if isinstance(self.number, bool) or not isinstance(self.number, int) or self.number < 0:
            raise ValueError(f"block number must be a non-negative integer, got {self.number!r}")
        if not isinstance(self.hash, str) or not _BLOCK_HASH.fullmatch(self.hash):
            raise ValueError(f"block hash must be lower-case 0x + 64 hex, got {self.hash!r}")


@dataclass(frozen=True, slots=True)
class OrderbookBackfill:
    """The history of an orderbook added to a ledger that already had a chain cursor: blocks
    ``first_block..through_block`` of that book are read by their own backfill (blocks above
    ``through_block`` by the ordinary passes); ``done_through`` is how far it has been recorded."""

    orderbook: str
    first_block: int
    through_block: int
    done_through: int

    @property
    def complete(self) -> bool:
        return self.done_through >= self.through_block

    @property
    def next_block(self) -> int:
        return max(self.first_block, self.done_through + 1)
