"""Projections: the view rows each aggregate state stands for.

A view row is a pure function of one aggregate's state (and its version), so the live path (after a
commit) and ``rebuild-views`` (folding the log) produce the same bytes. The audit links are the one
insert-only view: one row per (execution, fill) from each ``OffChainOrderPlaced``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from arbtui.domain import control, offchain_order, onchain_trade, position, schwab_auth
from arbtui.domain.events import DomainEvent
from arbtui.domain.values import Audit, Shares
from arbtui.store.codec import dumps, view_time
from arbtui.store.pnl_rows import PNL_TABLE, pnl_rows

Row = tuple[str, int, str]
"""``(view_id, version, payload_json)``"""


@dataclass(frozen=True)
class View:
    table: str
    aggregate_type: str
    payload: Callable[[Any], dict[str, Any] | None]


def _onchain(trade: onchain_trade.OnChainTrade) -> dict[str, Any] | None:
    fill = trade.fill
    if trade.status is not onchain_trade.TradeStatus.FILLED or fill is None:
        return None
    pyth = trade.enriched.pyth_price if trade.enriched else None
    tid = fill.trade_id
    payload: dict[str, Any] = {
        # chain-ordered integer id for dashboards that want one (the seed's `id` column)
        "id": fill.block_number * 1_000_000 + tid.log_index * 2 + tid.leg,
        "tx_hash": tid.tx_hash,
        "log_index": tid.log_index,
        "leg": tid.leg,
        "symbol": fill.symbol,
        "token_symbol": fill.token_symbol,
        "token_address": fill.token_address,
        "amount": str(fill.amount),
        "direction": fill.direction.value,
        "price_usdc": str(fill.price_usdc),
        "usdc_amount": str(fill.usdc_amount),
        "block_number": fill.block_number,
        "block_hash": fill.block_hash,
        "block_timestamp": view_time(fill.block_timestamp),
        "gas_used": trade.enriched.gas_used if trade.enriched else None,
        "pyth_price": None
        if pyth is None
        else {
            "feed_id": pyth.feed_id,
            "value": str(pyth.value),
            "conf": str(pyth.conf),
            "expo": pyth.expo,
            "publish_time": pyth.publish_time,
            "price": format(pyth.price, "f"),
        },
        "enrichment_detail": trade.enriched.detail if trade.enriched else None,
        "recorded_at": view_time(trade.filled_at),
        "source_event": fill.source_event,
        "order_hash": fill.order_hash,
        "orderbook": fill.orderbook,
    }
    # keys added later appear only where they hold something: rows of older fills keep their bytes
    if pyth is not None and pyth.method is not None:
        payload["pyth_price"]["method"] = pyth.method.value
    wrapped = fill.unwrapped
    if wrapped is not None:
        # `amount` above is the underlying shares (what the hedge uses); this is what was traded
        payload["wrapper"] = {
            "token_symbol": fill.token_symbol,
            "token_address": fill.token_address,
            "amount": str(wrapped.wrapper_amount),
            "raw": str(wrapped.wrapper_raw),
            "decimals": wrapped.wrapper_decimals,
            "rate": format(wrapped.rate, "f"),
            "asset_address": wrapped.asset_address,
            "asset_symbol": wrapped.asset_symbol,
        }
    return payload


def _position(pos: position.Position) -> dict[str, Any]:
    pending = pos.pending
    return {
        "symbol": pos.symbol,
        "net_position": str(pos.net),
        "accumulated_long": str(pos.accumulated_long),
        "accumulated_short": str(pos.accumulated_short),
        "hedged": str(pos.hedged),
        "reserved": str(pos.reserved),
        "pending_execution_id": pending.execution_id if pending else None,
        "pending_direction": pending.direction.value if pending else None,
        "pending_shares": str(pending.shares) if pending else None,
        "threshold": pos.threshold.kind.value,
        "last_price": str(pos.last_price) if pos.last_price else None,
        "last_updated": view_time(pos.last_updated),
        "last_hedge_at": view_time(pos.last_hedge_at),
    }


def _offchain(order: offchain_order.OffchainOrder) -> dict[str, Any] | None:
    if order.status is None:
        return None
    cents = order.price_cents
    payload: dict[str, Any] = {
        "execution_id": order.execution_id,
        "symbol": order.symbol,
        "shares": str(order.shares),
        "shares_filled": str(order.shares_filled),
        "direction": order.direction.value if order.direction else None,
        "broker": order.broker.value if order.broker else None,
        "broker_order_id": order.broker_order_id,
        "price_cents": cents.rounded() if cents else None,
        "price_cents_exact": str(cents) if cents else None,
        "price_usd": str(cents.to_price()) if cents else None,
        "status": order.status.value,
        "trigger_reason": order.trigger_reason,
        "error": order.error,
        "placed_at": view_time(order.placed_at),
        "submitted_at": view_time(order.submitted_at),
        "completed_at": view_time(order.completed_at),
    }
    if order.attempt:  # keys of attempts appear only on orders that have them: older rows keep their bytes
        payload["attempt"] = {
            "number": order.attempt,
            "phase": order.attempt_phase.value if order.attempt_phase else None,
            "kind": order.order_kind.value if order.order_kind else None,
            "session": order.session.value if order.session else None,
            "limit_price": str(order.limit_price) if order.limit_price else None,
            "client_order_id": order.client_order_id,
            "shares": str(order.attempt_shares),
            "filled": str(order.attempt_filled),
            "prepared_at": view_time(order.attempt_at),
        }
    return payload


def _schwab(auth: schwab_auth.SchwabAuth) -> dict[str, Any] | None:
    if auth.access_token_ciphertext is None:
        return None
    return {
        "access_token_ciphertext": auth.access_token_ciphertext,
        "refresh_token_ciphertext": auth.refresh_token_ciphertext,
        "access_expires_at": view_time(auth.access_expires_at),
        "refresh_expires_at": view_time(auth.refresh_expires_at),
        "fetched_at": view_time(auth.fetched_at),
    }


def _control(state: control.Control) -> dict[str, Any]:
    def audit(a: Audit | None) -> dict[str, str | None] | None:
        return None if a is None else {"actor": a.actor, "reason": a.reason, "at": view_time(a.at)}

    return {
        "paused_all": audit(state.paused_all),
        "paused_symbols": {symbol: audit(a) for symbol, a in sorted(state.paused_symbols.items())},
        "kill_switch": audit(state.kill_switch),
    }


VIEWS: dict[str, View] = {
    view.aggregate_type: view
    for view in (
        View("onchain_trade_view", onchain_trade.AGGREGATE, _onchain),
        View("position_view", position.AGGREGATE, _position),
        View("offchain_trade_view", offchain_order.AGGREGATE, _offchain),
        View("schwab_auth_view", schwab_auth.AGGREGATE, _schwab),
        View("control_view", control.AGGREGATE, _control),
    )
}
"""The state-backed view of each aggregate type."""

LINK_TABLE = "trade_execution_link_view"
STATE_TABLES = tuple(view.table for view in VIEWS.values())
ALL_TABLES = (*STATE_TABLES, LINK_TABLE, PNL_TABLE)

derived_rows = pnl_rows
"""Insert-only rows one event adds given the states around it (``metrics_pnl_view``)."""


def view_row(aggregate_type: str, aggregate_id: str, version: int, state: Any) -> Row | None:
    """The row the aggregate's view should hold, or None if it should hold none."""
    payload = VIEWS[aggregate_type].payload(state)
    return None if payload is None else (aggregate_id, version, dumps(payload))


def link_rows(symbol: str, sequence: int, event: DomainEvent) -> list[Row]:
    """Audit links of a placement: which fills, with how many shares each, the execution hedges."""
    if not isinstance(event, position.OffChainOrderPlaced):
        return []
    per_trade: dict[str, Shares] = {}
    for lot in event.contributions:
        per_trade[lot.source] = per_trade.get(lot.source, Shares.zero()) + abs(lot.shares)
    return [
        (
            f"{event.execution_id}:{trade_id}",
            sequence,
            dumps(
                {
                    "execution_id": event.execution_id,
                    "trade_id": trade_id,
                    "symbol": symbol,
                    "shares": str(shares),
                    "direction": event.direction.value,
                    "trigger_reason": event.trigger_reason,
                    "created_at": view_time(event.at),
                }
            ),
        )
        for trade_id, shares in per_trade.items()
    ]
