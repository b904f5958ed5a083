"""The order manager: drives every placed execution to a terminal state at the broker, exactly once.

One asyncio task per execution (so per symbol: the Position allows one in flight). Each step reads the
order's state from the ledger and does the one thing that state calls for::

    PENDING (no broker id) ── market open? ── submit (client id = execution id) ──▶ ConfirmSubmission
    SUBMITTED / PARTIALLY_FILLED ── poll ──▶ CompleteFill | Cancel (partial) | Fail | UpdatePartialFill

"Placement pending" is recorded before the broker is called (lessons 20, 23): after a crash the task
starts again from the ledger and first *looks for* the order (``find_order``) before submitting again
with the same id.

**A symbol that hedges outside the regular session** (a ``[hedging]`` policy that opts in;
:mod:`arbtui.engine.attempts`): the execution goes out as *attempts* — limit orders ``<execution>-<n>``
repriced every reprice interval (cancel requested and recorded → the broker confirms the end with its
fill → the next attempt for the remainder), replaced by one market order at the regular open. With the
default policy (regular only) nothing here changes: one market order whose client id is the execution id.

Broker errors are handled by type: 429 waits for Retry-After (never a failure), 5xx and timeouts back
off, market closed waits for the open, a rejection fails the execution (its shares go back to the
position), anything fatal parks the symbol with an alert and the command that resolves it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from loguru import logger

from arbtui.brokers.base import (
    Broker,
    BrokerError,
    BrokerOrderId,
    FatalBrokerError,
    MarketClosed,
    MarketOrder,
    OrderRejected,
    OrderReport,
    OrderState,
    RateLimited,
    RetryableBrokerError,
)
from arbtui.brokers.calendar import MarketCalendar
from arbtui.clock import Backoff, Clock, Jitter, Sleep
from arbtui.domain import offchain_order, position
from arbtui.domain.flows import Change, complete_execution, fail_execution
from arbtui.domain.hedging_policy import HedgingPolicy
from arbtui.domain.offchain_order import AttemptPhase, OffchainOrder
from arbtui.domain.values import ExecutionId, PriceUsdc, Symbol
from arbtui.engine.alerts import Alert, Alerts, Severity
from arbtui.engine.attempts import AttemptDriver, Outcome, Recovery
from arbtui.engine.metrics import Metrics
from arbtui.store.event_store import EventStore, UnitOfWork


@dataclass(frozen=True)
class ExecutionOptions:
    poll_interval_s: float = 1.0
    """Seconds between status polls of a submitted order."""
    backoff_initial_s: float = 0.5
    """Backoff after a broker outage (5xx, timeout): doubling from this, equal jitter."""
    backoff_max_s: float = 30.0
    market_recheck_s: float = 60.0
    """While the market is shut, how often to ask the broker's clock again."""
    max_failures_before_park: int = 3
    """Consecutive failed executions of one symbol before it is parked (paused by the engine)."""


class Executions:
    def __init__(
        self,
        store: EventStore,
        broker: Broker,
        alerts: Alerts,
        metrics: Metrics,
        options: ExecutionOptions,
        *,
        clock: Clock,
        on_finished: Callable[[Symbol], Awaitable[None]],
        on_park: Callable[[Symbol, str], Awaitable[None]],
        on_fault: Callable[[BaseException], None],
        rng: random.Random | None = None,
        policy: HedgingPolicy | None = None,
        calendar: MarketCalendar | None = None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._broker = broker
        self._alerts = alerts
        self._metrics = metrics
        self._options = options
        self._on_finished = on_finished
        self._on_park = on_park
        self._sleep: Sleep = clock.sleep
        """Every wait of an execution (polls, backoff, market closed): a test's clock drives them."""
        self._rng = rng or random.Random()
        """The backoff's jitter."""
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._failures: dict[str, int] = {}
        self._stopping = False
        self._on_fault = on_fault
        """Called when a task dies of an error nothing here can contain (the engine halts loudly)."""
        self.policy = policy or HedgingPolicy.regular_only()
        self._attempts = AttemptDriver(
            store,
            broker,
            alerts,
            metrics,
            self.policy,
            calendar or MarketCalendar(broker, clock),
            clock=clock,
            poll_interval_s=options.poll_interval_s,
            recheck_s=options.market_recheck_s,
        )

    def forgive(self, symbol: str) -> None:
        """The operator resumed the symbol: its failure count starts again."""
        self._failures.pop(symbol, None)

    @property
    def in_flight(self) -> list[str]:
        return [eid for eid, task in self._tasks.items() if not task.done()]

    def ensure(self, execution_id: str, *, recovering: bool = False) -> None:
        """Drive ``execution_id`` unless a task already does."""
        task = self._tasks.get(execution_id)
        if self._stopping or (task is not None and not task.done()):
            return
        task = asyncio.create_task(self._drive(ExecutionId(execution_id), recovering), name=f"execution:{execution_id}")
        task.add_done_callback(self._finished)
        self._tasks[execution_id] = task

    def _finished(self, task: asyncio.Task[None]) -> None:
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            logger.opt(exception=exc).critical("execution task {} died: {}", task.get_name(), exc)
            self._on_fault(exc)

    async def stop(self, grace_s: float) -> bool:
        """Send no new order; see orders already at the broker to a terminal state, up to ``grace_s``.
        Returns False if some had to be cancelled (their state is in the ledger: recovery resumes them)."""
        self._stopping = True
        pending = [task for task in self._tasks.values() if not task.done()]
        if not pending:
            return True
        _, still = await asyncio.wait(pending, timeout=grace_s)
        for task in still:
            task.cancel()
        await asyncio.gather(*still, return_exceptions=True)
        return not still

    # --- one execution ------------------------------------------------------------------------

    async def _drive(self, execution_id: ExecutionId, recovering: bool) -> None:
        log = logger.bind(execution_id=execution_id)
        backoff = Backoff(
            self._options.backoff_initial_s,
            self._options.backoff_max_s,
            jitter=Jitter.EQUAL,
            sleep=self._sleep,
            rng=self._rng,
        )
        looked_up = not recovering
        recovery = Recovery(recovering=recovering)
        while True:
            order, _ = await self._store.load(offchain_order.SPEC, execution_id)
            if order.status is None or order.status.is_terminal or order.symbol is None:
                return
            at_broker = (
                order.attempt_phase in (AttemptPhase.SUBMITTED, AttemptPhase.CANCEL_REQUESTED)
                if order.attempt
                else order.broker_order_id is not None
            )
            if self._stopping and not at_broker:
                return  # shutting down: send nothing new; an order already at the broker is seen through
            log = log.bind(symbol=order.symbol)
            try:
                if order.attempt == 0 and order.broker_order_id is None and self._attempts.is_attempt_time(order):
                    recovery.legacy_unsure |= not looked_up
                    looked_up = True
                    await self._attempts.step(order, recovery)
                elif order.attempt > 0:
                    if await self._attempts.step(order, recovery) is Outcome.FINISHED:
                        await self._attempt_finished(order)
                        return
                elif order.broker_order_id is None:
                    # no clock call here: every adapter refuses a submit while the market is shut
                    # (MarketClosed, below), reusing a recent "open" answer — one round trip per hedge
                    pos, _ = await self._store.load(position.SPEC, str(order.symbol))
                    market_order = _market_order(order, pos.last_price)
                    if not looked_up:
                        looked_up = True
                        found = await self._broker.find_order(market_order, since=_since(order, self._clock.now()))
                        if found is not None:
                            log.info("recovered: the broker already has order {}", found.order_id)
                            await self._confirm(order, found.order_id)
                            continue
                    recovery.legacy_unsure = True  # a submit whose answer may be lost: look before any attempt
                    broker_id = await self._broker.submit(market_order)
                    self._alerts.clear("market_closed", "market open: pending hedges are going out")
                    await self._confirm(order, broker_id)
                    log.info("submitted {} {} {} as {}", order.direction, order.shares, order.symbol, broker_id)
                else:
                    report = await self._broker.order_status(BrokerOrderId(order.broker_order_id))
                    if await self._apply(order, report):
                        return
                    await self._sleep(self._options.poll_interval_s)
                backoff.reset()
            except RateLimited as exc:
                self._metrics.rate_limited.inc()  # a 429 is no failure: it waits without growing the backoff
                await self._sleep(exc.retry_after if exc.retry_after is not None else backoff.delay(backoff.failures))
            except MarketClosed as exc:
                if order.attempt > 0 or self._attempts.is_attempt_time(order):
                    await self._attempts.market_closed(order, exc)
                else:
                    await self._wait_for_open(order, exc.retry_at)
            except RetryableBrokerError as exc:
                self._metrics.broker_errors.labels(kind=type(exc).__name__).inc()
                delay = backoff.next_delay()
                log.warning("broker unavailable (attempt {}): {}", backoff.failures, exc)
                await self._sleep(delay)
            except OrderRejected as exc:
                self._metrics.broker_errors.labels(kind=type(exc).__name__).inc()
                if order.attempt > 0 and await self._attempts.rejected(order, exc):
                    await self._attempt_finished(order)
                    return
                await self._fail(order, f"rejected: {exc}")
                return
            except FatalBrokerError as exc:
                self._metrics.broker_errors.labels(kind=type(exc).__name__).inc()
                await self._park(order, exc)
                return

    async def _attempt_finished(self, order: OffchainOrder) -> None:
        """An execution sent as attempts ended (filled, or cancelled with what filled, or failed)."""
        final, _ = await self._store.load(offchain_order.SPEC, order.execution_id)
        symbol = Symbol(str(order.symbol))
        if final.status is offchain_order.OrderStatus.FAILED:
            self._metrics.hedges.labels(symbol=symbol, status="FAILED").inc()
            await self._on_finished(symbol)
            return
        self._metrics.hedges.labels(symbol=symbol, status=str(final.status)).inc()
        if final.submitted_at is not None:
            self._metrics.submit_to_fill.observe((self._clock.now() - final.submitted_at).total_seconds())
        self._failures.pop(str(symbol), None)
        self._alerts.clear(f"execution_failed:{symbol}", f"{symbol}: hedging again")
        await self._on_finished(symbol)

    async def _apply(self, order: OffchainOrder, report: OrderReport) -> bool:
        """Record what the broker reports; True once the execution is over."""
        state = report.state
        if state is OrderState.FILLED or (state is OrderState.CANCELLED and report.filled_quantity.is_positive):
            if report.average_price is None:  # never guess a price (lesson 13): keep polling, say so
                self._alerts.raise_(
                    Alert(
                        f"fill_without_price:{order.execution_id}",
                        Severity.WARNING,
                        f"{order.symbol}: broker reports {order.execution_id} filled without a price",
                        symbol=order.symbol,
                    )
                )
                return False
            price = report.average_price

            def complete(uow_order: OffchainOrder, pos: position.Position) -> list[Change]:
                return complete_execution(
                    uow_order, pos, shares_filled=report.filled_quantity, price_cents=price, at=self._clock.now()
                )

            await self._finish(order, complete)
            await self._on_finished(Symbol(str(order.symbol)))
            self._failures.pop(str(order.symbol), None)
            self._metrics.hedges.labels(symbol=order.symbol, status="FILLED").inc()
            if order.submitted_at is not None:
                self._metrics.submit_to_fill.observe((self._clock.now() - order.submitted_at).total_seconds())
            self._alerts.clear(f"execution_failed:{order.symbol}", f"{order.symbol}: hedging again")
            return True
        if state in (OrderState.FAILED, OrderState.CANCELLED):
            await self._fail(order, f"broker says {report.broker_status}")
            return True
        growing = report.filled_quantity != order.shares_filled and report.filled_quantity < order.shares
        if state is OrderState.PARTIALLY_FILLED and growing and report.average_price is not None:
            update = offchain_order.UpdatePartialFill(
                shares_filled=report.filled_quantity, avg_price_cents=report.average_price, at=self._clock.now()
            )
            await self._record_order(order.execution_id, update)
        return False

    async def _confirm(self, order: OffchainOrder, broker_id: str) -> None:
        await self._record_order(
            order.execution_id, offchain_order.ConfirmSubmission(broker_order_id=broker_id, at=self._clock.now())
        )
        if order.placed_at is not None:
            self._metrics.fill_to_submit.observe((self._clock.now() - order.placed_at).total_seconds())

    async def _record_order(self, execution_id: str, command: offchain_order.OffchainOrderCommand) -> None:
        async def work(uow: UnitOfWork) -> None:
            current = await uow.load(offchain_order.SPEC, execution_id)
            events = offchain_order.decide(current, command)
            uow.record([Change(offchain_order.SPEC, execution_id, tuple(events))])

        await self._store.run(work, metadata={"correlation_id": execution_id})

    async def _finish(
        self, order: OffchainOrder, decide: Callable[[OffchainOrder, position.Position], list[Change]]
    ) -> None:
        async def work(uow: UnitOfWork) -> None:
            current = await uow.load(offchain_order.SPEC, order.execution_id)
            pos = await uow.load(position.SPEC, str(current.symbol))
            uow.record(decide(current, pos))

        await self._store.run(work, metadata={"correlation_id": order.execution_id})

    async def _fail(self, order: OffchainOrder, error: str) -> None:
        await self._finish(order, lambda current, pos: fail_execution(current, pos, error=error, at=self._clock.now()))
        symbol = str(order.symbol)
        failures = self._failures[symbol] = self._failures.get(symbol, 0) + 1
        self._metrics.hedges.labels(symbol=symbol, status="FAILED").inc()
        self._alerts.raise_(
            Alert(
                f"execution_failed:{symbol}",
                Severity.WARNING,
                f"{symbol}: hedge {order.execution_id} failed ({error}); its shares are back in the position",
                action="retried automatically at the next check",
                symbol=symbol,
            )
        )
        if failures >= self._options.max_failures_before_park:  # park before re-evaluating, or it re-places
            await self._on_park(Symbol(symbol), f"parked after {failures} failed hedges, last: {error}")
        await self._on_finished(Symbol(symbol))

    async def _park(self, order: OffchainOrder, exc: BrokerError) -> None:
        symbol = Symbol(str(order.symbol))
        self._alerts.raise_(
            Alert(
                f"parked:{symbol}",
                Severity.CRITICAL,
                f"{symbol}: execution {order.execution_id} needs the operator: {exc}",
                action=f'fix the cause, then: arbtui resume {symbol} --reason "…"',
                symbol=symbol,
            )
        )
        await self._on_park(symbol, f"{type(exc).__name__}: {exc}")

    async def _wait_for_open(self, order: OffchainOrder, next_open: datetime | None = None) -> None:
        self._alerts.raise_(
            Alert(
                "market_closed",
                Severity.WARNING,
                f"market closed: {order.symbol} hedge {order.execution_id} waits"
                + (f" for the open at {next_open.isoformat()}" if next_open else ""),
                action="none: it goes out at the open (pause the symbol to hold it)",
            )
        )
        wait = self._options.market_recheck_s
        if next_open is not None:
            wait = min(wait, max(0.05, (next_open - self._clock.now()).total_seconds()))
        await self._sleep(wait)


def _market_order(order: OffchainOrder, price: PriceUsdc | None) -> MarketOrder:
    """The broker order for an execution; ``price`` (the last onchain fill price) lets the dry-run fill
    and lets fractional brokers check the minimum notional before sending."""
    assert order.symbol is not None
    assert order.direction is not None
    return MarketOrder(
        execution_id=ExecutionId(order.execution_id),
        symbol=order.symbol,
        side=order.direction,
        quantity=order.shares,
        estimated_price=price,
    )


def _since(order: OffchainOrder, now: datetime) -> datetime:
    """Where to look for the order at the broker: from a little before its placement."""
    return (order.placed_at or now) - timedelta(minutes=5)
