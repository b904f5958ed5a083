"""After-hours guards on a real ledger and the dry-run broker: the preflight refuses for each account
figure and holds only its symbol; a prepared attempt whose answer was lost is looked up by its client id
before anything else is sent (the fault test: without the lookup two orders would be live)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from arbtui.brokers.base import AccountBalances, LimitOrder, MarketOrder, OrderState
from arbtui.brokers.dry_run import DryRunBroker, DryRunCalendar, DryRunConfig
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import offchain_order, position
from arbtui.domain.flows import Change
from arbtui.domain.hedging_policy import HedgeOrderKind, SessionChoice
from arbtui.domain.offchain_order import AttemptPhase, OrderStatus
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import Direction, ExecutionId, PriceUsdc, Shares, Symbol, Usdc
from arbtui.engine.lifecycle import Engine
from arbtui.store.event_store import UnitOfWork
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill
from tests.engine_support import alerts_of
from tests.integration.engine.after_hours_support import (
    FRIDAY,
    AlpacaVenue,
    SetClock,
    dry_run,
    engine_on,
    et,
    fill,
    orders,
    policy,
    pyth,
    until,
)
from tests.integration.engine.after_hours_support import options as engine_options

AAPL, MSFT = Symbol("AAPL"), Symbol("MSFT")
MONDAY = FRIDAY.replace(day=FRIDAY.day + 3)
EXTENDED = policy(SessionChoice.EXTENDED)


class NoMarginFigure(DryRunBroker):
    """The dry-run broker answering like a broker that gives no non-marginable buying power (Schwab's
    cash account): the preflight must use cash and say so."""

    async def balances(self) -> AccountBalances:
        return replace(await super().balances(), non_marginable_buying_power=None)


async def symbol_status(engine: Engine, symbol: str) -> list[OrderStatus | None]:
    return [order.status for order in await orders(engine) if order.symbol == symbol]


async def test_a_sell_without_the_shares_holds_only_its_symbol_until_they_arrive(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 16, 30))
    broker = dry_run(clock)
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, EXTENDED)
    seen = alerts_of(engine)
    try:
        await fill(engine, 1, "2", side=Direction.BUY)  # we received 2 tAAPL: the hedge sells 2 at the broker

        async def refused() -> bool:
            return any(a.key == "preflight:AAPL" and not a.recovered for a in seen)

        await until(refused)
        alert = next(a for a in seen if a.key == "preflight:AAPL")
        assert "sell 2 needs the shares at the broker, which holds 0" in alert.message
        assert "move 2 AAPL shares to the broker account" in alert.action
        assert engine.metrics.preflight_refusals.labels(symbol="AAPL", figure="shares")._value.get() >= 1
        assert [o.attempt for o in await orders(engine)] == [0]  # nothing prepared, nothing sent

        # another symbol goes on meanwhile
        await fill(engine, 2, "1", symbol="MSFT", pyth_price="400")
        broker.set_price(MSFT, PriceUsdc("400"))
        await until(lambda: _has(engine, "MSFT", OrderStatus.FILLED))
        assert await symbol_status(engine, "AAPL") == [OrderStatus.PENDING]

        # the shares arrive at the broker: the preflight passes at its next check, the alert clears
        await broker.submit_limit(
            LimitOrder(
                client_order_id="00000000-0000-4000-8000-00000000beef-1",
                execution_id=ExecutionId("00000000-0000-4000-8000-00000000beef"),
                symbol=AAPL,
                side=Direction.BUY,
                quantity=Shares(5),
                limit_price=PriceUsdc("200.00"),
                session=MarketSession.POST,
            )
        )
        broker.set_price(AAPL, PriceUsdc("200.00"))
        await until(lambda: _has(engine, "AAPL", OrderStatus.FILLED))
        assert any(a.key == "preflight:AAPL" and a.recovered for a in seen)
        held = {p.symbol: p.quantity for p in await broker.positions()}
        assert held[AAPL] == Shares(3)  # 5 moved in, 2 sold: never below zero
    finally:
        await engine.stop()
        await engine.ledger.close()


@pytest.mark.parametrize(
    ("broker_type", "figure"), [(DryRunBroker, "non_marginable_buying_power"), (NoMarginFigure, "cash")]
)
async def test_a_buy_beyond_the_accounts_figure_is_held_naming_it(
    tmp_path: Path, broker_type: type[DryRunBroker], figure: str
) -> None:
    clock = SetClock(et(FRIDAY, 16, 30))
    broker = broker_type(DryRunConfig(market_open=None, starting_cash=Usdc("300")), clock=clock)
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, EXTENDED)
    seen = alerts_of(engine)
    try:
        await fill(engine, 1, "2")  # buy 2 at 201.00 (200 + 50 bps) = 402.00 > 300

        async def refused() -> bool:
            return any(a.key == "preflight:AAPL" for a in seen)

        await until(refused)
        alert = next(a for a in seen if a.key == "preflight:AAPL")
        assert f"buy 2 × $201.00 (limit) = $402.00 exceeds {figure} $300.00" in alert.message
        assert "add $102.00 of cash" in alert.action
        assert engine.metrics.preflight_refusals.labels(symbol="AAPL", figure=figure)._value.get() >= 1
        assert [o.attempt for o in await orders(engine)] == [0]
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_a_prepared_attempt_whose_answer_was_lost_is_found_by_its_client_id(tmp_path: Path) -> None:
    """The process died after sending attempt 1 (pre-market) and before recording the broker's answer;
    it restarts after the open. The attempt must be looked up by ``<execution>-1`` and cancelled before
    the market order goes out: exactly one live order at any time, none at the end."""
    clock = SetClock(et(MONDAY, 9, 29))
    broker = dry_run(clock)
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db, broker.kind, clock=clock)
    await ledger.record_range([make_fill(1, "2")], [], block(1))
    from arbtui.domain.onchain_trade import Enrich
    from arbtui.domain.values import TradeId
    from tests.builders import tx_hash

    await ledger.enrich(TradeId(tx_hash(1), 0), Enrich(gas_used=None, pyth_price=pyth("200")))
    (row,) = await ledger.store.query("SELECT view_id FROM offchain_trade_view")
    execution = str(row[0])

    async def prepare(uow: UnitOfWork) -> None:
        order = await uow.load(offchain_order.SPEC, execution)
        command = offchain_order.PrepareAttempt(
            kind=HedgeOrderKind.LIMIT, session=MarketSession.PRE, limit_price=PriceUsdc("201.00"), at=clock.now()
        )
        uow.record([Change(offchain_order.SPEC, execution, tuple(offchain_order.decide(order, command)))])

    await ledger.store.run(prepare)
    sent = await broker.submit_limit(
        LimitOrder(
            client_order_id=f"{execution}-1",
            execution_id=ExecutionId(execution),
            symbol=AAPL,
            side=Direction.BUY,
            quantity=Shares(2),
            limit_price=PriceUsdc("201.00"),
            session=MarketSession.PRE,
        )
    )
    await ledger.close()

    clock.set(et(MONDAY, 9, 31))
    engine = Engine(await Ledger.open(db, broker.kind, clock=clock), broker, engine_options(EXTENDED))
    await engine.start()
    try:
        await until(lambda: _has(engine, "AAPL", OrderStatus.FILLED))
        (order,) = await orders(engine)
        assert order.attempt == 2
        assert order.order_kind is HedgeOrderKind.MARKET
        assert (await broker.order_status(sent)).state is OrderState.CANCELLED  # found, then cancelled
        reports = [await broker.order_status(order_id) for order_id in list(broker._orders)]
        live = [r for r in reports if r.state in (OrderState.SUBMITTED, OrderState.PARTIALLY_FILLED)]
        assert live == []
        assert sum((r.filled_quantity for r in reports), Shares.zero()) == Shares(2)  # hedged once, not twice
    finally:
        await engine.stop()
        await engine.ledger.close()


async def _has(engine: Engine, symbol: str, status: OrderStatus) -> bool:
    return status in await symbol_status(engine, symbol)


async def test_a_session_the_broker_says_is_shut_drops_the_attempt_once_and_holds(tmp_path: Path) -> None:
    """The engine's cached calendar says after hours; the broker's (an early close it announced since)
    says closed: the prepared attempt is recorded as never sent, the calendar read again, and the hedge
    waits — one attempt, not one per poll."""
    clock = SetClock(et(FRIDAY, 16, 50))
    broker = dry_run(clock)
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, EXTENDED)
    seen = alerts_of(engine)
    try:
        broker.set_calendar(DryRunCalendar(early_closes=frozenset({FRIDAY})))  # after hours end at 17:00
        clock.set(et(FRIDAY, 17, 4))  # the engine's calendar, read at 16:50, is still fresh
        await fill(engine, 1, "2")

        async def held() -> bool:
            return any(a.key == "hedge_held:AAPL" and "closed session does not hedge" in a.message for a in seen)

        await until(held)  # decided on the calendar read again
        assert any(a.key == "session_shut:AAPL" and "not sent" in a.message for a in seen)
        (order,) = await orders(engine)
        assert (order.attempt, order.attempt_phase) == (1, AttemptPhase.ENDED)
        assert str(order.error).startswith("not sent")
        assert broker.submissions == 0
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_a_pause_withdraws_a_resting_limit_hedge_and_sends_no_other(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 16, 30))
    broker = dry_run(clock)
    broker.set_price(AAPL, PriceUsdc("250"))  # nothing crosses
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, EXTENDED)
    try:
        await fill(engine, 1, "3")

        async def resting() -> bool:
            order = (await orders(engine))[-1]
            return order.attempt_phase is AttemptPhase.SUBMITTED

        await until(resting)
        broker.set_price(AAPL, PriceUsdc("201.00"), fill_at_most=Shares(1))  # one share fills
        await engine.control.pause(AAPL, actor="ops", reason="withdraw the after-hours hedge")
        await until(lambda: _has(engine, "AAPL", OrderStatus.CANCELLED))
        (order,) = await orders(engine)
        assert (order.shares_filled, order.attempt) == (Shares(1), 1)
        assert broker.submissions == 1  # withdrawn, never replaced
        assert all(r.state is not OrderState.SUBMITTED for r in [await broker.order_status(i) for i in broker._orders])
        pos, _ = await engine.store.load(position.SPEC, AAPL)
        assert (pos.net, pos.hedged, pos.pending) == (Shares(-2), Shares(-1), None)  # the rest is back, unhedged
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_a_cancel_the_broker_never_took_is_sent_again(tmp_path: Path) -> None:
    """The reprice's cancel fails at the broker (5xx through every retry of the adapter): the cancel stays
    recorded as requested and is sent again until the broker takes it; only then the replacement."""
    clock = SetClock(et(FRIDAY, 16, 30))
    async with AlpacaServer() as server:
        venue = AlpacaVenue(server, clock)
        venue.set_price(AAPL, "250")  # nothing crosses
        engine = await engine_on(tmp_path / "ledger.db", venue.broker, clock, EXTENDED)
        try:
            await fill(engine, 1, "2")

            async def resting(attempt: int) -> bool:
                order = (await orders(engine))[-1]
                return order.attempt == attempt and order.attempt_phase is AttemptPhase.SUBMITTED

            await until(lambda: resting(1))
            server.faults.server_error(times=3, route="cancel_order")  # every retry of one cancel call fails
            clock.advance(61)
            await until(lambda: resting(2))
            assert server.hits["cancel_order"] >= 4  # the fault fired: three failed tries, then the one that worked
            assert server.cancel_requests == 1
            assert venue.live() == 1
        finally:
            await engine.stop()
            await engine.ledger.close()


async def test_without_a_pyth_price_the_broker_mark_is_the_reference(tmp_path: Path) -> None:
    """A fill whose Pyth price is not (yet) in the ledger: the limit starts from the broker position's
    mark (market value ÷ quantity), never from anything else."""
    clock = SetClock(et(FRIDAY, 15, 0))
    async with AlpacaServer() as server:
        venue = AlpacaVenue(server, clock)
        venue.set_price(AAPL, "180")
        bought = await venue.broker.submit(
            MarketOrder(
                execution_id=ExecutionId("00000000-0000-4000-8000-00000000beef"),
                symbol=AAPL,
                side=Direction.BUY,
                quantity=Shares(5),
            )
        )
        assert (await venue.broker.order_status(bought)).state is OrderState.FILLED  # the broker holds 5
        clock.set(et(FRIDAY, 16, 30))
        engine = await engine_on(tmp_path / "ledger.db", venue.broker, clock, EXTENDED)
        try:
            await engine.ledger.record_range([make_fill(1, "2", Direction.BUY)], [], block(1))  # no enrichment

            async def prepared() -> bool:  # it may fill at once: the market (180) is above its limit
                return (await orders(engine))[-1].attempt == 1

            await until(prepared)
            order = (await orders(engine))[-1]
            assert (order.direction, order.limit_price) == (Direction.SELL, PriceUsdc("179.10"))  # 180 − 50 bps
        finally:
            await engine.stop()
            await engine.ledger.close()


async def test_a_limit_hedge_repricing_on_time_is_not_stuck(tmp_path: Path) -> None:
    """``stuck`` measures a repriced execution from its current attempt: a hedge placed 3 minutes ago
    and replaced every minute is working, not stuck; one whose attempt is that old is."""
    clock = SetClock(et(FRIDAY, 16, 30))
    broker = dry_run(clock)
    broker.set_price(AAPL, PriceUsdc("250"))  # nothing crosses
    engine = await engine_on(tmp_path / "ledger.db", broker, clock, EXTENDED)
    seen = alerts_of(engine)
    try:
        await fill(engine, 1, "2")
        for attempt in (1, 2, 3):
            if attempt > 1:
                clock.advance(61)  # past the reprice interval (60 s)

            async def resting(n: int = attempt) -> bool:
                order = (await orders(engine))[-1]
                return order.attempt == n and order.attempt_phase is AttemptPhase.SUBMITTED

            await until(resting)
        clock.advance(30)  # placed 152 s ago (stuck_after_s is 120); the current attempt is 30 s old
        await engine.scan("test")
        assert not [a for a in seen if a.key.startswith("stuck:")]
        await engine.executions.stop(1.0)  # nobody reprices any more: the current attempt ages
        clock.advance(120)
        await engine.scan("test")
        (stuck,) = [a for a in seen if a.key.startswith("stuck:")]
        assert "its current attempt was prepared 150 s ago" in stuck.message
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_an_execution_left_by_the_previous_version_is_looked_up_by_its_execution_id(tmp_path: Path) -> None:
    """Upgrading with a hedge in flight: the old code recorded the placement and sent its market order
    (client id = the execution id) but died before recording the answer. Opting the symbol into after
    hours must not send a second order: the old one is found and followed to its fill."""
    clock = SetClock(et(MONDAY, 10, 0))
    broker = dry_run(clock)
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db, broker.kind, clock=clock)
    await ledger.record_range([make_fill(1, "2")], [], block(1))
    (row,) = await ledger.store.query("SELECT view_id FROM offchain_trade_view")
    execution = ExecutionId(str(row[0]))
    await broker.submit(
        MarketOrder(
            execution_id=execution, symbol=AAPL, side=Direction.BUY, quantity=Shares(2), estimated_price=PriceUsdc(200)
        )
    )
    await ledger.close()
    engine = Engine(await Ledger.open(db, broker.kind, clock=clock), broker, engine_options(EXTENDED))
    await engine.start()
    try:
        await until(lambda: _has(engine, "AAPL", OrderStatus.FILLED))
        (order,) = await orders(engine)
        assert order.attempt == 0  # followed as the old single market order, no attempt prepared
        assert broker.submissions == 1
    finally:
        await engine.stop()
        await engine.ledger.close()
