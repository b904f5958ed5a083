"""Alert delivery benchmark: hedging latency during an alert storm, with a sink that never answers.

Two engines in one process (dry-run broker, each on its own SQLite ledger), taking turns in rounds of
``--round`` hedges so that both see the same machine: the **baseline** has no alert sink, the **measured**
one a webhook sink whose server accepts the connection and never answers (``timeout_s`` 30: every
delivery hangs, the queue fills, the oldest alerts are dropped). During each round a storm task publishes
``--burst`` alerts on that engine's bus every millisecond (distinct keys: nothing is suppressed), and the
hedges are timed from the fill's durable record (``Ledger.record_range``, as intake records it) to the
engine's call of the broker's ``submit`` — one fill at a time, each one share past the threshold, each
hedge flattening the position before the next.

Figures: fill→submit p50 and p99 with the stalled sink, each beside the no-sink baseline of the same run
(targets: ≤ 1.2× at p50, ≤ 1.5× at p99 — within the noise of a shared machine); for information, one
bus ``publish`` of an alert (the listeners' work, the delivery's enqueue-or-drop included) beside the same
without a sink, the storm's cost itself (baseline with the storm beside hedges without one), and how many
alerts were published and dropped.

Run: ``.venv/bin/python -m bench.alerts`` (writes ``bench/results/alerts.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from loguru import logger

from arbtui.brokers.base import BrokerOrderId, MarketOrder
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.domain import position
from arbtui.domain.values import Direction
from arbtui.engine.alerts import Alert, Severity
from arbtui.engine.delivery import DeliveryOptions, WebhookSink
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.engine.messages import AlertRaised
from arbtui.store.event_store import Committed
from arbtui.store.ledger import Ledger
from bench.report import Figure, save, table
from tests.builders import block, make_fill

# `python -m bench --quick` runs this module with these arguments (see bench/README.md).
QUICK_ARGS = ("--hedges", "40", "--round", "10")

WARM_UP = 5


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


class SilentServer:
    """A TCP server on 127.0.0.1 that reads requests and never answers: a sink that hangs."""

    def __init__(self) -> None:
        self.connections = 0
        self._server: asyncio.Server | None = None
        self._writers: list[asyncio.StreamWriter] = []

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self._writers.append(writer)
        while await reader.read(65536):
            pass

    async def stop(self) -> None:
        for writer in self._writers:
            writer.close()
        if self._server is not None:
            self._server.close()


@dataclass
class Rig:
    """One engine, its hedge timer and its storm counters."""

    engine: Engine
    latencies: list[float] = field(default_factory=list)
    published: int = 0
    publish_s: float = 0.0
    fills: int = 0
    submitted: asyncio.Event = field(default_factory=asyncio.Event)
    flat: asyncio.Event = field(default_factory=asyncio.Event)
    submitted_at: float = 0.0

    @classmethod
    async def open(cls, db: Path, sink_url: str | None) -> Rig:
        broker = DryRunBroker()
        ledger = await Ledger.open(db, broker.kind)
        options = EngineOptions(
            check_interval_s=3600,
            alert_delivery=DeliveryOptions(queue_size=1000, timeout_s=30.0, max_attempts=3, shutdown_grace_s=0.5),
        )
        sinks = [] if sink_url is None else [WebhookSink(sink_url, Severity.INFO)]
        rig = cls(Engine(ledger, broker, options, alert_sinks=sinks))
        submit = broker.submit

        async def timed_submit(market_order: MarketOrder) -> BrokerOrderId:
            rig.submitted_at = time.perf_counter()
            rig.submitted.set()
            return await submit(market_order)

        broker.submit = timed_submit  # type: ignore[method-assign,assignment]

        def on_commit(committed: list[Committed]) -> None:
            for change in committed:
                if change.aggregate_type == position.AGGREGATE:
                    pos: position.Position = change.state
                    if pos.pending is None and pos.net.is_zero:
                        rig.flat.set()

        rig.engine.store.listeners.append(on_commit)
        await rig.engine.start()
        return rig

    async def hedge(self) -> float:
        """ms from recording one fill (one share past the threshold) to the broker's submit."""
        self.fills += 1
        n = self.fills
        direction = Direction.SELL if n % 2 else Direction.BUY
        self.submitted.clear()
        self.flat.clear()
        start = time.perf_counter()
        await self.engine.ledger.record_range([make_fill(n, "1", direction, block_number=n)], [], block(n))
        await asyncio.wait_for(self.submitted.wait(), 10)
        took = (self.submitted_at - start) * 1000
        await asyncio.wait_for(self.flat.wait(), 10)
        return took

    async def storm(self, burst: int) -> None:
        """``burst`` alerts on the bus every millisecond until cancelled; each publish is timed."""
        bus = self.engine.bus
        while True:
            started = time.perf_counter()
            for _ in range(burst):
                self.published += 1
                bus.publish(AlertRaised(Alert(f"storm:{self.published}", Severity.CRITICAL, "storm")))
            self.publish_s += time.perf_counter() - started
            await asyncio.sleep(0.001)

    async def round(self, hedges: int, burst: int) -> list[float]:
        storm = asyncio.create_task(self.storm(burst)) if burst else None
        try:
            return [await self.hedge() for _ in range(hedges)]
        finally:
            if storm is not None:
                storm.cancel()
                await asyncio.gather(storm, return_exceptions=True)

    async def close(self) -> None:
        await self.engine.stop()
        await self.engine.ledger.close()


async def main(args: argparse.Namespace) -> list[Figure]:
    silent = SilentServer()
    url = await silent.start()
    with tempfile.TemporaryDirectory(prefix="arbtui-bench-", dir=Path.cwd()) as tmp:
        workdir = Path(tmp)
        baseline = await Rig.open(workdir / "baseline.db", None)
        stalled = await Rig.open(workdir / "stalled.db", url)
        try:
            for rig in (baseline, stalled):
                await rig.round(WARM_UP, args.burst)
            quiet: list[float] = []
            base: list[float] = []
            ours: list[float] = []
            print(
                f"{args.hedges} hedges each: no sink vs a sink that never answers, {args.burst} alerts/ms,"
                f" in rounds of {args.round}",
                file=sys.stderr,
            )
            while len(ours) < args.hedges:
                batch = min(args.round, args.hedges - len(ours))
                quiet += await baseline.round(batch, 0)
                base += await baseline.round(batch, args.burst)
                ours += await stalled.round(batch, args.burst)
            status = stalled.engine.delivery.status().sinks[0]
            dropped, pending = status.dropped, status.pending
        finally:
            await baseline.close()
            await stalled.close()
            await silent.stop()
    publish_base = baseline.publish_s / baseline.published * 1e6
    publish_ours = stalled.publish_s / stalled.published * 1e6
    print(
        f"stalled sink: {stalled.published:,} alerts published, {dropped:,} dropped while running, {pending}"
        f" waiting at the end, {silent.connections} connection(s) to the silent server",
        file=sys.stderr,
    )
    b50, b99 = statistics.median(base), percentile(base, 99)
    return [
        Figure("fill→submit p50, alert storm + stalled sink", statistics.median(ours), "ms", b50, "storm, no sink p50",
               1.2, False),
        Figure("fill→submit p99, alert storm + stalled sink", percentile(ours, 99), "ms", b99, "storm, no sink p99",
               1.5, False),
        Figure("bus publish of one alert, stalled sink", publish_ours, "µs", publish_base, "no sink", None, False),
        Figure("fill→submit p50, storm without sink (the storm's own cost)", b50, "ms", statistics.median(quiet),
               "no storm p50", None, False),
        Figure("alerts dropped by the stalled sink's queue", float(dropped), "alerts", float(stalled.published),
               "alerts published", None, False),
    ]  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hedges", type=int, default=300, help="timed hedges per variant")
    parser.add_argument("--round", type=int, default=25, help="hedges per turn (baseline, then the stalled sink)")
    parser.add_argument("--burst", type=int, default=10, help="alerts published per millisecond of the storm")
    arguments = parser.parse_args()
    logger.remove()  # one log line per hedge would be measured too
    logger.add(sys.stderr, level="ERROR")  # the dropped-alert warnings are the point, not news
    figures = asyncio.run(main(arguments))
    print(table("alerts — hedging during an alert storm, a sink that never answers vs none", figures))
    print(f"wrote {save('alerts', figures, hedges=arguments.hedges, round=arguments.round, burst=arguments.burst)}")
