"""The demo's world, set up and torn down as one async context manager: anvil with the demo tokens,
USDC, MockPyth and the orderbook stand-in; the local Alpaca-style broker; a throwaway config and
database; and the engine built from them by the real factory (:func:`arbtui.engine.factory.build_engine`
from :func:`arbtui.config.load_settings`), exactly as ``arbtui run`` builds it.

Whatever happens inside (an error, Ctrl-C, a quit), the broker server and anvil are stopped by their
own handles and the temporary directory is removed; only a database asked for with ``--keep-db`` stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from arbtui.clock import SystemClock
from arbtui.config import ConfigError, Settings, format_problems, load_settings
from arbtui.demo.alpaca_server import AlpacaServer
from arbtui.demo.anvil import ANVIL_BIN, REPO_ROOT, AnvilError, AnvilNode
from arbtui.demo.artifacts import PYTH_SDK, SOLC_PACKAGE, Artifact, load_artifacts
from arbtui.demo.deploy import OUR_OWNER, ChainDriver, Deployment, deploy_demo
from arbtui.demo.local_server import AlwaysOpenCalendar
from arbtui.demo.market import (
    LISTINGS,
    OPENING,
    OPENING_USDC,
    UNKNOWN,
    USDC_DECIMALS,
    VAULT_ID,
    WRAPPED,
    Book,
    PriceWalk,
    Strategy,
)
from arbtui.demo.solver import Solver, float_bytes
from arbtui.domain.ids import RandomIds
from arbtui.engine.factory import build_engine
from arbtui.engine.lifecycle import Engine
from arbtui.store.errors import LedgerLocked
from arbtui.store.lock import WriterLock

BROKER_ACCEPT_DELAY_S = 0.2
BROKER_FILL_DELAY_S = 0.6
"""The local broker accepts, then fills, each hedge after these delays (a visible SUBMITTED phase)."""

Progress = Callable[[str], None]


class DemoSetupError(RuntimeError):
    """The demo cannot start; the message says what to do (one line)."""


@dataclass
class DemoWorld:
    node: AnvilNode
    deployment: Deployment
    driver: ChainDriver
    broker: AlpacaServer
    settings: Settings
    engine: Engine
    config_path: Path
    db_path: Path
    kept: bool
    """True when the database outlives the demo (``--keep-db``)."""
    books: tuple[Book, ...] = (Book.V4,)
    """The orderbooks in the config, which the solver trades on."""
    ledger_closed: bool = False
    """Set by whoever closed the engine's ledger (the console host or the headless runner)."""

    def solver(self, *, seed: int | None, rate: float) -> Solver:
        """A simulated solver on this world; the same seed gives the same prices, moves and sizes."""
        root = random.Random(seed)
        moves, prices = random.Random(root.getrandbits(64)), random.Random(root.getrandbits(64))
        books = random.Random(root.getrandbits(64))  # drawn last: the moves and prices stay a seed's own
        strategy = Strategy(moves, PriceWalk.starting(LISTINGS))
        return Solver(
            self.driver,
            strategy,
            rate=rate,
            price_rng=prices,
            broker_prices=self.broker.book.prices,
            books=self.books,
            book_rng=books,
        )

    def book_address(self, book: Book) -> str:
        return self.deployment.orderbook if book is Book.V4 else self.deployment.orderbook_v6


def check_tooling() -> None:
    """The npm tooling the demo needs (``make setup`` installs it), or a one-line error saying so."""
    if shutil.which("node") is None:
        raise DemoSetupError("node is not on PATH: install Node 20+, then run `make setup`")
    for needed in (ANVIL_BIN, SOLC_PACKAGE, PYTH_SDK):
        if not needed.exists():
            raise DemoSetupError(f"{REPO_ROOT / 'node_modules'} is missing or incomplete: run `make setup`")


def _stock(driver: ChainDriver, deployment: Deployment, book: Book, broker: AlpacaServer) -> None:
    """The opening inventory (:data:`OPENING`): our owner's vaults on ``book`` (the first configured, which
    ``[inventory.vaults]`` names) and the broker's positions. On the V4 stand-in a real deposit — tokens
    minted to the owner and moved into the book; the V6 stand-in has no deposit, its balances are set."""
    vaults = [(deployment.usdc, USDC_DECIMALS, OPENING_USDC)]
    for listing in LISTINGS:
        if listing.ticker in OPENING:
            vaults.append((deployment.tokens[listing.token], listing.decimals, OPENING[listing.ticker].onchain))
    for token, decimals, amount in vaults:
        raw = int(Decimal(amount).scaleb(decimals))
        if book is Book.V4:
            driver.deposit_as(OUR_OWNER, token, VAULT_ID, raw)
        else:
            driver.set_vault_balance2(OUR_OWNER, token, VAULT_ID, float_bytes(raw, decimals))
    broker.holdings.update({ticker: Decimal(opening.broker) for ticker, opening in OPENING.items()})


def _vaults_text(deployment: Deployment) -> str:
    """``[inventory.vaults]``: each vault :func:`_stock` filled, with its token (the ledger knows none yet)."""

    def q(value: object) -> str:
        return json.dumps(str(value))

    tokens = {li.ticker: deployment.tokens[li.token] for li in LISTINGS if li.ticker in OPENING}
    lines = [f"{ticker} = {q(f'{VAULT_ID}@{tokens[ticker]}')}" for ticker in OPENING]
    return "\n".join([*lines, f"USDC = {q(f'{VAULT_ID}@{deployment.usdc}')}"])


def _config_text(
    world: Deployment, books: tuple[Book, ...], node: AnvilNode, broker_url: str, db: Path, first_block: int
) -> str:
    """One book: ``chain.orderbook`` (the form a single-book operator writes); several: one
    ``[[chain.orderbooks]]`` table each."""

    def q(value: object) -> str:
        return json.dumps(str(value))  # a TOML basic string is a JSON string

    address = {Book.V4: world.orderbook, Book.V6: world.orderbook_v6}
    single = f"orderbook = {q(address[books[0]])}\ndeployment_block = {first_block}\n" if len(books) == 1 else ""
    several = (
        ""
        if len(books) == 1
        else "".join(
            f"\n[[chain.orderbooks]]  # {book.value.upper()} stand-in\naddress = {q(address[book])}\n"
            f"deployment_block = {first_block}\n"
            for book in books
        )
    )
    return f"""# Written by `arbtui demo` for this run only.
[chain]
http_url = {q(node.http_url)}
ws_url = {q(node.ws_url)}
{single}owner = {q(OUR_OWNER)}
usdc = {q(world.usdc)}
pyth = {q(world.pyth)}
poll_interval_s = 0.5
stale_after_s = 60.0
{several}
[broker]
kind = "alpaca"
poll_interval_s = 0.2

[alpaca]
paper = true
base_url = {q(broker_url)}

[database]
path = {q(db)}

[engine]
check_interval_s = 1.0
shutdown_timeout_s = 10.0

[inventory.vaults]  # what the demo deposited, on the first book (the console's inventory pane reads them)
{_vaults_text(world)}
"""


@contextlib.asynccontextmanager
async def demo_world(
    *, keep_db: Path | None, progress: Progress, books: tuple[Book, ...] = (Book.V4, Book.V6)
) -> AsyncIterator[DemoWorld]:
    """Start everything (reporting each step through ``progress``), yield the world, stop everything."""
    check_tooling()
    lock = _lock_kept(keep_db)  # before the file is checked: two demos on one --keep-db, one refused
    try:
        workdir, db = _paths(keep_db)
    except BaseException:
        if lock is not None:
            lock.release()
        raise
    node: AnvilNode | None = None
    broker: AlpacaServer | None = None
    world: DemoWorld | None = None
    try:
        progress("compiling the demo contracts with solc-js (cached after the first run)…")
        artifacts = await _compile()
        progress("starting anvil…")
        node = await asyncio.to_thread(_start_anvil)
        progress(f"anvil on {node.http_url}; deploying USDC, MockPyth, the orderbook stand-ins and the tokens…")
        tokens = [(li.token, li.decimals) for li in (*LISTINGS, UNKNOWN)]
        wrappers = [
            (w.token, w.underlying, w.numerator, w.denominator)
            for book in books
            for w in WRAPPED.get(book, {}).values()
        ]
        deployment = await asyncio.to_thread(deploy_demo, node.http_url, artifacts, tokens, wrappers)
        driver = ChainDriver(node.http_url, deployment, artifacts)
        key, secret = f"demo-{secrets.token_hex(4)}", secrets.token_hex(16)
        broker = AlpacaServer(api_key=key, api_secret=secret)
        broker.calendar = AlwaysOpenCalendar()  # open whenever the demo runs, and its calendar says so
        broker.follow_calendar()
        how = "deposits into our vaults" if books[0] is Book.V4 else "our vault balances set"
        progress(f"opening inventory: {how} on the {books[0].value.upper()} book, and positions at the broker")
        await asyncio.to_thread(_stock, driver, deployment, books[0], broker)
        first_block = await asyncio.to_thread(driver.head) + 1
        broker.book.accept_delay, broker.book.fill_delay = BROKER_ACCEPT_DELAY_S, BROKER_FILL_DELAY_S
        await broker.start()
        progress(f"local Alpaca-style broker on {broker.url}")
        config_path = workdir / "arbtui-demo.toml"
        config_path.write_text(_config_text(deployment, books, node, broker.url, db, first_block))
        try:  # the demo's own secrets only: no ARBTUI_* of the operator's shell leaks into the demo
            settings = load_settings(
                config_path, environ={"ARBTUI_ALPACA_API_KEY": key, "ARBTUI_ALPACA_API_SECRET": secret}
            )
        except ConfigError as exc:
            raise DemoSetupError(f"the demo's config is invalid: {format_problems(exc)}") from exc
        for listing in LISTINGS:
            assert listing.ticker is not None
            broker.book.prices[listing.ticker] = Decimal(listing.start_price)
        engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), lock=lock)
        lock = None  # the engine's store owns it now
        world = DemoWorld(
            node, deployment, driver, broker, settings, engine, config_path, db, kept=keep_db is not None, books=books
        )
        on = ", ".join(f"{book.value.upper()} {world.book_address(book)}" for book in books)
        progress(f"orderbooks: {on}" + _wrapped_note(books))
        progress(f"engine built (ledger {db}); the simulated solver starts trading")
        yield world
    finally:
        if world is not None and not world.ledger_closed:
            with contextlib.suppress(Exception):
                await world.engine.ledger.close()
        if lock is not None:
            lock.release()
        if broker is not None:
            await broker.stop()
        if node is not None:
            node.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def _wrapped_note(books: tuple[Book, ...]) -> str:
    wrapped = [(book, w) for book in books for w in WRAPPED.get(book, {}).values()]
    notes = [f"{w.token} ({w.rate} {w.underlying} each) on {book.value.upper()}" for book, w in wrapped]
    return f"; wrapped: {', '.join(notes)}" if notes else ""


def _lock_kept(keep_db: Path | None) -> WriterLock | None:
    """The writer lock of the ``--keep-db`` ledger, held from before the demo checks the file is new until
    its engine closes the ledger (a throwaway ledger in a fresh directory needs no early lock)."""
    if keep_db is None:
        return None
    try:
        return WriterLock.acquire(keep_db)
    except LedgerLocked as exc:
        raise DemoSetupError(str(exc)) from exc


def _paths(keep_db: Path | None) -> tuple[Path, Path]:
    """A new temporary directory, and the database path: ``keep_db`` (must not exist yet) or in there."""
    if keep_db is not None and keep_db.exists():
        raise DemoSetupError(f"{keep_db} already exists: give --keep-db a new path (the demo starts a fresh ledger)")
    workdir = Path(tempfile.mkdtemp(prefix="arbtui-demo-"))
    return workdir, keep_db.resolve() if keep_db is not None else workdir / "demo.db"


async def _compile() -> dict[str, Artifact]:
    try:
        return await asyncio.to_thread(load_artifacts)
    except subprocess.CalledProcessError as exc:  # solc printed why on stderr
        raise DemoSetupError(f"compiling the demo contracts failed ({exc}); see the solc output above") from exc
    except OSError as exc:
        raise DemoSetupError(f"compiling the demo contracts failed ({exc}): run `make setup`") from exc


def _start_anvil() -> AnvilNode:
    try:
        return AnvilNode.start()
    except AnvilError as exc:
        raise DemoSetupError(f"anvil did not start: {exc}") from exc
