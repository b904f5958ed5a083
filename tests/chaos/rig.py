"""One chaos run's world, built from the end-to-end harness: anvil (state dumped on exit so it can be
restarted on its port), the counting local Alpaca server with a market schedule, the bot as an
``arbtui run --headless`` process, a fill emitter and a read-only view of the ledger. Every process
started here is stopped by its own PID when the rig closes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from aiohttp import web

from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import ChainDriver, deploy_all
from arbtui.demo.local_server import iso, now_utc
from tests.e2e.harness import (
    Bot,
    Chain,
    CountingAlpacaServer,
    FillEmitter,
    LedgerView,
    allocate_port,
    emitter_for,
    write_config,
)

# appended to the harness's [engine] table: a symbol is parked only after many failed hedges in a row
# (rejects are injected on purpose; parking would leave the position to the operator)
CHAOS_CONFIG = "max_retries_before_park = 20\n"


class ChaosBroker(CountingAlpacaServer):
    """The counting local Alpaca server whose market follows a schedule: :meth:`open_market` may announce
    the close, :meth:`close_market` announces the open, and the market *is* open or shut by that schedule
    to the instant — ``GET /v2/clock`` reports it with ``next_open``/``next_close``. Every order created
    more than :attr:`GRACE_S` after the close and before the open is remembered (a hedge that did not wait);
    the grace covers a submit that passed the bot's clock check just before the close and was in transit."""

    GRACE_S = 0.25

    def __init__(self) -> None:
        super().__init__()
        self.next_open: datetime | None = None
        self.next_close: datetime | None = None
        self.created_while_closed: list[str] = []

    def close_market(self, opens_in_s: float) -> None:
        self.next_close = now_utc()
        self.next_open = self.next_close + timedelta(seconds=opens_in_s)

    def open_market(self, closes_in_s: float | None = None) -> None:
        self.next_open = None
        self.next_close = None if closes_in_s is None else now_utc() + timedelta(seconds=closes_in_s)

    def is_open(self, at: datetime) -> bool:
        if self.next_open is not None and at >= self.next_open:
            return True
        return self.next_close is None or at < self.next_close

    async def _clock(self, request: web.Request) -> web.Response:
        now = now_utc()
        self.market_open = self.is_open(now)
        response = await super()._clock(request)
        assert response.text is not None
        answer = json.loads(response.text)
        if not self.market_open and self.next_open is not None:
            answer["next_open"] = iso(self.next_open)
        if self.market_open and self.next_close is not None and self.next_close > now:
            answer["next_close"] = iso(self.next_close)
        return web.json_response(answer, status=response.status)

    async def _submit(self, request: web.Request) -> web.Response:
        before = set(self.book.orders)
        response = await super()._submit(request)
        created = now_utc()
        late = created - timedelta(seconds=self.GRACE_S)
        if not self.is_open(late) and not self.is_open(created):
            assert self.next_close is not None
            after = (created - self.next_close).total_seconds()
            self.created_while_closed.extend(
                f"{o} ({after:.2f}s after the close)" for o in set(self.book.orders) - before
            )
        return response


@dataclass
class Rig:
    chain: Chain
    broker: ChaosBroker
    bot: Bot
    emitter: FillEmitter
    view: LedgerView
    workdir: Path
    state: Path
    notes: list[str] = field(default_factory=list)
    chain_lock: threading.Lock = field(default_factory=threading.Lock)
    """Held by every emitted transaction and by whoever stops, restarts or rewinds the node."""

    def stream(self, total: int, duration_s: float, max_per_tx: int = 3) -> Stream:
        """Emit ``total`` more fills over ``duration_s`` in a thread (started at once)."""
        return Stream(self, total, duration_s, max_per_tx)


class Stream:
    """Fills emitted in transactions of 1..``max_per_tx`` takes, paced over ``duration_s`` (the pacing is
    the schedule itself, not polling); each transaction holds the rig's chain lock."""

    def __init__(self, rig: Rig, total: int, duration_s: float, max_per_tx: int) -> None:
        self._rig = rig
        self._total = total
        self._duration_s = duration_s
        self._max = max_per_tx
        self._stop = threading.Event()
        self.sent = 0
        self.task: asyncio.Task[None] = asyncio.create_task(asyncio.to_thread(self._run))

    def _run(self) -> None:
        started = time.monotonic()
        emitter = self._rig.emitter
        while self.sent < self._total and not self._stop.is_set():
            count = min(emitter.rng.randint(1, self._max), self._total - self.sent)
            with self._rig.chain_lock:
                self.sent += len(emitter.send(count))
            due = started + self._duration_s * self.sent / self._total
            self._stop.wait(max(0.0, due - time.monotonic()))

    @property
    def done(self) -> bool:
        return self.task.done()

    async def wait(self) -> None:
        await self.task  # re-raises an emitter failure

    async def cancel(self) -> None:
        self._stop.set()
        await asyncio.gather(self.task, return_exceptions=True)


def _start_chain(artifacts: dict[str, Artifact], state: Path) -> Chain:
    node = AnvilNode.start("--dump-state", str(state))
    try:
        deployment = deploy_all(node.http_url, artifacts)
        driver = ChainDriver(node.http_url, deployment, artifacts)
        return Chain(node, deployment, driver, driver.head() + 1)
    except BaseException:
        node.stop()
        raise


@contextlib.asynccontextmanager
async def open_rig(workdir: Path, artifacts: dict[str, Artifact], seed: int) -> AsyncIterator[Rig]:
    """Chain, broker and a started, healthy bot; everything stopped by PID on exit."""
    await asyncio.to_thread(workdir.mkdir, parents=True, exist_ok=True)
    state = workdir / "anvil-state.json"
    chain = await asyncio.to_thread(_start_chain, artifacts, state)
    broker = ChaosBroker()
    bot: Bot | None = None
    try:
        await broker.start()
        broker.book.fill_delay = 0.2
        db = workdir / "ledger.db"
        port = allocate_port()
        config = write_config(
            workdir / "arbtui.toml", chain=chain, alpaca_url=broker.url, api_port=port, db=db, extra=CHAOS_CONFIG
        )
        bot = Bot(config=config, db=db, api_port=port, logs=workdir / "logs")
        rig = Rig(chain, broker, bot, emitter_for(chain, seed), LedgerView(db), workdir, state)
        await bot.start()
        await bot.wait_healthy()
        yield rig
    finally:
        if bot is not None:
            await bot.stop()
        await broker.stop()
        chain.node.stop()
