"""Time-weighted unhedged exposure per session — the figure after-hours hedging exists to shrink. Pure.

A symbol's *unhedged* shares are the onchain fills no broker fill has offset yet: Σ signed onchain fills
− Σ signed broker fills (``net + reserved`` of the :class:`~arbtui.domain.position.Position` once its
executions end; a hedge placed but not yet filled is still exposure). They change on three Position events
and, between them, on the broker fills of the execution in flight::

    OnChainFillAcknowledged   + the fill (an onchain BUY adds, a SELL subtracts)
    OnChainFillReversed       − the reorged fill
    a hedge's broker fills    − each as its OffchainOrder records it (a limit hedge can fill in parts over
                                several reprices, long before its execution ends: :class:`HedgeProgress`)
    OffChainOrderFilled       − what the broker filled in all, less the parts already counted

Their notional is ``|unhedged| × price``, the price being **the symbol's latest onchain fill's own price**
(USDC paid per share: the Position's ``last_price``). It exists in every session, where a broker's last
trade does not, and it is in the Position's own events — the fill's Pyth price is recorded later, on
another aggregate, and only when intake could read it.
Integrated over time, that notional is a step function: ``∫ notional dt`` in USD·seconds is exact (a sum
of products of exact decimals and whole microseconds); only the hours and averages shown are divided.

Each instant is put in one :class:`ExposureSession` from the broker's :class:`TradingCalendar`: the four
trading sessions, ``closed`` (weekday nights and holidays) and ``weekend`` — a closed stretch that
contains a Saturday or a Sunday in New York, counted on its own and not again under ``closed``, so the
rows partition the period and add up to the total.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum
from typing import assert_never

from arbtui.domain import offchain_order, position
from arbtui.domain.sessions import NEW_YORK, ONE_DAY, MarketSession, TradingCalendar
from arbtui.domain.values import DIVISION, EXACT, Direction, PriceUsdc, Shares

SHOWN = Decimal("0.000001")
"""Hours, USD·hours and averages are divided figures: shown half-even to this quantum."""
MICROSECOND = timedelta(microseconds=1)
SECONDS_PER_HOUR = Decimal(3600)


class ExposureSession(StrEnum):
    """Where an instant of the period falls, for the exposure report (rows in this order)."""

    REGULAR = "regular"
    PRE = "pre"
    POST = "post"
    OVERNIGHT = "overnight"
    CLOSED = "closed"
    """Closed on a weekday night or a holiday."""
    WEEKEND = "weekend"
    """A closed stretch that contains a Saturday or a Sunday (New York), whole."""


_OF_SESSION = {
    MarketSession.REGULAR: ExposureSession.REGULAR,
    MarketSession.PRE: ExposureSession.PRE,
    MarketSession.POST: ExposureSession.POST,
    MarketSession.OVERNIGHT: ExposureSession.OVERNIGHT,
}


class PeriodError(ValueError):
    """The period is empty, naive, or not inside the calendar (one line for the operator)."""


@dataclass(frozen=True, slots=True)
class ExposureChange:
    """From :attr:`at` on, :attr:`symbol` has :attr:`unhedged` signed shares valued at :attr:`price`."""

    symbol: str
    at: datetime
    unhedged: Shares
    price: PriceUsdc | None

    @property
    def notional(self) -> Decimal:
        """USD: ``|unhedged| × price`` (zero before the symbol has a price: it has no fill either)."""
        if self.price is None:
            return Decimal(0)
        return EXACT.multiply(EXACT.abs(self.unhedged.value), self.price.value)


@dataclass(frozen=True, slots=True)
class HedgeProgress:
    """By :attr:`at` the broker had filled :attr:`filled` shares in all of execution :attr:`execution_id`."""

    execution_id: str
    at: datetime
    filled: Shares


def hedge_progress(execution_id: str, events: Iterable[offchain_order.OffchainOrderEvent]) -> Iterator[HedgeProgress]:
    """Each change of an execution's cumulative broker fill, from its OffchainOrder events evolved by the
    aggregate itself (partial fills, attempts that ended with a part filled, the final fill)."""
    state = offchain_order.initial(execution_id)
    filled = Shares.zero()
    for event in events:
        state = offchain_order.evolve(state, event)
        if state.shares_filled != filled:
            filled = state.shares_filled
            yield HedgeProgress(execution_id, event.at, filled)


def exposure_changes(
    symbol: str,
    events: Iterable[position.PositionEvent],
    progress: Mapping[str, Sequence[HedgeProgress]] | None = None,
) -> Iterator[ExposureChange]:
    """The symbol's unhedged shares after each Position event, or broker fill of its execution in flight
    (``progress``, by execution id), that changes them or their price. The Position's events keep their
    sequence; an execution's fills come after its placement, each before the first later Position event
    stamped after it. Cheaper than evolving the aggregate — no lots, no PnL book — and pinned to it by a
    test on the same events."""
    fold = _Fold(symbol)
    waiting: deque[HedgeProgress] = deque()
    for event in events:
        while waiting and waiting[0].at < event.at:
            part = waiting.popleft()
            if fold.apply(part):
                yield ExposureChange(symbol, part.at, fold.unhedged, fold.price)
        if fold.apply(event):
            yield ExposureChange(symbol, event.at, fold.unhedged, fold.price)
        if isinstance(event, position.OffChainOrderPlaced):
            parts = (progress or {}).get(event.execution_id, ())
            waiting = deque(sorted(parts, key=lambda part: part.at))
        elif isinstance(event, position.OffChainOrderFilled | position.OffChainOrderFailed):
            waiting.clear()  # the Position's own event counted the whole fill
    for part in waiting:  # the execution still in flight at the end: its fills so far
        if fold.apply(part):
            yield ExposureChange(symbol, part.at, fold.unhedged, fold.price)


class _Fold:
    """Unhedged shares and price, one Position event or hedge fill at a time."""

    def __init__(self, symbol: str) -> None:
        self.symbol = symbol
        self.unhedged = Shares.zero()
        self.price: PriceUsdc | None = None
        self.hedging: Direction | None = None
        self.execution: str | None = None
        self.counted = Shares.zero()
        """Of the execution in flight, the broker fills already taken off :attr:`unhedged`."""

    def apply(self, item: position.PositionEvent | HedgeProgress) -> bool:
        """Take ``item`` in; True when the unhedged shares or the price may have changed."""
        match item:
            case HedgeProgress():
                if item.execution_id != self.execution:
                    return False  # after its execution ended: the Position's own fill counted it
                self._hedged(item.filled)
            case position.OnChainFillAcknowledged():
                self.unhedged = self.unhedged + item.direction.signed(item.amount)
                self.price = item.price_usdc
            case position.OnChainFillReversed():
                self.unhedged = self.unhedged - item.direction.signed(item.amount)
            case position.OffChainOrderPlaced():
                self.hedging, self.execution, self.counted = item.direction, item.execution_id, Shares.zero()
                return False
            case position.OffChainOrderFilled():
                if self.hedging is None:  # the aggregate refuses a fill with nothing pending: a corrupt log
                    raise ValueError(f"{self.symbol}: {item.execution_id} filled with no placement before it")
                self._hedged(abs(item.shares_filled))
                self.hedging, self.execution = None, None
            case position.OffChainOrderFailed():
                undone = not self.counted.is_zero  # nothing filled, by the aggregate's rule: undo any part
                self._hedged(Shares.zero())
                self.hedging, self.execution = None, None
                return undone
            case position.ThresholdUpdated():
                return False
            case _:
                assert_never(item)
        return True

    def _hedged(self, filled: Shares) -> None:
        """The execution in flight has ``filled`` shares in all at the broker: take off the new part."""
        part = filled - self.counted
        self.counted = filled
        self.unhedged = self.unhedged - part if self.hedging is Direction.SELL else self.unhedged + part


@dataclass(frozen=True, slots=True)
class SessionStretch:
    """``[start, end)`` of the period in one :class:`ExposureSession`."""

    session: ExposureSession
    start: datetime
    end: datetime


def session_stretches(calendar: TradingCalendar, since: datetime, until: datetime) -> list[SessionStretch]:
    """The period ``[since, until)`` cut where the session changes, in time order. The calendar should
    reach a few days past both ends, so the closed stretches at its edges are whole (a weekend cut at the
    calendar's first instant would not know its Saturday). Raises :class:`PeriodError`."""
    _check_period(calendar, since, until)
    stretches: list[SessionStretch] = []
    previous_end = calendar.begins_at
    for span in calendar.spans:
        if previous_end < span.start:
            gap = SessionStretch(_closed(previous_end, span.start), previous_end, span.start)
            _clip(stretches, gap, since, until)
        _clip(stretches, SessionStretch(_OF_SESSION[span.session], span.start, span.end), since, until)
        previous_end = span.end
    if previous_end < calendar.ends_at:
        last = SessionStretch(_closed(previous_end, calendar.ends_at), previous_end, calendar.ends_at)
        _clip(stretches, last, since, until)
    return stretches


def _check_period(calendar: TradingCalendar, since: datetime, until: datetime) -> None:
    for name, moment in (("since", since), ("until", until)):
        if moment.tzinfo is None or moment.utcoffset() is None:
            raise PeriodError(f"{name} must be an aware datetime, got {moment!r}")
    if until <= since:
        raise PeriodError(f"the period is empty: {since.isoformat()} to {until.isoformat()}")
    if since < calendar.begins_at or until > calendar.ends_at:
        raise PeriodError(
            f"the period {since.isoformat()} to {until.isoformat()} is not inside the broker's calendar"
            f" {calendar.start}..{calendar.end}"
        )


def _closed(start: datetime, end: datetime) -> ExposureSession:
    """``weekend`` when the closed stretch holds a Saturday or Sunday in New York, else ``closed``."""
    day = start.astimezone(NEW_YORK).date()
    last = (end - MICROSECOND).astimezone(NEW_YORK).date()
    while day <= last:
        if day.weekday() >= 5:
            return ExposureSession.WEEKEND
        day += ONE_DAY
    return ExposureSession.CLOSED


def _clip(out: list[SessionStretch], stretch: SessionStretch, since: datetime, until: datetime) -> None:
    start, end = max(stretch.start, since), min(stretch.end, until)
    if start < end:
        out.append(SessionStretch(stretch.session, start, end))


@dataclass(frozen=True, slots=True)
class SessionExposure:
    """One row: how long the period spent in :attr:`session` and the unhedged notional integrated over
    it. ``seconds`` and ``usd_seconds`` are exact; the hour figures are divided (:data:`SHOWN`)."""

    session: ExposureSession | None
    """``None``: the whole period."""
    seconds: Decimal
    usd_seconds: Decimal

    @property
    def hours(self) -> Decimal:
        return _shown(DIVISION.divide(self.seconds, SECONDS_PER_HOUR))

    @property
    def usd_hours(self) -> Decimal:
        """Time-weighted unhedged notional: USD·hours."""
        return _shown(DIVISION.divide(self.usd_seconds, SECONDS_PER_HOUR))

    @property
    def average_usd(self) -> Decimal:
        """The mean unhedged notional while in this session (zero for a session the period never saw)."""
        if self.seconds.is_zero():
            return Decimal(0)
        return _shown(DIVISION.divide(self.usd_seconds, self.seconds))

    @property
    def label(self) -> str:
        return "total" if self.session is None else self.session.value


def _shown(value: Decimal) -> Decimal:
    return value.quantize(SHOWN, rounding=ROUND_HALF_EVEN, context=DIVISION)


@dataclass(frozen=True, slots=True)
class ExposureReport:
    """The period, one row per :class:`ExposureSession` (every one, zeros included) and the total."""

    since: datetime
    until: datetime
    sessions: tuple[SessionExposure, ...]
    total: SessionExposure

    def of(self, session: ExposureSession) -> SessionExposure:
        for row in self.sessions:
            if row.session is session:
                return row
        raise KeyError(session)  # every session has a row: unreachable


def time_weighted(
    changes: Iterable[ExposureChange], calendar: TradingCalendar, since: datetime, until: datetime
) -> ExposureReport:
    """∫ Σ_symbols |unhedged| × price dt over ``[since, until)``, split by session. ``changes`` of several
    symbols in any order (each symbol's own in time order); those before ``since`` set the state it starts
    with. Raises :class:`PeriodError`."""
    stretches = session_stretches(calendar, since, until)
    seconds = dict.fromkeys(ExposureSession, Decimal(0))
    usd_seconds = dict.fromkeys(ExposureSession, Decimal(0))
    for stretch in stretches:
        seconds[stretch.session] = EXACT.add(seconds[stretch.session], _seconds(stretch.end - stretch.start))
    index = 0
    for start, end, notional in _steps(changes):
        low, high = max(start, since), until if end is None else min(end, until)
        if low >= high or notional.is_zero():
            continue
        while stretches[index].end <= low:
            index += 1
        at = index
        while at < len(stretches) and stretches[at].start < high:
            stretch = stretches[at]
            overlap = _seconds(min(high, stretch.end) - max(low, stretch.start))
            usd_seconds[stretch.session] = EXACT.add(usd_seconds[stretch.session], EXACT.multiply(notional, overlap))
            at += 1
    rows = tuple(SessionExposure(session, seconds[session], usd_seconds[session]) for session in ExposureSession)
    total = SessionExposure(None, _sum(row.seconds for row in rows), _sum(row.usd_seconds for row in rows))
    return ExposureReport(since, until, rows, total)


def _steps(changes: Iterable[ExposureChange]) -> Iterator[tuple[datetime, datetime | None, Decimal]]:
    """``(start, end, total notional)`` of the summed step function, in time order (``end`` ``None``: on
    to the end of time). Several changes at one instant make one step."""
    ordered = sorted(changes, key=lambda change: change.at)  # stable: a symbol's own order is kept
    by_symbol: dict[str, Decimal] = {}
    total = Decimal(0)
    for number, change in enumerate(ordered):
        total = EXACT.add(EXACT.subtract(total, by_symbol.get(change.symbol, Decimal(0))), change.notional)
        by_symbol[change.symbol] = change.notional
        following = ordered[number + 1].at if number + 1 < len(ordered) else None
        if following is None or following > change.at:
            yield change.at, following, total


def _seconds(duration: timedelta) -> Decimal:
    """A duration in seconds, exactly (whole microseconds)."""
    return EXACT.scaleb(Decimal(duration // MICROSECOND), -6)


def _sum(values: Iterable[Decimal]) -> Decimal:
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, value)
    return total
