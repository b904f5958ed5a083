"""Fixtures and helpers for the store tests: a real SQLite file per test."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from arbtui.clock import SystemClock
from arbtui.domain import offchain_order, position
from arbtui.domain.flows import Change, complete_execution, fail_execution
from arbtui.domain.values import Cents, Shares
from arbtui.store.event_store import UnitOfWork
from arbtui.store.ledger import Ledger

CLOCK = SystemClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
async def ledger(db_path: Path) -> AsyncIterator[Ledger]:
    opened = await Ledger.open(db_path)
    yield opened
    await opened.close()


def rows(path: Path, sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(path)
    try:
        return [tuple(row) for row in conn.execute(sql, params)]
    finally:
        conn.close()


async def pending_execution(ledger: Ledger, symbol: str) -> str | None:
    state, _ = await ledger.store.load(position.SPEC, symbol)
    return state.pending.execution_id if state.pending else None


async def settle(ledger: Ledger, symbol: str, *, filled: str | None = None, price_cents: str = "20000") -> bool:
    """Play the broker for the symbol's pending execution: submit it, then fill ``filled`` shares of it
    (all when None; ``"0"`` fails it). Returns False when nothing was pending."""
    execution_id = await pending_execution(ledger, symbol)
    if execution_id is None:
        return False

    async def work(uow: UnitOfWork) -> None:
        order = await uow.load(offchain_order.SPEC, execution_id)
        now = CLOCK.now()
        if order.broker_order_id is None:
            confirm = offchain_order.ConfirmSubmission(broker_order_id=f"b-{execution_id[:8]}", at=now)
            uow.record([Change(offchain_order.SPEC, execution_id, tuple(offchain_order.decide(order, confirm)))])
            order = await uow.load(offchain_order.SPEC, execution_id)
        pos = await uow.load(position.SPEC, symbol)
        shares = order.shares if filled is None else Shares(filled)
        if shares.is_zero:
            uow.record(fail_execution(order, pos, error="rejected by broker", at=now))
        else:
            uow.record(complete_execution(order, pos, shares_filled=shares, price_cents=Cents(price_cents), at=now))

    await ledger.store.run(work)
    return True
