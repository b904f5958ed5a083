"""The engine's health watch: metrics, watchdogs and readiness, fed by the bus and by intake's signals.

Nothing here places or refuses a hedge. It turns what the engine publishes (commits, the broker clock's
answers) and what intake reports into Prometheus metrics, alerts with the action that resolves them,
and the readiness checks behind ``/ready`` and the console's status bar:

* **chain** — intake live, a block recorded within ``stale_after_s``, and the ledger no more than
  ``max_lag_blocks`` behind the newest block the node announced;
* **broker** — its clock answered within three scans;
* **database** — writable;
* **engine** — not halted.

Watchdogs run on each scan: a silent chain, an expiring broker login, exposure left unhedged too long,
an execution not terminal ``stuck_after_s`` after its placement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import assert_never

from loguru import logger

from arbtui import display
from arbtui.brokers.base import Broker, BrokerError, MarketClock
from arbtui.chain.signals import (
    AlertKind,
    BackfillProgress,
    FillEnriched,
    HeadSeen,
    IntakeAlert,
    IntakeAlertCleared,
    IntakeSignal,
    IntakeState,
    IntakeStatus,
    OrderbookBackfilled,
    RangeRecorded,
    ReceiptsRead,
    ReorgHandled,
)
from arbtui.clock import Clock
from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.sessions import SessionNow
from arbtui.domain.values import Direction, ExecutionId, Shares, Symbol
from arbtui.engine.alerts import Alert, Alerts, Severity
from arbtui.engine.bus import Bus
from arbtui.engine.messages import (
    AlertCleared,
    AlertRaised,
    Committed,
    DeliveryReported,
    EngineMessage,
    IntakeReported,
    MarketStatus,
    ReadinessChanged,
)
from arbtui.engine.metrics import Metrics
from arbtui.engine.ports import Check, Readiness
from arbtui.store.event_store import EventStore
from arbtui.store.ledger import OpenExecution


@dataclass(frozen=True)
class HealthOptions:
    stale_after_s: float = 120.0
    """The chain is stale when intake recorded nothing for this long while live."""
    max_lag_blocks: int = 30
    """Not ready while the ledger's newest recorded block is more than this many blocks behind the
    newest block the node announced."""
    stuck_after_s: float = 120.0
    """An execution not terminal this long after it was placed raises the ``stuck`` alert."""
    broker_silent_after_s: float = 30.0
    """The broker check fails when its clock has not answered for this long (three scans)."""
    unhedged_alert_usd: float = 1000.0  # float-ok: an alert threshold, not money on the books
    unhedged_alert_after_s: float = 300.0
    alert_repeat_s: float = 300.0
    """An alert with the same key repeats at most this often."""


class Health:
    """Owns the engine's :class:`Metrics` and :class:`Alerts`; listens on the bus."""

    def __init__(
        self,
        bus: Bus,
        store: EventStore,
        broker: Broker,
        clock: Clock,
        options: HealthOptions,
        *,
        watches_chain: bool,
    ) -> None:
        self._bus = bus
        self._store = store
        self._broker = broker
        self._clock = clock
        self.options = options
        self.metrics = Metrics()
        self.alerts = Alerts(self._announce, repeat_every=options.alert_repeat_s, clock=clock.monotonic)
        self.watches_chain = watches_chain
        """The engine runs an intake: only then is there a chain check."""
        self.chain_live = False
        self.last_chain_progress = clock.monotonic()
        self.chain_head: int | None = None
        self.recorded_through: int | None = None
        self.node_inconsistencies = 0
        """Times the node's answers disagreed (logs its eth_getLogs lacked, found elsewhere)."""
        self.last_broker_ok: float | None = None
        self.session: SessionNow | None = None
        """The session at the last scan (``/ready`` details)."""
        self.fault: BaseException | None = None
        self._readiness: Readiness | None = None
        self._market_seen: tuple[bool, datetime | None, datetime | None] | None = None
        self._exposed_since: dict[str, float] = {}
        self._open_since: dict[str, datetime] = {}
        self._filled_so_far: dict[str, tuple[str, Shares]] = {}
        """Per symbol, its open execution's broker fills so far (execution id, shares)."""
        self._positions: dict[str, position.Position] = {}
        """Each symbol's Position as last seen (the gauges are redrawn when its hedge fills in part)."""
        """Per symbol, when its open exposure was first seen at or past the threshold (the age gauge)."""
        self._stuck: set[ExecutionId] = set()
        bus.listen(self._on_message)

    def _announce(self, alert: Alert) -> None:
        self._bus.publish(AlertCleared(alert) if alert.recovered else AlertRaised(alert))

    # --- fed by the bus -----------------------------------------------------------------------

    def _on_message(self, message: EngineMessage) -> None:
        match message:
            case Committed(changes):
                for change in changes:
                    self._count(change.aggregate_type, change.aggregate_id, change.events, change.state)
            case (
                AlertRaised()
                | AlertCleared()
                | DeliveryReported()
                | IntakeReported()
                | MarketStatus()
                | ReadinessChanged()
            ):
                pass
            case _:
                assert_never(message)

    def _count(self, aggregate_type: str, aggregate_id: str, events: tuple[object, ...], state: object) -> None:
        if aggregate_type == position.AGGREGATE:
            assert isinstance(state, position.Position)
            self.metrics.unhedged.labels(symbol=aggregate_id).set(float(state.net.value))  # float-ok: gauge
            self._exposure(aggregate_id, state)
            return
        if aggregate_type == offchain_order.AGGREGATE:
            assert isinstance(state, offchain_order.OffchainOrder)
            self._hedge_filled(state)
            return
        if aggregate_type != onchain_trade.AGGREGATE:
            return
        for event in events:
            if isinstance(event, onchain_trade.Filled):
                self.metrics.fills.labels(symbol=event.fill.symbol).inc()
            elif isinstance(event, onchain_trade.FillSkipped):
                self.metrics.skipped_fills.inc()
                skip = event.skip
                named = skip.trade_id.tx_hash in skip.detail  # intake's details say where the log is
                self.alerts.raise_(
                    Alert(
                        f"skipped:{aggregate_id}",
                        Severity.WARNING,
                        f"skipped fill{'' if named else ' ' + aggregate_id}: {skip.reason.value} — {skip.detail}",
                        action=f"arbtui events --aggregate OnChainTrade:{aggregate_id}",
                    )
                )

    # --- fed by intake ------------------------------------------------------------------------

    def observe_intake(self, signal: IntakeSignal) -> None:
        """Intake's signals → readiness, metrics and alerts; then on the bus for the console."""
        match signal:
            case IntakeStatus(state=state, detail=detail):
                self._progress(live=state is IntakeState.LIVE)
                if state is IntakeState.RECONNECTING:
                    self.metrics.rpc_errors.inc()
                logger.info("intake {}{}", state.value, f": {detail}" if detail else "")
            case HeadSeen(number=number):
                self.chain_head = number
                self.metrics.node_head.set(number)
            case RangeRecorded(end=end):
                self._progress(live=self.chain_live)
                self.recorded_through = end.number
                self.metrics.chain_head.set(end.number)
            case OrderbookBackfilled():
                logger.info(
                    "orderbook {} history backfill: blocks {}..{} of {}..{} recorded, {} new fills{}",
                    signal.orderbook,
                    signal.first,
                    signal.done_through,
                    signal.first_block,
                    signal.through_block,
                    len(signal.new_fills),
                    " (complete)" if signal.complete else "",
                )
            case BackfillProgress():
                logger.info(
                    "backfill {:.0%}: blocks {}..{} of {}, {} fills",
                    signal.fraction,
                    signal.first,
                    signal.done_through,
                    signal.target,
                    signal.fills,
                )
            case ReorgHandled():
                self.alerts.raise_(
                    Alert(
                        f"reorg:{signal.detected_at_block}",
                        Severity.WARNING,
                        f"chain reorganisation at block {signal.detected_at_block}:"
                        f" {len(signal.retracted)} fills retracted",
                        action="none: retracted fills are reversed on their positions and hedged back",
                    )
                )
            case ReceiptsRead(blocks=blocks):
                self.metrics.receipt_reads.inc(len(blocks))
            case IntakeAlert(kind=AlertKind.UNKNOWN_TOPIC, message=text, context=context):
                # one alert per (orderbook, topic): a second unknown event must not hide behind the first
                self.alerts.raise_(
                    Alert(
                        f"intake:{AlertKind.UNKNOWN_TOPIC.value}:{context.get('orderbook')}:{context.get('topic')}",
                        Severity.CRITICAL,
                        text,
                        action="check the orderbook's interface version: fills in events this build cannot"
                        " read are NOT hedged; upgrade arbtui or remove the book from [chain]",
                    )
                )
            case IntakeAlert(kind=kind, message=text, context=context):
                if kind is AlertKind.INCONSISTENT_LOGS:
                    found_by = str(context.get("found_by", ""))
                    self.metrics.inconsistent_logs.labels(found_by=found_by).inc(int(str(context.get("logs", 1))))
                    self.node_inconsistencies += 1
                elif kind is AlertKind.LOGS_UNCONFIRMED:
                    self.metrics.unconfirmed_waits.inc()
                self.alerts.raise_(Alert(f"intake:{kind.value}", Severity.WARNING, text))
            case IntakeAlertCleared(kind=kind, message=text):
                self.alerts.clear(f"intake:{kind.value}", text)
            case FillEnriched():
                pass
            case _:
                assert_never(signal)
        self._bus.publish(IntakeReported(signal))

    def _progress(self, *, live: bool) -> None:
        self.chain_live = live
        self.last_chain_progress = self._clock.monotonic()

    # --- watchdogs (each scan) ----------------------------------------------------------------

    async def watch(self, open_executions: list[OpenExecution]) -> None:
        """The scan's checks; publishes the readiness when it changed."""
        self._watch_stuck(open_executions)
        try:  # on its own: an expiring login matters most when broker calls already fail
            await self._watch_credentials()
        except BrokerError as exc:
            logger.warning("cannot read the broker login's expiry: {}", exc)
        self._watch_chain()
        readiness = await self.readiness()
        if readiness != self._readiness:
            self._readiness = readiness
            self._bus.publish(ReadinessChanged(readiness))

    def session_known(self, session: SessionNow) -> None:
        """The session now from the broker's calendar (``/ready`` shows it under ``session``)."""
        self.session = session

    def broker_answered(self, market: MarketClock) -> bool:
        """The broker's clock answered; True when the market it describes changed (open or not, the next
        open or close) since the last answer — only then is it news for the bus."""
        self.last_broker_ok = self._clock.monotonic()
        seen = (market.is_open, market.next_open, market.next_close)
        changed = seen != self._market_seen
        self._market_seen = seen
        return changed

    def broker_failed(self, exc: BrokerError) -> None:
        self.metrics.broker_errors.labels(kind=type(exc).__name__).inc()
        logger.warning("broker check failed: {}", exc)

    def _watch_stuck(self, open_executions: list[OpenExecution]) -> None:
        """An execution still not terminal ``stuck_after_s`` after its placement: one alert (repeated at
        the alerts' pace while it stays stuck), one recovery notice when it ends."""
        now = self._clock.now()
        still: set[ExecutionId] = set()
        for execution in open_executions:
            age = (now - execution.progressed_at).total_seconds()
            if age < self.options.stuck_after_s:
                continue
            still.add(execution.execution_id)
            self.alerts.raise_(
                Alert(
                    f"stuck:{execution.execution_id}",
                    Severity.CRITICAL,
                    f"{execution.symbol}: execution {execution.execution_id} ({execution.status.lower()})"
                    + (
                        f" not terminal {age:.0f} s after it was placed"
                        if execution.attempt_at is None
                        else f" not terminal: its current attempt was prepared {age:.0f} s ago"
                    ),
                    action=f"arbtui events --aggregate OffchainOrder:{execution.execution_id}; check the broker",
                    symbol=execution.symbol,
                )
            )
        for gone in self._stuck - still:
            self.alerts.clear(f"stuck:{gone}", f"execution {gone} is no longer stuck")
        self._stuck = still

    async def _watch_credentials(self) -> None:
        expires = await self._broker.credentials_expire_at()
        if expires is None:
            return
        left = expires - self._clock.now()
        venue = self._broker.kind.value
        if left <= timedelta(days=1):
            self.alerts.raise_(
                Alert(
                    "credentials_expiring",
                    Severity.CRITICAL if left <= timedelta(hours=2) else Severity.WARNING,
                    f"{venue} login expires at {expires.isoformat(timespec='minutes')}"
                    f" (in {max(left.total_seconds(), 0) / 3600:.1f} h)",
                    action="arbtui schwab auth (the bot may keep running)",
                )
            )
        else:
            self.alerts.clear("credentials_expiring", f"{venue} login renewed")

    def _watch_chain(self) -> None:
        if not self.watches_chain:
            return
        quiet = self._clock.monotonic() - self.last_chain_progress
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

    def _hedge_filled(self, order: offchain_order.OffchainOrder) -> None:
        """An execution's broker fills so far, while it is open: a limit hedge filled in parts offsets
        exposure before its execution ends (the Position learns the total only then)."""
        symbol = order.symbol
        if symbol is None:
            return
        if order.status is None or order.status.is_terminal:
            if self._filled_so_far.get(symbol, ("", None))[0] == order.execution_id:
                del self._filled_so_far[symbol]
            return
        self._filled_so_far[symbol] = (order.execution_id, order.shares_filled)
        pos = self._positions.get(symbol)
        if pos is not None:
            self._exposure(symbol, pos)

    def _exposure(self, symbol: str, pos: position.Position) -> None:
        """The open-exposure gauges: the notional of what no broker fill has offset yet (``net +
        reserved``, less what the hedge in flight has filled so far: a hedge placed is still exposure),
        and for how long it has been hedgeable (at or past the threshold — a sub-threshold carry is never
        aged, it would grow forever)."""
        self._positions[symbol] = pos
        unhedged = pos.net + pos.reserved
        pending = pos.pending
        execution, filled = self._filled_so_far.get(symbol, ("", None))
        if pending is not None and filled is not None and execution == pending.execution_id:
            unhedged = unhedged - filled if pending.direction is Direction.SELL else unhedged + filled
        notional = abs(pos.last_price.notional(unhedged).value) if pos.last_price else 0
        self.metrics.exposure_usd.labels(symbol=symbol).set(float(notional))  # float-ok: a gauge
        now = self._clock.now()
        if pos.threshold.hedge_size(unhedged, pos.last_price).is_zero:
            self._open_since.pop(symbol, None)
            age = 0.0
        else:
            age = (now - self._open_since.setdefault(symbol, now)).total_seconds()
        self.metrics.exposure_age.labels(symbol=symbol).set(age)

    def watch_exposure(self, symbol: Symbol, pos: position.Position) -> None:
        """Exposure over the alert line for longer than ``unhedged_alert_after_s``: an alert. Also
        refreshes the open-exposure gauges (their age moves with time, not only with commits)."""
        self._exposure(symbol, pos)
        exposure = abs(pos.last_price.notional(pos.net).value) if pos.last_price else 0
        now = self._clock.monotonic()
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
                    f"{symbol}: ${display.usd(Decimal(exposure))} unhedged for {now - since:.0f} s"
                    f" (net {display.shares(pos.net)})",
                    action=f"check the symbol; hedge by hand: arbtui hedge {symbol} buy|sell SHARES --reason …",
                    symbol=symbol,
                )
            )

    def halted(self, exc: BaseException) -> None:
        self.fault = exc
        self.alerts.raise_(Alert("engine_fault", Severity.CRITICAL, f"engine halted: {exc!r}"))

    # --- readiness ----------------------------------------------------------------------------

    async def readiness(self) -> Readiness:
        """The current checks (cheap: from state kept here, one database probe, no network)."""
        checks: dict[str, Check] = {}
        now = self._clock.monotonic()
        if self.watches_chain:
            checks["chain"] = self._chain_check(now)
        broker_ok = self.last_broker_ok is not None and now - self.last_broker_ok <= self.options.broker_silent_after_s
        checks["broker"] = Check(broker_ok, "" if broker_ok else "broker not answering its clock endpoint")
        writable = await self._store.writable()
        checks["database"] = Check(writable is None, writable or "")
        if self.fault is not None:
            checks["engine"] = Check(False, f"halted: {self.fault!r}")
        if self.session is not None:
            # informational, never a reason to be unready: the session now and the next transition
            checks["session"] = Check(True, self.session.describe())
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
