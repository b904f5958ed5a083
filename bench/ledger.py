"""Ledger throughput: durable fills/s through the full path, and rebuild-views speed over 1M events.

Figures, each beside a baseline measured in the same run on the same disk:

* **fills/s, durable** — ``Ledger.record_range`` with one fill per transaction (events + views +
  links + cursor, ``synchronous=FULL``), against a bare single-row insert with the same durable
  commit. Target: ≥ 1,000 fills/s.
* **rebuild events/s** — ``rebuild_views`` over ~1,000,000 events, against a raw ``executemany``
  insert of the same rows into a bare table. Target: ≥ 0.5× the raw insert rate.
* **rebuilt rows written alone** (for information) — the floor under any rebuild: the rows the rebuild
  produced, copied by SQLite alone (``INSERT … SELECT``, no Python) into fresh views with the seed's
  indexed JSON generated columns, in one transaction with the rebuild's page cache. Its ratio to the raw
  insert rate bounds what a rebuild can reach on this SQLite.
* **rebuild peak RSS** — of a child process that only rebuilds. Target: < 500 MB.

Run: ``.venv/bin/python -m bench.ledger [--events N] [--fills N]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

from arbtui.domain import offchain_order, onchain_trade, position
from arbtui.domain.events import DomainEvent
from arbtui.domain.flows import Change, complete_execution, witness_fill
from arbtui.domain.values import BrokerKind, Cents, Direction, ExecutionId
from arbtui.store import projections
from arbtui.store.codec import encode_event, iso
from arbtui.store.ledger import Ledger
from arbtui.store.migrate import connect_sync, migrate
from arbtui.store.rebuild import WRITE_CACHE_KIB, rebuild_views
from bench.report import Figure, save, table
from tests.builders import T0, block, make_fill

# `python -m bench --quick` runs this module with these arguments (see bench/README.md).
QUICK_ARGS = ("--events", "20000", "--fills", "300")

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "GOOG")
Row = tuple[str, str, int, str, str, str, str]


def _execution_id(n: int) -> ExecutionId:
    return ExecutionId(f"{n:08x}-0000-4000-8000-{n:012x}")


def generate(events: int, seed: int = 1) -> Iterator[list[Row]]:
    """A realistic log, in chunks: fills across five symbols; every placement is submitted and filled
    a few fills later. Built with the domain flows exactly as the engine builds it, no store."""
    rng = random.Random(seed)
    states: dict[tuple[str, str], tuple[Any, int]] = {}
    emitted = 0
    chunk: list[Row] = []
    n = 0

    def record(changes: list[Change]) -> None:
        nonlocal emitted
        for change in changes:
            key = (change.spec.type_name, change.aggregate_id)
            state, version = states.get(key, (change.spec.initial(change.aggregate_id), 0))
            for event in change.events:
                version += 1
                chunk.append(_row(key, version, event, n))
                state = change.spec.evolve(state, event)
            emitted += len(change.events)
            if change.spec is onchain_trade.SPEC:
                continue  # trades are never touched again here: do not keep them in memory
            states[key] = (state, version)

    while emitted < events:
        n += 1
        symbol = rng.choice(SYMBOLS)
        amount = str(rng.randint(1, 900_000) / 1_000_000)
        fill = make_fill(n, amount, rng.choice(list(Direction)), symbol=symbol, block_number=n)
        pos = states.get(("Position", symbol), (position.initial(symbol), 0))[0]
        context = position.HedgeContext(
            hedging_allowed=True, broker=BrokerKind.DRY_RUN, execution_id=_execution_id(n), at=T0
        )
        record(witness_fill(onchain_trade.initial(str(fill.trade_id)), pos, fill, context))
        pos = states[("Position", symbol)][0]
        if pos.pending is not None and rng.random() < 0.5:
            order = states[("OffchainOrder", pos.pending.execution_id)][0]
            confirm = offchain_order.ConfirmSubmission(broker_order_id=f"b{n}", at=T0)
            record([Change(offchain_order.SPEC, order.execution_id, tuple(offchain_order.decide(order, confirm)))])
            order = states[("OffchainOrder", pos.pending.execution_id)][0]
            record(complete_execution(order, pos, shares_filled=order.shares, price_cents=Cents("20000"), at=T0))
            del states[("OffchainOrder", order.execution_id)]
        if len(chunk) >= 20_000:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _row(key: tuple[str, str], sequence: int, event: DomainEvent, n: int) -> Row:
    event_type, version, payload = encode_event(event)
    metadata = json.dumps({"recorded_at": iso(T0 + timedelta(milliseconds=n)), "correlation_id": None})
    return (key[0], key[1], sequence, event_type, version, payload, metadata)


def build_log(path: Path, raw_path: Path, events: int) -> tuple[int, float]:
    """Write the generated log into ``path`` and, timed, the same rows into a bare table in
    ``raw_path``. Returns (rows, raw insert rows/s)."""
    migrate(path)
    log = connect_sync(path)
    raw = connect_sync(raw_path)
    raw.execute("CREATE TABLE bare (a TEXT, b TEXT, c INTEGER, d TEXT, e TEXT, f TEXT, g TEXT)")
    total, raw_seconds = 0, 0.0
    for chunk in generate(events):
        log.execute("BEGIN")
        log.executemany("INSERT INTO events VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
        log.execute("COMMIT")
        started = time.perf_counter()
        raw.execute("BEGIN")
        raw.executemany("INSERT INTO bare VALUES (?, ?, ?, ?, ?, ?, ?)", chunk)
        raw.execute("COMMIT")
        raw_seconds += time.perf_counter() - started
        total += len(chunk)
        print(f"\r  generated {total:,} events", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    log.close()
    raw.close()
    return total, total / raw_seconds


def rebuild_child(path: Path) -> None:
    """Entry point of the measured child process: rebuild, then report time and peak RSS."""
    conn = connect_sync(path)
    started = time.perf_counter()
    count = rebuild_views(conn)
    seconds = time.perf_counter() - started
    conn.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"events": count, "seconds": seconds, "peak_mb": peak_mb}))


def write_floor(log_path: Path, floor_path: Path) -> float:
    """Seconds SQLite alone takes to write the view rows a rebuild of ``log_path`` produced into fresh
    views (``floor_path``), with everything a rebuild has: one transaction, its page cache, durable."""
    migrate(floor_path)
    conn = connect_sync(floor_path)
    conn.execute(f"PRAGMA cache_size = {-WRITE_CACHE_KIB}")
    conn.execute("ATTACH DATABASE ? AS rebuilt", (f"file:{log_path}?mode=ro",))
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for view in projections.ALL_TABLES:
        conn.execute(
            f"INSERT INTO main.{view} (view_id, version, payload) SELECT view_id, version, payload FROM rebuilt.{view}"
        )
    conn.execute("COMMIT")
    seconds = time.perf_counter() - started
    conn.close()
    return seconds


async def durable_fills(folder: Path, fills: int) -> tuple[float, float]:
    """(fills/s through Ledger.record_range, bare insert+durable commit rows/s), same disk."""
    ledger = await Ledger.open(folder / "fills.db")
    rng = random.Random(3)
    made = [
        make_fill(n, str(rng.randint(1, 900_000) / 1_000_000), rng.choice(list(Direction)), block_number=n)
        for n in range(1, fills + 1)
    ]
    started = time.perf_counter()
    for fill in made:
        await ledger.record_range([fill], [], block(fill.block_number))
    full = fills / (time.perf_counter() - started)
    await ledger.close()

    bare = connect_sync(folder / "bare.db")
    bare.execute("CREATE TABLE bare (a TEXT, b TEXT, c INTEGER, d TEXT)")
    started = time.perf_counter()
    for fill in made:
        bare.execute("BEGIN")
        bare.execute("INSERT INTO bare VALUES (?, ?, ?, ?)", (str(fill.trade_id), "Filled", 1, fill.model_dump_json()))
        bare.execute("COMMIT")
    baseline = fills / (time.perf_counter() - started)
    bare.close()
    return full, baseline


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="size of the log to rebuild")
    parser.add_argument("--fills", type=int, default=3_000, help="fills for the durable-path figure")
    parser.add_argument("--rebuild-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.rebuild_child:
        rebuild_child(args.rebuild_child)
        return
    with tempfile.TemporaryDirectory(prefix="arbtui-bench-", dir=Path.cwd()) as tmp:
        folder = Path(tmp)
        print(f"durable fill path: {args.fills:,} fills, one transaction each", file=sys.stderr)
        full, bare = asyncio.run(durable_fills(folder, args.fills))
        print(f"log of {args.events:,} events for the rebuild", file=sys.stderr)
        total, raw_rate = build_log(folder / "log.db", folder / "raw.db", args.events)
        child = subprocess.run(
            [sys.executable, "-m", "bench.ledger", "--rebuild-child", str(folder / "log.db")],
            check=True,
            capture_output=True,
            text=True,
        )
        rebuilt = json.loads(child.stdout)
        print("the same rows written by SQLite alone", file=sys.stderr)
        floor_seconds = write_floor(folder / "log.db", folder / "floor.db")
    figures = [
        Figure("fills/s, durable commit each", full, "fills/s", bare, "bare insert+commit/s", 1000, True, "value"),
        Figure(
            "rebuild-views rate",
            rebuilt["events"] / rebuilt["seconds"],
            "events/s",
            raw_rate,
            "raw executemany/s",
            0.5,
            True,
        ),
        Figure(
            "rebuilt rows written alone (SQL floor)",
            total / floor_seconds,
            "events/s",
            raw_rate,
            "raw executemany/s",
            None,
            True,
        ),
        Figure("rebuild peak RSS", rebuilt["peak_mb"], "MB", None, "", 500, False, "value"),
    ]
    print(table(f"ledger — {total:,} events rebuilt in {rebuilt['seconds']:.1f} s", figures))
    print(f"wrote {save('ledger', figures, events=total, fills=args.fills)}")


if __name__ == "__main__":
    main()
