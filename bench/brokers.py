"""Adapter overhead per order (submit + status) against the local broker servers, zero added latency.

Each figure is printed beside a bare ``httpx`` baseline doing the same two requests (same server, same
run, same auth headers). Target: the Schwab adapter within 1.5× of its baseline; alpaca-py (a
synchronous SDK on ``requests``, run in a worker thread) is reported as measured. The client-side rate
limit is lifted for the run (it would otherwise *be* the figure: 120 requests/min).

Run: ``.venv/bin/python -m bench.brokers [--orders N]``; writes ``bench/results/brokers.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from loguru import logger
from pydantic import SecretStr

from arbtui.brokers.alpaca import AlpacaBroker, AlpacaConfig
from arbtui.brokers.base import BrokerOrderId, MarketOrder
from arbtui.brokers.resilience import RetryPolicy
from arbtui.brokers.schwab import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import TokenCipher
from arbtui.brokers.schwab.oauth import AccessTokens, authorize_url, exchange_redirect
from arbtui.clock import SystemClock
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.domain.values import Direction, ExecutionId, PriceUsdc, Shares, Symbol
from tests.fakes.schwab_server import ACCOUNT_HASH, SchwabServer
from tests.fakes.token_vault import InMemoryTokenVault

# `python -m bench --quick` runs this module with these arguments (see bench/README.md).
QUICK_ARGS = ("--orders", "30")

RESULTS = Path(__file__).parent / "results" / "brokers.json"
UNLIMITED = 10**9
POLICY = RetryPolicy(request_timeout=10.0)


@dataclass(frozen=True)
class Figure:
    name: str
    adapter_ms: float
    baseline_ms: float
    ratio: float
    target: float | None
    passed: bool | None
    orders: int


def order() -> MarketOrder:
    return MarketOrder(
        ExecutionId(str(uuid.uuid4())), Symbol("AAPL"), Direction.BUY, Shares("1"), estimated_price=PriceUsdc("187.12")
    )


async def per_order_ms(step: Callable[[], Awaitable[object]], orders: int, warmup: int = 20) -> float:
    for _ in range(warmup):
        await step()
    samples = []
    for _ in range(orders):
        started = time.perf_counter()
        await step()
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)


async def bench_schwab(orders: int) -> Figure:
    async with SchwabServer() as server:
        config = SchwabConfig(
            app_key=SecretStr(server.app_key),
            app_secret=SecretStr(server.app_secret),
            callback_url=server.callback_url,
            base_url=server.url,
            requests_per_minute=UNLIMITED,
            retry=POLICY,
        )
        vault, cipher, clock = InMemoryTokenVault(), TokenCipher.from_hex(TokenCipher.generate_key_hex()), SystemClock()
        url, state = authorize_url(config.app)
        tokens = await exchange_redirect(config.app, await server.simulate_browser(url), clock, state=state)
        await AccessTokens(config.app, vault, cipher, clock, client=None).store_new(tokens)
        broker = SchwabBroker(config, vault=vault, cipher=cipher, clock=clock)

        async def adapter_step() -> None:
            await broker.order_status(await broker.submit(order()))

        headers = {"Authorization": f"Bearer {tokens.access_token.get_secret_value()}"}
        body = {
            "orderType": "MARKET",
            "session": "NORMAL",
            "duration": "DAY",
            "orderStrategyType": "SINGLE",
            "orderLegCollection": [
                {"instruction": "BUY", "quantity": 1, "instrument": {"symbol": "AAPL", "assetType": "EQUITY"}}
            ],
        }
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as bare:

            async def bare_step() -> None:
                placed = await bare.post(f"/trader/v1/accounts/{ACCOUNT_HASH}/orders", json=body)
                order_id = placed.headers["Location"].rsplit("/", 1)[-1]
                (await bare.get(f"/trader/v1/accounts/{ACCOUNT_HASH}/orders/{order_id}")).json()

            baseline = await per_order_ms(bare_step, orders)
            adapter = await per_order_ms(adapter_step, orders)
        await broker.aclose()
    ratio = adapter / baseline
    return Figure("schwab adapter (authlib+httpx)", adapter, baseline, ratio, 1.5, ratio <= 1.5, orders)


async def bench_alpaca(orders: int) -> Figure:
    async with AlpacaServer() as server:
        config = AlpacaConfig(
            api_key=SecretStr(server.api_key),
            api_secret=SecretStr(server.api_secret),
            base_url=server.url,
            requests_per_minute=UNLIMITED,
            retry=POLICY,
        )
        broker = AlpacaBroker(config)

        async def adapter_step() -> None:
            order_id: BrokerOrderId = await broker.submit(order())
            await broker.order_status(order_id)

        headers = {"APCA-API-KEY-ID": server.api_key, "APCA-API-SECRET-KEY": server.api_secret}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as bare:

            async def bare_step() -> None:
                body = {
                    "symbol": "AAPL",
                    "qty": "1",
                    "side": "buy",
                    "type": "market",
                    "time_in_force": "day",
                    "client_order_id": str(uuid.uuid4()),
                }
                placed = (await bare.post("/v2/orders", json=body)).json()
                (await bare.get(f"/v2/orders/{placed['id']}")).json()

            baseline = await per_order_ms(bare_step, orders)
            adapter = await per_order_ms(adapter_step, orders)
        await broker.aclose()
    return Figure("alpaca adapter (alpaca-py, thread)", adapter, baseline, adapter / baseline, None, None, orders)


def table(figures: list[Figure]) -> str:
    lines = [
        f"{'figure':36} {'adapter ms':>10} {'bare httpx ms':>13} {'ratio':>6} {'target':>7} {'result':>7}",
        "-" * 84,
    ]
    for f in figures:
        target = f"≤{f.target:.1f}×" if f.target is not None else "report"
        result = "n/a" if f.passed is None else ("PASS" if f.passed else "FAIL")
        lines.append(f"{f.name:36} {f.adapter_ms:10.3f} {f.baseline_ms:13.3f} {f.ratio:5.2f}× {target:>7} {result:>7}")
    return "\n".join(lines)


async def main(orders: int) -> list[Figure]:
    logger.remove()  # measure the adapters, not a terminal sink
    return [await bench_schwab(orders), await bench_alpaca(orders)]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--orders", type=int, default=300, help="orders per figure (median reported)")
    args = parser.parse_args()
    figures = asyncio.run(main(args.orders))
    print("Per-order overhead (submit + status), median, local servers, no added latency")
    print(table(figures))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"figures": [asdict(f) for f in figures]}, indent=2) + "\n")
    print(f"wrote {RESULTS}")
