"""Operator control: pause, resume, the kill switch and manual hedges — each an audited event.

:class:`EngineControl` implements :class:`~arbtui.engine.ports.OperatorControl`, the one surface the
console, the HTTP service and the CLI act through. The rules are the domain's (``control``,
``manual_hedge``); this module loads the state they judge, records what they decide in one transaction,
and asks the engine to re-evaluate positions a change released.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from loguru import logger

from arbtui.clock import Clock
from arbtui.domain import control, position
from arbtui.domain.flows import Change, position_changes
from arbtui.domain.ids import Ids
from arbtui.domain.manual_hedge import ManualHedgeLimits, PricedAt, check_known, check_limits, check_over_hedge
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.values import Audit, BrokerKind, Direction, ExecutionId, PriceUsdc, Shares, Symbol
from arbtui.engine.executions import Executions
from arbtui.store.event_store import EventStore, UnitOfWork

ENGINE_ACTOR = "engine"


@dataclass(frozen=True)
class ControlOptions:
    manual_limits: ManualHedgeLimits = field(default_factory=ManualHedgeLimits)
    """The largest manual hedge accepted (``[manual_hedge]``)."""
    known_symbols: frozenset[str] = frozenset(KNOWN_FEEDS)
    """Configured tickers (``[pyth.feeds]``); with those seen in the ledger, the only ones the operator
    may pause, resume or hedge."""


class EngineControl:
    """Implements :class:`arbtui.engine.ports.OperatorControl`."""

    def __init__(
        self,
        store: EventStore,
        executions: Executions,
        venue: BrokerKind,
        options: ControlOptions,
        *,
        clock: Clock,
        ids: Ids,
        check_position: Callable[[Symbol, str], Awaitable[None]],
    ) -> None:
        self._store = store
        self._executions = executions
        self.venue = venue
        self._options = options
        self._clock = clock
        self._ids = ids
        self._check_position = check_position

    async def known_symbols(self) -> frozenset[str]:
        """Configured tickers and every symbol the ledger has a position for."""
        return self._options.known_symbols | frozenset(await self._store.aggregate_ids(position.AGGREGATE))

    async def pause(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        await self._check_known(symbol)
        await self._record(control.Pause(symbol=symbol, audit=self._audit(actor, reason)))

    async def resume(self, symbol: Symbol | None, *, actor: str, reason: str) -> None:
        await self._check_known(symbol)
        await self._record(control.Resume(symbol=symbol, audit=self._audit(actor, reason)))
        symbols = [symbol] if symbol else [Symbol(s) for s in await self._store.aggregate_ids(position.AGGREGATE)]
        for each in symbols:
            self._executions.forgive(each)
            await self._check_position(each, "resumed")

    async def engage_kill_switch(self, *, actor: str, reason: str) -> None:
        await self._record(control.EngageKillSwitch(audit=self._audit(actor, reason)))

    async def clear_kill_switch(self, *, actor: str, reason: str) -> None:
        await self._record(control.ClearKillSwitch(audit=self._audit(actor, reason)))

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
        check_limits(symbol, direction, shares, self._options.manual_limits, await self.latest_price(symbol))
        execution_id = self._ids.execution_id()
        audit = self._audit(actor, reason)

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
                broker=self.venue,
                execution_id=execution_id,
                audit=audit,
            )
            uow.record(position_changes(pos, position.decide(pos, place)))

        await self._store.run(work, metadata={"correlation_id": execution_id, "actor": actor, "reason": reason})
        return execution_id

    async def latest_price(self, symbol: Symbol) -> PricedAt | None:
        """The latest Pyth price recorded with one of ``symbol``'s fills, else its last fill's price."""
        rows = await self._store.query(
            "SELECT json_extract(payload, '$.pyth_price.price') FROM onchain_trade_view"
            " WHERE symbol = ? AND json_extract(payload, '$.pyth_price.price') IS NOT NULL"
            " ORDER BY block_number DESC, log_index DESC LIMIT 1",
            (str(symbol),),
        )
        if rows and rows[0][0] is not None:
            return PricedAt(price=PriceUsdc(str(rows[0][0])), source="the latest Pyth price")
        pos, _ = await self._store.load(position.SPEC, symbol)
        if pos.last_price is not None:
            return PricedAt(price=pos.last_price, source="the last fill's price")
        return None

    async def park(self, symbol: Symbol, why: str) -> None:
        """The engine pauses a symbol it cannot hedge (repeated broker failures), once."""
        state, _ = await self._store.load(control.SPEC, control.CONTROL_ID)
        if symbol in state.paused_symbols:
            return
        await self.pause(symbol, actor=ENGINE_ACTOR, reason=why)

    async def _check_known(self, symbol: Symbol | None) -> None:
        if symbol is not None:
            check_known(symbol, await self.known_symbols())

    async def _record(self, command: control.ControlCommand) -> None:
        async def work(uow: UnitOfWork) -> None:
            state = await uow.load(control.SPEC, control.CONTROL_ID)
            uow.record([Change(control.SPEC, control.CONTROL_ID, tuple(control.decide(state, command)))])

        audit = command.audit
        await self._store.run(work, metadata={"actor": audit.actor, "reason": audit.reason})
        logger.bind(actor=audit.actor).warning("{}: {}", type(command).__name__, audit.reason)

    def _audit(self, actor: str, reason: str) -> Audit:
        return Audit(actor=actor, reason=reason, at=self._clock.now())
