"""Fixtures for the broker integration tests: local servers, adapters pointed at them, and a
:class:`Venue` harness so one contract suite runs against every adapter."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

import pytest
from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.alpaca.parsing import ALPACA_STATES
from arbtui.brokers.base import Broker, BrokerOrderId, LimitOrder, MarketOrder, OrderReport, OrderState
from arbtui.brokers.dry_run import DryRunBroker, DryRunCalendar, DryRunConfig
from arbtui.brokers.resilience import RetryPolicy
from arbtui.brokers.schwab import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.brokers.schwab.oauth import AccessTokens, authorize_url, exchange_redirect
from arbtui.brokers.schwab.parsing import SCHWAB_STATES
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain.ids import RandomIds
from arbtui.domain.sessions import MarketSession
from arbtui.domain.values import Direction, ExecutionId, PriceUsdc, Shares, Symbol
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer
from tests.fakes.token_vault import InMemoryTokenVault

AAPL = Symbol("AAPL")
SERVER_PRICE = Decimal("187.12")
TEST_KEY_HEX = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
FAST_POLICY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, request_timeout=0.5)


IDS = RandomIds()


def limit_order(
    session: MarketSession,
    *,
    quantity: str = "5",
    price: str = "187.00",
    side: Direction = Direction.BUY,
    execution_id: ExecutionId | None = None,
    attempt: int = 1,
) -> LimitOrder:
    execution = execution_id or IDS.execution_id()
    return LimitOrder(f"{execution}-{attempt}", execution, AAPL, side, Shares(quantity), PriceUsdc(price), session)


def market_order(
    quantity: str | None = "3",
    *,
    side: Direction = Direction.BUY,
    symbol: Symbol = AAPL,
    price: str | None = "187.12",
    execution_id: ExecutionId | None = None,
) -> MarketOrder:
    return MarketOrder(
        execution_id=execution_id or IDS.execution_id(),
        symbol=symbol,
        side=side,
        quantity=None if quantity is None else Shares(quantity),
        estimated_price=None if price is None else PriceUsdc(price),
    )


@dataclass
class Venue:
    """One adapter under contract test, with hooks into its server (``None`` for dry-run)."""

    name: str
    broker: Broker
    clock: FakeClock
    alpaca: AlpacaServer | None = None
    schwab: SchwabServer | None = None
    statuses: dict[str, OrderState] = field(default_factory=dict)

    @property
    def server(self) -> AlpacaServer | SchwabServer | None:
        return self.alpaca or self.schwab

    def orders_at_server(self) -> int:
        server = self.server
        return server.book.total_orders if server is not None else self.dry_run.submissions

    @property
    def dry_run(self) -> DryRunBroker:
        assert isinstance(self.broker, DryRunBroker)
        return self.broker

    def force_status(self, order_id: BrokerOrderId, status: str, filled: Decimal | None = None) -> None:
        server = self.server
        assert server is not None
        server.book.force(order_id, status, filled)

    def set_calendar(self, *, holidays: set[date], early_closes: set[date]) -> None:
        """Holidays and early closes the venue's calendar answers with."""
        if self.server is not None:
            self.server.calendar.holidays = set(holidays)
            self.server.calendar.early_closes = set(early_closes)
        else:
            self.dry_run.set_calendar(DryRunCalendar(frozenset(holidays), frozenset(early_closes)))

    def follow_calendar(self, at: datetime) -> None:
        """From here on the venue trades the sessions of its calendar, and the shared clock (the
        adapter's and the server's) reads ``at``."""
        self.clock.set_now(at)
        if self.server is not None:
            self.server.follow_calendar(self.clock.now)
        else:
            self.dry_run.set_market_open(None)

    def set_price(self, price: str, *, fill_at_most: int | None = None, symbol: Symbol = AAPL) -> None:
        """The venue's market price: resting limit orders it crosses fill (at most ``fill_at_most``)."""
        if self.server is not None:
            limit = None if fill_at_most is None else Decimal(fill_at_most)
            self.server.set_price(symbol, Decimal(price), fill_at_most=limit)
        else:
            limit_shares = None if fill_at_most is None else Shares(fill_at_most)
            self.dry_run.set_price(symbol, PriceUsdc(price), fill_at_most=limit_shares)

    def close_market(self) -> None:
        if self.server is not None:
            self.server.market_open = False
        else:
            self.dry_run.set_market_open(False)


async def wait_terminal(broker: Broker, order_id: BrokerOrderId, *, polls: int = 100) -> OrderReport:
    """Poll until the order is terminal or partially filled for good (10 ms apart, 1 s at most)."""
    report = await broker.order_status(order_id)
    for _ in range(polls):
        if report.state.is_terminal:
            return report
        await asyncio.sleep(0.01)
        report = await broker.order_status(order_id)
    return report


async def complete_browser_flow(
    server: SchwabServer, config: SchwabConfig, vault: InMemoryTokenVault, cipher: TokenCipher, clock: FakeClock
) -> AccessTokens:
    """Run the CLI's login: authorize URL → simulated browser → code exchange → encrypted save."""
    url, state = authorize_url(config.app)
    redirected = await server.simulate_browser(url)
    tokens = await exchange_redirect(config.app, redirected, clock, state=state)
    keeper = AccessTokens(config.app, vault, cipher, clock, client=None)
    await keeper.store_new(tokens)
    return keeper


@pytest.fixture
def fake_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def alpaca_server() -> AsyncIterator[AlpacaServer]:
    server = AlpacaServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def schwab_server() -> AsyncIterator[SchwabServer]:
    server = SchwabServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def alpaca_factory(alpaca_server: AlpacaServer, fake_clock: FakeClock) -> Callable[..., AlpacaBroker]:
    def make(*, fractional: bool = False, policy: RetryPolicy = FAST_POLICY) -> AlpacaBroker:
        config = AlpacaConfig(
            api_key=SecretStr(alpaca_server.api_key),
            api_secret=SecretStr(alpaca_server.api_secret),
            base_url=alpaca_server.url,
            fractional=fractional,
            retry=policy,
        )
        return AlpacaBroker(config, clock=fake_clock)

    return make


@pytest.fixture
def token_vault() -> InMemoryTokenVault:
    return InMemoryTokenVault()


@pytest.fixture
def cipher() -> TokenCipher:
    return TokenCipher.from_hex(TEST_KEY_HEX)


@pytest.fixture
def schwab_config(schwab_server: SchwabServer) -> SchwabConfig:
    return SchwabConfig(
        app_key=SecretStr(schwab_server.app_key),
        app_secret=SecretStr(schwab_server.app_secret),
        callback_url=schwab_server.callback_url,
        base_url=schwab_server.url,
        retry=FAST_POLICY,
    )


@pytest.fixture
async def schwab_factory(
    schwab_server: SchwabServer,
    schwab_config: SchwabConfig,
    token_vault: InMemoryTokenVault,
    cipher: TokenCipher,
    fake_clock: FakeClock,
) -> AsyncIterator[Callable[..., SchwabBroker]]:
    """Builds Schwab adapters whose vault already holds tokens from a completed browser flow."""
    await complete_browser_flow(schwab_server, schwab_config, token_vault, cipher, fake_clock)
    made: list[SchwabBroker] = []

    def make(*, policy: RetryPolicy = FAST_POLICY) -> SchwabBroker:
        config = schwab_config.model_copy(update={"retry": policy})
        broker = SchwabBroker(config, vault=token_vault, cipher=cipher, clock=fake_clock)
        made.append(broker)
        return broker

    yield make
    for broker in made:
        await broker.aclose()


@pytest.fixture(params=["dry_run", "alpaca", "schwab"])
async def venue(request: pytest.FixtureRequest, fake_clock: FakeClock) -> AsyncIterator[Venue]:
    """Every adapter, one at a time, for the shared contract suite (each with a fresh local server)."""
    if request.param == "dry_run":
        broker = DryRunBroker(DryRunConfig(prices={AAPL: PriceUsdc(SERVER_PRICE)}), clock=fake_clock)
        yield Venue("dry_run", broker, fake_clock, statuses={"filled": OrderState.FILLED})
        return
    if request.param == "alpaca":
        async with AlpacaServer() as alpaca_server:
            config = AlpacaConfig(
                api_key=SecretStr(alpaca_server.api_key),
                api_secret=SecretStr(alpaca_server.api_secret),
                base_url=alpaca_server.url,
                retry=FAST_POLICY,
            )
            alpaca = AlpacaBroker(config, clock=fake_clock)
            yield Venue("alpaca", alpaca, fake_clock, alpaca=alpaca_server, statuses=dict(ALPACA_STATES))
            await alpaca.aclose()
        return
    async with SchwabServer() as schwab_server:
        config_s = SchwabConfig(
            app_key=SecretStr(schwab_server.app_key),
            app_secret=SecretStr(schwab_server.app_secret),
            callback_url=schwab_server.callback_url,
            base_url=schwab_server.url,
            retry=FAST_POLICY,
        )
        vault = InMemoryTokenVault()
        cipher = TokenCipher.from_hex(TEST_KEY_HEX)
        await complete_browser_flow(schwab_server, config_s, vault, cipher, fake_clock)
        schwab = SchwabBroker(config_s, vault=vault, cipher=cipher, clock=fake_clock)
        yield Venue("schwab", schwab, fake_clock, schwab=schwab_server, statuses=dict(SCHWAB_STATES))
        await schwab.aclose()
