"""What the console shows, as one immutable value folded from the engine's bus — no Textual here.

:func:`fold` takes the current :class:`ConsoleView` and one bus message (an
:data:`~arbtui.engine.messages.EngineMessage`) and returns the next view. Every list is bounded (newest
kept), and an aggregate's state is only ever replaced by one of a higher version, so a seed read from the
ledger and the live bus can overlap without going backwards.
The panes render rows; they never see the domain objects.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, assert_never

from arbtui import display
from arbtui.brokers.base import MarketClock
from arbtui.chain.signals import AlertKind, IntakeAlert
from arbtui.domain import control, offchain_order, onchain_trade, position
from arbtui.domain.control import Control
from arbtui.domain.hedging_policy import HedgeOrderKind
from arbtui.domain.offchain_order import OffchainOrder, OrderStatus
from arbtui.domain.onchain_trade import OnChainTrade, PythMethod, TradeStatus
from arbtui.domain.position import Position, ThresholdKind
from arbtui.domain.sessions import SessionNow
from arbtui.domain.values import canonical
from arbtui.engine.alerts import Alert, Severity
from arbtui.engine.messages import (
    AlertCleared,
    AlertRaised,
    Committed,
    CommittedChange,
    DeliveryReported,
    EngineMessage,
    IntakeReported,
    MarketStatus,
    ReadinessChanged,
)
from arbtui.engine.ports import Readiness

MAX_FILLS = 200
MAX_ORDERS = 200
MAX_ALERTS = 500

_EMPTY: Mapping[str, Any] = MappingProxyType({})


@dataclass(frozen=True)
class Versioned:
    """An aggregate's state as of ``version`` (its event count)."""

    version: int
    state: Any


@dataclass(frozen=True)
class AlertEntry:
    """An alert as the console received it, stamped with the console's clock."""

    at: datetime
    alert: Alert


@dataclass(frozen=True)
class ConsoleView:
    """Everything the panes render. Immutable: each fold returns a new one."""

    fills: tuple[Versioned, ...] = ()
    """OnChainTrade states that carry a fill, newest first, at most :data:`MAX_FILLS`."""
    positions: Mapping[str, Versioned] = field(default_factory=lambda: _EMPTY)
    orders: tuple[Versioned, ...] = ()
    """OffchainOrder states, most recently placed first, at most :data:`MAX_ORDERS`."""
    alerts: tuple[AlertEntry, ...] = ()
    """Oldest first (the log reads downwards), at most :data:`MAX_ALERTS`."""
    control: Control = field(default_factory=Control)
    control_version: int = 0
    readiness: Readiness | None = None
    """The engine's readiness checks as last published (``None`` before its first scan)."""
    market: MarketClock | None = None
    """The broker clock's latest answer."""
    session: SessionNow | None = None
    """The session now and its next transition, from the broker's calendar at the engine's last scan
    that saw a change (``None``: not known yet, or the calendar could not be read)."""
    node_inconsistencies: int = 0
    """Times intake found the node's log answers incomplete (shown beside the chain status)."""
    alerts_undelivered: int = 0
    """Alerts a sink (webhook, Telegram) never received since the engine started: failed or dropped."""
    hedge_fills: int = 0
    """Broker fills (whole or partial) the bus reported since the console started: the inventory pane
    reads the venues again whenever it moves."""

    @property
    def in_flight(self) -> tuple[OffchainOrder, ...]:
        """Executions not yet terminal, as the ledger last reported them."""
        return tuple(v.state for v in self.orders if v.state.status is not None and not v.state.status.is_terminal)

    def open_hedges(self) -> Mapping[str, OffchainOrder]:
        """Executions not yet terminal by execution id (what a position's ``pending`` points at)."""
        return {order.execution_id: order for order in self.in_flight}

    def unhedged_usd(self) -> Decimal:
        """Σ |net × last price| over every symbol: what is exposed and not yet being hedged."""
        total = Decimal(0)
        for versioned in self.positions.values():
            pos: Position = versioned.state
            if pos.last_price is not None:
                total += abs(pos.last_price.notional(pos.net).value)
        return total


def fold(view: ConsoleView, message: EngineMessage, now: Callable[[], datetime]) -> ConsoleView:
    """The view after one bus message."""
    match message:
        case Committed(changes):
            for change in changes:
                view = apply_state(view, change.aggregate_type, change.aggregate_id, change.version, change.state)
            filled = sum(1 for change in changes if _hedge_filled(change))
            return replace(view, hedge_fills=view.hedge_fills + filled) if filled else view
        case AlertRaised(alert) | AlertCleared(alert):
            return replace(view, alerts=(*view.alerts, AlertEntry(now(), alert))[-MAX_ALERTS:])
        case DeliveryReported(status):
            return replace(view, alerts_undelivered=status.undelivered)
        case MarketStatus(clock, session):
            return replace(view, market=clock, session=session)
        case ReadinessChanged(readiness):
            return replace(view, readiness=readiness)
        case IntakeReported(IntakeAlert(kind=AlertKind.INCONSISTENT_LOGS)):
            return replace(view, node_inconsistencies=view.node_inconsistencies + 1)
        case IntakeReported():
            return view
        case _:
            assert_never(message)


def apply_state(view: ConsoleView, aggregate_type: str, aggregate_id: str, version: int, state: Any) -> ConsoleView:
    """Take one aggregate's state into the view, unless the view already holds a newer one."""
    if aggregate_type == position.AGGREGATE:
        current = view.positions.get(aggregate_id)
        if current is not None and current.version >= version:
            return view
        positions = dict(view.positions)
        positions[aggregate_id] = Versioned(version, state)
        return replace(view, positions=MappingProxyType(positions))
    if aggregate_type == control.AGGREGATE:
        if version <= view.control_version:
            return view
        return replace(view, control=state, control_version=version)
    if aggregate_type == onchain_trade.AGGREGATE:
        trade: OnChainTrade = state
        if trade.fill is None:
            return view
        fills = _upsert(view.fills, Versioned(version, trade), _trade_key, _fill_sort_key)[:MAX_FILLS]
        return replace(view, fills=fills)
    if aggregate_type == offchain_order.AGGREGATE:
        orders = _upsert(view.orders, Versioned(version, state), _order_key, _order_sort_key)[:MAX_ORDERS]
        return replace(view, orders=orders)
    return view


def _hedge_filled(change: CommittedChange) -> bool:
    """The commit filled (part of) a hedge: the broker's position and cash moved."""
    return change.aggregate_type == offchain_order.AGGREGATE and any(
        isinstance(event, offchain_order.OrderFilled | offchain_order.PartiallyFilled) for event in change.events
    )


def seeded(states: Iterable[tuple[str, str, int, Any]]) -> ConsoleView:
    """A view built from ``(aggregate_type, aggregate_id, version, state)`` read from the ledger."""
    view = ConsoleView()
    for aggregate_type, aggregate_id, version, state in states:
        view = apply_state(view, aggregate_type, aggregate_id, version, state)
    return view


def _upsert(
    rows: tuple[Versioned, ...],
    new: Versioned,
    key: Callable[[Any], str],
    sort_key: Callable[[Versioned], tuple[Any, ...]],
) -> tuple[Versioned, ...]:
    wanted = key(new.state)
    kept: list[Versioned] = []
    for row in rows:
        if key(row.state) == wanted:
            if row.version >= new.version:
                return rows
            continue
        kept.append(row)
    kept.append(new)
    return tuple(sorted(kept, key=sort_key, reverse=True))


def _trade_key(trade: OnChainTrade) -> str:
    return trade.trade_id


def _order_key(order: OffchainOrder) -> str:
    return order.execution_id


def _fill_sort_key(row: Versioned) -> tuple[Any, ...]:
    fill = row.state.fill
    return (fill.block_number, fill.trade_id.log_index, fill.trade_id.tx_hash, fill.trade_id.leg)


def _order_sort_key(row: Versioned) -> tuple[Any, ...]:
    order: OffchainOrder = row.state
    return (order.placed_at.timestamp() if order.placed_at else 0.0, order.execution_id)


# --- rows: what each pane prints ------------------------------------------------------------------


def short(text: str, keep: int = 8) -> str:
    """``0x1234…cdef`` style: enough to recognise, short enough for 80 columns."""
    if len(text) <= keep + 1:
        return text
    head = keep // 2 + (2 if text.startswith("0x") else 0)
    return f"{text[:head]}…{text[-(keep // 2) :]}"


def fill_row(trade: OnChainTrade) -> tuple[str, ...]:
    """time, block, symbol, side, shares, price, Pyth price, tx. A wrapped equity's shares read
    ``underlying (wrapper wtX)`` — the hedge's shares first — and its Pyth price is marked ``·b`` when it
    is the block-end price (no trace)."""
    fill = trade.fill
    assert fill is not None  # only trades with a fill are kept
    pyth = trade.enriched.pyth_price if trade.enriched is not None else None
    side = fill.direction.value.upper()
    if trade.status is TradeStatus.REORGED:
        side = f"{side} (reorged)"
    return (
        fill.block_timestamp.strftime("%H:%M:%S"),
        str(fill.block_number),
        str(fill.symbol),
        side,
        shares_text(trade),
        display.price(fill.price_usdc),
        display.price(pyth.price if pyth is not None else None)
        + (" ·b" if pyth is not None and pyth.method is PythMethod.BLOCK_END else ""),
        short(fill.trade_id.tx_hash),
    )


def shares_text(trade: OnChainTrade) -> str:
    """The fill's shares; for an ERC-4626 wrapper, the underlying shares and the wrapper amount traded
    (both as :func:`arbtui.display.shares` shows shares)."""
    fill = trade.fill
    assert fill is not None
    wrapped = fill.unwrapped
    if wrapped is None:
        return display.shares(fill.amount)
    return f"{display.shares(fill.amount)} ({display.shares(wrapped.wrapper_amount)} {fill.token_symbol})"


def carry(pos: Position) -> Decimal:
    """What stays unhedged after the hedge the threshold calls for now (the signed remainder)."""
    return (pos.net - pos.threshold.hedge_size(pos.net, pos.last_price)).value


def threshold_text(pos: Position) -> str:
    if pos.threshold.kind is ThresholdKind.SHARES:
        return "1 sh"
    return f"${display.usd(pos.threshold.min_notional)}"


def position_row(pos: Position, *, exact: bool = False) -> tuple[str, ...]:
    """symbol, net, carry, reserved, pending execution, threshold, last hedge. Shares as
    :func:`arbtui.display.shares` shows them, or ``exact`` (the history's replay: every digit)."""
    amount = canonical if exact else display.shares
    return (
        pos.symbol,
        amount(pos.net.value),
        amount(carry(pos)),
        amount(pos.reserved.value),
        short(pos.pending.execution_id) if pos.pending else "—",
        threshold_text(pos),
        pos.last_hedge_at.strftime("%H:%M:%S") if pos.last_hedge_at else "—",
    )


def hedge_text(order: OffchainOrder | None) -> str:
    """An open hedge's type: ``market``, ``limit @ 187.55`` (``limit @ 0.5123`` under a dollar), ``held``
    (placed, waiting for a session that hedges it: nothing at the broker yet) or ``—`` (none open)."""
    if order is None:
        return "—"
    if order.order_kind is HedgeOrderKind.LIMIT and order.limit_price is not None:
        return f"limit @ {display.price(order.limit_price, grouping=False)}"
    if order.order_kind is HedgeOrderKind.MARKET or order.broker_order_id is not None:
        return "market"
    return "held"


def age_text(since: datetime | None, now: datetime) -> str:
    """How long ago ``since`` was, to the second under an hour: ``42s``, ``4m05s``, ``2h07m``, ``3d04h``."""
    if since is None:
        return "—"
    seconds = max(0, int((now - since).total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86_400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d{seconds % 86_400 // 3600:02d}h"


def hedge_cells(pos: Position, hedges: Mapping[str, OffchainOrder], now: datetime) -> tuple[str, str]:
    """The accumulators' ``hedge`` and ``age`` cells: the position's open hedge, and how long since it
    was placed (``—`` with none open, or while the console has not seen its order yet)."""
    if pos.pending is None:
        return "—", "—"
    order = hedges.get(pos.pending.execution_id)
    if order is None:
        return "—", "—"
    return hedge_text(order), age_text(order.placed_at, now)


def order_row(order: OffchainOrder) -> tuple[str, ...]:
    """execution, symbol, side, shares, status, fill price, latency (placed → completed)."""
    latency = "—"
    if order.placed_at is not None and order.completed_at is not None:
        latency = f"{(order.completed_at - order.placed_at).total_seconds():.1f}s"
    price = order.price_cents.to_price().value if order.price_cents is not None else None
    return (
        short(order.execution_id),
        str(order.symbol or "?"),
        order.direction.value.upper() if order.direction else "?",
        display.shares(order.shares),
        _status(order.status or OrderStatus.PENDING),
        display.price(price),
        latency,
    )


_STATUS_TEXT = {OrderStatus.PARTIALLY_FILLED: "PARTIAL"}


def _status(status: OrderStatus) -> str:
    return _STATUS_TEXT.get(status, status.value)


SEVERITY_RANK = {Severity.INFO: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}
