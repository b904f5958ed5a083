"""``metrics_pnl_view`` rows: one per trade the Position's PnL book saw (insert-only, like the links).

A row is a pure function of the Position state before the event, the event, and the state after it
(:func:`trade_of`, :func:`arbtui.domain.pnl.row`), so the live path (each unit
of work) and ``rebuild-views`` (folding the log) write the same bytes.
"""

from __future__ import annotations

from json.encoder import encode_basestring_ascii
from typing import Any

from arbtui.domain import pnl, position
from arbtui.domain.values import Venue
from arbtui.store.codec import view_time

PNL_TABLE = "metrics_pnl_view"

Row = tuple[str, int, str]


def pnl_rows(
    aggregate_type: str, symbol: str, sequence: int, event: Any, before: Any, after: Any
) -> list[tuple[str, Row]]:
    """``[(table, row)]`` for one event of one aggregate: a PnL row when a Position event is a trade."""
    if aggregate_type != position.AGGREGATE:
        return []
    trade = trade_of(before, event)
    if trade is None:
        return []
    made = pnl.row(symbol, trade, before.book, after.book)
    return [(PNL_TABLE, (f"{symbol}:{made.number}", sequence, encode(made, sequence)))]


def trade_of(state: position.Position, event: Any) -> pnl.Trade | None:
    """The trade ``event`` books into ``state.book`` (``state``: the position before it), if any:
    an onchain fill, a broker fill (the side is the pending execution's), or a reorged fill leaving."""
    if isinstance(event, position.OnChainFillAcknowledged):
        return pnl.Trade.trusted(
            venue=Venue.ONCHAIN,
            ref=event.trade_id,
            direction=event.direction,
            shares=event.amount,
            price=event.price_usdc,
            at=event.at,
        )
    if isinstance(event, position.OffChainOrderFilled) and state.pending is not None:
        return pnl.Trade.trusted(
            venue=Venue.OFFCHAIN,
            ref=str(event.execution_id),
            direction=state.pending.direction,
            shares=event.shares_filled,
            price=event.price_cents.to_price(),
            at=event.at,
        )
    if isinstance(event, position.OnChainFillReversed):
        price = pnl.reversal_price(state.book, event.trade_id, state.last_price)
        if price is None:
            return None
        return pnl.Trade.trusted(
            venue=Venue.ONCHAIN,
            ref=f"reversed:{event.trade_id}",
            direction=event.direction.opposite,
            shares=event.amount,
            price=price,
            at=event.at,
        )
    return None


def encode(made: pnl.PnlRow, sequence: int) -> str:
    """``dumps(payload(made, sequence))`` — the canonical JSON (sorted keys, compact) — written
    directly: this runs for every fill, live and in a rebuild (equality is property-tested)."""
    trade = made.trade
    return (
        f'{{"cumulative_pnl":"{made.cumulative}","fees":null,"id":{made.number},'
        f'"net_position_after":"{made.position_after}","position_sequence":{int(sequence)},'
        f'"price_per_share":"{trade.price}","quantity":"{trade.shares}","realized_pnl":"{made.realized}",'
        f'"symbol":{_text(made.symbol)},"timestamp":{_text(view_time(trade.at))},'
        f'"trade_direction":"{trade.direction.value}","trade_id":{_text(trade.ref)},'
        f'"trade_type":"{trade.venue.value}"}}'
    )


def _text(value: str | None) -> str:
    return "null" if value is None else str(encode_basestring_ascii(value))


def payload(made: pnl.PnlRow, sequence: int) -> dict[str, Any]:
    """The seed's ``metrics_pnl`` columns (exact decimal strings), plus what they leave out."""
    trade = made.trade
    return {
        "id": made.number,
        "symbol": made.symbol,
        "timestamp": view_time(trade.at),
        "trade_type": trade.venue.value,
        "trade_id": trade.ref,
        "trade_direction": trade.direction.value,
        "quantity": str(trade.shares),
        "price_per_share": str(trade.price),
        "realized_pnl": str(made.realized),
        "cumulative_pnl": str(made.cumulative),
        "net_position_after": str(made.position_after),
        "fees": None,  # not reported by the fill events; see docs/pnl.md
        "position_sequence": sequence,
    }
