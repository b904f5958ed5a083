"""The end-to-end harness: a real anvil with the test contracts, the local Alpaca server in the test
process, the bot as a separate ``arbtui run --headless`` process, a fill emitter and a read-only view of
the bot's ledger. Every process started here is stopped by its own PID."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import resource
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import aiohttp
from aiohttp import web
from web3 import Web3
from web3.exceptions import TransactionNotFound

from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.demo.anvil import ANVIL_BIN, REPO_ROOT, AnvilNode, free_port
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Deployment, OrderTuple, OrderV4Tuple, order, order_v6
from tests.chain_support.rain_float import rain_parse
from tests.e2e.ledger_view import OPEN, TERMINAL, Execution, LedgerView

__all__ = ["OPEN", "TERMINAL", "Execution", "LedgerView"]  # re-exported: the tests import them from here

API_KEY = "e2e-key"
API_SECRET = "e2e-secret"

# token name in the deployment → (broker symbol, token decimals)
TOKENS: dict[str, tuple[str, int]] = {
    "tAAPL": ("AAPL", 18),
    "AAPL0x": ("AAPL", 18),
    "NVDAs1": ("NVDA", 9),
    "tMSFT": ("MSFT", 18),
}


async def eventually(
    check: Callable[[], Awaitable[bool] | bool], *, within: float, what: str, every: float = 0.05
) -> None:
    """Poll ``check`` until it holds; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        result = check()
        if await result if isinstance(result, Awaitable) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within}s waiting for {what}")
        await asyncio.sleep(every)


# --- the broker ---------------------------------------------------------------------------------


class CountingAlpacaServer(AlpacaServer):
    """The local Alpaca server, also counting every ``POST /v2/orders`` per client order id (refused
    duplicates included) and waking waiters the moment a submit arrives."""

    def __init__(self) -> None:
        super().__init__(api_key=API_KEY, api_secret=API_SECRET)
        self.posts: Counter[str] = Counter()
        self.before_create: Callable[[], Awaitable[None]] | None = None
        """One-shot hook run when the next submit arrives, before the order is created."""
        self.after_create: Callable[[], Awaitable[None]] | None = None
        """One-shot hook run after the next submit created its order, before the answer is sent."""

    async def _submit(self, request: web.Request) -> web.Response:
        body = json.loads(await request.text())
        client_id = str(body.get("client_order_id"))
        self.posts[client_id] += 1
        hook, self.before_create = self.before_create, None
        if hook is not None:
            await hook()
        response = await super()._submit(request)
        hook, self.after_create = self.after_create, None
        if hook is not None:
            await hook()
        return response

    def filled_net(self) -> dict[str, Decimal]:
        """Net shares the broker filled per symbol (buy +, sell −): the broker's own books."""
        net: dict[str, Decimal] = {}
        for sim in self.book.orders.values():
            signed = self.book.filled(sim) * (1 if sim.side == "buy" else -1)
            net[sim.symbol] = net.get(sim.symbol, Decimal(0)) + signed
        return net


# --- the chain ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmittedFill:
    trade_id: str
    symbol: str
    direction: str
    amount: Decimal
    book: str = "v4"
    """``v4`` (the V4 stand-in, uint256 amounts) or ``v6`` (the V6 stand-in, Floats from Rain's library)."""


@dataclass
class FillEmitter:
    """Sends take transactions of our orders with random sizes (≤ 6 decimals) and sides; records every
    fill it caused by the receipt's log (``tx_hash:log_index``), independently of the bot's decoder."""

    driver: ChainDriver
    rng: random.Random
    emitted: list[EmittedFill] = field(default_factory=list)
    transactions: int = 0
    sent_listeners: list[Callable[[], None]] = field(default_factory=list)
    books: tuple[str, ...] = ("v4",)
    """The books each transaction picks from at random (``v4``, ``v6``): one book per transaction."""

    def _orders(self) -> dict[tuple[str, str], OrderTuple]:
        d = self.driver.deployment
        orders: dict[tuple[str, str], OrderTuple] = {}
        for name, (_, decimals) in TOKENS.items():
            token = d.tokens[name]
            orders[(name, "SELL")] = order(OUR_OWNER, [(d.usdc, 6)], [(token, decimals)])
            orders[(name, "BUY")] = order(OUR_OWNER, [(token, decimals)], [(d.usdc, 6)])
        return orders

    def send(self, fills_in_tx: int) -> list[EmittedFill]:
        """One transaction with ``fills_in_tx`` random takes of our orders."""
        plan = [
            (
                self.rng.choice(list(TOKENS)),
                self.rng.choice(["BUY", "SELL"]),
                Decimal(self.rng.randint(1, 2_500_000)) / Decimal(1_000_000),
            )
            for _ in range(fills_in_tx)
        ]
        return self.send_exact(plan)

    def send_exact(self, plan: list[tuple[str, str, Decimal]]) -> list[EmittedFill]:
        """One transaction taking our orders: (token name, our direction, shares) each, on a book drawn
        from :attr:`books`."""
        book = self.rng.choice(self.books) if len(self.books) > 1 else self.books[0]
        if book == "v6":
            return self._send_v6(plan)
        orders = self._orders()
        takes: list[tuple[OrderTuple, int, int, int, int]] = []
        planned: list[tuple[str, str, Decimal]] = []
        for name, direction, amount in plan:
            price = self.rng.randint(100, 300)
            token_units = int(amount * 10 ** TOKENS[name][1])
            usdc_units = int(amount * price * 10**6)
            if direction == "SELL":  # the taker receives our tokens and pays USDC
                takes.append((orders[(name, "SELL")], 0, 0, token_units, usdc_units))
            else:  # the taker receives our USDC and pays tokens
                takes.append((orders[(name, "BUY")], 0, 0, usdc_units, token_units))
            planned.append((TOKENS[name][0], direction, amount))
        sent = self.driver.take(takes)
        receipt = self.driver.w3.eth.get_transaction_receipt(sent.tx_hash)  # type: ignore[arg-type]
        book = self.driver.deployment.orderbook.lower()
        logs = [log for log in receipt["logs"] if str(log["address"]).lower() == book]
        assert len(logs) == len(planned), f"{sent.tx_hash}: {len(logs)} orderbook logs for {len(planned)} takes"
        made = [
            EmittedFill(f"{sent.tx_hash}:{int(log['logIndex'])}", symbol, direction, amount)
            for log, (symbol, direction, amount) in zip(logs, planned, strict=True)
        ]
        return self._sent(made)

    def _sent(self, made: list[EmittedFill]) -> list[EmittedFill]:
        self.emitted.extend(made)
        self.transactions += 1
        for listener in self.sent_listeners:
            listener()
        return made

    def _send_v6(self, plan: list[tuple[str, str, Decimal]]) -> list[EmittedFill]:
        """The same plan on the V6 book: Float amounts in whole tokens, made by Rain's own library."""
        d = self.driver.deployment
        texts: list[str] = []
        planned: list[tuple[OrderV4Tuple, str, str, Decimal]] = []
        for name, direction, amount in plan:
            price = self.rng.randint(100, 300)
            token, usdc = format(amount, "f"), format(amount * price, "f")
            if direction == "SELL":  # the taker receives our tokens and pays USDC
                planned.append((order_v6(OUR_OWNER, [d.usdc], [d.tokens[name]]), name, direction, amount))
                texts += [token, usdc]
            else:
                planned.append((order_v6(OUR_OWNER, [d.tokens[name]], [d.usdc]), name, direction, amount))
                texts += [usdc, token]
        floats = rain_parse(texts)
        takes = [(o, 0, 0, floats[2 * i], floats[2 * i + 1]) for i, (o, _, _, _) in enumerate(planned)]
        sent = self.driver.take_v6(takes)
        receipt = self.driver.w3.eth.get_transaction_receipt(sent.tx_hash)  # type: ignore[arg-type]
        book = d.orderbook_v6.lower()
        logs = [log for log in receipt["logs"] if str(log["address"]).lower() == book]
        assert len(logs) == len(planned), f"{sent.tx_hash}: {len(logs)} V6 orderbook logs for {len(planned)} takes"
        return self._sent(
            [
                EmittedFill(f"{sent.tx_hash}:{int(log['logIndex'])}", TOKENS[name][0], direction, amount, "v6")
                for log, (_, name, direction, amount) in zip(logs, planned, strict=True)
            ]
        )

    def canonical(self) -> list[EmittedFill]:
        """The emitted fills whose transaction is on the node's chain now, asked of the node itself by
        receipt (a reorg drops some; a replayed transaction brings its fills back under the same ids)."""
        tx_hashes = {fill.trade_id.split(":")[0] for fill in self.emitted}
        on_chain = {tx for tx in tx_hashes if self._mined(tx)}
        return [fill for fill in self.emitted if fill.trade_id.split(":")[0] in on_chain]

    def _mined(self, tx_hash: str) -> bool:
        try:
            receipt = self.driver.w3.eth.get_transaction_receipt(tx_hash)  # type: ignore[arg-type]
        except TransactionNotFound:
            return False
        block = self.driver.w3.eth.get_block(receipt["blockNumber"])
        return bytes(block["hash"]) == bytes(receipt["blockHash"])

    def model_onchain_net(self, fills: list[EmittedFill] | None = None) -> dict[str, Decimal]:
        """Σ signed fills per symbol (our BUY +, our SELL −), of ``fills`` (default: every emitted one)."""
        net: dict[str, Decimal] = {}
        for fill in self.emitted if fills is None else fills:
            signed = fill.amount if fill.direction == "BUY" else -fill.amount
            net[fill.symbol] = net.get(fill.symbol, Decimal(0)) + signed
        return net


@dataclass
class Chain:
    node: AnvilNode
    deployment: Deployment
    driver: ChainDriver
    first_block: int


def start_chain(artifacts: dict[str, Artifact], deploy: Callable[[str, dict[str, Artifact]], Deployment]) -> Chain:
    node = AnvilNode.start()
    try:
        deployment = deploy(node.http_url, artifacts)
        driver = ChainDriver(node.http_url, deployment, artifacts)
        return Chain(node, deployment, driver, driver.head() + 1)
    except BaseException:
        node.stop()
        raise


def anvil_on(port: int, *args: str) -> AnvilNode:
    """anvil on a given port (a restart on the node's old port), stopped by its PID like any node."""
    process = subprocess.Popen(
        [str(ANVIL_BIN), "--port", str(port), "--host", "127.0.0.1", "--silent", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    node = AnvilNode(process, port)
    try:
        node.wait_ready(15)
    except BaseException:
        node.stop()
        raise
    return node


def restart_anvil(chain: Chain, state: Path) -> None:
    """Stop anvil by PID (started with ``--dump-state state``, it dumps its state), start it again from
    that state on the same port."""
    port = chain.node.port
    chain.node.stop()
    assert state.exists(), "anvil wrote no state on exit"
    chain.node = anvil_on(port, "--load-state", str(state), "--dump-state", str(state))


# --- the bot --------------------------------------------------------------------------------------


def write_config(
    path: Path,
    *,
    chain: Chain,
    alpaca_url: str,
    api_port: int,
    db: Path,
    ws: bool = True,
    extra: str = "",
    both_books: bool = False,
) -> Path:
    """The bot's config; ``both_books`` adds the V6 stand-in as ``[[chain.orderbooks]]`` beside the V4
    book of ``chain.orderbook`` (the single form), as an operator migrating V4 → V6 would."""
    d = chain.deployment
    ws_line = f'ws_url = "{chain.node.ws_url}"' if ws else ""
    v6_book = (
        f'\n[[chain.orderbooks]]\naddress = "{d.orderbook_v6}"\ndeployment_block = {chain.first_block}\n'
        if both_books
        else ""
    )
    path.write_text(
        f"""
[chain]
http_url = "{chain.node.http_url}"
{ws_line}
orderbook = "{d.orderbook}"
owner = "{OUR_OWNER}"
usdc = "{d.usdc}"
deployment_block = {chain.first_block}
poll_interval_s = 0.2
stale_after_s = 60.0

[broker]
kind = "alpaca"
poll_interval_s = 0.1

[alpaca]
paper = true
base_url = "{alpaca_url}"

[database]
path = "{db}"

[api]
listen = "127.0.0.1:{api_port}"

[engine]
check_interval_s = 0.5
{extra}
{v6_book}"""
    )
    return path


def _limit_file_size(limit: int) -> Callable[[], None]:
    def apply() -> None:  # runs in the child between fork and exec; Python ignores SIGXFSZ, so EFBIG
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def bot_environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")}
    env["ARBTUI_ALPACA_API_KEY"] = API_KEY
    env["ARBTUI_ALPACA_API_SECRET"] = API_SECRET
    env["PYTHONUNBUFFERED"] = "1"
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    return env


@dataclass
class Bot:
    """``arbtui --config … --db … run --headless`` in its own process; restartable, stopped by PID."""

    config: Path
    db: Path
    api_port: int
    logs: Path
    process: asyncio.subprocess.Process | None = None
    starts: int = 0
    kills: int = 0
    file_size_limit: int | None = None
    """RLIMIT_FSIZE (bytes) for the next starts: a write past it fails with EFBIG, as on a full disk."""
    _log: TextIO | None = None

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        assert not self.running, "already running"
        self.starts += 1
        self.logs.mkdir(exist_ok=True)
        if self._log is not None:
            self._log.close()
        self._log = (self.logs / f"bot-{self.starts:03d}.log").open("w")
        self.process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "arbtui.cli",
            "--config",
            str(self.config),
            "--db",
            str(self.db),
            "run",
            "--headless",
            cwd=REPO_ROOT,
            env=bot_environment(),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
            preexec_fn=None if self.file_size_limit is None else _limit_file_size(self.file_size_limit),
        )

    async def healthy(self) -> bool:
        try:
            async with (
                aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as session,
                session.get(f"{self.api_url}/health") as response,
            ):
                return response.status == 200
        except (aiohttp.ClientError, TimeoutError, OSError):
            return False

    async def wait_healthy(self, within: float = 30.0) -> None:
        async def up() -> bool:
            if not self.running:
                raise AssertionError(f"bot exited with {self.returncode()} during start-up: {self.tail()}")
            return await self.healthy()

        await eventually(up, within=within, what="the bot's /health")

    async def ready(self) -> dict[str, Any]:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session,
            session.get(f"{self.api_url}/ready") as response,
        ):
            answer: dict[str, Any] = await response.json()
            return answer

    async def kill9(self) -> None:
        """SIGKILL by our own PID, then reap it."""
        assert self.process is not None
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            self.kills += 1
        await self.process.wait()

    def signal(self, number: int) -> None:
        assert self.process is not None
        assert self.process.returncode is None
        os.kill(self.process.pid, number)

    async def wait_exit(self, within: float) -> int:
        assert self.process is not None
        return await asyncio.wait_for(self.process.wait(), within)

    def returncode(self) -> int | None:
        return None if self.process is None else self.process.returncode

    def tail(self, lines: int = 15) -> str:
        path = self.logs / f"bot-{self.starts:03d}.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""

    def log_text(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in sorted(self.logs.glob("bot-*.log")))

    async def stop(self) -> None:
        """Teardown: SIGKILL by PID if still running (tests stop it gracefully themselves first)."""
        if self.process is not None and self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGKILL)
            await self.process.wait()
        if self._log is not None:
            self._log.close()
            self._log = None


async def run_cli(*args: str, within: float = 120.0) -> tuple[int, str]:
    """``arbtui ARGS`` as operators run it; (exit code, stdout+stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        *args,
        cwd=REPO_ROOT,
        env=bot_environment(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        out, _ = await asyncio.wait_for(process.communicate(), within)
    finally:
        if process.returncode is None:
            os.kill(process.pid, signal.SIGKILL)
            await process.wait()
    assert process.returncode is not None
    return process.returncode, out.decode(errors="replace")


def emitter_for(chain: Chain, seed: int, books: tuple[str, ...] = ("v4",)) -> FillEmitter:
    return FillEmitter(chain.driver, random.Random(seed), books=books)


def allocate_port() -> int:
    return free_port()


def checksum(address: str) -> str:
    return Web3.to_checksum_address(address)


def emit_paced(emitter: FillEmitter, total: int, duration_s: float, stop: threading.Event, max_per_tx: int = 3) -> None:
    """Emit ``total`` fills in transactions of 1..``max_per_tx`` takes, spread over ``duration_s``
    (pacing, not polling: the wait is the schedule itself)."""
    started = time.monotonic()
    while len(emitter.emitted) < total and not stop.is_set():
        count = min(emitter.rng.randint(1, max_per_tx), total - len(emitter.emitted))
        emitter.send(count)
        due = started + duration_s * len(emitter.emitted) / total
        stop.wait(max(0.0, due - time.monotonic()))
