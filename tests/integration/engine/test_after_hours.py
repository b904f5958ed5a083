"""After-hours hedging end to end: the engine on a real SQLite ledger and the dry-run broker whose
sessions follow a clock the test sets, walking Friday 15:00 → Monday 10:00 New York.

With ``extended`` + ``overnight`` every fill is hedged in the session it arrives in by the order type
the session calls for (market in the regular session, limit outside it), the flatten before the weekend
reprices on its own interval with a widening cross, the weekend holds the hedge until Sunday's overnight
session, a session change replaces a live limit, and at Monday's open the live limit becomes a market
order. With the default policy (regular only) the same fills wait for Monday's open as market orders.
Either way: no client id twice at the broker, and the books equal the model.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner
from pydantic import SecretStr

from arbtui.brokers.resilience import RetryPolicy
from arbtui.brokers.schwab import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.brokers.schwab.oauth import AccessTokens, authorize_url, exchange_redirect
from arbtui.cli import main
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain import offchain_order, position
from arbtui.domain.hedging_policy import HedgeOrderKind, SessionChoice
from arbtui.domain.offchain_order import AttemptPhase, OffchainOrder
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import PriceUsdc, Shares, Symbol
from arbtui.engine.lifecycle import Engine
from arbtui.engine.messages import MarketStatus
from arbtui.store.ledger import Ledger
from tests.engine_support import alerts_of
from tests.fakes.schwab_server import SchwabServer
from tests.fakes.token_vault import InMemoryTokenVault
from tests.integration.engine.after_hours_support import (
    FRIDAY,
    AlpacaVenue,
    DryRunVenue,
    SchwabVenue,
    SetClock,
    Venue,
    engine_on,
    et,
    fill,
    filled_count,
    latest,
    options,
    orders,
    policy,
    until,
)
from tests.integration.store.conftest import rows

SATURDAY, SUNDAY, MONDAY = (FRIDAY.replace(day=FRIDAY.day + n) for n in (1, 2, 3))
AAPL = Symbol("AAPL")
LIMIT, MARKET = HedgeOrderKind.LIMIT, HedgeOrderKind.MARKET


@pytest.fixture
async def alpaca_server() -> AsyncIterator[AlpacaServer]:
    server = AlpacaServer()
    await server.start()
    yield server
    await server.stop()


def venue_of(name: str, clock: SetClock, server: AlpacaServer) -> Venue:
    return DryRunVenue(clock) if name == "dry_run" else AlpacaVenue(server, clock)


async def live_attempt(engine: Engine, attempt: int, session: MarketSession) -> OffchainOrder:
    """Wait until the latest execution's attempt ``attempt`` is at the broker for ``session``."""

    async def there() -> bool:
        order = await latest(engine)
        return order.attempt == attempt and order.attempt_phase is AttemptPhase.SUBMITTED and order.session is session

    await until(there)
    return await latest(engine)


async def assert_books_equal_the_model(engine: Engine, venue: Venue, sold_onchain: Decimal) -> None:
    """The ledger's position and executions against the broker's own books."""
    pos, _ = await engine.store.load(position.SPEC, AAPL)
    assert pos.net == Shares(0)
    assert pos.hedged == Shares(-sold_onchain)  # every onchain sell bought back at the broker
    held = {p.symbol: p.quantity for p in await venue.broker.positions()}
    assert held[AAPL] == Shares(sold_onchain)
    executions = await orders(engine)
    assert all(order.status is offchain_order.OrderStatus.FILLED for order in executions)
    recorded = sum(
        (order.price_cents.to_price().notional(order.shares_filled).value for order in executions if order.price_cents),
        Decimal(0),
    )
    assert recorded == venue.spent()
    assert venue.live() == 0
    ids = venue.client_ids()
    assert len(ids) == len(set(ids)), f"a client order id went to the broker twice: {ids}"


@pytest.mark.parametrize(("name", "open_price"), [("dry_run", "200"), ("alpaca", "201")])
async def test_a_weekend_with_extended_and_overnight_hedging(
    tmp_path: Path, alpaca_server: AlpacaServer, name: str, open_price: str
) -> None:
    """``open_price``: what Monday's market order fills at (the dry-run: the order's estimate, the Pyth
    price; the local Alpaca server: its market price, the last one set)."""
    clock = SetClock(et(FRIDAY, 15, 0))
    venue = venue_of(name, clock, alpaca_server)
    broker = venue.broker
    engine = await engine_on(
        tmp_path / "ledger.db", broker, clock, policy(SessionChoice.EXTENDED, SessionChoice.OVERNIGHT)
    )
    seen = alerts_of(engine)
    try:
        # Friday 15:00, regular session: a market order (the one market attempt: client id = execution id)
        await fill(engine, 1, "2.5")
        await until(lambda: _filled(engine, 1))
        first = await latest(engine)
        assert (first.order_kind, first.session, first.client_order_id) == (
            MARKET,
            MarketSession.REGULAR,
            first.execution_id,
        )

        # Friday 16:30, after hours: a limit at the Pyth price crossed by 50 bps, rounded up for a buy
        clock.set(et(FRIDAY, 16, 30))
        await fill(engine, 2, "1.5")
        post = await live_attempt(engine, 1, MarketSession.POST)
        assert (post.order_kind, post.limit_price, post.attempt_shares) == (LIMIT, PriceUsdc("201.00"), Shares(2))
        assert post.client_order_id == f"{post.execution_id}-1"
        venue.set_price(AAPL, "200.50")
        await until(lambda: _filled(engine, 2))
        venue.set_price(AAPL, "250")  # nothing crosses from here on unless a test step says so

        # Friday 19:40, inside the 30-minute flatten window before the weekend: cross widened, reprice at 15 s
        clock.set(et(FRIDAY, 19, 40))
        await fill(engine, 3, "1")
        flat = await live_attempt(engine, 1, MarketSession.POST)
        assert flat.limit_price == PriceUsdc("202.00")  # 50 + 150 × 10/30 = 100 bps
        clock.advance(16)
        replaced = await live_attempt(engine, 2, MarketSession.POST)
        assert replaced.client_order_id == f"{replaced.execution_id}-2"
        assert replaced.limit_price == PriceUsdc("202.03")  # 101.33 bps at 19:40:16
        assert venue.live() == 1  # the first was confirmed over before the replacement went out
        venue.set_price(AAPL, "202.03")
        await until(lambda: _filled(engine, 3))
        venue.set_price(AAPL, "250")
        flatten = engine.metrics.flatten_hedges
        assert flatten.labels(symbol="AAPL", outcome="placed")._value.get() == 2
        assert flatten.labels(symbol="AAPL", outcome="filled")._value.get() == 1

        # Saturday: closed — held, with the next transition (Sunday 20:00 overnight) in the alert
        clock.set(et(SATURDAY, 12, 0))
        await fill(engine, 4, "3")

        async def held() -> bool:
            return any(a.key == "hedge_held:AAPL" and "OVERNIGHT 20:00 ET" in a.message for a in seen)

        await until(held)
        waiting = await latest(engine)
        assert (waiting.attempt, waiting.status) == (0, offchain_order.OrderStatus.PENDING)

        # Sunday 20:30, overnight: a limit goes out; one share of three fills
        clock.set(et(SUNDAY, 20, 30))
        night = await live_attempt(engine, 1, MarketSession.OVERNIGHT)
        assert night.limit_price == PriceUsdc("201.00")
        venue.set_price(AAPL, "201.00", fill_at_most="1")

        async def partly() -> bool:
            return (await latest(engine)).shares_filled == Shares(1)

        await until(partly)

        # Monday 04:30, pre-market: the overnight order is cancelled (fill reconciled), the rest goes out
        clock.set(et(MONDAY, 4, 30))
        pre = await live_attempt(engine, 2, MarketSession.PRE)
        assert (pre.attempt_shares, pre.shares_filled, pre.settled_shares) == (Shares(2), Shares(1), Shares(1))

        # Monday 09:31, the open: the live limit is cancelled and the rest becomes a market order
        clock.set(et(MONDAY, 9, 31))
        await until(lambda: _filled(engine, 4))
        last = await latest(engine)
        assert (last.attempt, last.order_kind, last.client_order_id) == (3, MARKET, last.execution_id)
        assert last.shares_filled == Shares(3)
        # 1 @ 201.00 overnight + 2 at the open's market price, exactly
        assert last.price_cents is not None
        notional = last.price_cents.to_price().notional(Shares(3)).value
        assert notional.quantize(Decimal("0.01")) == Decimal("201") + 2 * Decimal(open_price)
        clock.set(et(MONDAY, 10, 0))
        await assert_books_equal_the_model(engine, venue, Decimal("8"))
        limits = engine.metrics.limit_hedges
        assert limits.labels(symbol="AAPL", outcome="placed")._value.get() == 5
        assert limits.labels(symbol="AAPL", outcome="repriced")._value.get() == 2
    finally:
        await engine.stop()
        await engine.ledger.close()
    # the views (attempts included) equal a replay of the log, and show the last attempt
    checked = CliRunner().invoke(main, ["--db", str(tmp_path / "ledger.db"), "db", "rebuild-views", "--check"])
    assert checked.exit_code == 0, checked.output
    (attempt,) = rows(
        tmp_path / "ledger.db",
        "SELECT json_extract(payload, '$.attempt') FROM offchain_trade_view WHERE view_id = ?",
        (last.execution_id,),
    )
    assert json.loads(str(attempt[0]))["kind"] == "market"
    prepared = [
        json.loads(str(payload))["client_order_id"]
        for (payload,) in rows(
            tmp_path / "ledger.db", "SELECT payload FROM events WHERE event_type = 'AttemptPrepared' ORDER BY rowid"
        )
    ]
    assert len(prepared) == len(set(prepared)) == 7  # 5 limits, 2 market: each its own client id, ledger too


@pytest.mark.parametrize("name", ["dry_run", "alpaca"])
async def test_the_default_policy_waits_for_mondays_open_with_market_orders(
    tmp_path: Path, alpaca_server: AlpacaServer, name: str
) -> None:
    clock = SetClock(et(FRIDAY, 15, 0))
    venue = venue_of(name, clock, alpaca_server)
    engine = await engine_on(tmp_path / "ledger.db", venue.broker, clock, policy())
    try:
        await fill(engine, 1, "2.5")
        await until(lambda: _filled(engine, 1))
        for n, (when, amount) in enumerate(
            [
                (et(FRIDAY, 16, 30), "1.5"),
                (et(FRIDAY, 19, 40), "1"),
                (et(SATURDAY, 12), "3"),
                (et(SUNDAY, 20, 30), "0"),
            ],
            start=2,
        ):
            clock.set(when)
            if amount != "0":
                await fill(engine, n, amount)
        clock.set(et(MONDAY, 4, 30))
        assert await filled_count(engine) == 1  # nothing went out outside the regular session
        clock.set(et(MONDAY, 9, 31))

        async def all_hedged() -> bool:
            pos, _ = await engine.store.load(position.SPEC, AAPL)
            return pos.net == Shares(0) and pos.pending is None

        await until(all_hedged)
        executions = await orders(engine)
        assert [str(order.shares) for order in executions] == ["2", "2", "4"]
        assert all(order.attempt == 0 for order in executions)  # today's single market orders, unchanged
        assert all(
            order.submitted_at is not None and order.submitted_at >= et(MONDAY, 9, 30) for order in executions[1:]
        )
        await assert_books_equal_the_model(engine, venue, Decimal("8"))
    finally:
        await engine.stop()
        await engine.ledger.close()


async def _filled(engine: Engine, count: int) -> bool:
    return await filled_count(engine) >= count


async def test_each_scan_publishes_the_session_and_ready_shows_it(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 16, 30))
    venue = DryRunVenue(clock)
    published: list[MarketStatus] = []
    engine = Engine(
        await Ledger.open(tmp_path / "ledger.db", venue.broker.kind, clock=clock),
        venue.broker,
        options(policy()),
    )
    engine.bus.listen(lambda message: published.append(message) if isinstance(message, MarketStatus) else None)
    await engine.start()
    try:
        assert published[0].session is not None
        assert published[0].session.session is MarketSession.POST
        assert published[0].session.describe() == "POST → CLOSED 20:00 ET"
        ready = await engine.readiness()
        assert ready.checks["session"].ok
        assert ready.checks["session"].detail == "POST → CLOSED 20:00 ET"

        clock.set(et(FRIDAY, 20, 5))  # a transition the scan sees on its own (no fill, no order)

        async def closed() -> bool:
            return any(m.session is not None and m.session.session is MarketSession.CLOSED for m in published)

        await until(closed)
        last = published[-1]
        assert last.session is not None
        assert last.session.describe() == "CLOSED → OVERNIGHT 20:00 ET"  # Sunday's, the night before Monday
        assert (await engine.readiness()).checks["session"].detail == "CLOSED → OVERNIGHT 20:00 ET"
    finally:
        await engine.stop()
        await engine.ledger.close()


async def test_schwab_hedges_am_and_pm_in_whole_shares_and_holds_through_the_night(tmp_path: Path) -> None:
    """Schwab: after hours (``PM``) and pre-market from 07:00 (``AM``), no overnight session — Sunday
    night's fill waits for Monday 07:00 — and the open's market order for the rest."""
    clock = SetClock(et(FRIDAY, 16, 30))
    async with SchwabServer() as server:
        config = SchwabConfig(
            app_key=SecretStr(server.app_key),
            app_secret=SecretStr(server.app_secret),
            callback_url=server.callback_url,
            base_url=server.url,
            retry=RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.05, request_timeout=2.0),
        )
        vault, cipher = InMemoryTokenVault(), TokenCipher.from_hex("00112233445566778899aabbccddeeff" * 2)
        url, state = authorize_url(config.app)  # the login, as `arbtui schwab auth` does it
        tokens = await exchange_redirect(config.app, await server.simulate_browser(url), clock, state=state)
        await AccessTokens(config.app, vault, cipher, clock, client=None).store_new(tokens)
        venue = SchwabVenue(server, SchwabBroker(config, vault=vault, cipher=cipher, clock=clock), clock)
        engine = await engine_on(tmp_path / "ledger.db", venue.broker, clock, policy(SessionChoice.EXTENDED))
        seen = alerts_of(engine)
        try:
            await fill(engine, 1, "2")
            post = await live_attempt(engine, 1, MarketSession.POST)
            assert (post.order_kind, post.limit_price) == (LIMIT, PriceUsdc("201.00"))
            venue.set_price(AAPL, "200.50")
            await until(lambda: _filled(engine, 1))
            venue.set_price(AAPL, "250")

            clock.set(et(SUNDAY, 20, 30))
            await fill(engine, 2, "3")

            async def held() -> bool:
                return any(a.key == "hedge_held:AAPL" and "PRE 07:00 ET" in a.message for a in seen)

            await until(held)

            clock.set(et(MONDAY, 7, 30))
            pre = await live_attempt(engine, 1, MarketSession.PRE)
            assert pre.attempt_shares == Shares(3)
            venue.set_price(AAPL, "201.00", fill_at_most="1")

            async def partly() -> bool:
                return (await latest(engine)).shares_filled == Shares(1)

            await until(partly)
            clock.set(et(MONDAY, 9, 31))
            await until(lambda: _filled(engine, 2))
            last = await latest(engine)
            assert (last.attempt, last.order_kind, last.shares_filled) == (2, MARKET, Shares(3))
            await assert_books_equal_the_model(engine, venue, Decimal("5"))
        finally:
            await engine.stop()
            await engine.ledger.close()


async def test_a_flatten_the_close_leaves_unfilled_is_counted_and_held(tmp_path: Path) -> None:
    clock = SetClock(et(FRIDAY, 19, 50))
    venue = DryRunVenue(clock)
    venue.set_price(AAPL, "250")  # nothing crosses
    engine = await engine_on(
        tmp_path / "ledger.db", venue.broker, clock, policy(SessionChoice.EXTENDED, SessionChoice.OVERNIGHT)
    )
    seen = alerts_of(engine)
    try:
        await fill(engine, 1, "2")
        flat = await live_attempt(engine, 1, MarketSession.POST)
        assert flat.limit_price == PriceUsdc("203.00")  # 50 + 150 × 20/30 = 150 bps
        clock.set(et(FRIDAY, 20, 1))  # the close: the day order ends at the broker, the remainder waits

        async def held() -> bool:
            return any(a.key == "hedge_held:AAPL" and "the closed session does not hedge" in a.message for a in seen)

        await until(held)
        flatten = engine.metrics.flatten_hedges
        assert flatten.labels(symbol="AAPL", outcome="placed")._value.get() == 1
        assert flatten.labels(symbol="AAPL", outcome="unfilled")._value.get() == 1
        waiting = await latest(engine)
        assert (waiting.attempt_phase, waiting.remaining) == (AttemptPhase.ENDED, Shares(2))
        assert venue.live() == 0
    finally:
        await engine.stop()
        await engine.ledger.close()
