"""``[hedging]`` settings → the pure :class:`~arbtui.domain.hedging_policy.HedgingPolicy` the engine
consults before each placement (which sessions hedge, limit crosses, reprice intervals, the flatten)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from arbtui.config.settings import HedgingSettings
from arbtui.domain.hedging_policy import FlattenSchedule, HedgingPolicy, SymbolHedging, sessions_of
from arbtui.domain.values import Symbol


def hedging_policy(settings: HedgingSettings) -> HedgingPolicy:
    """Read every ``[hedging]`` field (per-symbol tables included) into one frozen policy."""
    symbols = {
        Symbol(ticker): SymbolHedging(
            sessions=None if table.sessions is None else sessions_of(table.sessions),
            limit_cross_bps=None if table.limit_cross_bps is None else Decimal(table.limit_cross_bps),
        )
        for ticker, table in settings.symbols.items()
    }
    return HedgingPolicy(
        sessions=sessions_of(settings.sessions),
        limit_cross_bps=Decimal(settings.limit_cross_bps),
        reprice_interval=_seconds(settings.reprice_interval_s),
        flatten=FlattenSchedule(
            window=_seconds(settings.flatten_window_s),
            reprice_interval=_seconds(settings.flatten_reprice_interval_s),
            base_cross_bps=Decimal(settings.flatten_cross_bps),
            max_cross_bps=Decimal(settings.flatten_max_cross_bps),
        ),
        symbols=symbols,
    )


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)
