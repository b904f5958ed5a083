"""The engine: fills in, hedges out, operator in control.

Start-up is recovery (lesson 18): state comes from the ledger, every execution that is not terminal is
driven again (looked up at the broker before anything is resent), every position is re-evaluated, and
intake backfills from the chain cursor. Afterwards the same scan runs every ``check_interval_s``, so a
position left past its threshold (after a failure, a resume, the market opening) is hedged, and a stuck
execution is re-examined, without anyone having to notice.

Failures are contained per symbol (an execution task that meets a broker error parks only its symbol);
a fault nothing can contain — a bug, a dead intake — stops the engine with a non-zero exit, loudly.

The engine is built complete (``arbtui.engine.factory.build_engine`` for operators, the same constructor
in tests): its :class:`~arbtui.engine.health.Health` watch, its executions and its
:class:`~arbtui.engine.control.EngineControl` are made here, and nothing is patched in afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from loguru import logger

from arbtui.brokers.base import Broker, BrokerError
from arbtui.brokers.calendar import MarketCalendar
from arbtui.chain.signals import IntakeObserver
from arbtui.domain import control, position
from arbtui.domain.flows import position_changes
from arbtui.domain.hedging_policy import HedgingPolicy
from arbtui.domain.manual_hedge import ManualHedgeLimits
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.sessions import CalendarError, OutsideCalendar, SessionNow
from arbtui.domain.values import Symbol
from arbtui.engine.bus import Bus, Subscription
from arbtui.engine.control import ControlOptions, EngineControl
from arbtui.engine.delivery import AlertDelivery, AlertSink, DeliveryOptions
from arbtui.engine.executions import ExecutionOptions, Executions
from arbtui.engine.health import Health, HealthOptions
from arbtui.engine.messages import Committed, MarketStatus
from arbtui.engine.ports import Readiness
from arbtui.store.event_store import Committed as CommittedChange
from arbtui.store.event_store import UnitOfWork
from arbtui.store.ledger import Ledger
from arbtui.store.read_model import LedgerReadModel


class LifecycleState(StrEnum):
    CREATED = "created"
    RUNNING = "running"
    STOPPING = "stopping"
    """Asked to stop (a signal, the console quitting): no new placement; calls in flight finish."""
    STOPPED = "stopped"
    HALTED = "halted"
    """Stopped by a fault nothing could contain (:attr:`Engine.fault`)."""


class Intake(Protocol):
    """Chain intake as the engine runs it (``arbtui.chain.intake.FillIntake``)."""

    async def prepare(self) -> None:
        """Checks of the node before anything is recovered (one chain per ledger)."""
        ...

    async def run(self) -> None: ...

    def stop(self) -> None: ...


@dataclass(frozen=True)
class EngineOptions:
    check_interval_s: float = 10.0
    """The periodic scan: re-evaluate positions, re-examine stuck executions, ping the broker."""
    shutdown_timeout_s: float = 30.0
    """On SIGTERM, how long broker calls in flight may take to finish."""
    stale_after_s: float = 120.0
    """Readiness: the chain is stale when intake recorded nothing for this long while live."""
    max_lag_blocks: int = 30
    """Readiness: not ready while the ledger's newest recorded block is more than this many blocks
    behind the newest block the node announced."""
    stuck_after_s: float = 120.0
    """An execution not terminal this long after it was placed raises the ``stuck`` alert (once)."""
    unhedged_alert_usd: float = 1000.0  # float-ok: an alert threshold, not money on the books
    unhedged_alert_after_s: float = 300.0
    alert_repeat_s: float = 300.0
    """An alert with the same key repeats at most this often."""
    executions: ExecutionOptions = field(default_factory=ExecutionOptions)
    manual_limits: ManualHedgeLimits = field(default_factory=ManualHedgeLimits)
    """The largest manual hedge accepted (``[manual_hedge]``)."""
    known_symbols: frozenset[str] = frozenset(KNOWN_FEEDS)
    """Configured tickers (``[pyth.feeds]``); with those seen in the ledger, the only ones the operator
    may pause, resume or hedge."""
    alert_delivery: DeliveryOptions = field(default_factory=DeliveryOptions)
    """Queues, timeouts and retries of the alert sinks (``[alerts]``)."""
    hedging: HedgingPolicy = field(default_factory=HedgingPolicy.regular_only)
    """In which sessions hedges go out and how (``[hedging]``); the default is today's: regular only."""

    def health(self) -> HealthOptions:
        return HealthOptions(
            stale_after_s=self.stale_after_s,
            max_lag_blocks=self.max_lag_blocks,
            stuck_after_s=self.stuck_after_s,
            broker_silent_after_s=3 * self.check_interval_s,
            unhedged_alert_usd=self.unhedged_alert_usd,
            unhedged_alert_after_s=self.unhedged_alert_after_s,
            alert_repeat_s=self.alert_repeat_s,
        )


class Engine:
    """Lifecycle (start, scan, stop) and hedging decisions; control through :attr:`control`."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        options: EngineOptions | None = None,
        *,
        intake: Callable[[IntakeObserver], Intake] | None = None,
        bus: Bus | None = None,
        alert_sinks: Sequence[AlertSink] = (),
    ) -> None:
        """``intake`` builds chain intake around the observer it is given (the health watch's);
        ``alert_sinks`` receive the alerts besides the bus (:mod:`arbtui.engine.delivery`)."""
        self.ledger = ledger
        self.store = ledger.store
        self.broker = broker
        self.options = options = options or EngineOptions()
        self.clock = ledger.clock
        self.bus = bus or Bus()
        self.health = Health(
            self.bus, self.store, broker, self.clock, options.health(), watches_chain=intake is not None
        )
        self.metrics = self.health.metrics
        self.alerts = self.health.alerts
        self.delivery = AlertDelivery(self.bus, alert_sinks, options.alert_delivery, self.metrics, self.clock)
        self.calendar = MarketCalendar(broker, self.clock)
        """The broker's calendar, cached and re-read before each placement and at each scan."""
        self._session_seen: tuple[object, ...] | None = None
        self.executions = Executions(
            self.store,
            broker,
            self.alerts,
            self.metrics,
            options.executions,
            clock=self.clock,
            on_finished=lambda symbol: self.check_position(symbol, "after execution"),
            on_park=lambda symbol, why: self.control.park(symbol, why),
            on_fault=self._fault,
            policy=options.hedging,
            calendar=self.calendar,
        )
        self.control = EngineControl(
            self.store,
            self.executions,
            broker.kind,
            ControlOptions(manual_limits=options.manual_limits, known_symbols=options.known_symbols),
            clock=self.clock,
            ids=ledger.ids,
            check_position=self.check_position,
        )
        self._intake = None if intake is None else intake(self.health.observe_intake)
        self.state = LifecycleState.CREATED
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._stop: asyncio.Future[bool] | None = None

    @property
    def fault(self) -> BaseException | None:
        return self.health.fault

    @property
    def venue(self) -> str:
        return self.broker.kind.value

    @property
    def read_model(self) -> LedgerReadModel:
        return LedgerReadModel(self.store.path)

    @property
    def in_flight(self) -> int:
        return len(self.executions.in_flight)

    @property
    def shutdown_timeout_s(self) -> float:
        return self.options.shutdown_timeout_s

    def subscribe(self) -> Subscription:
        return self.bus.subscribe()

    async def readiness(self) -> Readiness:
        return await self.health.readiness()

    # --- lifecycle ----------------------------------------------------------------------------

    async def prepare(self) -> None:
        """Before :meth:`start`: intake's checks of the node (a ledger of another chain is refused)."""
        if self._intake is not None:
            await self._intake.prepare()

    async def start(self) -> None:
        """Start delivering alerts, recover from the ledger, then start intake and the periodic scan."""
        self.state = LifecycleState.RUNNING
        self.delivery.start()
        self.store.listeners.append(self._on_commit)
        for symbol in await self.store.aggregate_ids(position.AGGREGATE):
            await self._align_threshold(Symbol(symbol))
        recovered = await self.ledger.open_executions()
        for execution in recovered:
            self.executions.ensure(execution.execution_id, recovering=True)
        await self.scan("startup")
        logger.info("engine started: {} executions resumed from the ledger", len(recovered))
        if self._intake is not None:
            self._tasks.append(self._supervise(self._intake.run(), "intake"))
        self._tasks.append(self._supervise(self._scan_forever(), "scanner"))

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> bool:
        """Graceful: stop intake and the scan, let broker calls in flight finish (bounded), give alerts
        still waiting for a sink their grace (``alerts.shutdown_grace_s``), close.
        Returns True when every in-flight call finished in time. Calling it again (a second signal, the
        console quitting meanwhile) waits for the same stop."""
        if self._stop is None:
            self._stop = asyncio.ensure_future(self._stop_once())
        return await asyncio.shield(self._stop)

    async def _stop_once(self) -> bool:
        if self.state is not LifecycleState.HALTED:
            self.state = LifecycleState.STOPPING  # from here on, a task that ends does so because we asked
        if self._intake is not None:
            self._intake.stop()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        clean = await self.executions.stop(self.options.shutdown_timeout_s)
        await self.broker.aclose()
        await self.delivery.stop()  # the alerts of the stop itself included, within their grace
        if self.state is not LifecycleState.HALTED:
            self.state = LifecycleState.STOPPED
        self._stopped.set()
        return clean

    def _supervise(self, work: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def run() -> None:
            await work
            if self.state is LifecycleState.RUNNING:
                raise RuntimeError(f"{name} ended on its own")

        task = asyncio.create_task(run(), name=name)
        task.add_done_callback(lambda t: None if t.cancelled() or t.exception() is None else self._fault(t.exception()))
        return task

    def _fault(self, exc: BaseException | None) -> None:
        if exc is None or self.state is LifecycleState.HALTED:
            return
        self.state = LifecycleState.HALTED
        self.health.halted(exc)
        self._stopped.set()

    # --- reacting to commits ------------------------------------------------------------------

    def _on_commit(self, committed: list[CommittedChange]) -> None:
        for change in committed:
            if change.aggregate_type == position.AGGREGATE:
                for event in change.events:
                    if isinstance(event, position.OffChainOrderPlaced):
                        self.executions.ensure(event.execution_id)
        self.bus.publish(Committed(tuple(committed)))

    # --- the periodic scan --------------------------------------------------------------------

    async def _scan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.check_interval_s)
            await self.scan("periodic check")

    async def scan(self, reason: str) -> None:
        """Re-examine stuck executions, re-evaluate every position, ask the broker's clock, watch health."""
        open_executions = await self.ledger.open_executions()
        for execution in open_executions:
            self.executions.ensure(execution.execution_id, recovering=True)
        for symbol in await self.store.aggregate_ids(position.AGGREGATE):
            await self.check_position(Symbol(symbol), reason)
        try:
            market = await self.broker.clock()
        except BrokerError as exc:
            self.health.broker_failed(exc)
        else:
            session = await self._session_now()
            changed = self.health.broker_answered(market)
            seen = None if session is None else (session.session, session.next)
            if changed or seen != self._session_seen:
                self._session_seen = seen
                self.bus.publish(MarketStatus(market, session))
        await self.health.watch(open_executions)

    async def _session_now(self) -> SessionNow | None:
        """The session now and its next transition from the broker's calendar (``None``: unreadable)."""
        try:
            session = await self.calendar.session_now()
        except (BrokerError, OutsideCalendar, CalendarError) as exc:
            # the session is shown, never needed here: a calendar the scan cannot read must not stop it
            logger.warning("session unknown: the broker's calendar could not be read: {}", exc)
            return None
        self.health.session_known(session)
        return session

    async def check_position(self, symbol: Symbol, reason: str) -> None:
        if self.state in (LifecycleState.STOPPING, LifecycleState.STOPPED):
            return  # no new placement while shutting down; the next start re-evaluates

        async def work(uow: UnitOfWork) -> None:
            pos = await uow.load(position.SPEC, symbol)
            controls = await uow.load(control.SPEC, control.CONTROL_ID)
            context = position.HedgeContext(
                hedging_allowed=controls.hedging_allowed(symbol),
                broker=self.broker.kind,
                execution_id=self.ledger.ids.execution_id(),
                at=self.clock.now(),
            )
            uow.record(
                position_changes(pos, position.decide(pos, position.CheckThreshold(reason=reason, context=context)))
            )

        await self.store.run(work, metadata={"correlation_id": f"check:{symbol}", "reason": reason})
        pos, _ = await self.store.load(position.SPEC, symbol)
        self.health.watch_exposure(symbol, pos)

    async def _align_threshold(self, symbol: Symbol) -> None:
        async def work(uow: UnitOfWork) -> None:
            pos = await uow.load(position.SPEC, symbol)
            events = position.decide(
                pos, position.UpdateThreshold(threshold=self.ledger.threshold, at=self.clock.now())
            )
            uow.record(position_changes(pos, events))

        await self.store.run(work, metadata={"correlation_id": f"threshold:{symbol}"})
