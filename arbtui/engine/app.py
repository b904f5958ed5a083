"""The engine: fills in, hedges out, operator in control.

Start-up is recovery (lesson 18): state comes from the ledger, every execution that is not terminal is
driven again (looked up at the broker before anything is resent), every position is re-evaluated, and
intake backfills from the chain cursor. Afterwards the same scan runs every ``check_interval_s``, so a
position left past its threshold (after a failure, a resume, the market opening) is hedged, and a stuck
execution is re-examined, without anyone having to notice.

Failures are contained per symbol (an execution task that meets a broker error parks only its symbol);
a fault nothing can contain — a bug, a dead intake — stops the engine with a non-zero exit, loudly.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from loguru import logger

from arbtui.brokers.base import Broker, BrokerError, MarketClock
from arbtui.domain import control, onchain_trade, position
from arbtui.domain.flows import Change, position_changes
from arbtui.domain.manual_hedge import ManualHedgeLimits, PricedAt, check_known, check_limits, check_over_hedge
from arbtui.domain.position import Threshold
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.values import Audit, Direction, ExecutionId, PriceUsdc, Shares, Symbol
from arbtui.engine.alerts import Alert, Alerts, Severity
from arbtui.engine.bus import Bus
from arbtui.engine.executions import ExecutionOptions, Executions
from arbtui.engine.metrics import Metrics
from arbtui.engine.ports import Check, Readiness
from arbtui.store.event_store import Committed, UnitOfWork
from arbtui.store.ledger import Ledger, OpenExecution, new_execution_id

ENGINE_ACTOR = "engine"


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
    threshold: Threshold = field(default_factory=Threshold)
    executions: ExecutionOptions = field(default_factory=ExecutionOptions)
    manual_limits: ManualHedgeLimits = field(default_factory=ManualHedgeLimits)
    """The largest manual hedge accepted (``[manual_hedge]``)."""
    known_symbols: frozenset[str] = frozenset(KNOWN_FEEDS)
    """Configured tickers (``[pyth.feeds]``); with those seen in the ledger, the only ones the operator
    may pause, resume or hedge."""


class Engine:
    """Implements :class:`arbtui.engine.ports.OperatorControl`."""

    def __init__(
        self,
        ledger: Ledger,
        broker: Broker,
        options: EngineOptions | None = None,
        *,
        intake: Callable[[], Awaitable[None]] | None = None,
        stop_intake: Callable[[], None] | None = None,
        bus: Bus | None = None,
    ) -> None:
        self.ledger = ledger
        self.store = ledger.store
        self.broker = broker
        self.options = options or EngineOptions()
        self.bus = bus or Bus()
        self.metrics = Metrics()
        self.alerts = Alerts(self.bus.publish)
        self.executions = Executions(
            self.store,
            broker,
            self.alerts,
            self.metrics,
            self.options.executions,
            on_finished=lambda symbol: self.check_position(symbol, "after execution"),
            on_park=self._park,
        )
        self.executions.on_fault = self._fault
        self._intake = intake
        self._stop_intake = stop_intake
        self._tasks: list[asyncio.Task[None]] = []
        self._stopped = asyncio.Event()
        self._stopping = False
        self._stop: asyncio.Future[bool] | None = None
        self.fault: BaseException | None = None
        self.chain_live = intake is None
        self.node_inconsistencies = 0
        """Times the node's answers disagreed (logs its eth_getLogs lacked, found elsewhere)."""
        self.node_inconsistency = ""
        """The latest such disagreement, as its alert said it."""
        self.last_chain_progress = time.monotonic()
        self.chain_head: int | None = None
        """The newest block the node announced (intake's :class:`~arbtui.chain.signals.HeadSeen`)."""
        self.recorded_through: int | None = None
        """The newest block the ledger recorded (intake's ``RangeRecorded``)."""
        self.last_broker_ok: float | None = None
        self.market: MarketClock | None = None
        """The broker clock's latest answer (each scan asks): open or not, next open and close."""
        self._stuck: set[ExecutionId] = set()
        self._exposed_since: dict[str, float] = {}

    # --- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover from the ledger, then start intake and the periodic scan."""
        self.store.listeners.append(self._on_commit)
        ledger_threshold = self.options.threshold
        self.ledger.threshold = ledger_threshold
        for symbol in await self.store.aggregate_ids(position.AGGREGATE):
            await self._align_threshold(Symbol(symbol))
        recovered = await self.ledger.open_executions()
        for execution in recovered:
            self.executions.ensure(execution.execution_id, recovering=True)
        await self.scan("startup")
        logger.info("engine started: {} executions resumed from the ledger", len(recovered))
        if self._intake is not None:
            self._tasks.append(self._supervise(self._intake(), "intake"))
        self._tasks.append(self._supervise(self._scan_forever(), "scanner"))

    async def wait(self) -> None:
        await self._stopped.wait()

    async def stop(self) -> bool:
        """Graceful: stop intake and the scan, let broker calls in flight finish (bounded), close.
        Returns True when every in-flight call finished in time. Calling it again (a second signal, the
        console quitting meanwhile) waits for the same stop."""
        if self._stop is None:
            self._stop = asyncio.ensure_future(self._stop_once())
        return await asyncio.shield(self._stop)

    async def _stop_once(self) -> bool:
        self._stopping = True  # from here on, a task that ends is ending because we asked it to
        if self._stop_intake is not None:
            self._stop_intake()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        clean = await self.executions.stop(self.options.shutdown_timeout_s)
        await self.broker.aclose()
        self._stopped.set()
        return clean

    def _supervise(self, work: Awaitable[None], name: str) -> asyncio.Task[None]:
        async def run() -> None:
            await work
            if not self._stopping:
                raise RuntimeError(f"{name} ended on its own")

        task = asyncio.create_task(run(), name=name)
        task.add_done_callback(lambda t: None if t.cancelled() or t.exception() is None else self._fault(t.exception()))
        return task

    def _fault(self, exc: BaseException | None) -> None:
        if exc is None or self.fault is not None:
            return
        self.fault = exc
        self.alerts.raise_(Alert("engine_fault", Severity.CRITICAL, f"engine halted: {exc!r}"))
        self._stopped.set()

    # --- reacting to commits ------------------------------------------------------------------

    def _on_commit(self, committed: list[Committed]) -> None:
        for change in committed:
            if change.aggregate_type == position.AGGREGATE:
                for event in change.events:
                    if isinstance(event, position.OffChainOrderPlaced):
                        self.executions.ensure(event.execution_id)
                self.metrics.unhedged.labels(symbol=change.aggregate_id).set(
                    float(change.state.net.value)
                )  # float-ok: gauge
            elif change.aggregate_type == onchain_trade.AGGREGATE:
                for event in change.events:
                    if isinstance(event, onchain_trade.Filled):
                        self.metrics.fills.labels(symbol=event.fill.symbol).inc()
                    elif isinstance(event, onchain_trade.FillSkipped):
                        self.metrics.skipped_fills.inc()
                        skip = event.skip
                        named = skip.trade_id.tx_hash in skip.detail  # intake's details say where the log is
                        self.alerts.raise_(
                            Alert(
                                f"skipped:{change.aggregate_id}",
                                Severity.WARNING,
                                f"skipped fill{'' if named else ' ' + change.aggregate_id}: {skip.reason.value}"
                                f" — {skip.detail}",
                                action=f"arbtui events --aggregate OnChainTrade:{change.aggregate_id}",
                            )
                        )
        self.bus.publish(tuple(committed))

    def intake_progress(self, *, live: bool) -> None:
        """Intake reports here (connected and recording)."""
        self.chain_live = live
        self.last_chain_progress = time.monotonic()

    # --- the periodic scan --------------------------------------------------------------------

    async def _scan_forever(self) -> None:
        while True:
            await asyncio.sleep(self.options.check_interval_s)
            await self.scan("periodic check")

    async def scan(self, reason: str) -> None:
        """Re-examine stuck executions, re-evaluate every position, ping the broker."""
        open_executions = await self.ledger.open_executions()
        for execution in open_executions:
            self.executions.ensure(execution.execution_id, recovering=True)
        self._watch_stuck(open_executions)
        for symbol in await self.store.aggregate_ids(position.AGGREGATE):
            await self.check_position(Symbol(symbol), reason)
        try:
            self.market = await self.broker.clock()
            self.last_broker_ok = time.monotonic()
        except BrokerError as exc:
            self.metrics.broker_errors.labels(kind=type(exc).__name__).inc()
            logger.warning("broker check failed: {}", exc)
        try:  # on its own: an expiring login matters most when broker calls already fail
            await self._watch_credentials()
        except BrokerError as exc:
            logger.warning("cannot read the broker login's expiry: {}", exc)
        self._watch_chain()

    def _watch_stuck(self, open_executions: list[OpenExecution]) -> None:
        """An execution still not terminal ``stuck_after_s`` after its placement: one alert (repeated at
        the alerts' pace while it stays stuck), one recovery notice when it ends."""
        now = _now()
        still: set[ExecutionId] = set()
        for execution in open_executions:
            age = (now - execution.placed_at).total_seconds()
            if age < self.options.stuck_after_s:
                continue
            still.add(execution.execution_id)
            self.alerts.raise_(
                Alert(
                    f"stuck:{execution.execution_id}",
                    Severity.CRITICAL,
                    f"{execution.symbol}: execution {execution.execution_id} ({execution.status.lower()})"
                    f" not terminal {age:.0f} s after it was placed",
                    action=f"arbtui events --aggregate OffchainOrder:{execution.execution_id}; check the broker",
                    symbol=execution.symbol,
                )
            )
        for gone in self._stuck - still:
            self.alerts.clear(f"stuck:{gone}", f"execution {gone} is no longer stuck")
        self._stuck = still

    async def _watch_credentials(self) -> None:
        expires = await self.broker.credentials_expire_at()
        if expires is None:
            return
        left = expires - _now()
        if left <= timedelta(days=1):
            self.alerts.raise_(
                Alert(
                    "credentials_expiring",
                    Severity.CRITICAL if left <= timedelta(hours=2) else Severity.WARNING,
                    f"{self.broker.kind.value} login expires at {expires.isoformat(timespec='minutes')}"
                    f" (in {max(left.total_seconds(), 0) / 3600:.1f} h)",
                    action="arbtui schwab auth (the bot may keep running)",
                )
            )
        else:
            self.alerts.clear("credentials_expiring", f"{self.broker.kind.value} login renewed")

    def _watch_chain(self) -> None:
        if self._intake is None:
            return
        quiet = time.monotonic() - self.last_chain_progress
        if quiet > self.options.stale_after_s:
            self.alerts.raise_(
                Alert(
                    "chain_stale",
                    Severity.CRITICAL,
                    f"no block recorded for {quiet:.0f} s (intake {'live' if self.chain_live else 'not live'})",
                    action="check the node (chain.http_url / chain.ws_url) and GET /ready",
                )
            )
        else:
            self.alerts.clear("chain_stale", "chain intake is recording blocks again")

    async def check_position(self, symbol: Symbol, reason: str) -> None:
        if self._stopping:
            return  # no new placement while shutting down; the next start re-evaluates

        async def work(uow: UnitOfWork) -> None:
            pos = await uow.load(position.SPEC, symbol)
            controls = await uow.load(control.SPEC, control.CONTROL_ID)
            context = position.HedgeContext(
                hedging_allowed=controls.hedging_allowed(symbol),
                broker=self.broker.kind,
                execution_id=new_execution_id(),
                at=_now(),
            )
            uow.record(
                position_changes(pos, position.decide(pos, position.CheckThreshold(reason=reason, context=context)))
            )

        await self.store.run(work, metadata={"correlation_id": f"check:{symbol}", "reason": reason})
        await self._watch_exposure(symbol)

    async def _watch_exposure(self, symbol: Symbol) -> None:
        pos, _ = await self.store.load(position.SPEC, symbol)
        exposure = abs(pos.last_price.notional(pos.net).value) if pos.last_price else 0
        now = time.monotonic()
        if exposure < self.options.unhedged_alert_usd:
            self._exposed_since.pop(symbol, None)
            self.alerts.clear(f"unhedged:{symbol}", f"{symbol}: unhedged exposure back under the threshold")
            return
        since = self._exposed_since.setdefault(symbol, now)
        if now - since >= self.options.unhedged_alert_after_s:
            self.alerts.raise_(
                Alert(
                    f"unhedged:{symbol}",
                    Severity.CRITICAL,
                    f"{symbol}: ${exposure:.2f} unhedged for {now - since:.0f} s (net {pos.net})",
                    action=f"check the symbol; hedge by hand: arbtui hedge {symbol} buy|sell SHARES --reason …",
                    symbol=symbol,
                )
            )

    async def _align_threshold(self, symbol: Symbol) -> None:
        async def work(uow: UnitOfWork) -> None:
            pos = await uow.load(position.SPEC, symbol)
            events = position.decide(pos, position.UpdateThreshold(threshold=self.options.threshold, at=_now()))
            uow.record(position_changes(pos, events))

        await self.store.run(work, metadata={"correlation_id": f"threshold:{symbol}"})

    # --- operator control ---------------------------------------------------------------------

    async def known_symbols(self) -> frozenset[str]:
        """Configured tickers and every symbol the ledger has a position for."""
        return self.options.known_symbols | frozenset(await self.store.aggregate_ids(position.AGGREGATE))

    async def _check_known(self, symbol: Symbol | None) -> None:
        if symbol is not None:
            check_known(symbol, await self.known_symbols())

    async def pause(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        await self._check_known(symbol)
        await self._control(control.Pause(symbol=symbol, audit=_audit(actor, reason)))

    async def resume(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        await self._check_known(symbol)
        await self._control(control.Resume(symbol=symbol, audit=_audit(actor, reason)))
        symbols = [symbol] if symbol else [Symbol(s) for s in await self.store.aggregate_ids(position.AGGREGATE)]
        for each in symbols:
            self.executions.forgive(each)
            await self.check_position(each, "resumed")

    async def engage_kill_switch(self, *, actor: str, reason: str) -> None:
        await self._control(control.EngageKillSwitch(audit=_audit(actor, reason)))

    async def clear_kill_switch(self, *, actor: str, reason: str) -> None:
        await self._control(control.ClearKillSwitch(audit=_audit(actor, reason)))

    async def latest_price(self, symbol: Symbol) -> PricedAt | None:
        """The latest Pyth price recorded with one of ``symbol``'s fills, else its last fill's price."""
        rows = await self.store.query(
            "SELECT json_extract(payload, '$.pyth_price.price') FROM onchain_trade_view"
            " WHERE symbol = ? AND json_extract(payload, '$.pyth_price.price') IS NOT NULL"
            " ORDER BY block_number DESC, log_index DESC LIMIT 1",
            (str(symbol),),
        )
        if rows and rows[0][0] is not None:
            return PricedAt(price=PriceUsdc(str(rows[0][0])), source="the latest Pyth price")
        pos, _ = await self.store.load(position.SPEC, symbol)
        if pos.last_price is not None:
            return PricedAt(price=pos.last_price, source="the last fill's price")
        return None

    async def manual_hedge(
        self,
        symbol: Symbol,
        direction: Direction,
        shares: Shares,
        *,
        actor: str,
        reason: str,
        allow_overhedge: bool = False,
    ) -> ExecutionId:
        """Known symbol, within the limits, within the open net unless ``allow_overhedge`` (which also
        pauses automatic hedging of the symbol, in the same transaction, so the bot does not undo it)."""
        await self._check_known(symbol)
        check_limits(symbol, direction, shares, self.options.manual_limits, await self.latest_price(symbol))
        execution_id = new_execution_id()
        audit = _audit(actor, reason)

        async def work(uow: UnitOfWork) -> None:
            controls = await uow.load(control.SPEC, control.CONTROL_ID)
            request = control.RequestManualHedge(
                symbol=symbol, direction=direction, shares=shares, execution_id=execution_id, audit=audit
            )
            events = list(control.decide(controls, request))  # the kill switch first
            pos = await uow.load(position.SPEC, symbol)
            over = check_over_hedge(symbol, pos.net, direction, shares, allowed=allow_overhedge)
            if over and symbol not in controls.paused_symbols:
                why = (
                    f"over-hedge by hand ({direction.value.lower()} {shares}, net {pos.net}): automatic hedging"
                    f" paused so the bot does not undo it; resume {symbol} when done — {reason}"
                )
                pause = control.Pause(symbol=symbol, audit=Audit(actor=actor, reason=why, at=audit.at))
                events += control.decide(controls, pause)
            uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(events))])
            place = position.PlaceManualHedge(
                direction=direction,
                shares=shares,
                broker=self.broker.kind,
                execution_id=execution_id,
                audit=audit,
            )
            uow.record(position_changes(pos, position.decide(pos, place)))

        await self.store.run(work, metadata={"correlation_id": execution_id, "actor": actor, "reason": reason})
        return execution_id

    async def _control(self, command: control.ControlCommand) -> None:
        async def work(uow: UnitOfWork) -> None:
            state = await uow.load(control.SPEC, control.CONTROL_ID)
            uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(control.decide(state, command)))])

        audit = command.audit
        await self.store.run(work, metadata={"actor": audit.actor, "reason": audit.reason})
        logger.bind(actor=audit.actor).warning("{}: {}", type(command).__name__, audit.reason)

    async def _park(self, symbol: Symbol, why: str) -> None:
        state, _ = await self.store.load(control.SPEC, control.CONTROL_ID)
        if symbol in state.paused_symbols:
            return
        await self.pause(symbol, actor=ENGINE_ACTOR, reason=why)

    # --- readiness ----------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        now = time.monotonic()
        checks: dict[str, Check] = {}
        if self._intake is not None:
            checks["chain"] = self._chain_check(now)
        broker_ok = self.last_broker_ok is not None and now - self.last_broker_ok <= 3 * self.options.check_interval_s
        checks["broker"] = Check(broker_ok, "" if broker_ok else "broker not answering its clock endpoint")
        writable = await self.store.writable()
        checks["database"] = Check(writable is None, writable or "")
        if self.fault is not None:
            checks["engine"] = Check(False, f"halted: {self.fault!r}")
        return Readiness(checks)

    def _chain_check(self, now: float) -> Check:
        if not self.chain_live:
            return Check(False, "intake not live")
        if now - self.last_chain_progress > self.options.stale_after_s:
            return Check(False, f"no block recorded for {now - self.last_chain_progress:.0f} s")
        lag = self.lag_blocks
        if lag is not None and lag > self.options.max_lag_blocks:
            return Check(False, f"{lag} blocks behind the head (max_lag_blocks {self.options.max_lag_blocks})")
        return Check(True)

    @property
    def lag_blocks(self) -> int | None:
        """Blocks between the node's newest and the ledger's newest recorded (None until both are known)."""
        if self.chain_head is None or self.recorded_through is None:
            return None
        return max(self.chain_head - self.recorded_through, 0)


def _audit(actor: str, reason: str) -> Audit:
    return Audit(actor=actor, reason=reason, at=_now())


def _now() -> datetime:
    return datetime.now(UTC)
