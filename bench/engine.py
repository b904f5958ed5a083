"""Engine benchmark: the whole hedging path, each figure beside a baseline measured in the same run.

1. **Fill → broker submit latency** (p50/p99): the engine built by the production factory from settings
   (dry-run broker, intake over WebSocket + HTTP on a local anvil with automine), from the moment the take
   transaction is sent to the commit of the ``OffchainOrder`` ``Submitted`` event (a store listener, called
   right after the commit). Each fill crosses the one-share threshold, so each one is hedged. Baseline: raw
   web3 ``eth_subscribe`` latency for a bare log on the same node, same run. Targets: p99 ≤ 25 ms and
   ≤ 2× the baseline's p99.
2. **Sustained fills/s, durable** — the engine running (dry-run broker, hedging as fills arrive), fills fed
   through ``Ledger.record_range`` one per SQLite transaction (``synchronous=FULL``), clock stopped when
   every hedge is terminal. Baseline: a bare one-row insert + durable commit on the same disk (and, for
   information, the ledger alone without the engine). Target ≥ 1,000 fills/s.
3. **RSS after 100,000 fills** through ``Ledger.record_range`` with the engine running (dry-run), fed in
   ranges of ``--rss-batch`` fills. Target < 300 MB.

Run: ``.venv/bin/python -m bench.engine`` (writes ``bench/results/engine.json``).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

from loguru import logger

from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.rpc import JsonRpcClient
from arbtui.config import load_settings
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import load_artifacts
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Deployment, deploy_all, order
from arbtui.domain import offchain_order, position
from arbtui.domain.values import Direction
from arbtui.engine.app import Engine, EngineOptions
from arbtui.engine.factory import build_engine
from arbtui.store.event_store import Committed
from arbtui.store.ledger import Ledger
from bench.intake import Sender, baseline_latency
from bench.ledger import durable_fills
from bench.report import Figure, save, table
from tests.builders import block, make_fill

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "GOOG")
BARE_TOPIC = "0x" + "be" * 32


def percentile(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(pct / 100 * len(ordered)) - 1))]


def rss_mb() -> float:
    """Resident set size now (not the peak), from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


async def _until(condition: asyncio.Event, within: float, what: str) -> None:
    try:
        await asyncio.wait_for(condition.wait(), within)
    except TimeoutError as exc:
        raise RuntimeError(f"timed out after {within}s waiting for {what}") from exc


# --- 1. fill → submit latency ------------------------------------------------------------------


async def submit_latency(anvil: AnvilNode, deployment: Deployment, driver: ChainDriver, count: int, workdir: Path
                         ) -> list[float]:  # fmt: skip
    head = driver.head()
    config = workdir / "arbtui.toml"
    config.write_text(
        f"""
[chain]
http_url = "{anvil.http_url}"
ws_url = "{anvil.ws_url}"
orderbook = "{deployment.orderbook}"
owner = "{OUR_OWNER}"
usdc = "{deployment.usdc}"
deployment_block = {head + 1}

[broker]
kind = "dry_run"
"""
    )
    settings = load_settings(config, environ={})
    built = await build_engine(settings, db=workdir / "latency.db")
    engine = built.engine
    submitted = asyncio.Event()
    flat = asyncio.Event()
    submitted_at: list[float] = []

    def on_commit(committed: list[Committed]) -> None:
        now = time.perf_counter()
        for change in committed:
            if change.aggregate_type == offchain_order.AGGREGATE and any(
                isinstance(e, offchain_order.Submitted) for e in change.events
            ):
                submitted_at.append(now)
                submitted.set()
            if change.aggregate_type == position.AGGREGATE:
                pos: position.Position = change.state
                if pos.pending is None and pos.net.is_zero:
                    flat.set()

    engine.store.listeners.append(on_commit)
    book = driver.orderbook
    sell = order(OUR_OWNER, [(deployment.usdc, 6)], [(deployment.tokens["tAAPL"], 18)])
    buy = order(OUR_OWNER, [(deployment.tokens["tAAPL"], 18)], [(deployment.usdc, 6)])
    # one share each, alternately our SELL and our BUY: every fill is hedged, and the hedge flattens it
    takes = [
        book.encode_abi("takeOrders", [[(sell, 0, 0, [])], [10**18], [187 * 10**6], [], 0]),
        book.encode_abi("takeOrders", [[(buy, 0, 0, [])], [187 * 10**6], [10**18], [], 0]),
    ]
    client = JsonRpcClient(anvil.http_url, timeout=30)
    sender = Sender(client, driver.sender, deployment.orderbook)
    latencies: list[float] = []
    await engine.start()
    try:
        while not engine.chain_live:  # noqa: ASYNC110 (intake reports live through a flag only)
            await asyncio.sleep(0.01)
        for n in range(count + 5):  # the first 5 warm up
            submitted.clear()
            flat.clear()
            start = time.perf_counter()
            await sender.send(takes[n % 2])
            await _until(submitted, 10, "the hedge's Submitted event")
            if n >= 5:
                latencies.append((submitted_at[-1] - start) * 1000)
            await _until(flat, 10, "the hedge to complete")
    finally:
        await engine.stop()
        await engine.ledger.close()
        await client.close()
    return latencies


# --- 2./3. fills through the ledger with the engine running --------------------------------------


async def engine_fills(db: Path, fills: int, batch: int, seed: int) -> tuple[float, int, float, str | None]:
    """Feed ``fills`` fills in ranges of ``batch`` (one durable transaction per range) into a running
    engine on the dry-run broker; wait until every hedge is terminal (or the engine halts).
    (fills/s, hedges, RSS MB at the end, the engine's fault if it halted)."""
    broker = DryRunBroker()
    ledger = await Ledger.open(db, broker.kind)
    engine = Engine(ledger, broker, EngineOptions(check_interval_s=3600))
    rng = random.Random(seed)
    await engine.start()
    try:
        started = time.perf_counter()
        n = 0
        for number in range(1, fills // batch + 1):
            made = []
            for index in range(batch):
                n += 1
                amount = str(rng.randint(1, 1_500_000) / 1_000_000)
                made.append(
                    make_fill(
                        n,
                        amount,
                        rng.choice(list(Direction)),
                        symbol=rng.choice(SYMBOLS),
                        block_number=number,
                        log_index=index,
                    )
                )
            await ledger.record_range(made, [], block(number))
        while True:  # settle: no execution open, no task driving one
            open_orders = await engine.store.query(
                "SELECT count(*) FROM offchain_trade_view WHERE status IN ('PENDING','SUBMITTED','PARTIALLY_FILLED')"
            )
            if (open_orders[0][0] == 0 and not engine.executions.in_flight) or engine.fault is not None:
                break
            await asyncio.sleep(0.01)
        rate = n / (time.perf_counter() - started)
        hedges = await engine.store.query("SELECT count(*) FROM offchain_trade_view")
        return rate, int(hedges[0][0]), rss_mb(), None if engine.fault is None else repr(engine.fault)
    finally:
        await engine.stop()
        await ledger.close()


async def main(args: argparse.Namespace) -> list[Figure]:
    rss_start = rss_mb()
    artifacts = load_artifacts()
    anvil = AnvilNode.start()
    try:
        deployment = await asyncio.to_thread(deploy_all, anvil.http_url, artifacts)
        driver = ChainDriver(anvil.http_url, deployment, artifacts)
        with tempfile.TemporaryDirectory(prefix="arbtui-bench-", dir=Path.cwd()) as tmp:
            workdir = Path(tmp)
            print(f"latency: {args.fills} fills, each hedged (dry run)", file=sys.stderr)
            client = JsonRpcClient(anvil.http_url, timeout=30)
            sender = Sender(client, driver.sender, deployment.orderbook)
            bare_data = driver.orderbook.encode_abi("rawLog", [[bytes.fromhex(BARE_TOPIC[2:])], b""])
            base = await baseline_latency(anvil, sender, bare_data, args.fills)
            await client.close()
            ours = await submit_latency(anvil, deployment, driver, args.fills, workdir)
            print(f"throughput: {args.sustained:,} fills, one durable transaction each", file=sys.stderr)
            rate, hedges, _, fault = await engine_fills(workdir / "sustained.db", args.sustained, 1, seed=11)
            ledger_only, bare = await durable_fills(workdir, args.sustained)
            print(f"memory: {args.rss_fills:,} fills in ranges of {args.rss_batch}", file=sys.stderr)
            _, rss_hedges, rss, rss_fault = await engine_fills(
                workdir / "rss.db", args.rss_fills, args.rss_batch, seed=12
            )
    finally:
        anvil.stop()
    p50, p99, b50, b99 = statistics.median(ours), percentile(ours, 99), statistics.median(base), percentile(base, 99)
    print(
        f"sustained: {hedges:,} hedges; ledger alone (no engine) {ledger_only:,.0f} fills/s; "
        f"rss: {rss_hedges:,} hedges, {rss_start:.0f} MB at start",
        file=sys.stderr,
    )
    for phase, halted in (("sustained", fault), ("rss", rss_fault)):
        if halted is not None:
            print(f"ENGINE HALTED during the {phase} phase: {halted}", file=sys.stderr)
    return [
        Figure("fill→submit p50", p50, "ms", b50, "raw web3 log p50", 2.0, False),
        Figure("fill→submit p99", p99, "ms", b99, "raw web3 log p99", 2.0, False),
        Figure("fill→submit p99 (absolute)", p99, "ms", b99, "raw web3 log p99", 25.0, False, "value"),
        Figure("sustained fills/s, engine running", rate, "fills/s", bare, "bare insert+commit/s", 1000, True, "value"),
        Figure(f"RSS after {args.rss_fills:,} fills", rss, "MB", rss_start, "RSS at start", 300, False, "value"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=300, help="fills for the latency figure")
    parser.add_argument("--sustained", type=int, default=3_000, help="fills for the throughput figure")
    parser.add_argument("--rss-fills", type=int, default=100_000)
    parser.add_argument("--rss-batch", type=int, default=50)
    arguments = parser.parse_args()
    logger.remove()  # one log line per hedge would be measured too
    logger.add(sys.stderr, level="WARNING")
    figures = asyncio.run(main(arguments))
    print(table("engine — fill to hedge, dry-run broker, local anvil (automine)", figures))
    sizes = {
        "latency_fills": arguments.fills,
        "sustained_fills": arguments.sustained,
        "rss_fills": arguments.rss_fills,
        "rss_batch": arguments.rss_batch,
    }
    print(f"wrote {save('engine', figures, **sizes)}")
