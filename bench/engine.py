"""Engine benchmark: the whole hedging path, each figure beside a baseline measured in the same run.

1. **Fill → broker submit latency** (p50/p99): the engine built by the production factory from settings
   (dry-run broker, intake over WebSocket + HTTP on a local anvil with automine), from the moment the take
   transaction is sent to the moment the engine calls the broker's ``submit`` (the placement is durable by
   then). Each fill crosses the one-share threshold, so each one is hedged. Baseline: raw web3
   ``eth_subscribe`` latency for the same log — the very same ``takeOrders`` transaction, sent to a twin
   orderbook stand-in the engine does not watch — on the same node, same run, taking turns with the engine
   in rounds of ``--round`` transactions (anvil's notification latency grows with the chain, so both are
   measured at the same heights). Targets: p99 ≤ 25 ms and ≤ 2× the baseline.
2. **Sustained fills/s, durable** — the engine running (dry-run broker, hedging as fills arrive), fills fed
   through ``Ledger.record_range`` as intake records them — one durable SQLite transaction per block
   (``synchronous=FULL``), ``--per-block`` fills each (default 10; a Base block comes every 2 s, so 1,000
   fills/s would be 2,000 per block) — clock stopped when every hedge is terminal. Also printed, for
   information: the worst case of one fill per block (a durable commit per fill). Baseline: a bare one-row
   insert + durable commit on the same disk (and, for information, the ledger alone without the engine).
   Target ≥ 1,000 fills/s.
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
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from loguru import logger
from web3 import AsyncWeb3, WebSocketProvider

from arbtui.brokers.base import BrokerOrderId, MarketOrder
from arbtui.brokers.dry_run import DryRunBroker
from arbtui.chain.rpc import JsonRpcClient
from arbtui.clock import SystemClock
from arbtui.config import load_settings
from arbtui.demo.anvil import AnvilNode
from arbtui.demo.artifacts import load_artifacts
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Deployment, deploy_all, deployer, order
from arbtui.domain import position
from arbtui.domain.ids import RandomIds
from arbtui.domain.values import Direction
from arbtui.engine.factory import build_engine
from arbtui.engine.lifecycle import Engine, EngineOptions
from arbtui.store.event_store import Committed
from arbtui.store.ledger import Ledger
from bench.intake import Sender
from bench.ledger import durable_fills
from bench.report import Figure, save, table
from tests.builders import block, make_fill

# `python -m bench --quick` runs this module with these arguments (see bench/README.md).
QUICK_ARGS = ("--fills", "50", "--sustained", "300", "--rss-fills", "2000")

SYMBOLS = ("AAPL", "MSFT", "NVDA", "TSLA", "GOOG")
WARM_UP = 5


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


async def submit_latency(anvil: AnvilNode, deployment: Deployment, driver: ChainDriver, twin_orderbook: str,
                         count: int, per_round: int, workdir: Path
                         ) -> tuple[list[float], list[float]]:  # fmt: skip
    """(raw web3 log ms, fill → submit ms): in turns, ``per_round`` takes on ``twin_orderbook`` seen by a
    raw subscription, then ``per_round`` of the same takes on the watched orderbook, hedged by the engine,
    and so on, on one chain; both listen throughout."""
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
    engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), db=workdir / "latency.db")
    submitted = asyncio.Event()
    flat = asyncio.Event()
    submitted_at: list[float] = []

    # The figure ends where the order reaches the broker: the moment the engine calls submit.
    broker = engine.broker
    submit = broker.submit

    async def timed_submit(market_order: MarketOrder) -> BrokerOrderId:
        submitted_at.append(time.perf_counter())
        submitted.set()
        return await submit(market_order)

    broker.submit = timed_submit  # type: ignore[method-assign,assignment]

    def on_commit(committed: list[Committed]) -> None:
        for change in committed:
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
    twin = Sender(client, driver.sender, twin_orderbook)
    base: list[float] = []
    latencies: list[float] = []

    async def raw(stream: AsyncIterator[Any], data: str) -> float:
        """ms from sending ``data`` to the twin until the raw subscription has its log."""
        start = time.perf_counter()
        await twin.send(data)
        await anext(stream)
        return (time.perf_counter() - start) * 1000

    async def hedge(n: int) -> float:
        submitted.clear()
        flat.clear()
        start = time.perf_counter()
        await sender.send(takes[n % 2])
        await _until(submitted, 10, "the hedge's submit to the broker")
        took = (submitted_at[-1] - start) * 1000
        await _until(flat, 10, "the hedge to complete")
        return took

    await engine.start()
    try:
        async with AsyncWeb3(WebSocketProvider(anvil.ws_url)) as w3:
            await w3.eth.subscribe("logs", {"address": twin_orderbook})
            stream = w3.socket.process_subscriptions()
            while not engine.health.chain_live:  # noqa: ASYNC110 (intake reports live through a flag only)
                await asyncio.sleep(0.01)
            for n in range(WARM_UP):
                await hedge(n)
            while len(latencies) < count:
                batch = min(per_round, count - len(latencies))
                base.extend([await raw(stream, takes[n % 2]) for n in range(batch)])
                for _ in range(batch):
                    latencies.append(await hedge(len(latencies)))
    finally:
        await engine.stop()
        await engine.ledger.close()
        await client.close()
    return base, latencies


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
            print(
                f"latency: {args.fills} fills, each hedged (dry run), taking turns with the raw baseline"
                f" every {args.round}",
                file=sys.stderr,
            )
            # the baseline's twin: the same contract at another address, which the engine does not watch
            twin = await asyncio.to_thread(deployer(anvil.http_url, artifacts), "OrderBookStandIn", deployment.pyth)
            base, ours = await submit_latency(anvil, deployment, driver, twin, args.fills, args.round, workdir)
            print(
                f"throughput: {args.sustained:,} fills, {args.per_block} per block (one durable transaction"
                " per block, as intake records them), then 1 per block",
                file=sys.stderr,
            )
            rate, hedges, _, fault = await engine_fills(
                workdir / "sustained.db", args.sustained, args.per_block, seed=11
            )
            single_rate, _, _, single_fault = await engine_fills(workdir / "single.db", args.sustained, 1, seed=11)
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
    for phase, halted in (("sustained", fault), ("one fill per block", single_fault), ("rss", rss_fault)):
        if halted is not None:
            print(f"ENGINE HALTED during the {phase} phase: {halted}", file=sys.stderr)
    return [
        Figure("fill→submit p50", p50, "ms", b50, "raw web3 log p50", 2.0, False),
        Figure("fill→submit p99", p99, "ms", b99, "raw web3 log p99", 2.0, False),
        # Exactly-once needs the placement durable before the broker sees its client id, so no fill can reach
        # submit faster than its log plus one durable commit: that floor, for information.
        Figure(
            "floor: raw log p50 + one bare durable commit",
            b50 + 1000 / bare,
            "ms",
            b50,
            "raw web3 log p50",
            None,
            False,
        ),
        Figure("fill→submit p99 (absolute)", p99, "ms", b99, "raw web3 log p99", 25.0, False, "value"),
        Figure(
            f"sustained fills/s, engine running, {args.per_block} fills/block",
            rate,
            "fills/s",
            bare,
            "bare insert+commit/s",
            1000,
            True,
            "value",
        ),
        Figure(
            "sustained fills/s, 1 fill/block (info)", single_rate, "fills/s", bare, "bare insert+commit/s", None, True
        ),
        Figure(f"RSS after {args.rss_fills:,} fills", rss, "MB", rss_start, "RSS at start", 300, False, "value"),
    ]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--fills", type=int, default=300, help="fills for the latency figure")
    parser.add_argument("--round", type=int, default=25, help="transactions per turn (baseline, then engine)")
    parser.add_argument("--sustained", type=int, default=3_000, help="fills for the throughput figure")
    parser.add_argument(
        "--per-block",
        type=int,
        default=10,
        help="fills per block for the throughput figure (Base makes a block every 2 s: at 1,000 fills/s a real"
        " block would carry 2,000)",
    )
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
        "per_block": arguments.per_block,
        "rss_fills": arguments.rss_fills,
        "rss_batch": arguments.rss_batch,
        "round": arguments.round,
    }
    print(f"wrote {save('engine', figures, **sizes)}")
