"""Prometheus: the open exposure per symbol (its notional, and how long it has been hedgeable), on the
engine with the dry-run broker's sessions and a clock the test sets — a hedge held over Friday evening by
the default (regular-only) policy, then sent at Monday's open."""

from __future__ import annotations

from pathlib import Path

from arbtui.domain.hedging_policy import HedgeOrderKind, SessionChoice
from arbtui.domain.values import PriceUsdc, Shares, Symbol
from arbtui.engine.lifecycle import Engine
from tests.integration.engine.after_hours_support import (
    FRIDAY,
    SetClock,
    dry_run,
    engine_on,
    et,
    fill,
    filled_count,
    orders,
    policy,
    until,
)


def gauge(engine: Engine, name: str, symbol: str = "AAPL") -> float | None:
    return engine.metrics.registry.get_sample_value(name, {"symbol": symbol})


async def test_exposure_notional_and_age_follow_the_held_hedge_until_the_open(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 17, 0))
    engine = await engine_on(tmp_path / "ledger.db", dry_run(clock), clock, policy())
    try:
        await fill(engine, 1, "2", pyth_price="200")  # our SELL of 2 at $200: a BUY hedge, held after hours
        await engine.scan("test")
        assert gauge(engine, "arbtui_unhedged_exposure_usd") == 400.0
        assert gauge(engine, "arbtui_unhedged_exposure_age_seconds") == 0.0
        clock.advance(90 * 60)
        await engine.scan("test")
        assert gauge(engine, "arbtui_unhedged_exposure_age_seconds") == 5400.0
        assert gauge(engine, "arbtui_unhedged_exposure_usd") == 400.0  # the held hedge is still exposure

        clock.set(et(FRIDAY.replace(day=12), 9, 31))  # Monday, regular session: the market hedge goes out
        await engine.scan("test")
        await until(lambda: _filled(engine))
        await engine.scan("test")
        assert gauge(engine, "arbtui_unhedged_exposure_usd") == 0.0
        assert gauge(engine, "arbtui_unhedged_exposure_age_seconds") == 0.0
    finally:
        await engine.stop()
        await engine.ledger.close()


async def _filled(engine: Engine) -> bool:
    return await filled_count(engine) == 1


async def test_a_carry_under_the_threshold_has_a_notional_but_never_ages(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 17, 0))
    engine = await engine_on(tmp_path / "ledger.db", dry_run(clock), clock, policy())
    try:
        await fill(engine, 1, "0.5", symbol="MSFT", pyth_price="400")
        clock.advance(3600)
        await engine.scan("test")
        # valued at the fill's own price ($200 a share in the builder), not its Pyth price
        assert gauge(engine, "arbtui_unhedged_exposure_usd", "MSFT") == 100.0
        assert gauge(engine, "arbtui_unhedged_exposure_age_seconds", "MSFT") == 0.0
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_a_limit_hedge_filled_in_part_offsets_the_exposure_before_its_execution_ends(tmp_path: Path) -> None:
    """After hours with extended hours opted in: our onchain SELL of 2 at $200 is hedged by a BUY limit at
    201.00; the market offers only 0.5 at $200 — the gauge drops to 1.5 × $200 while the rest rests."""
    clock = SetClock(et(FRIDAY, 17, 0))
    broker = dry_run(clock)
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, policy(SessionChoice.EXTENDED))
    try:
        await fill(engine, 1, "2", pyth_price="200")
        await until(lambda: _limit_live(engine))
        assert gauge(engine, "arbtui_unhedged_exposure_usd") == 400.0
        broker.set_price(Symbol("AAPL"), PriceUsdc("200"), fill_at_most=Shares("0.5"))
        await until(lambda: _exposure_is(engine, 300.0))
        assert gauge(engine, "arbtui_unhedged_exposure_age_seconds") == 0.0  # still past the threshold
    finally:
        await engine.stop()
        await engine.ledger.close()


async def _limit_live(engine: Engine) -> bool:
    placed = await orders(engine)
    return bool(placed) and placed[-1].order_kind is HedgeOrderKind.LIMIT and placed[-1].broker_order_id is not None


async def _exposure_is(engine: Engine, usd: float) -> bool:
    return gauge(engine, "arbtui_unhedged_exposure_usd") == usd
