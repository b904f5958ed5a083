"""Builders of domain values for the domain tests (no I/O, no clock: every time is derived from ``T0``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from arbtui.domain import offchain_order, position
from arbtui.domain.onchain_trade import OnChainFill
from arbtui.domain.values import BrokerKind, Cents, Direction, ExecutionId, PriceUsdc, Shares, Symbol, TradeId

T0 = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)
BUY = Direction.BUY
SELL = Direction.SELL


def at(n: int = 0) -> datetime:
    return T0 + timedelta(seconds=n)


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def trade_id(n: int, log_index: int = 0) -> TradeId:
    return TradeId(tx_hash(n), log_index)


def tid(n: int) -> str:
    """The aggregate id / position trade id of trade ``n``."""
    return str(trade_id(n))


def exec_id(n: int) -> ExecutionId:
    return ExecutionId(f"00000000-0000-4000-8000-{n:012x}")


def fill(
    n: int, amount: str, direction: Direction = SELL, *, symbol: str = "AAPL", price: str = "200", block: int = 1
) -> OnChainFill:
    """Onchain fill number ``n`` of ``amount`` shares at ``price``; raw amounts consistent with the decimals."""
    shares = Shares(amount)
    usdc = PriceUsdc(price).notional(shares)
    return OnChainFill(
        trade_id=trade_id(n),
        symbol=Symbol(symbol),
        token_symbol=f"t{symbol}",
        token_address="0x" + "ab" * 20,
        direction=direction,
        amount=shares,
        usdc_amount=usdc,
        price_usdc=PriceUsdc(price),
        shares_raw=shares.to_base_units(18),
        share_decimals=18,
        usdc_raw=usdc.to_base_units(36),
        usdc_decimals=36,
        block_number=block,
        block_hash=tx_hash(10_000 + block),
        block_timestamp=T0,
        source_event="TakeOrderV2",
    )


def ctx(
    n: int = 1, *, allowed: bool = True, broker: BrokerKind = BrokerKind.SCHWAB, t: int = 0
) -> position.HedgeContext:
    return position.HedgeContext(hedging_allowed=allowed, broker=broker, execution_id=exec_id(n), at=at(t))


def ack(
    n: int,
    amount: str,
    direction: Direction = SELL,
    *,
    price: str = "200",
    context: position.HedgeContext | None = None,
) -> position.AcknowledgeFill:
    return position.AcknowledgeFill(
        trade_id=tid(n),
        direction=direction,
        amount=Shares(amount),
        price_usdc=PriceUsdc(price),
        context=context if context is not None else ctx(),
    )


def acked(
    n: int, amount: str, direction: Direction = SELL, *, price: str = "200", t: int = 0
) -> position.OnChainFillAcknowledged:
    return position.OnChainFillAcknowledged(
        trade_id=tid(n), direction=direction, amount=Shares(amount), price_usdc=PriceUsdc(price), at=at(t)
    )


def lot(source: str | int, shares: str) -> position.Lot:
    return position.Lot(source=source if isinstance(source, str) else tid(source), shares=Shares(shares))


def placed(
    n: int,
    direction: Direction,
    shares: str,
    *contributions: position.Lot,
    reason: str = "threshold",
    broker: BrokerKind = BrokerKind.SCHWAB,
    t: int = 0,
) -> position.OffChainOrderPlaced:
    return position.OffChainOrderPlaced(
        execution_id=exec_id(n),
        direction=direction,
        shares=Shares(shares),
        broker=broker,
        trigger_reason=reason,
        contributions=contributions,
        at=at(t),
    )


def complete(n: int, filled: str, *, cents: str = "20000", t: int = 0) -> position.CompleteExecution:
    return position.CompleteExecution(
        execution_id=exec_id(n),
        shares_filled=Shares(filled),
        price_cents=Cents(cents),
        broker_order_id=f"B{n}",
        at=at(t),
    )


def completed(n: int, filled: str, *, cents: str = "20000", t: int = 0) -> position.OffChainOrderFilled:
    return position.OffChainOrderFilled(
        execution_id=exec_id(n),
        shares_filled=Shares(filled),
        price_cents=Cents(cents),
        broker_order_id=f"B{n}",
        at=at(t),
    )


def fail(n: int, error: str = "rejected", *, t: int = 0) -> position.FailExecution:
    return position.FailExecution(execution_id=exec_id(n), error=error, at=at(t))


def failed(n: int, error: str = "rejected", *, t: int = 0) -> position.OffChainOrderFailed:
    return position.OffChainOrderFailed(execution_id=exec_id(n), error=error, at=at(t))


def order_placed(
    shares: str = "2", direction: Direction = BUY, broker: BrokerKind = BrokerKind.SCHWAB, *, symbol: str = "AAPL"
) -> offchain_order.Placed:
    return offchain_order.Placed(
        symbol=Symbol(symbol),
        shares=Shares(shares),
        direction=direction,
        broker=broker,
        trigger_reason="threshold",
        at=at(),
    )
