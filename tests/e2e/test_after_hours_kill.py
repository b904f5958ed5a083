"""kill -9 inside a limit hedge's reprice, in a real process against the local Alpaca server.

The engine runs in its own process (``tests.e2e.after_hours_child``, its clock frozen at an instant the
test chooses; the server answers for the same instant). An after-hours limit hedge is placed; later the
engine reprices it and is SIGKILLed from inside the server's handlers at the two instants where a crash
could leave two orders live:

1. **between cancel and replace** — the broker has cancelled attempt 1 (the ``DELETE`` was handled) but
   the engine never saw the answer, nor recorded the end, nor sent attempt 2;
2. **between replace and the broker's answer** — the broker created attempt 2 but the engine died
   before recording it was accepted.

After each restart exactly one order is live at the broker, and no client order id was ever sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import TextIO

import pytest
from aiohttp import web

from arbtui.demo.anvil import REPO_ROOT
from arbtui.domain.onchain_trade import Enrich
from arbtui.domain.values import BrokerKind, TradeId
from arbtui.store.ledger import Ledger
from tests.builders import block, make_fill, tx_hash
from tests.e2e.harness import CountingAlpacaServer, bot_environment
from tests.integration.engine.after_hours_support import FRIDAY, et, pyth

pytestmark = pytest.mark.slow

PLACED_AT = et(FRIDAY, 16, 30)


class KillingServer(CountingAlpacaServer):
    """The counting server, with a one-shot hook run after a ``DELETE`` cancelled an order (before the
    answer is sent)."""

    def __init__(self) -> None:
        super().__init__()
        self.after_cancel: Callable[[], Awaitable[None]] | None = None
        self.now = PLACED_AT
        self.clock = lambda: self.now
        self.session_override = None  # sessions from the calendar at self.now

    async def _cancel(self, request: web.Request) -> web.Response:
        response = await super()._cancel(request)
        hook, self.after_cancel = self.after_cancel, None
        if hook is not None:
            await hook()
        return response


class Child:
    def __init__(self, db: Path, server: KillingServer, logs: Path) -> None:
        self.db, self.server, self.logs = db, server, logs
        self.process: asyncio.subprocess.Process | None = None
        self.starts = 0
        self._log: TextIO | None = None

    async def start(self, at: datetime) -> None:
        self.server.now = at
        self.starts += 1
        if self._log is not None:
            self._log.close()
        self._log = (self.logs / f"child-{self.starts}.log").open("w")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tests.e2e.after_hours_child",
            "--db",
            str(self.db),
            "--alpaca",
            self.server.url,
            "--at",
            at.isoformat(),
            cwd=REPO_ROOT,
            env=bot_environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )

    async def kill9(self) -> None:
        """SIGKILL by our own child's PID, then reap it."""
        assert self.process is not None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
        await self.process.wait()

    def close(self) -> None:
        if self._log is not None:
            self._log.close()


@pytest.fixture
async def server() -> AsyncIterator[KillingServer]:
    running = KillingServer()
    await running.start()
    yield running
    await running.stop()


async def eventually(condition: Callable[[], bool], what: str, within: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, f"never: {what}"
        await asyncio.sleep(0.02)


def events(db: Path, event_type: str) -> list[str]:
    """Payloads of every ``OffchainOrder`` event of ``event_type`` (read-only, beside the writer)."""
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as connection:
        rows = connection.execute(
            "SELECT payload FROM events WHERE aggregate_type = 'OffchainOrder' AND event_type = ? ORDER BY rowid",
            (event_type,),
        ).fetchall()
    return [str(row[0]) for row in rows]


def live(server: KillingServer) -> list[str]:
    """Client order ids of the orders the broker holds open."""
    server.match()
    return [str(order.client_order_id) for order in server.book.orders.values() if order.resting]


async def test_kill9_between_cancel_and_replace_and_before_the_replacements_answer(
    tmp_path: Path, server: KillingServer
) -> None:
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db, BrokerKind.ALPACA)
    await ledger.record_range([make_fill(1, "2")], [], block(1))  # sold 2 tAAPL: the hedge buys 2
    await ledger.enrich(TradeId(tx_hash(1), 0), Enrich(gas_used=None, pyth_price=pyth("200")))
    await ledger.close()
    server.set_price("AAPL", Decimal("250"))  # nothing crosses: the hedge stays unfilled
    child = Child(db, server, tmp_path)
    try:
        # attempt 1 goes out after hours and is confirmed
        await child.start(PLACED_AT)
        await eventually(lambda: len(events(db, "Submitted")) == 1, "attempt 1 confirmed")
        (first,) = live(server)
        assert first.endswith("-1")
        await child.kill9()

        # a reprice later: killed inside the broker's DELETE, after it cancelled attempt 1
        killed = asyncio.Event()

        async def kill() -> None:
            await child.kill9()
            killed.set()

        server.after_cancel = kill
        await child.start(PLACED_AT + timedelta(seconds=61))
        await asyncio.wait_for(killed.wait(), 30)
        assert live(server) == []  # cancelled at the broker …
        assert len(events(db, "CancelRequested")) == 1  # … recorded as requested before the call …
        assert events(db, "AttemptEnded") == []  # … and its end never seen by the engine

        # restart: the end is confirmed by the broker, then attempt 2 — killed before its answer lands
        server.after_create = kill
        killed.clear()
        await child.start(PLACED_AT + timedelta(seconds=62))
        await asyncio.wait_for(killed.wait(), 30)
        assert len(events(db, "AttemptEnded")) == 1
        (second,) = live(server)
        assert second.endswith("-2")
        assert len(events(db, "Submitted")) == 1  # attempt 2's answer was lost with the process

        # restart: attempt 2 is found by its client id, never sent again
        await child.start(PLACED_AT + timedelta(seconds=63))
        await eventually(lambda: len(events(db, "Submitted")) == 2, "attempt 2 found and confirmed")
        assert live(server) == [second]
        assert all(count == 1 for count in server.posts.values()), server.posts
        assert set(server.posts) == {first, second}
    finally:
        if child.process is not None:
            await child.kill9()
        child.close()
