"""Raw Alpaca and Schwab payloads → our values: every status, exact prices, refusals."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest
from alpaca.trading.enums import OrderStatus
from alpaca.trading.models import Order, TradeAccount

from arbtui.brokers.alpaca import parsing as alpaca
from arbtui.brokers.base import BrokerProtocolError, LimitOrder, MarketOrder, OrderState
from arbtui.brokers.schwab import parsing as schwab
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import Cents, Direction, ExecutionId, PriceUsdc, Shares, Symbol, Usdc


def alpaca_order(**fields: Any) -> Order:
    base: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "client_order_id": "c",
        "created_at": "2025-03-04T15:00:00Z",
        "updated_at": "2025-03-04T15:00:00Z",
        "submitted_at": "2025-03-04T15:00:00Z",
        "symbol": "AAPL",
        "qty": "10",
        "filled_qty": "0",
        "order_class": "simple",
        "type": "market",
        "side": "buy",
        "time_in_force": "day",
        "status": "new",
        "extended_hours": False,
    }
    return Order(**{**base, **fields})


def test_every_alpaca_sdk_status_has_a_mapping() -> None:
    assert {s.value for s in OrderStatus} == set(alpaca.ALPACA_STATES)


@pytest.mark.parametrize("status", sorted(alpaca.ALPACA_STATES))
def test_alpaca_status(status: str) -> None:
    assert alpaca.parse_order(alpaca_order(status=status)).state is alpaca.ALPACA_STATES[status]


def test_alpaca_documented_map_spot_checks() -> None:
    expected = {
        "accepted_for_bidding": OrderState.SUBMITTED,
        "calculated": OrderState.SUBMITTED,
        "partially_filled": OrderState.PARTIALLY_FILLED,
        "done_for_day": OrderState.CANCELLED,
        "stopped": OrderState.FAILED,
        "suspended": OrderState.FAILED,
    }
    assert {k: alpaca.ALPACA_STATES[k] for k in expected} == expected


def test_alpaca_fill_price_is_exact_in_cents() -> None:
    report = alpaca.parse_order(
        alpaca_order(status="filled", qty="0.37", filled_qty="0.37", filled_avg_price="187.125")
    )
    assert report.average_price == Cents("18712.5")
    assert report.filled_notional == Usdc("69.23625")
    assert report.filled_quantity == Shares("0.37")


def test_alpaca_expired_but_fully_filled_is_filled() -> None:
    report = alpaca.parse_order(alpaca_order(status="expired", filled_qty="10", filled_avg_price="1"))
    assert report.state is OrderState.FILLED


def test_alpaca_float_amount_is_refused() -> None:
    with pytest.raises(BrokerProtocolError, match="decimal string"):
        alpaca.parse_order(alpaca_order(filled_qty=0.1))


def test_alpaca_body_sends_strings_and_client_id() -> None:
    execution = ExecutionId(str(uuid.uuid4()))
    order = MarketOrder(execution, Symbol("AAPL"), Direction.SELL, quantity=Shares("0.370"))
    assert alpaca.order_body(order) == {
        "symbol": "AAPL",
        "side": "sell",
        "type": "market",
        "time_in_force": "day",
        "client_order_id": execution,
        "qty": "0.37",
    }


def schwab_order(status: str = "WORKING", legs: list[tuple[str, str]] | None = None, **extra: Any) -> dict[str, Any]:
    executions = [{"quantity": Decimal(q), "price": Decimal(p)} for q, p in legs or []]
    return {
        "orderId": 42,
        "status": status,
        "quantity": Decimal(3),
        "filledQuantity": sum((e["quantity"] for e in executions), Decimal(0)),
        "enteredTime": "2025-03-04T15:00:00+0000",
        "orderLegCollection": [{"instruction": "BUY", "quantity": 3, "instrument": {"symbol": "AAPL"}}],
        "orderActivityCollection": [{"executionLegs": executions}] if executions else [],
        **extra,
    }


@pytest.mark.parametrize("status", sorted(schwab.SCHWAB_STATES))
def test_schwab_status(status: str) -> None:
    assert schwab.parse_order(schwab_order(status)).state is schwab.SCHWAB_STATES[status]


def test_schwab_unknown_status_keeps_polling_and_garbage_is_refused() -> None:
    assert schwab.SCHWAB_STATES["UNKNOWN"] is OrderState.PENDING
    with pytest.raises(BrokerProtocolError, match="unknown schwab order status"):
        schwab.parse_order(schwab_order("HALF_BAKED"))


def test_schwab_average_is_weighted_and_notional_exact() -> None:
    report = schwab.parse_order(schwab_order("FILLED", legs=[("1", "100.01"), ("2", "100.02")]))
    assert report.filled_notional == Usdc("300.05")
    assert report.filled_quantity == Shares("3")
    expected = PriceUsdc.per_share(Usdc("300.05"), Shares("3")).to_cents()
    assert report.average_price == expected
    assert report.average_price is not None
    assert report.average_price.rounded() == 10002


def test_schwab_working_with_fills_is_partially_filled() -> None:
    report = schwab.parse_order(schwab_order("WORKING", legs=[("1", "187.12")]))
    assert report.state is OrderState.PARTIALLY_FILLED
    assert report.average_price == Cents("18712")


def test_schwab_location_and_times() -> None:
    assert schwab.order_id_from_location("https://api.schwabapi.com/trader/v1/accounts/H/orders/1001") == "1001"
    assert schwab.order_id_from_location("https://x/accounts/H/orders/") is None
    assert schwab.order_id_from_location(None) is None
    moment = schwab.parse_time("2025-03-04T15:00:00+0000")
    assert moment is not None
    assert schwab.format_time(moment) == "2025-03-04T15:00:00.000Z"


def test_schwab_json_numbers_are_exact() -> None:
    assert schwab.loads(b'{"price": 0.1}')["price"] == Decimal("0.1")
    with pytest.raises(BrokerProtocolError):
        schwab.loads(b"<html>")


def test_schwab_positions_and_balances() -> None:
    raw = schwab.loads(
        b'{"securitiesAccount": {"positions": [{"longQuantity": 0, "shortQuantity": 5, "averagePrice": 10.5,'
        b' "instrument": {"symbol": "TSLA", "assetType": "EQUITY"}}],'
        b' "currentBalances": {"cashBalance": 1000.25, "buyingPower": 2000.5}}}'
    )
    (position,) = schwab.parse_positions(raw)
    assert position.quantity == Shares("-5")
    assert position.average_entry_price == PriceUsdc("10.5")
    balances = schwab.parse_balances(raw)
    assert balances.cash == Usdc("1000.25")
    assert balances.buying_power == Usdc("2000.5")
    assert balances.non_marginable_buying_power is None  # a cash account gives no such figure


def test_non_marginable_buying_power_is_read_exactly_where_the_broker_gives_it() -> None:
    raw = schwab.loads(
        b'{"securitiesAccount": {"currentBalances": {"cashBalance": 1000.25, "buyingPower": 4000.5,'
        b' "buyingPowerNonMarginableTrade": 1000.1}}}'
    )
    assert schwab.parse_balances(raw).non_marginable_buying_power == Usdc("1000.1")
    account = TradeAccount.model_validate(
        {
            "id": str(uuid.uuid4()),
            "account_number": "PA1",
            "status": "ACTIVE",
            "cash": "35000.01",
            "buying_power": "70000.02",
            "non_marginable_buying_power": "35000.01",
        }
    )
    balances = alpaca.parse_account(account)
    assert (balances.cash, balances.non_marginable_buying_power) == (Usdc("35000.01"), Usdc("35000.01"))


def test_limit_order_bodies_are_exact_strings_with_each_brokers_session_fields() -> None:
    execution = ExecutionId(str(uuid.uuid4()))
    for session, extended, word in (
        (MarketSession.REGULAR, False, "NORMAL"),
        (MarketSession.PRE, True, "AM"),
        (MarketSession.POST, True, "PM"),
        (MarketSession.OVERNIGHT, True, "SEAMLESS"),
    ):
        order = LimitOrder(
            f"{execution}-2", execution, Symbol("AAPL"), Direction.SELL, Shares("3"), PriceUsdc("0.1234"), session
        )
        assert alpaca.limit_order_body(order) == {
            "symbol": "AAPL",
            "side": "sell",
            "type": "limit",
            "time_in_force": "day",
            "qty": "3",
            "limit_price": "0.1234",
            "extended_hours": extended,
            "client_order_id": f"{execution}-2",
        }
        body = schwab.limit_order_body(order)
        assert (body["orderType"], body["session"], body["duration"], body["price"]) == ("LIMIT", word, "DAY", "0.1234")
        assert body["orderLegCollection"][0]["quantity"] == 3


def test_schwab_account_hash_choice() -> None:
    rows = [{"accountNumber": "1", "hashValue": "A"}, {"accountNumber": "2", "hashValue": "B"}]
    assert schwab.parse_account_hash(rows, "2") == "B"
    with pytest.raises(BrokerProtocolError, match="several"):
        schwab.parse_account_hash(rows, None)
