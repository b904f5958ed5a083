"""What the chain adapter needs from outside it, as protocols: the ledger that intake writes to.

:mod:`arbtui.chain.intake` drives a :class:`~arbtui.chain.ranges.RangeReader`, and the reader records
through :class:`FillLedger`; both take it from here, so ``ranges`` never imports ``intake`` (an
import-linter contract keeps it so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

from arbtui.domain.onchain_trade import Enrich, OnChainFill, SkippedFill
from arbtui.domain.values import BlockRef, OrderbookBackfill, TradeId


class FillLedger(Protocol):
    """Where intake writes; implemented by ``arbtui.store.ledger.Ledger``."""

    async def cursor(self) -> BlockRef | None:
        """Last block fully recorded."""

    async def checkpoints(self, limit: int) -> list[BlockRef]:
        """Recent recorded range ends, newest first."""

    async def record_range(
        self, fills: Sequence[OnChainFill], skipped: Sequence[SkippedFill], end: BlockRef
    ) -> list[TradeId]:
        """One transaction: witness each fill (duplicates are no-ops), record skips, cursor := end;
        returns ids newly filled."""

    async def rewind(self, to: BlockRef | None, *, reorg_depth: int, detected_at_block: int) -> list[TradeId]:
        """Retract every filled trade above ``to.number`` (None = everything), cursor := to; returns
        retracted ids."""

    async def enrich(self, trade_id: TradeId, enrichment: Enrich) -> bool | None:
        """Attach gas and Pyth price. (``bool | None`` rather than ``None``: the store's Ledger answers
        whether it applied the enrichment; intake ignores the answer.)"""

    async def bind_chain(
        self, chain_id: int, orderbooks: Sequence[str], deployment_blocks: Mapping[str, int] | None = None
    ) -> object:
        """One chain per ledger: record ``chain_id`` (and the orderbooks) at the first start; raise if the
        ledger belongs to another chain. Intake calls it before each session reads anything. An orderbook
        recorded for the first time while the ledger has a cursor gets, in the same transaction, its
        history backfill (its ``deployment_blocks`` entry through the cursor): see
        :meth:`orderbook_backfills`."""

    async def orderbook_backfills(self) -> list[OrderbookBackfill]:
        """History backfills of added orderbooks that are not complete, as recorded in the ledger."""

    async def record_backfill(
        self, orderbook: str, fills: Sequence[OnChainFill], skipped: Sequence[SkippedFill], done_through: int
    ) -> list[TradeId]:
        """One transaction: witness each fill (duplicates are no-ops), record skips, move ``orderbook``'s
        backfill to ``done_through`` (the chain cursor stays); returns ids newly filled."""
