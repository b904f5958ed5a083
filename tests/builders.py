"""Builders of domain values for tests and benchmarks (no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime

from arbtui.domain.onchain_trade import OnChainFill
from arbtui.domain.values import BlockRef, Direction, PriceUsdc, Shares, Symbol, TradeId

T0 = datetime(2026, 11, 24, 14, 30, tzinfo=UTC)


def tx_hash(n: int) -> str:
    return "0x" + f"{n:064x}"


def block(number: int, fork: int = 0) -> BlockRef:
    """A block ref whose hash encodes its number (and a fork index, for reorgs)."""
    return BlockRef(number, "0x" + f"{fork:08x}{number:056x}")


def make_fill(
    n: int,
    amount: str,
    direction: Direction = Direction.SELL,
    *,
    symbol: str = "AAPL",
    price: str = "200",
    block_number: int = 1,
    log_index: int = 0,
    fork: int = 0,
) -> OnChainFill:
    """Fill number ``n`` (its tx hash) of ``amount`` shares at ``price`` USDC, raw units consistent."""
    shares = Shares(amount)
    usdc = PriceUsdc(price).notional(shares)
    usdc_raw = usdc.to_base_units(18)  # keep exact even when the notional has more than 6 decimals
    return OnChainFill(
        trade_id=TradeId(tx_hash(n), log_index),
        symbol=Symbol(symbol),
        token_symbol=f"t{symbol}",
        token_address="0x" + f"{sum(map(ord, symbol)):040x}",
        direction=direction,
        amount=shares,
        usdc_amount=usdc,
        price_usdc=PriceUsdc.per_share(usdc, shares),
        shares_raw=shares.to_base_units(18),
        share_decimals=18,
        usdc_raw=usdc_raw,
        usdc_decimals=18,
        block_number=block_number,
        block_hash=block(block_number, fork).hash,
        block_timestamp=T0,
        source_event="TakeOrderV2",
    )
