"""The chaos scenarios: each drives the real ``arbtui run --headless`` process through one kind of fault
while fills stream in on chain, lets it settle, stops it with SIGTERM and returns the counts of
:mod:`tests.chaos.accounting` (computed from the ledger against the chain and the broker's own book).

Every scenario takes a :class:`Size`: ``fast`` (``make test``) or ``full`` (``make chaos``). A fault that
was meant to fire and did not is an error of the scenario, never a silent pass.
"""

from __future__ import annotations

import asyncio
import random
import signal
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from arbtui.demo.artifacts import Artifact
from arbtui.demo.local_server import now_utc
from tests.chaos.accounting import Tally, settled, tally
from tests.chaos.lagging_index import lagging_log_index
from tests.chaos.reorg import reorg_round
from tests.chaos.rig import Rig, open_rig
from tests.e2e.harness import OPEN, eventually, restart_anvil
from tests.e2e.killer import Killer


@dataclass(frozen=True)
class Size:
    fills: int
    """Fills emitted in the scenario's main stream."""
    rounds: int
    """Fault episodes: kills, node restarts, reorgs, lock holds, disk-full episodes, market cycles."""
    settle_s: float = 120.0


Scenario = Callable[[Rig, Size], Awaitable[None]]


async def _restart(rig: Rig, *, kill: bool = True) -> None:
    if kill:
        await rig.bot.kill9()
    await rig.bot.start()
    await rig.bot.wait_healthy()


async def kill9_storm(rig: Rig, size: Size) -> None:
    """SIGKILL at ``rounds`` instants of every kind (after a receipt, inside the broker's submit handler
    before/after the order exists, order in flight, during recovery, random), restart each time."""
    rig.broker.book.fill_delay = 0.4  # orders stay "accepted" for a while: kills land mid-hedge
    killer = Killer(rig.bot, rig.broker, rig.emitter, random.Random(size.fills * 7919 + size.rounds))
    stream = rig.stream(size.fills, size.rounds * 2.2)
    try:
        while not stream.done or rig.bot.kills < size.rounds:
            await killer.one()
        await stream.wait()
    finally:
        await stream.cancel()
    rig.notes.append(f"kills={rig.bot.kills} modes={dict(sorted(killer.modes.items()))}")


def _restart_node(rig: Rig) -> None:
    with rig.chain_lock:
        restart_anvil(rig.chain, rig.state)


async def node_restarts(rig: Rig, size: Size) -> None:
    """anvil stopped (state dumped) and restarted from its state on the same port, ``rounds`` times
    while fills stream; the emitter waits for the node like any client."""
    duration = max(4.0, size.rounds * 4.0)
    stream = rig.stream(size.fills, duration)
    try:
        for _ in range(size.rounds):
            await asyncio.sleep(duration / (size.rounds + 1))
            before = rig.chain.node.process.pid
            await asyncio.to_thread(_restart_node, rig)  # the broker's event loop keeps serving meanwhile
            assert rig.chain.node.process.pid != before
        await stream.wait()
    finally:
        await stream.cancel()
    rig.notes.append(f"node_restarts={size.rounds}")


async def reorgs(rig: Rig, size: Size) -> None:
    """``rounds`` reorgs (evm_snapshot / evm_revert, then a new branch): some after the bot recorded the
    doomed fills, some before; part of the doomed transactions replayed identically on the new branch
    (same trade ids re-included); every third with the bot killed across the reorg."""
    stream = rig.stream(size.fills, max(4.0, size.rounds * 3.0))
    try:
        await stream.wait()
    finally:
        await stream.cancel()
    for number in range(size.rounds):
        await reorg_round(rig, number, kill_across=number % 3 == 2)


def _settled_or(rig: Rig, other: Callable[[], bool]) -> Callable[[], bool]:
    canonical = rig.emitter.canonical()
    return lambda: settled(rig, canonical) or other()


def _failed(rig: Rig) -> int:
    return sum(1 for e in rig.view.executions() if e.status == "FAILED")


async def _until(rig: Rig, check: Callable[[], bool], what: str) -> None:
    """Keep fills coming (hedges are what meet the faults) until ``check`` holds."""
    deadline = time.monotonic() + 90
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        await rig.stream(6, 1.0).wait()
        await eventually(_settled_or(rig, check), within=60, what=what)


async def broker_faults(rig: Rig, size: Size) -> None:
    """Per round, while fills stream: a 429 storm with Retry-After, HTTP 500s and 503s on every route, a
    submit whose connection drops after the order was created (full size: also one answered only after
    the adapter's 10 s timeout); then a synchronous 403 reject; then an accepted order later reported
    ``rejected``. Each phase waits until its faults have fired (server counters, ledger, broker book)."""
    for number in range(size.rounds):
        await _fault_round(rig, size.fills // size.rounds, with_timeout=size.fills >= 100 and number == 0)
    rig.notes.append(f"fired={dict(sorted(rig.broker.faults.fired.items()))}")


async def _fault_round(rig: Rig, fills: int, *, with_timeout: bool) -> None:
    broker = rig.broker
    fired = broker.faults.fired
    expected = {kind: fired[kind] for kind in ("rate_limit", "server_error", "drop", "slow")}
    broker.faults.rate_limit(8, retry_after="1")
    broker.faults.server_error(3, status=500)
    broker.faults.server_error(3, status=503)
    broker.faults.drop(1, route="submit_order")
    expected["rate_limit"] += 8
    expected["server_error"] += 6
    expected["drop"] += 1
    if with_timeout:
        broker.faults.slow(1, delay=11.0, route="submit_order")
        expected["slow"] += 1
    stream = rig.stream(fills, 6.0)
    try:
        await _until(rig, lambda: all(fired[k] >= n for k, n in expected.items()), "429/5xx/drop faults")
        failed = _failed(rig)
        broker.reject_next(status=403, message="insufficient buying power")
        await _until(rig, lambda: _failed(rig) > failed, "a synchronous reject")
        failed = _failed(rig)
        rejected = sum(1 for o in broker.book.orders.values() if o.rejected)
        broker.reject_next_async()
        await _until(
            rig,
            lambda: _failed(rig) > failed and sum(1 for o in broker.book.orders.values() if o.rejected) > rejected,
            "an asynchronous reject",
        )
        await stream.wait()
    finally:
        await stream.cancel()


_LOCKER = (
    "import sqlite3, sys, time\n"
    "conn = sqlite3.connect(sys.argv[1], isolation_level=None, timeout=60)\n"
    "conn.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "time.sleep(float(sys.argv[2]))\n"
    "conn.execute('COMMIT')\n"
)


async def _hold_exclusive(db: Path, seconds: float) -> None:
    """Another process holds ``BEGIN EXCLUSIVE`` on the ledger for ``seconds`` (stopped by its PID)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", _LOCKER, str(db), str(seconds), stdout=asyncio.subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if line.strip() != b"locked":
            raise AssertionError("the locking process never got its exclusive lock")
        code = await asyncio.wait_for(process.wait(), seconds + 60)
        if code != 0:
            raise AssertionError(f"the locking process exited with {code}")
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def locked_database(rig: Rig, size: Size) -> None:
    """Another process holds the database exclusively while fills stream: alternately shorter (2 s)
    and longer (8 s) than the bot's 5 s busy timeout. A bot that exits is restarted, as the container's
    restart policy would."""
    holds = [2.0 if n % 2 == 0 else 8.0 for n in range(size.rounds)]
    stream = rig.stream(size.fills, sum(holds) + 2.0 * len(holds))
    exits: list[int | None] = []
    try:
        for seconds in holds:
            await asyncio.sleep(1.0)
            await _hold_exclusive(rig.bot.db, seconds)
            await asyncio.sleep(1.0)
            if not rig.bot.running:
                exits.append(rig.bot.returncode())
                await _restart(rig, kill=False)
        await stream.wait()
    finally:
        await stream.cancel()
    rig.notes.append(f"lock_holds={holds} bot_exits={exits}")


def _ledger_bytes(db: Path) -> int:
    return max((p.stat().st_size for p in (db, db.with_name(db.name + "-wal")) if p.exists()), default=0)


async def disk_full(rig: Rig, size: Size) -> None:
    """The bot restarted with RLIMIT_FSIZE just above the ledger's size (a write past it fails with
    EFBIG, as on a full disk) while fills stream; once it has hit the limit, the disk is "freed": the
    limit is lifted and the bot restarted. (A real full filesystem needs a tiny tmpfs, i.e. root.)"""
    seen: list[str] = []
    for _ in range(size.rounds):
        rig.bot.signal(signal.SIGTERM)
        await rig.bot.wait_exit(30)
        rig.bot.file_size_limit = _ledger_bytes(rig.bot.db) + 16 * 1024
        await rig.bot.start()
        stream = rig.stream(size.fills // size.rounds, 8.0)
        try:

            def hit() -> bool:  # SQLite reports EFBIG as "disk I/O error", a full disk as "disk is full"
                return any(m in rig.bot.tail(10**6) for m in ("disk I/O error", "disk is full", "File too large"))

            await eventually(hit, within=60, what="the bot to hit the file size limit", every=0.2)
            await stream.wait()
        finally:
            await stream.cancel()
        seen.append("exited" if not rig.bot.running else "running")
        rig.bot.file_size_limit = None
        await _restart(rig)
    rig.notes.append(f"disk_full_episodes={size.rounds} bot_after_hit={seen}")


async def market_clock(rig: Rig, size: Size) -> None:
    """Per round: the close is announced and comes while fills stream; hedges placed while the market is
    shut must wait (no broker order created) — the bot killed and restarted once while closed — and go
    out at the announced open."""
    broker = rig.broker
    waited: list[int] = []
    per_round = size.fills // size.rounds
    started, requests_before = time.monotonic(), sum(broker.hits.values())
    for _ in range(size.rounds):
        broker.open_market(closes_in_s=1.5)
        assert broker.next_close is not None
        closes_at = broker.next_close
        opening = rig.stream(per_round // 3, 1.5)
        await opening.wait()
        await asyncio.sleep(max(0.0, (closes_at - now_utc()).total_seconds()))
        broker.close_market(opens_in_s=6.0)  # closed from now on (the close came as announced)
        assert broker.next_open is not None
        opens_at = broker.next_open
        closed = rig.stream(per_round - per_round // 3, 3.0)
        await closed.wait()
        await _restart(rig)
        await asyncio.sleep(max(0.0, (opens_at - now_utc()).total_seconds() - 0.3))
        waiting = [e for e in rig.view.executions() if e.status in OPEN and e.broker_order_id is None]
        waited.append(len(waiting))
        await asyncio.sleep(max(0.0, (opens_at - now_utc()).total_seconds()))
        broker.open_market()
        await eventually(_settled_or(rig, lambda: False), within=60, what="hedges after the open")
    rate = (sum(broker.hits.values()) - requests_before) / (time.monotonic() - started)
    rig.notes.append(f"broker_requests_per_s={rate:.1f}")
    if broker.created_while_closed:
        raise AssertionError(
            f"{len(broker.created_while_closed)} broker orders created while the market was shut:"
            f" {broker.created_while_closed[:3]}"
        )
    if not any(waited):
        raise AssertionError("no hedge waited for the open: the scenario proved nothing")
    rig.notes.append(f"hedges_waiting_at_open={waited} orders_while_closed=0")


async def lagging_logs(rig: Rig, size: Size) -> None:
    """A node whose log index lags its headers by more blocks than ``confirmations`` (0): eth_getLogs
    answers ``[]`` near the head for ``rounds`` × 10 s (fast: 4 s) while fills stream; the headers' blooms
    and the blocks' receipts must recover every fill."""
    await lagging_log_index(rig, size.fills, 4.0 * size.rounds, confirmations=0, receipts=None)


async def lagging_logs_confirmed(rig: Rig, size: Size) -> None:
    """The same with ``confirmations = 3``: a lag deeper than the confirmations still loses nothing."""
    await lagging_log_index(rig, size.fills, 4.0 * size.rounds, confirmations=3, receipts=None)


async def late_receipts(rig: Rig, size: Size) -> None:
    """The log index and the receipts both lag (receipts come without our logs): only the trailing
    re-scan can record those fills."""
    await lagging_log_index(rig, size.fills, 4.0 * size.rounds, confirmations=0, receipts="strip")


SCENARIOS: dict[str, tuple[Scenario, Size, Size]] = {
    "kill9_storm": (kill9_storm, Size(fills=40, rounds=5), Size(fills=500, rounds=60)),
    "node_restarts": (node_restarts, Size(fills=30, rounds=1), Size(fills=300, rounds=6)),
    "reorgs": (reorgs, Size(fills=20, rounds=2), Size(fills=200, rounds=9)),
    "broker_faults": (broker_faults, Size(fills=30, rounds=1), Size(fills=300, rounds=4)),
    "locked_database": (locked_database, Size(fills=30, rounds=2), Size(fills=300, rounds=6)),
    "disk_full": (disk_full, Size(fills=30, rounds=1), Size(fills=300, rounds=4)),
    "market_clock": (market_clock, Size(fills=30, rounds=1), Size(fills=300, rounds=4)),
    "lagging_logs": (lagging_logs, Size(fills=25, rounds=1), Size(fills=125, rounds=5)),
    "lagging_logs_confirmed": (lagging_logs_confirmed, Size(fills=25, rounds=1), Size(fills=125, rounds=5)),
    "late_receipts": (late_receipts, Size(fills=25, rounds=1), Size(fills=125, rounds=5)),
}


def one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}"[:300]


async def run_scenario(name: str, *, full: bool, workdir: Path, artifacts: dict[str, Artifact]) -> Tally:
    """Run one scenario in its own rig; any failure is the scenario's error, the counts still taken."""
    scenario, fast, big = SCENARIOS[name]
    size = big if full else fast
    started = time.monotonic()
    seed = sum(map(ord, name)) * 1009 + size.fills
    try:
        async with open_rig(workdir, artifacts, seed) as rig:
            error: str | None = None
            try:
                await scenario(rig, size)
                if not rig.bot.running:
                    await _restart(rig, kill=False)
                canonical = rig.emitter.canonical()
                await eventually(lambda: settled(rig, canonical), within=size.settle_s, what="all hedged", every=0.2)
                rig.bot.signal(signal.SIGTERM)
                try:
                    await rig.bot.wait_exit(30)
                except TimeoutError:
                    raise AssertionError("the bot did not stop within 30 s of SIGTERM") from None
            except Exception as exc:  # noqa: BLE001 — any failure of the scenario is reported in its row
                error = one_line(exc)
            result = await tally(rig, name)
            result.error = error
            rig.notes.append(f"bot_starts={rig.bot.starts}")
            result.notes = list(rig.notes)
    except Exception as exc:  # noqa: BLE001 — the rig itself failed: reported in the row
        result = Tally(name, error=one_line(exc))
    result.wall_s = round(time.monotonic() - started, 1)
    return result
