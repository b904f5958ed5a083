"""When and how hedges go out around the clock: the policy ``[hedging]`` configures. Pure.

- **Sessions.** ``regular`` always; ``extended`` adds pre-market and after hours; ``overnight`` adds
  Alpaca's 24/5 night session. Per symbol overridable. A symbol outside its sessions is held until one
  starts.
- **Order kind.** The regular session hedges with market orders; every other session with limit orders
  crossing the reference price by ``limit_cross_bps`` (see :mod:`arbtui.domain.limit_price`), cancelled
  and replaced every ``reprice_interval``.
- **Flatten.** Before a *long* close (the next hedging session is more than a calendar day away, or
  unknown: :attr:`~arbtui.domain.sessions.CloseAhead.is_long`), in the last ``window`` before it, the
  engine hedges whatever is past threshold, reprices every ``reprice_interval`` of the flatten and
  widens the cross linearly with time from ``base_cross_bps`` to ``max_cross_bps`` — a function of the
  clock alone, so a restart inside the window picks up the same cross.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from enum import StrEnum

from arbtui.domain.sessions import CloseAhead, MarketSession
from arbtui.domain.values import DIVISION, EXACT, Symbol

CROSS_QUANTUM = Decimal("0.01")
"""A flatten cross is floored to hundredths of a basis point (far finer than any tick)."""


class SessionChoice(StrEnum):
    """The words ``hedging.sessions`` accepts."""

    REGULAR = "regular"
    EXTENDED = "extended"
    """Pre-market and after hours."""
    OVERNIGHT = "overnight"
    """Alpaca's overnight session (20:00–04:00 the night before a trading day)."""

    @property
    def sessions(self) -> frozenset[MarketSession]:
        match self:
            case SessionChoice.REGULAR:
                return frozenset({MarketSession.REGULAR})
            case SessionChoice.EXTENDED:
                return frozenset({MarketSession.PRE, MarketSession.POST})
            case SessionChoice.OVERNIGHT:
                return frozenset({MarketSession.OVERNIGHT})


def sessions_of(choices: Iterable[SessionChoice]) -> frozenset[MarketSession]:
    """The market sessions a list of choices hedges in (``regular`` is always among them)."""
    sessions = frozenset({MarketSession.REGULAR})
    for choice in choices:
        sessions |= choice.sessions
    return sessions


class HedgeOrderKind(StrEnum):
    """What a hedge placed in a session is."""

    MARKET = "market"
    LIMIT = "limit"


def _positive(name: str, value: timedelta) -> None:
    if value <= timedelta(0):
        raise ValueError(f"{name} must be positive, got {value}")


def _bps(name: str, value: Decimal) -> None:
    if value < 0:
        raise ValueError(f"{name} must not be negative, got {value}")


@dataclass(frozen=True, slots=True)
class FlattenSchedule:
    """The last ``window`` before a long close: reprice every ``reprice_interval``, cross widening
    linearly from ``base_cross_bps`` (at the window's start) to ``max_cross_bps`` (at the close)."""

    window: timedelta
    reprice_interval: timedelta
    base_cross_bps: Decimal
    max_cross_bps: Decimal

    def __post_init__(self) -> None:
        _positive("flatten window", self.window)
        _positive("flatten reprice interval", self.reprice_interval)
        _bps("flatten base cross", self.base_cross_bps)
        if self.max_cross_bps < self.base_cross_bps:
            raise ValueError(f"flatten max cross {self.max_cross_bps} is under its base {self.base_cross_bps}")

    def opens_at(self, closes_at: datetime) -> datetime:
        return closes_at.astimezone(UTC) - self.window

    def applies(self, now: datetime, close: CloseAhead) -> bool:
        """``now`` is inside the flatten window of a long close (an unknown close: always)."""
        if not close.is_long:
            return False
        if close.closes_at is None:
            return True
        return self.opens_at(close.closes_at) <= now < close.closes_at

    def cross_bps(self, now: datetime, closes_at: datetime | None) -> Decimal:
        """The cross at ``now``: the base before the window (and when the close is unknown), the max
        from the close on, linear in between — exact, floored to :data:`CROSS_QUANTUM`."""
        if closes_at is None:
            return self.base_cross_bps
        # In UTC: an aware subtraction within one zone runs on the wall clock (an hour off across DST).
        now, closes_at = now.astimezone(UTC), closes_at.astimezone(UTC)
        opens = self.opens_at(closes_at)
        if now <= opens:
            return self.base_cross_bps
        if now >= closes_at:
            return self.max_cross_bps
        elapsed = _microseconds(now - opens)
        span = _microseconds(self.window)
        widening = EXACT.subtract(self.max_cross_bps, self.base_cross_bps)
        extra = DIVISION.divide(EXACT.multiply(widening, Decimal(elapsed)), Decimal(span))
        cross = EXACT.add(self.base_cross_bps, extra.quantize(CROSS_QUANTUM, rounding=ROUND_FLOOR, context=DIVISION))
        return min(cross, self.max_cross_bps)


def _microseconds(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


@dataclass(frozen=True, slots=True)
class SymbolHedging:
    """One symbol's overrides; ``None`` keeps the policy's own value."""

    sessions: frozenset[MarketSession] | None = None
    limit_cross_bps: Decimal | None = None


@dataclass(frozen=True, slots=True)
class HedgingPolicy:
    """The whole ``[hedging]`` policy (built from the settings by ``arbtui.engine.hedging``)."""

    sessions: frozenset[MarketSession]
    limit_cross_bps: Decimal
    reprice_interval: timedelta
    flatten: FlattenSchedule
    symbols: Mapping[Symbol, SymbolHedging] = field(default_factory=dict)

    def __post_init__(self) -> None:
        _positive("reprice interval", self.reprice_interval)
        _bps("limit cross", self.limit_cross_bps)
        for who, sessions in [("hedging", self.sessions)] + [
            (str(symbol), each.sessions) for symbol, each in self.symbols.items() if each.sessions is not None
        ]:
            if sessions is not None and MarketSession.REGULAR not in sessions:
                raise ValueError(f"{who}: the regular session always hedges")
            if sessions is not None and MarketSession.CLOSED in sessions:
                raise ValueError(f"{who}: nothing trades while the market is closed")
        for symbol, each in self.symbols.items():
            if each.limit_cross_bps is not None:
                _bps(f"{symbol} limit cross", each.limit_cross_bps)

    @classmethod
    def regular_only(cls) -> HedgingPolicy:
        """Today's behaviour and the safe default: market hedges in the regular session only."""
        return cls(
            sessions=frozenset({MarketSession.REGULAR}),
            limit_cross_bps=Decimal(50),
            reprice_interval=timedelta(seconds=60),
            flatten=FlattenSchedule(timedelta(minutes=30), timedelta(seconds=15), Decimal(50), Decimal(200)),
        )

    def sessions_for(self, symbol: Symbol) -> frozenset[MarketSession]:
        override = self.symbols.get(symbol)
        if override is not None and override.sessions is not None:
            return override.sessions
        return self.sessions

    def hedges_in(self, symbol: Symbol, session: MarketSession) -> bool:
        return session in self.sessions_for(symbol)

    def order_kind(self, symbol: Symbol, session: MarketSession) -> HedgeOrderKind | None:
        """Market in the regular session, limit in another hedging session, ``None``: hold the hedge."""
        if not self.hedges_in(symbol, session):
            return None
        return HedgeOrderKind.MARKET if session is MarketSession.REGULAR else HedgeOrderKind.LIMIT

    def limit_cross_for(self, symbol: Symbol) -> Decimal:
        override = self.symbols.get(symbol)
        if override is not None and override.limit_cross_bps is not None:
            return override.limit_cross_bps
        return self.limit_cross_bps

    def cross_bps(self, symbol: Symbol, now: datetime, close: CloseAhead) -> Decimal:
        """The cross of a limit hedge placed at ``now``: inside a flatten window the larger of the
        symbol's own cross and the flatten's (which widens toward the close)."""
        own = self.limit_cross_for(symbol)
        if not self.flatten.applies(now, close):
            return own
        return max(own, self.flatten.cross_bps(now, close.closes_at))

    def reprice_interval_at(self, now: datetime, close: CloseAhead) -> timedelta:
        """How long an unfilled limit hedge lives before it is replaced (shorter inside a flatten)."""
        if self.flatten.applies(now, close):
            return min(self.reprice_interval, self.flatten.reprice_interval)
        return self.reprice_interval
