"""Rain ``Float`` (``LibDecimalFloat``, the amounts of Raindex V5/V6 events): exact, pure.

A Float is one ``bytes32``: the top 32 bits are a signed int32 exponent, the low 224 bits a signed
int224 coefficient (two's complement each); the value is exactly ``coefficient × 10^exponent``. The
encoding is not canonical (``(5, 0)`` and ``(50, -1)`` are the same number), so compare values, never
bytes. Every 32-byte word is a valid Float: nothing is refused here; what a value may be used for
(positive, not finer than a token's decimals) is the caller's rule (:meth:`RainFloat.to_base_units`).

No float and no :mod:`decimal` context ever touches the value: :attr:`RainFloat.value` is built from the
integer digits and the exponent directly, which :class:`~decimal.Decimal` stores exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

FLOAT_BYTES = 32
_COEFFICIENT_BITS = 224
_EXPONENT_BITS = 32
MAX_BASE_UNIT_DIGITS = 78
"""A base-unit amount of more digits than a uint256 has (78) is absurd: refused, never computed."""


class FloatAmountError(ValueError):
    """A Float that cannot be an amount in a token's base units (too fine for its decimals, or absurd)."""


class FloatTooFine(FloatAmountError):
    """A Float with more decimals than the token has: not a whole number of its base units."""


def _signed(raw: int, bits: int) -> int:
    return raw - (1 << bits) if raw >> (bits - 1) else raw


@dataclass(frozen=True, slots=True)
class RainFloat:
    """One decoded Float: ``coefficient × 10^exponent``, both plain Python integers."""

    coefficient: int
    exponent: int

    @classmethod
    def from_bytes(cls, word: bytes) -> RainFloat:
        """Decode a 32-byte Float; raises ``ValueError`` only for a length other than 32."""
        if len(word) != FLOAT_BYTES:
            raise ValueError(f"a Float is {FLOAT_BYTES} bytes, got {len(word)}")
        raw = int.from_bytes(word, "big")
        return cls(
            coefficient=_signed(raw & ((1 << _COEFFICIENT_BITS) - 1), _COEFFICIENT_BITS),
            exponent=_signed(raw >> _COEFFICIENT_BITS, _EXPONENT_BITS),
        )

    @classmethod
    def from_hex(cls, text: str) -> RainFloat:
        return cls.from_bytes(bytes.fromhex(text.removeprefix("0x")))

    def to_bytes(self) -> bytes:
        """The canonical-for-these-fields encoding (the pair as it is; no normalisation)."""
        if not -(1 << 223) <= self.coefficient < 1 << 223 or not -(1 << 31) <= self.exponent < 1 << 31:
            raise ValueError(f"({self.coefficient}, {self.exponent}) does not fit int224/int32")
        raw = ((self.exponent % (1 << 32)) << _COEFFICIENT_BITS) | (self.coefficient % (1 << _COEFFICIENT_BITS))
        return raw.to_bytes(FLOAT_BYTES, "big")

    @property
    def value(self) -> Decimal:
        """The exact value (a Decimal built from digits and exponent: no context, no rounding)."""
        sign = 1 if self.coefficient < 0 else 0
        digits = tuple(int(d) for d in str(abs(self.coefficient)))
        return Decimal((sign, digits, self.exponent))

    @property
    def is_zero(self) -> bool:
        return self.coefficient == 0

    @property
    def is_positive(self) -> bool:
        return self.coefficient > 0

    def to_base_units(self, decimals: int) -> int:
        """``value × 10^decimals`` as an exact integer (a token amount in base units).

        Raises :class:`FloatTooFine` (a :class:`FloatAmountError`) when the value has more decimals than
        the token (it is not a whole number of base units: never rounded), :class:`FloatAmountError` when
        the result would exceed a uint256's digits.
        Cheap for any exponent (no ``10**(2**31)`` is ever built)."""
        if decimals < 0:
            raise ValueError(f"decimals must be >= 0, got {decimals}")
        coefficient = self.coefficient
        if coefficient == 0:
            return 0
        shift = self.exponent + decimals
        if shift >= 0:
            if len(str(abs(coefficient))) + shift > MAX_BASE_UNIT_DIGITS:
                raise FloatAmountError(f"{self} is absurd as a token amount (more than a uint256 of base units)")
            return int(coefficient * 10**shift)
        digits = str(abs(coefficient))
        trailing_zeros = len(digits) - len(digits.rstrip("0"))
        if -shift > trailing_zeros:
            raise FloatTooFine(f"{self} has more decimals than the token's {decimals}")
        return int(coefficient // 10**-shift)  # exact: the divisor divides the coefficient

    def __str__(self) -> str:
        return f"{self.value:f}" if -100 <= self.exponent <= 100 else f"{self.coefficient}e{self.exponent}"
