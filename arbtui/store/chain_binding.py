"""One chain per ledger: the chain id and orderbooks recorded in ``ledger_chain`` / ``ledger_orderbooks``
(migration 0005). The first start records the chain id; every later start (and every intake session)
compares, and a node on another chain is refused before anything is read from it or written for it.
Orderbooks are only added: a ledger may follow more than one orderbook of its chain.

A book recorded here for the first time while the ledger already has a chain cursor gets its history
backfill row in ``orderbook_backfills`` (migration 0006) in the same transaction: its deployment block
through the cursor as it is now. Recording the book and its backfill together is what makes the backfill
neither skipped (a crash between the two would make the book look known) nor repeated."""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from arbtui.domain.values import OrderbookBackfill
from arbtui.store.codec import iso
from arbtui.store.errors import ChainMismatch


@dataclass(frozen=True)
class ChainBinding:
    chain_id: int
    first_start: bool
    """True when this call recorded the chain id (the ledger had none)."""
    new_orderbooks: tuple[str, ...]
    """Orderbooks recorded by this call (not seen before)."""
    backfills: tuple[OrderbookBackfill, ...] = ()
    """History backfills this call recorded for new orderbooks (the ledger had a cursor)."""


def recorded_chain(conn: sqlite3.Connection) -> int | None:
    row = conn.execute("SELECT chain_id FROM ledger_chain WHERE singleton = 1").fetchone()
    return None if row is None else int(row[0])


def recorded_orderbooks(conn: sqlite3.Connection) -> list[str]:
    return [str(address) for (address,) in conn.execute("SELECT address FROM ledger_orderbooks ORDER BY address")]


def bind(
    conn: sqlite3.Connection,
    ledger: str,
    chain_id: int,
    orderbooks: Sequence[str],
    at: datetime,
    deployment_blocks: Mapping[str, int] | None = None,
) -> ChainBinding:
    """Inside the caller's write transaction: record ``chain_id`` if the ledger has none, refuse another
    one (:class:`ChainMismatch`, nothing written), record the orderbooks not seen yet — and, with
    ``deployment_blocks`` (address → block), the history backfill of each new one when the ledger already
    has a chain cursor (see the module docs)."""
    if chain_id <= 0:
        raise ValueError(f"chain id must be positive, got {chain_id}")
    now = iso(at)
    recorded = recorded_chain(conn)
    if recorded is not None and recorded != chain_id:
        raise ChainMismatch(ledger, recorded, chain_id)
    if recorded is None:
        conn.execute("INSERT INTO ledger_chain (singleton, chain_id, recorded_at) VALUES (1, ?, ?)", (chain_id, now))
    known = set(recorded_orderbooks(conn))
    new = tuple(dict.fromkeys(a.lower() for a in orderbooks if a.lower() not in known))
    conn.executemany("INSERT INTO ledger_orderbooks (address, first_seen_at) VALUES (?, ?)", [(a, now) for a in new])
    backfills: list[OrderbookBackfill] = []
    cursor = conn.execute("SELECT max(block_number) FROM chain_checkpoints").fetchone()[0]
    if deployment_blocks is not None and cursor is not None and new:
        starts = {address.lower(): block for address, block in deployment_blocks.items()}
        for address in new:
            first = starts.get(address, 0)
            through = int(cursor)
            done = min(first - 1, through) if first <= through else through
            backfill = OrderbookBackfill(address, first, max(through, first - 1), done)
            conn.execute(
                "INSERT INTO orderbook_backfills (address, first_block, through_block, done_through, created_at,"
                " completed_at) VALUES (?, ?, ?, ?, ?, ?)",
                (address, backfill.first_block, backfill.through_block, backfill.done_through, now,
                 now if backfill.complete else None),
            )  # fmt: skip
            backfills.append(backfill)
    return ChainBinding(chain_id, recorded is None, new, tuple(backfills))
