"""Alpaca payloads → our values, in one place. Pure functions; no I/O.

alpaca-py's models keep money and quantities as strings (and type some as ``str | float``); we read
them as exact decimals and refuse a float outright, so no binary rounding can slip into the books.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, time
from decimal import Decimal
from enum import Enum
from typing import Any

from alpaca.trading.models import Clock, Order, Position, TradeAccount

from arbtui.brokers.base import (
    AccountBalances,
    BrokerOrderId,
    BrokerPosition,
    BrokerProtocolError,
    LimitOrder,
    MarketClock,
    MarketOrder,
    OrderReport,
    OrderState,
)
from arbtui.domain.sessions import CalendarError, MarketSession, TradingCalendar, TradingDay
from arbtui.domain.values import (
    BrokerKind,
    Direction,
    InvalidAmount,
    InvalidSymbol,
    PriceUsdc,
    Shares,
    Symbol,
    Usdc,
    canonical,
)

ALPACA_STATES: Mapping[str, OrderState] = {
    "new": OrderState.SUBMITTED,
    "accepted": OrderState.SUBMITTED,
    "pending_new": OrderState.SUBMITTED,
    "accepted_for_bidding": OrderState.SUBMITTED,
    "calculated": OrderState.SUBMITTED,
    "pending_cancel": OrderState.SUBMITTED,
    "pending_replace": OrderState.SUBMITTED,
    "pending_review": OrderState.SUBMITTED,
    "held": OrderState.SUBMITTED,
    "partially_filled": OrderState.PARTIALLY_FILLED,
    "filled": OrderState.FILLED,
    "canceled": OrderState.CANCELLED,
    "expired": OrderState.CANCELLED,
    "done_for_day": OrderState.CANCELLED,
    "replaced": OrderState.CANCELLED,
    "rejected": OrderState.FAILED,
    "suspended": OrderState.FAILED,
    "stopped": OrderState.FAILED,
}
"""Every alpaca-py ``OrderStatus`` → our state. Closed states become FILLED when fully filled."""

_CLOSED = frozenset({"canceled", "expired", "done_for_day", "replaced"})


def order_body(order: MarketOrder) -> dict[str, str]:
    """The ``POST /v2/orders`` body. Amounts go as decimal strings (the API accepts them), never floats."""
    body = {
        "symbol": str(order.symbol),
        "side": "buy" if order.side is Direction.BUY else "sell",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": str(order.execution_id),
    }
    if order.quantity is not None:
        body["qty"] = canonical(order.quantity.value)
    else:
        assert order.notional is not None
        body["notional"] = canonical(order.notional.value)
    return body


def limit_order_body(order: LimitOrder) -> dict[str, object]:
    """The ``POST /v2/orders`` body of a limit day order: decimal strings, ``extended_hours`` for every
    session but REGULAR (see :mod:`arbtui.brokers.alpaca.client` for why overnight too)."""
    return {
        "symbol": str(order.symbol),
        "side": "buy" if order.side is Direction.BUY else "sell",
        "type": "limit",
        "time_in_force": "day",
        "qty": canonical(order.quantity.value),
        "limit_price": canonical(order.limit_price.value),
        "extended_hours": order.session is not MarketSession.REGULAR,
        "client_order_id": order.client_order_id,
    }


def decimal_field(value: object, name: str) -> Decimal:
    """An exact decimal from a string field; floats and garbage raise :class:`BrokerProtocolError`."""
    if isinstance(value, str):
        try:
            return Decimal(value)
        except ArithmeticError as exc:
            raise BrokerProtocolError(f"alpaca {name} is not a number: {value!r}") from exc
    raise BrokerProtocolError(f"alpaca {name} must be a decimal string, got {type(value).__name__}")


def _optional_decimal(value: object, name: str) -> Decimal | None:
    return None if value is None or value == "" else decimal_field(value, name)


def _word(value: object) -> str:
    return str(value.value) if isinstance(value, Enum) else str(value)


def parse_order(model: Order) -> OrderReport:
    """An alpaca-py ``Order`` → :class:`OrderReport` (status mapped, fill price exact in cents)."""
    status = _word(model.status)
    state = ALPACA_STATES.get(status)
    if state is None:
        raise BrokerProtocolError(f"unknown alpaca order status {status!r}", broker=BrokerKind.ALPACA)
    try:
        symbol = Symbol(str(model.symbol))
        side = Direction(_word(model.side).upper())
        quantity = _optional_decimal(model.qty, "qty")
        notional = _optional_decimal(model.notional, "notional")
        filled = _optional_decimal(model.filled_qty, "filled_qty") or Decimal(0)
        average = _optional_decimal(model.filled_avg_price, "filled_avg_price")
    except (InvalidSymbol, InvalidAmount, ValueError) as exc:
        if isinstance(exc, BrokerProtocolError):
            raise
        raise BrokerProtocolError(f"unreadable alpaca order: {exc}", broker=BrokerKind.ALPACA) from exc
    if status in _CLOSED and quantity is not None and filled >= quantity:
        state = OrderState.FILLED
    filled_shares = Shares(filled)
    price = PriceUsdc(average) if average is not None and not filled_shares.is_zero else None
    return OrderReport(
        broker=BrokerKind.ALPACA,
        order_id=BrokerOrderId(str(model.id)),
        symbol=symbol,
        side=side,
        state=state,
        broker_status=status,
        filled_quantity=filled_shares,
        average_price=None if price is None else price.to_cents(),
        filled_notional=None if price is None else price.notional(filled_shares),
        quantity=None if quantity is None else Shares(quantity),
        notional=None if notional is None else Usdc(notional),
        client_order_id=model.client_order_id,
        submitted_at=model.submitted_at,
        filled_at=model.filled_at,
    )


def parse_clock(model: Clock) -> MarketClock:
    return MarketClock(
        as_of=model.timestamp, is_open=model.is_open, next_open=model.next_open, next_close=model.next_close
    )


def parse_position(model: Position) -> BrokerPosition:
    try:
        quantity = decimal_field(model.qty, "position qty")
        if _word(model.side) == "short" and quantity > 0:
            quantity = -quantity
        average = _optional_decimal(model.avg_entry_price, "avg_entry_price")
        value = _optional_decimal(model.market_value, "market_value")
        return BrokerPosition(
            symbol=Symbol(model.symbol),
            quantity=Shares(quantity),
            average_entry_price=None if average is None else PriceUsdc(average),
            market_value=None if value is None else Usdc(value),
        )
    except (InvalidSymbol, InvalidAmount) as exc:
        raise BrokerProtocolError(f"unreadable alpaca position: {exc}", broker=BrokerKind.ALPACA) from exc


def parse_account(model: TradeAccount) -> AccountBalances:
    cash = _optional_decimal(model.cash, "cash")
    buying_power = _optional_decimal(model.buying_power, "buying_power")
    if cash is None or buying_power is None:
        raise BrokerProtocolError("alpaca account without cash or buying power", broker=BrokerKind.ALPACA)
    equity = _optional_decimal(model.equity, "equity")
    non_marginable = _optional_decimal(model.non_marginable_buying_power, "non_marginable_buying_power")
    return AccountBalances(
        cash=Usdc(cash),
        buying_power=Usdc(buying_power),
        non_marginable_buying_power=None if non_marginable is None else Usdc(non_marginable),
        equity=None if equity is None else Usdc(equity),
        trading_blocked=bool(model.trading_blocked),
    )


def parse_calendar(raw: Any, start: date, end: date) -> TradingCalendar:
    """``GET /v2/calendar`` read raw: ``[{date, open: "09:30", close: "16:00", session_open: "0400",
    session_close: "2000", settlement_date}]`` (alpaca-py's ``Calendar`` model drops the two session
    fields). Times are New York wall clock, ``HH:MM`` or ``HHMM``. Alpaca trades overnight (24/5)."""
    if not isinstance(raw, list):
        raise BrokerProtocolError("alpaca calendar answer is not a list", broker=BrokerKind.ALPACA)
    days = []
    try:
        for row in raw:
            day = date.fromisoformat(str(row["date"]))
            if not start <= day <= end:
                continue  # never trust the range of the answer more than the question's
            days.append(
                TradingDay.at_local(
                    day,
                    pre_open=_wall_time(row.get("session_open") or row["open"]),
                    open=_wall_time(row["open"]),
                    close=_wall_time(row["close"]),
                    post_close=_wall_time(row.get("session_close") or row["close"]),
                )
            )
        return TradingCalendar(start, end, tuple(days), overnight=True)
    except (KeyError, TypeError, ValueError) as exc:
        # CalendarError is a ValueError: a day out of order is as unreadable as a missing field.
        kind = "inconsistent" if isinstance(exc, CalendarError) else "unreadable"
        raise BrokerProtocolError(f"{kind} alpaca calendar: {exc!r}", broker=BrokerKind.ALPACA) from exc


def _wall_time(value: object) -> time:
    """``"09:30"`` or ``"0930"`` → 09:30 (the calendar writes both forms)."""
    text = str(value).strip().replace(":", "")
    if len(text) != 4 or not text.isdigit():
        raise ValueError(f"not a wall-clock time: {value!r}")
    return time(int(text[:2]), int(text[2:]))
