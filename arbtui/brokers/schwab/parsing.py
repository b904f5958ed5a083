"""Schwab Trader API payloads → our values, in one place. Pure functions; no I/O.

Bodies are decoded with ``parse_float=Decimal`` (:func:`loads`), so Schwab's JSON numbers arrive as
exact decimals; the average fill price is the volume-weighted mean of the execution legs, with the
dollar total kept exact in :attr:`~arbtui.brokers.base.OrderReport.filled_notional`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from arbtui.brokers.base import (
    AccountBalances,
    BrokerOrderId,
    BrokerPosition,
    BrokerProtocolError,
    LimitOrder,
    MarketOrder,
    OrderReport,
    OrderState,
)
from arbtui.domain.sessions import CalendarError, MarketSession, TradingDay
from arbtui.domain.values import (
    EXACT,
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

SCHWAB_STATES: Mapping[str, OrderState] = {
    "AWAITING_PARENT_ORDER": OrderState.SUBMITTED,
    "AWAITING_CONDITION": OrderState.SUBMITTED,
    "AWAITING_STOP_CONDITION": OrderState.SUBMITTED,
    "AWAITING_MANUAL_REVIEW": OrderState.SUBMITTED,
    "ACCEPTED": OrderState.SUBMITTED,
    "AWAITING_UR_OUT": OrderState.SUBMITTED,
    "PENDING_ACTIVATION": OrderState.SUBMITTED,
    "QUEUED": OrderState.SUBMITTED,
    "WORKING": OrderState.SUBMITTED,
    "NEW": OrderState.SUBMITTED,
    "AWAITING_RELEASE_TIME": OrderState.SUBMITTED,
    "PENDING_ACKNOWLEDGEMENT": OrderState.SUBMITTED,
    "PENDING_RECALL": OrderState.SUBMITTED,
    "PENDING_CANCEL": OrderState.SUBMITTED,
    "PENDING_REPLACE": OrderState.SUBMITTED,
    "FILLED": OrderState.FILLED,
    "REJECTED": OrderState.FAILED,
    "CANCELED": OrderState.CANCELLED,
    "EXPIRED": OrderState.CANCELLED,
    "REPLACED": OrderState.CANCELLED,
    "UNKNOWN": OrderState.PENDING,
}
"""Every documented Schwab order status → our state. ``PENDING_CANCEL``/``PENDING_REPLACE`` are still
live (SUBMITTED); ``UNKNOWN`` is PENDING: keep polling and alert. A working order with fills is
PARTIALLY_FILLED; a closed one whose fills cover the quantity is FILLED."""

_CLOSED = frozenset({"CANCELED", "EXPIRED", "REPLACED"})
_INSTRUCTIONS = {
    "BUY": Direction.BUY,
    "BUY_TO_COVER": Direction.BUY,
    "SELL": Direction.SELL,
    "SELL_SHORT": Direction.SELL,
}


def loads(content: bytes | str) -> Any:
    """JSON with every non-integer number as an exact :class:`~decimal.Decimal`."""
    try:
        return json.loads(content, parse_float=Decimal)
    except ValueError as exc:
        raise BrokerProtocolError(f"schwab answered non-JSON: {exc}", broker=BrokerKind.SCHWAB) from exc


def order_body(order: MarketOrder) -> dict[str, Any]:
    """``POST …/orders`` body for a whole-share market day order (the caller checked wholeness)."""
    assert order.quantity is not None
    assert order.quantity.is_whole
    return {
        "orderType": "MARKET",
        "session": "NORMAL",
        "duration": "DAY",
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": order.side.value,
                "quantity": int(order.quantity.value),
                "instrument": {"symbol": str(order.symbol), "assetType": "EQUITY"},
            }
        ],
    }


SCHWAB_SESSIONS: Mapping[MarketSession, str] = {
    MarketSession.REGULAR: "NORMAL",
    MarketSession.PRE: "AM",
    MarketSession.POST: "PM",
    MarketSession.OVERNIGHT: "SEAMLESS",
}
"""A limit order's session → Schwab's ``session`` word."""


def limit_order_body(order: LimitOrder) -> dict[str, Any]:
    """``POST …/orders`` body for a whole-share limit day order (the caller checked wholeness and tick)."""
    assert order.quantity.is_whole
    return {
        "orderType": "LIMIT",
        "session": SCHWAB_SESSIONS[order.session],
        "duration": "DAY",
        "price": canonical(order.limit_price.value),
        "orderStrategyType": "SINGLE",
        "orderLegCollection": [
            {
                "instruction": order.side.value,
                "quantity": int(order.quantity.value),
                "instrument": {"symbol": str(order.symbol), "assetType": "EQUITY"},
            }
        ],
    }


def order_id_from_location(location: str | None) -> BrokerOrderId | None:
    """The order id is the last path segment of ``Location`` (``…/accounts/{hash}/orders/{id}``)."""
    if not location:
        return None
    segment = location.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return BrokerOrderId(segment) if segment.isdigit() else None


def _num(value: object, name: str) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise BrokerProtocolError(f"schwab {name} is not a number: {value!r}", broker=BrokerKind.SCHWAB)
    try:
        result = Decimal(value)
    except ArithmeticError as exc:
        raise BrokerProtocolError(f"schwab {name} is not a number: {value!r}", broker=BrokerKind.SCHWAB) from exc
    if not result.is_finite():
        raise BrokerProtocolError(f"schwab {name} is not finite", broker=BrokerKind.SCHWAB)
    return result


def parse_time(value: object) -> datetime | None:
    """Schwab timestamps (``2025-03-04T14:30:00+0000``) → aware datetimes; ``None`` if absent."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(str(value))
    except ValueError as exc:
        raise BrokerProtocolError(f"schwab time {value!r} unreadable", broker=BrokerKind.SCHWAB) from exc


def format_time(moment: datetime) -> str:
    """The ``fromEnteredTime``/``toEnteredTime`` form: ``yyyy-MM-dd'T'HH:mm:ss.SSSZ``."""
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _leg(raw: Mapping[str, Any]) -> tuple[Symbol, Direction]:
    legs = raw.get("orderLegCollection") or []
    if not legs:
        raise BrokerProtocolError("schwab order without legs", broker=BrokerKind.SCHWAB)
    leg = legs[0]
    instruction = str(leg.get("instruction"))
    if instruction not in _INSTRUCTIONS:
        raise BrokerProtocolError(f"schwab instruction {instruction!r} not supported", broker=BrokerKind.SCHWAB)
    return Symbol(str(leg["instrument"]["symbol"])), _INSTRUCTIONS[instruction]


def parse_order(raw: Mapping[str, Any]) -> OrderReport:
    """One order JSON (``GET …/orders/{id}``) → :class:`OrderReport`."""
    status = str(raw.get("status"))
    state = SCHWAB_STATES.get(status)
    if state is None:
        raise BrokerProtocolError(f"unknown schwab order status {status!r}", broker=BrokerKind.SCHWAB)
    try:
        symbol, side = _leg(raw)
        quantity = _num(raw.get("quantity"), "quantity")
        filled = _num(raw.get("filledQuantity", 0), "filledQuantity")
        leg_quantity = Decimal(0)
        notional = Decimal(0)
        last_fill: datetime | None = None
        for activity in raw.get("orderActivityCollection") or []:
            for execution in activity.get("executionLegs") or []:
                q = _num(execution.get("quantity"), "execution quantity")
                p = _num(execution.get("price"), "execution price")
                leg_quantity = EXACT.add(leg_quantity, q)
                notional = EXACT.add(notional, EXACT.multiply(q, p))
                last_fill = parse_time(execution.get("time")) or last_fill
    except (KeyError, TypeError, InvalidSymbol, InvalidAmount) as exc:
        raise BrokerProtocolError(f"unreadable schwab order: {exc!r}", broker=BrokerKind.SCHWAB) from exc
    if status in _CLOSED and filled > 0 and filled >= quantity:
        state = OrderState.FILLED
    elif state is OrderState.SUBMITTED and filled > 0:
        state = OrderState.PARTIALLY_FILLED
    average = None
    filled_notional = None
    if leg_quantity > 0:
        filled_notional = Usdc(notional)
        average = PriceUsdc.per_share(filled_notional, Shares(leg_quantity)).to_cents()
    return OrderReport(
        broker=BrokerKind.SCHWAB,
        order_id=BrokerOrderId(str(raw.get("orderId"))),
        symbol=symbol,
        side=side,
        state=state,
        broker_status=status,
        filled_quantity=Shares(filled),
        average_price=average,
        filled_notional=filled_notional,
        quantity=Shares(quantity),
        submitted_at=parse_time(raw.get("enteredTime")),
        filled_at=last_fill or (parse_time(raw.get("closeTime")) if state is OrderState.FILLED else None),
    )


def matches(raw: Mapping[str, Any], order: MarketOrder | LimitOrder) -> bool:
    """Whether a listed order is ``order``'s kind with its symbol, side and quantity — and, for a limit
    order, its price (for reconciliation: Schwab has no client order id)."""
    try:
        symbol, side = _leg(raw)
        quantity = _num(raw.get("quantity"), "quantity")
        price = None if raw.get("price") is None else _num(raw.get("price"), "price")
    except (BrokerProtocolError, KeyError, TypeError, InvalidSymbol):
        return False
    kind = str(raw.get("orderType", "MARKET"))
    if isinstance(order, LimitOrder):
        return (
            kind == "LIMIT"
            and symbol == order.symbol
            and side is order.side
            and quantity == order.quantity.value
            and price == order.limit_price.value
        )
    return (
        kind == "MARKET"
        and symbol == order.symbol
        and side is order.side
        and order.quantity is not None
        and quantity == order.quantity.value
    )


def parse_account_hash(raw: Any, account_number: str | None) -> str:
    """Pick the hash of ``account_number`` (or of the only account) from ``accountNumbers``."""
    if not isinstance(raw, list) or not raw:
        raise BrokerProtocolError("schwab returned no linked accounts", broker=BrokerKind.SCHWAB)
    if account_number is None:
        if len(raw) > 1:
            raise BrokerProtocolError("several schwab accounts: configure account_number", broker=BrokerKind.SCHWAB)
        return str(raw[0]["hashValue"])
    for row in raw:
        if str(row.get("accountNumber")) == account_number:
            return str(row["hashValue"])
    raise BrokerProtocolError("configured schwab account_number is not linked", broker=BrokerKind.SCHWAB)


def parse_market_hours(raw: Any, day: date) -> TradingDay | None:
    """``GET /marketdata/v1/markets?markets=equity&date=…`` → that day's sessions, ``None`` when the
    equity market is shut (weekend, holiday).

    The published shape: ``{"equity": {"EQ": {"date", "marketType": "EQUITY", "product": "EQ",
    "isOpen", "sessionHours": {"preMarket": [{start, end}], "regularMarket": [...], "postMarket":
    [...]}}}}`` with ISO-8601 times carrying their offset (pre-market starts 07:00 ET at Schwab). A
    closed day answers ``isOpen: false`` without ``sessionHours`` (its inner key is then ``equity``).
    A missing pre- or post-market list means no such session that day.
    """
    try:
        products = raw["equity"]
        entries = [e for e in products.values() if isinstance(e, Mapping)]
        entry = next((e for e in entries if e.get("product") == "EQ"), entries[0])
        if not entry.get("isOpen"):
            return None
        hours = entry.get("sessionHours") or {}
        regular = [(_aware(s["start"]), _aware(s["end"])) for s in hours.get("regularMarket") or []]
        if not regular:
            return None
        opens, closes = min(start for start, _ in regular), max(end for _, end in regular)
        pre = [_aware(s["start"]) for s in hours.get("preMarket") or []]
        post = [_aware(s["end"]) for s in hours.get("postMarket") or []]
        return TradingDay(day, min([*pre, opens]), opens, closes, max([*post, closes]))
    except (KeyError, TypeError, StopIteration, AttributeError, IndexError, CalendarError) as exc:
        raise BrokerProtocolError(f"unreadable schwab market hours: {exc!r}", broker=BrokerKind.SCHWAB) from exc


def _aware(value: object) -> datetime:
    moment = parse_time(value)
    if moment is None or moment.tzinfo is None:
        raise BrokerProtocolError(f"schwab session time {value!r} has no offset", broker=BrokerKind.SCHWAB)
    return moment


def parse_positions(raw: Any) -> tuple[BrokerPosition, ...]:
    try:
        rows: Sequence[Mapping[str, Any]] = raw["securitiesAccount"].get("positions") or []
        positions = []
        for row in rows:
            instrument = row["instrument"]
            if instrument.get("assetType") not in (None, "EQUITY"):
                continue
            net = _num(row.get("longQuantity", 0), "longQuantity") - _num(row.get("shortQuantity", 0), "shortQuantity")
            average = row.get("averagePrice")
            value = row.get("marketValue")
            positions.append(
                BrokerPosition(
                    symbol=Symbol(str(instrument["symbol"])),
                    quantity=Shares(net),
                    average_entry_price=None if average is None else PriceUsdc(_num(average, "averagePrice")),
                    market_value=None if value is None else Usdc(_num(value, "marketValue")),
                )
            )
    except (KeyError, TypeError, AttributeError, InvalidSymbol) as exc:
        raise BrokerProtocolError(f"unreadable schwab positions: {exc!r}", broker=BrokerKind.SCHWAB) from exc
    return tuple(positions)


def parse_balances(raw: Any) -> AccountBalances:
    """``securitiesAccount.currentBalances``: ``cashBalance`` (else ``cashAvailableForTrading``),
    ``buyingPower``, ``liquidationValue``, and a margin account's ``buyingPowerNonMarginableTrade`` as
    the non-marginable figure (``None`` where the account gives none: the preflight then uses cash)."""
    try:
        balances = raw["securitiesAccount"]["currentBalances"]
        cash = _num(balances.get("cashBalance", balances.get("cashAvailableForTrading")), "cashBalance")
        buying_power = _num(balances.get("buyingPower", cash), "buyingPower")
        non_marginable = balances.get("buyingPowerNonMarginableTrade")
        equity = balances.get("liquidationValue")
    except (KeyError, TypeError) as exc:
        raise BrokerProtocolError(f"unreadable schwab balances: {exc!r}", broker=BrokerKind.SCHWAB) from exc
    return AccountBalances(
        cash=Usdc(cash),
        buying_power=Usdc(buying_power),
        non_marginable_buying_power=(
            None if non_marginable is None else Usdc(_num(non_marginable, "buyingPowerNonMarginableTrade"))
        ),
        equity=None if equity is None else Usdc(_num(equity, "liquidationValue")),
    )
