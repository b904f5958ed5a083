"""The ledger: the store's high-level writes for onchain intake, built on the domain flows.

It implements the chain intake's ``FillLedger`` protocol (``arbtui.chain.ports``) without importing
it: a block range's fills, skips and the new cursor commit together, duplicates are no-ops, and a
reorg retracts every trade above the fork point in the same transaction that moves the cursor back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from arbtui.clock import Clock, SystemClock
from arbtui.domain import control, onchain_trade, position
from arbtui.domain.errors import DomainError
from arbtui.domain.flows import Change, position_changes, retract_fill, witness_fill
from arbtui.domain.ids import Ids, RandomIds
from arbtui.domain.onchain_trade import Enrich, OnChainFill, SkippedFill, SkipReason
from arbtui.domain.values import BlockRef, BrokerKind, ExecutionId, OrderbookBackfill, Symbol, TradeId
from arbtui.store.chain_binding import ChainBinding
from arbtui.store.event_store import SNAPSHOT_EVERY, EventStore, UnitOfWork


@dataclass(frozen=True)
class OpenExecution:
    """A broker execution that is not terminal (pending, submitted or partially filled)."""

    execution_id: ExecutionId
    symbol: Symbol
    status: str
    placed_at: datetime
    attempt_at: datetime | None = None
    """When its current attempt was prepared (executions sent as attempts: a limit hedge repriced every
    minute is making progress, however long ago the execution was placed)."""

    @property
    def progressed_at(self) -> datetime:
        return self.attempt_at or self.placed_at


class Ledger:
    """Onchain facts in, positions (and placements) out — every call one atomic commit."""

    def __init__(
        self,
        store: EventStore,
        broker: BrokerKind = BrokerKind.DRY_RUN,
        *,
        clock: Clock | None = None,
        ids: Ids | None = None,
        threshold: position.Threshold | None = None,
    ) -> None:
        self.store = store
        self.broker = broker
        self.clock: Clock = clock or SystemClock()
        self.ids: Ids = ids or RandomIds()
        self.threshold = threshold or position.Threshold()
        """The hedging threshold a position is held to; a symbol seen for the first time adopts it
        (``ThresholdUpdated``, audited) before its first fill is acknowledged."""
        self._recorded_up_to: int | None = None
        """No trade above this block was recorded before (as far as this process knows): fills above
        it are new, decided without a read. The log's key still refuses any it was wrong about (a
        trade retracted by a reorg before a restart, re-mined higher), and the range is then read."""

    @classmethod
    async def open(
        cls,
        path: Path | str,
        broker: BrokerKind = BrokerKind.DRY_RUN,
        *,
        clock: Clock | None = None,
        ids: Ids | None = None,
        snapshot_every: int = SNAPSHOT_EVERY,
        busy_timeout_ms: int = 5000,
        exclusive: bool = False,
    ) -> Ledger:
        clock = clock or SystemClock()
        store = await EventStore.open(
            path, snapshot_every=snapshot_every, busy_timeout_ms=busy_timeout_ms, exclusive=exclusive, clock=clock
        )
        return cls(store, broker, clock=clock, ids=ids)

    async def close(self) -> None:
        await self.store.close()

    async def bind_chain(
        self, chain_id: int, orderbooks: Sequence[str], deployment_blocks: Mapping[str, int] | None = None
    ) -> ChainBinding:
        """One chain per ledger: record ``chain_id`` at the first start, refuse another (:class:`ChainMismatch`),
        record new orderbooks and, with ``deployment_blocks``, the history backfill of each one added to a
        ledger that has a cursor already (see :mod:`arbtui.store.chain_binding`)."""
        return await self.store.bind_chain(chain_id, orderbooks, deployment_blocks)

    async def orderbook_backfills(self) -> list[OrderbookBackfill]:
        """History backfills of added orderbooks not complete yet (read from the ledger, never from memory)."""
        return await self.store.orderbook_backfills()

    async def cursor(self) -> BlockRef | None:
        newest = await self.store.checkpoints(1)
        return newest[0] if newest else None

    async def checkpoints(self, limit: int) -> list[BlockRef]:
        return await self.store.checkpoints(limit)

    async def open_executions(self) -> list[OpenExecution]:
        """Every execution not terminal, oldest placement first (recovery and the periodic scan)."""
        rows = await self.store.query(
            "SELECT view_id, symbol, status, json_extract(payload, '$.placed_at'),"
            " json_extract(payload, '$.attempt.prepared_at') FROM offchain_trade_view"
            " WHERE status IN ('PENDING', 'SUBMITTED', 'PARTIALLY_FILLED')"
            " ORDER BY json_extract(payload, '$.placed_at')"
        )
        return [
            OpenExecution(
                ExecutionId(str(view_id)),
                Symbol(str(symbol)),
                str(status),
                datetime.fromisoformat(str(placed_at)).replace(tzinfo=UTC),
                None if attempt_at is None else datetime.fromisoformat(str(attempt_at)).replace(tzinfo=UTC),
            )
            for view_id, symbol, status, placed_at, attempt_at in rows
        ]

    async def record_range(
        self, fills: Sequence[OnChainFill], skipped: Sequence[SkippedFill], end: BlockRef
    ) -> list[TradeId]:
        """Witness ``fills`` (duplicates are no-ops), record ``skipped``, move the cursor to ``end``."""
        return await self._record(fills, skipped, end=end, backfill=None)

    async def record_backfill(
        self, orderbook: str, fills: Sequence[OnChainFill], skipped: Sequence[SkippedFill], done_through: int
    ) -> list[TradeId]:
        """Witness ``fills`` of an added orderbook's history (duplicates are no-ops: the event store's keys),
        record ``skipped`` and move that book's backfill to ``done_through`` — one transaction; the chain
        cursor is not touched."""
        return await self._record(fills, skipped, end=None, backfill=(orderbook.lower(), done_through))

    async def _record(
        self,
        fills: Sequence[OnChainFill],
        skipped: Sequence[SkippedFill],
        *,
        end: BlockRef | None,
        backfill: tuple[str, int] | None,
    ) -> list[TradeId]:
        if self._recorded_up_to is None:
            cursor = await self.cursor()
            self._recorded_up_to = -1 if cursor is None else cursor.number
        seen = self._recorded_up_to
        blocks = [(fill.block_number, str(fill.trade_id)) for fill in fills]
        blocks += [(skip.block_number, str(skip.trade_id)) for skip in skipped]
        above = [trade_id for number, trade_id in blocks if number > seen]
        known = [trade_id for number, trade_id in blocks if number <= seen]

        # The threshold is judged once per transaction and symbol, after its last fill: the two legs of a
        # clear between two of our orders net out before any hedge is placed for the first.
        last_of = {(fill.trade_id.tx_hash, str(fill.symbol)): index for index, fill in enumerate(fills)}

        async def work(uow: UnitOfWork) -> list[TradeId]:
            uow.checkpoint = end
            uow.backfill_progress = backfill
            await uow.preload(onchain_trade.SPEC, known)  # one query for the range, not one per fill
            await uow.assume_new(onchain_trade.SPEC, above)
            recorded: list[TradeId] = []
            unevaluated: set[tuple[str, str]] = set()  # (tx, symbol) with a fill acknowledged, not yet judged
            for index, fill in enumerate(fills):
                key = (fill.trade_id.tx_hash, str(fill.symbol))
                closes = last_of[key] == index
                try:
                    if await self._witness(uow, fill, judge=closes):
                        recorded.append(fill.trade_id)
                        if closes:  # it judged the threshold for every fill of its transaction
                            unevaluated.discard(key)
                        else:
                            unevaluated.add(key)
                except DomainError as exc:  # a fill the domain refuses is skipped, never blocks the range
                    await self._skip(
                        uow,
                        SkippedFill(
                            trade_id=fill.trade_id,
                            block_number=fill.block_number,
                            block_hash=fill.block_hash,
                            reason=SkipReason.MALFORMED_LOG,
                            detail=exc.message,
                        ),
                    )
                if closes and key in unevaluated:  # the closing fill was a duplicate or refused
                    await self._judge(uow, fill.symbol)
            for skip in skipped:
                await self._skip(uow, skip)
            return recorded

        correlation = f"block:{end.number}" if end is not None else f"backfill:{backfill[0] if backfill else ''}"
        recorded = await self.store.run(work, metadata={"correlation_id": correlation})
        ends = (end.number,) if end is not None else ()
        self._recorded_up_to = max([self._recorded_up_to, *ends, *(number for number, _ in blocks)])
        return recorded

    async def _witness(self, uow: UnitOfWork, fill: OnChainFill, *, judge: bool) -> bool:
        """Record ``fill`` on its trade and position; with ``judge``, place a hedge if the threshold is met."""
        trade = await uow.load(onchain_trade.SPEC, str(fill.trade_id))
        pos = await uow.load(position.SPEC, str(fill.symbol))
        context = await self._context(uow, fill.symbol, judge=judge)
        if trade.status is not onchain_trade.TradeStatus.FILLED and pos.threshold != self.threshold:
            update = position.UpdateThreshold(threshold=self.threshold, at=context.at)
            uow.record(position_changes(pos, position.decide(pos, update)))
            pos = await uow.load(position.SPEC, str(fill.symbol))
        changes = witness_fill(trade, pos, fill, context)
        uow.record(changes)
        return bool(changes)

    async def _judge(self, uow: UnitOfWork, symbol: Symbol) -> None:
        pos = await uow.load(position.SPEC, str(symbol))
        check = position.CheckThreshold(reason="threshold", context=await self._context(uow, symbol, judge=True))
        uow.record(position_changes(pos, position.decide(pos, check)))

    async def _context(self, uow: UnitOfWork, symbol: Symbol, *, judge: bool) -> position.HedgeContext:
        controls = await uow.load(control.SPEC, control.CONTROL_ID)
        return position.HedgeContext(
            hedging_allowed=judge and controls.hedging_allowed(symbol),
            broker=self.broker,
            execution_id=self.ids.execution_id(),
            at=self.clock.now(),
        )

    async def _skip(self, uow: UnitOfWork, skip: SkippedFill) -> None:
        trade = await uow.load(onchain_trade.SPEC, str(skip.trade_id))
        events = onchain_trade.decide(trade, onchain_trade.RecordSkip(skip=skip, at=self.clock.now()))
        uow.record([Change(onchain_trade.SPEC, trade.trade_id, tuple(events))])

    async def rewind(self, to: BlockRef | None, *, reorg_depth: int, detected_at_block: int) -> list[TradeId]:
        """Retract every filled trade above ``to`` and move the cursor back to it."""
        above = to.number if to is not None else -1
        rows = await self.store.query(
            "SELECT view_id FROM onchain_trade_view WHERE block_number > ? ORDER BY block_number, log_index",
            (above,),
        )
        retract = onchain_trade.Retract(reorg_depth=reorg_depth, detected_at_block=detected_at_block)

        async def work(uow: UnitOfWork) -> list[TradeId]:
            uow.forget_checkpoints_above = above
            uow.checkpoint = to
            done: list[TradeId] = []
            for (trade_id,) in rows:
                trade = await uow.load(onchain_trade.SPEC, trade_id)
                if trade.fill is None:
                    continue
                pos = await uow.load(position.SPEC, str(trade.fill.symbol))
                changes = retract_fill(trade, pos, retract, self.clock.now())
                uow.record(changes)
                if changes:
                    done.append(trade.fill.trade_id)
            return done

        return await self.store.run(work, metadata={"correlation_id": f"reorg:{detected_at_block}"})

    async def enrich(self, trade_id: TradeId, enrichment: Enrich) -> bool:
        """Attach gas and the Pyth price to a filled trade; False if it is not (or no longer) filled
        or was enriched already — enrichment is best effort and never an error for intake."""

        async def work(uow: UnitOfWork) -> bool:
            trade = await uow.load(onchain_trade.SPEC, str(trade_id))
            if trade.status is not onchain_trade.TradeStatus.FILLED or trade.enriched is not None:
                return False
            events = onchain_trade.decide(trade, enrichment)
            uow.record([Change(onchain_trade.SPEC, trade.trade_id, tuple(events))])
            return True

        return await self.store.run(work, metadata={"correlation_id": str(trade_id)})
