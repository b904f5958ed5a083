"""Driving an execution as attempts: limit hedges outside the regular session, repriced, replaced by
one market order at the open, flattened before long closes — exactly once across crashes.

One :meth:`AttemptDriver.step` does the one thing the recorded state calls for (the caller loops)::

    no live attempt ── session hedges? ── reference, limit, preflight ── PrepareAttempt ── submit ── Confirm
    PREPARED (recovering or to be dropped) ── look the attempt up by its client id first ── Confirm | End
    SUBMITTED ── poll ── filled → CompleteFill · ended by the broker → EndAttempt (fill reconciled)
              └─ older than the reprice interval, another session, the regular open → RequestCancel → cancel
    CANCEL_REQUESTED ── poll until the broker confirms the end (never assumed) ── EndAttempt

Every step that changes the broker's state is recorded before the broker is called, and every client
id is ``<execution>-<n>`` (the one market attempt: the execution id), so a kill -9 anywhere resumes
without a second live order: a prepared attempt is looked up by its client id before it is either sent
again (same id: the broker's idempotency) or dropped; a requested cancel is sent again until the broker
says the order is over.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from loguru import logger

from arbtui.brokers.base import (
    Broker,
    BrokerOrderId,
    LimitOrder,
    MarketClosed,
    MarketOrder,
    OrderRejected,
    OrderReport,
    OrderState,
)
from arbtui.brokers.calendar import MarketCalendar
from arbtui.clock import Clock
from arbtui.domain import control, offchain_order, position
from arbtui.domain.flows import Change, fail_execution, finish_execution
from arbtui.domain.hedging_policy import HedgeOrderKind, HedgingPolicy
from arbtui.domain.limit_price import InvalidLimitPrice, limit_price
from arbtui.domain.offchain_order import AttemptPhase, OffchainOrder
from arbtui.domain.sessions import MarketSession, OutsideCalendar, SessionNow, TradingCalendar
from arbtui.domain.values import ExecutionId, PriceUsdc, Shares, Symbol
from arbtui.engine.alerts import Alert, Alerts, Severity
from arbtui.engine.metrics import Metrics
from arbtui.engine.placement import broker_position, latest_pyth_price, preflight, reference_for
from arbtui.store.event_store import EventStore, UnitOfWork

REGULAR_ONLY = frozenset({MarketSession.REGULAR})


class Outcome(StrEnum):
    CONTINUE = "continue"
    FINISHED = "finished"
    """The execution is terminal (filled, or cancelled with what filled, or failed)."""


@dataclass
class Recovery:
    """What one execution task knows about the broker beyond the ledger (in memory, per task)."""

    recovering: bool
    legacy_unsure: bool = False
    """A market order with the execution id may exist at the broker (an earlier submit, a crash)."""
    looked_up: set[int] = field(default_factory=set)
    """Attempts already looked up at the broker by client id in this task."""
    cancel_sent: set[int] = field(default_factory=set)
    """Attempts whose recorded cancel this task has sent."""


class AttemptDriver:
    def __init__(
        self,
        store: EventStore,
        broker: Broker,
        alerts: Alerts,
        metrics: Metrics,
        policy: HedgingPolicy,
        calendar: MarketCalendar,
        *,
        clock: Clock,
        poll_interval_s: float,
        recheck_s: float,
    ) -> None:
        self._store = store
        self._broker = broker
        self._alerts = alerts
        self._metrics = metrics
        self._policy = policy
        self._calendar = calendar
        self._clock = clock
        self._poll_s = poll_interval_s
        self._recheck_s = recheck_s
        self._flattening: set[str] = set()
        """Executions with an attempt placed inside a flatten window (its outcome is counted)."""

    def is_attempt_time(self, order: OffchainOrder) -> bool:
        """The symbol hedges outside the regular session: its executions go out as attempts. A symbol
        that hedges in the regular session only keeps today's single market order."""
        return order.symbol is not None and self._policy.sessions_for(order.symbol) != REGULAR_ONLY

    # --- one step ---------------------------------------------------------------------------------

    async def step(self, order: OffchainOrder, recovery: Recovery) -> Outcome:
        if order.attempt == 0 and recovery.legacy_unsure:
            recovery.legacy_unsure = False
            found = await self._broker.find_order(self._market(order, None), since=self._since(order))
            if found is not None:  # an earlier market submit reached the broker: it stays the execution's order
                await self._record(
                    order, offchain_order.ConfirmSubmission(broker_order_id=found.order_id, at=self._now())
                )
                return Outcome.CONTINUE
        phase = order.attempt_phase
        unsure = phase is AttemptPhase.PREPARED and recovery.recovering and order.attempt not in recovery.looked_up
        if unsure and await self._look_up(order, recovery):
            return Outcome.CONTINUE
        if phase in (AttemptPhase.SUBMITTED, AttemptPhase.CANCEL_REQUESTED):
            return await self._watch(order, recovery)
        if phase is AttemptPhase.ENDED and not await self._hedging_allowed(order):
            return await self._stop_short(order)
        await self._place(order, recovery)
        return Outcome.CONTINUE

    async def _hedging_allowed(self, order: OffchainOrder) -> bool:
        controls, _ = await self._store.load(control.SPEC, control.CONTROL_ID)
        return controls.hedging_allowed(_symbol(order))

    async def _stop_short(self, order: OffchainOrder) -> Outcome:
        """Paused or killed between two attempts: no new order goes out. The execution ends with what
        filled (the rest goes back to the position, which places nothing while paused)."""
        why = "hedging paused or kill switch on: no further attempt; the rest goes back to the position"
        if order.shares_filled.is_positive:
            cancel = offchain_order.Cancel(
                shares_filled=Shares.zero(), avg_price_cents=None, reason=why, at=self._now()
            )
            await self._finish(order, cancel)
        else:
            await self._fail(order, why)
        return Outcome.FINISHED

    async def _look_up(self, order: OffchainOrder, recovery: Recovery) -> bool:
        """Ask the broker for the prepared attempt by its client id; confirm it when found."""
        recovery.looked_up.add(order.attempt)
        found = await self._find(order)
        if found is None:
            return False
        logger.bind(execution_id=order.execution_id).info(
            "recovered: attempt {} is at the broker as {}", order.attempt, found.order_id
        )
        await self._record(order, offchain_order.ConfirmSubmission(broker_order_id=found.order_id, at=self._now()))
        return True

    async def _find(self, order: OffchainOrder) -> OrderReport | None:
        if order.order_kind is HedgeOrderKind.LIMIT:
            return await self._broker.find_limit_order(self._limit(order), since=self._since(order))
        return await self._broker.find_order(self._market(order, None), since=self._since(order))

    # --- placing ----------------------------------------------------------------------------------

    async def _place(self, order: OffchainOrder, recovery: Recovery) -> None:
        symbol = _symbol(order)
        calendar = await self._calendar.current()
        now = self._now()
        session = self._session(calendar, now, order)
        if session is None:
            return
        kind = self._policy.order_kind(symbol, session.session)
        if order.attempt_phase is AttemptPhase.PREPARED and (
            kind is not order.order_kind or session.session is not order.session
        ):
            # the prepared attempt is not what goes out now: drop it — only once the broker says it has none
            if order.attempt not in recovery.looked_up and await self._look_up(order, recovery):
                return
            await self._record(
                order,
                offchain_order.EndAttempt(
                    shares_filled=order.attempt_filled,
                    avg_price_cents=None,
                    reason="never reached the broker",
                    at=now,
                ),
            )
            return
        if kind is None:
            await self._hold(order, f"the {session.session.value} session does not hedge {symbol}", session)
            return
        positions = await self._broker.positions()
        quantity = order.remaining if order.attempt_phase is not AttemptPhase.PREPARED else order.attempt_shares
        side = order.direction
        assert side is not None
        price: PriceUsdc | None
        if order.attempt_phase is AttemptPhase.PREPARED:
            price = order.limit_price  # sent again exactly as recorded (the broker knows it by client id)
        elif kind is HedgeOrderKind.LIMIT:
            reference = await reference_for(self._store, symbol, broker_position(positions, symbol))
            if reference is None:
                await self._hold(
                    order, f"no reference price for {symbol}: no Pyth price in the ledger, no broker mark", session
                )
                return
            close = calendar.close_ahead(now, self._policy.sessions_for(symbol))
            try:
                price = limit_price(reference.price, side, self._policy.cross_bps(symbol, now, close))
            except InvalidLimitPrice as exc:
                await self._hold(order, f"no valid limit price: {exc}", session)
                return
        else:
            price = None
        estimate = price if price is not None else await self._estimate(symbol)
        refusal = await preflight(self._broker, symbol, side, quantity, estimate, kind, positions)
        if refusal is not None:
            self._metrics.preflight_refusals.labels(symbol=symbol, figure=refusal.figure).inc()
            self._alerts.raise_(
                Alert(f"preflight:{symbol}", Severity.WARNING, refusal.message, action=refusal.action, symbol=symbol)
            )
            await self._clock.sleep(self._recheck_s)
            return
        self._alerts.clear(f"preflight:{symbol}", f"{symbol}: preflight passes, the hedge goes out")
        self._alerts.clear(f"hedge_held:{symbol}", f"{symbol}: the hedge goes out")
        self._alerts.clear(f"session_shut:{symbol}", f"{symbol}: the broker's session is open, the hedge goes out")
        if order.attempt_phase is not AttemptPhase.PREPARED:
            order = await self._record(
                order, offchain_order.PrepareAttempt(kind=kind, session=session.session, limit_price=price, at=now)
            )
            self._count_placed(order, calendar, now)
        if order.order_kind is HedgeOrderKind.LIMIT:
            broker_id = await self._broker.submit_limit(self._limit(order))
        else:
            broker_id = await self._broker.submit(self._market(order, estimate))
        await self._record(order, offchain_order.ConfirmSubmission(broker_order_id=broker_id, at=self._now()))
        logger.bind(execution_id=order.execution_id, symbol=symbol).info(
            "attempt {}: {} {} {} {} as {}",
            order.attempt,
            order.order_kind,
            side,
            quantity,
            "" if price is None else f"@ {price}",
            broker_id,
        )

    def _count_placed(self, order: OffchainOrder, calendar: TradingCalendar, now: datetime) -> None:
        symbol = _symbol(order)
        if order.order_kind is HedgeOrderKind.LIMIT:
            self._metrics.limit_hedges.labels(symbol=symbol, outcome="placed").inc()
            if order.attempt > 1:
                self._metrics.limit_hedges.labels(symbol=symbol, outcome="repriced").inc()
        close = calendar.close_ahead(now, self._policy.sessions_for(symbol))
        if self._policy.flatten.applies(now, close):
            self._flattening.add(order.execution_id)
            self._metrics.flatten_hedges.labels(symbol=symbol, outcome="placed").inc()

    async def _estimate(self, symbol: Symbol) -> PriceUsdc | None:
        """A market order's estimated price: the latest Pyth price, else the last onchain fill's."""
        latest = await latest_pyth_price(self._store, symbol)
        if latest is not None:
            return latest
        pos, _ = await self._store.load(position.SPEC, str(symbol))
        return pos.last_price

    def _session(self, calendar: TradingCalendar, now: datetime, order: OffchainOrder) -> SessionNow | None:
        try:
            return calendar.session_at(now)
        except OutsideCalendar:
            self._alerts.raise_(
                Alert(
                    f"hedge_held:{order.symbol}",
                    Severity.WARNING,
                    f"{order.symbol}: hedge {order.execution_id} held: the broker's calendar does not cover now",
                    action="none: it is read again before the next placement",
                    symbol=order.symbol,
                )
            )
            self._calendar.invalidate()
            return None

    async def _hold(self, order: OffchainOrder, why: str, session: SessionNow) -> None:
        """Hold this symbol's hedge until the next transition (or the recheck), with an alert."""
        if order.execution_id in self._flattening and self._policy.order_kind(_symbol(order), session.session) is None:
            self._flattening.discard(order.execution_id)  # the close came with shares left: the flatten fell short
            self._metrics.flatten_hedges.labels(symbol=_symbol(order), outcome="unfilled").inc()
        upcoming = session.next
        self._alerts.raise_(
            Alert(
                f"hedge_held:{order.symbol}",
                Severity.WARNING,
                f"{order.symbol}: hedge {order.execution_id} held: {why}; next: {session.describe()}",
                action="none: it goes out when a hedging session starts (pause the symbol to hold it)",
                symbol=order.symbol,
            )
        )
        wait = self._recheck_s
        if upcoming is not None:
            wait = min(wait, max(0.05, (upcoming.at - self._now()).total_seconds()))
        await self._clock.sleep(wait)

    # --- watching ---------------------------------------------------------------------------------

    async def _watch(self, order: OffchainOrder, recovery: Recovery) -> Outcome:
        assert order.broker_order_id is not None
        report = await self._broker.order_status(BrokerOrderId(order.broker_order_id))
        ended = await self._reconcile(order, report)
        if ended is not None:
            return ended
        if order.attempt_phase is AttemptPhase.SUBMITTED and order.order_kind is HedgeOrderKind.LIMIT:
            reason = await self._replace_reason(order)
            if reason is not None:
                order = await self._record(order, offchain_order.RequestCancel(reason=reason, at=self._now()))
        if order.attempt_phase is AttemptPhase.CANCEL_REQUESTED and order.attempt not in recovery.cancel_sent:
            await self._broker.cancel(BrokerOrderId(str(order.broker_order_id)))  # a failed call is sent again
            recovery.cancel_sent.add(order.attempt)
            return Outcome.CONTINUE  # the next step asks at once whether the broker ended it
        await self._clock.sleep(self._poll_s)
        return Outcome.CONTINUE

    async def _reconcile(self, order: OffchainOrder, report: OrderReport) -> Outcome | None:
        """Record the broker's report of the live attempt; an outcome once the attempt is over."""
        filled, price, now = report.filled_quantity, report.average_price, self._now()
        if filled.is_positive and price is None:
            return None  # never guess a price (lesson 13): keep polling
        state = report.state
        if state is OrderState.FILLED or (state is OrderState.CANCELLED and filled == order.attempt_shares):
            assert price is not None
            await self._finish(order, offchain_order.CompleteFill(price_cents=price, at=now))
            self._count_end(order, "filled")
            return Outcome.FINISHED
        if state in (OrderState.CANCELLED, OrderState.FAILED):
            reason = f"broker says {report.broker_status}"
            if order.order_kind is HedgeOrderKind.MARKET:  # the one market attempt ends the execution
                if filled.is_positive or order.shares_filled.is_positive:
                    await self._finish(
                        order, offchain_order.Cancel(shares_filled=filled, avg_price_cents=price, reason=reason, at=now)
                    )
                else:
                    await self._fail(order, reason)
                return Outcome.FINISHED
            await self._record(
                order, offchain_order.EndAttempt(shares_filled=filled, avg_price_cents=price, reason=reason, at=now)
            )
            self._count_end(order, "ended")
            return Outcome.CONTINUE
        if filled != order.attempt_filled and price is not None:
            await self._record(
                order, offchain_order.UpdatePartialFill(shares_filled=filled, avg_price_cents=price, at=now)
            )
        return None

    async def _replace_reason(self, order: OffchainOrder) -> str | None:
        """Why the live limit attempt is to be cancelled (and replaced) now, if it is."""
        symbol = _symbol(order)
        if not await self._hedging_allowed(order):
            return "hedging paused or kill switch on: a resting limit hedge is withdrawn"
        calendar = await self._calendar.current()
        now = self._now()
        try:
            session = calendar.session_at(now).session
        except OutsideCalendar:
            return None
        if session is MarketSession.REGULAR:
            return "the regular session opened: replaced by a market order"
        if session is not order.session:
            return f"the {order.session} session ended"
        close = calendar.close_ahead(now, self._policy.sessions_for(symbol))
        assert order.attempt_at is not None
        if now - order.attempt_at >= self._policy.reprice_interval_at(now, close):
            return "reprice"
        return None

    def _count_end(self, order: OffchainOrder, outcome: str) -> None:
        symbol = _symbol(order)
        if order.order_kind is HedgeOrderKind.LIMIT:
            self._metrics.limit_hedges.labels(symbol=symbol, outcome=outcome).inc()
        if order.execution_id in self._flattening and outcome == "filled":
            self._flattening.discard(order.execution_id)
            self._metrics.flatten_hedges.labels(symbol=symbol, outcome="filled").inc()

    # --- broker refusals --------------------------------------------------------------------------

    async def market_closed(self, order: OffchainOrder, exc: MarketClosed) -> None:
        """The broker says the attempt's session is not trading (our calendar was behind it): nothing was
        sent. The prepared attempt is dropped, the calendar read again, and the symbol waits for the
        session the broker names (at most the recheck interval) — no attempt is prepared in a loop."""
        self._calendar.invalidate()
        current, _ = await self._store.load(offchain_order.SPEC, order.execution_id)
        if current.attempt_phase is AttemptPhase.PREPARED:
            await self._record(
                current,
                offchain_order.EndAttempt(
                    shares_filled=current.attempt_filled,
                    avg_price_cents=None,
                    reason=f"not sent: {exc}",
                    at=self._now(),
                ),
            )
        self._alerts.raise_(
            Alert(
                f"session_shut:{order.symbol}",
                Severity.WARNING,
                f"{order.symbol}: hedge {order.execution_id} not sent: the broker says {exc}",
                action="none: it goes out when the broker's session opens (pause the symbol to hold it)",
                symbol=order.symbol,
            )
        )
        wait = self._recheck_s
        if exc.retry_at is not None:
            wait = min(wait, max(0.05, (exc.retry_at - self._now()).total_seconds()))
        await self._clock.sleep(wait)

    async def rejected(self, order: OffchainOrder, exc: OrderRejected) -> bool:
        """A refused attempt: with nothing filled the execution fails as a market order would (False,
        the caller fails it); with earlier attempts' fills it ends cancelled with them (True)."""
        current, _ = await self._store.load(offchain_order.SPEC, order.execution_id)
        if not current.shares_filled.is_positive:
            return False
        await self._finish(
            current,
            offchain_order.Cancel(
                shares_filled=current.attempt_filled, avg_price_cents=None, reason=f"rejected: {exc}", at=self._now()
            ),
        )
        return True

    # --- recording --------------------------------------------------------------------------------

    async def _record(self, order: OffchainOrder, command: offchain_order.OffchainOrderCommand) -> OffchainOrder:
        async def work(uow: UnitOfWork) -> OffchainOrder:
            current = await uow.load(offchain_order.SPEC, order.execution_id)
            events = offchain_order.decide(current, command)
            uow.record([Change(offchain_order.SPEC, order.execution_id, tuple(events))])
            return offchain_order.SPEC.fold(current, events)

        return await self._store.run(work, metadata={"correlation_id": order.execution_id})

    async def _finish(self, order: OffchainOrder, command: offchain_order.CompleteFill | offchain_order.Cancel) -> None:
        async def work(uow: UnitOfWork) -> None:
            current = await uow.load(offchain_order.SPEC, order.execution_id)
            pos = await uow.load(position.SPEC, str(current.symbol))
            uow.record(finish_execution(current, pos, command))

        await self._store.run(work, metadata={"correlation_id": order.execution_id})

    async def _fail(self, order: OffchainOrder, error: str) -> None:
        async def work(uow: UnitOfWork) -> None:
            current = await uow.load(offchain_order.SPEC, order.execution_id)
            pos = await uow.load(position.SPEC, str(current.symbol))
            uow.record(fail_execution(current, pos, error=error, at=self._now()))

        await self._store.run(work, metadata={"correlation_id": order.execution_id})

    # --- orders -----------------------------------------------------------------------------------

    def _limit(self, order: OffchainOrder) -> LimitOrder:
        assert order.symbol is not None
        assert order.direction is not None
        assert order.client_order_id is not None
        assert order.limit_price is not None
        assert order.session is not None
        return LimitOrder(
            client_order_id=order.client_order_id,
            execution_id=ExecutionId(order.execution_id),
            symbol=order.symbol,
            side=order.direction,
            quantity=order.attempt_shares,
            limit_price=order.limit_price,
            session=order.session,
        )

    def _market(self, order: OffchainOrder, estimate: PriceUsdc | None) -> MarketOrder:
        assert order.symbol is not None
        assert order.direction is not None
        quantity = order.attempt_shares if order.attempt else order.shares
        return MarketOrder(
            execution_id=ExecutionId(order.execution_id),
            symbol=order.symbol,
            side=order.direction,
            quantity=quantity,
            estimated_price=estimate,
        )

    def _now(self) -> datetime:
        return self._clock.now()

    def _since(self, order: OffchainOrder) -> datetime:
        return (order.placed_at or self._now()) - timedelta(minutes=5)


def _symbol(order: OffchainOrder) -> Symbol:
    assert order.symbol is not None
    return order.symbol
