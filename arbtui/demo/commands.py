"""``arbtui demo``: the whole real pipeline on a local chain and broker, with no account or node.

:func:`register` adds the command to the ``arbtui`` group; the CLI passes the console's host
(``arbtui.tui.commands.host``) in, so this package never imports the console.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:  # the world (web3, the engine, the broker server) is imported only when the demo runs
    from arbtui.demo.scenario import DemoWorld
    from arbtui.demo.solver import Solver
    from arbtui.engine.lifecycle import Engine
    from arbtui.reporting.inventory import InventoryReader

HostConsole = Callable[["Engine", "InventoryReader | None"], Awaitable[int]]
"""Runs the console on an engine, with the inventory pane when given a reader."""
DEFAULT_RATE = 1.5
EXIT_INTERRUPTED = 130


def register(group: click.Group, host_console: HostConsole) -> None:
    """Add ``demo`` to ``group`` (the ``arbtui`` command); ``host_console`` runs the console on an engine
    (with the inventory of the vaults the demo deposited into)."""

    @group.command("demo")
    @click.option("--headless", is_flag=True, help="No console: progress lines, then a summary.")
    @click.option(
        "--duration",
        type=click.FloatRange(min=1),
        metavar="SECONDS",
        help="Headless: run this long, then stop gracefully (default: until Ctrl-C).",
    )
    @click.option(
        "--seed",
        type=int,
        help="Seed of the simulated solver: the same seed makes the same moves, sizes and price path.",
    )
    @click.option(
        "--keep-db",
        type=click.Path(dir_okay=False, path_type=Path),
        metavar="PATH",
        help="Write the demo's ledger here (a new file) and keep it afterwards.",
    )
    @click.option(
        "--rate",
        type=click.FloatRange(min=0.05, max=50),
        default=DEFAULT_RATE,
        show_default=True,
        help="Solver moves per second, on average.",
    )
    @click.option(
        "--orderbook",
        "book_choice",
        type=click.Choice(["v4", "v6", "both"]),
        default="both",
        show_default=True,
        help="Which orderbook stand-ins the config lists and the solver trades on: V4 (integer amounts),"
        " V6 (rain Float amounts; AAPL trades there as the wrapped wtAAPL, 1.25 tAAPL each), or both.",
    )
    def demo_command(
        headless: bool, duration: float | None, seed: int | None, keep_db: Path | None, rate: float, book_choice: str
    ) -> None:
        """The whole pipeline on a local chain and broker: anvil, the V4 and V6 orderbook stand-ins, MockPyth,
        a simulated solver, hedges on a local Alpaca-style server — on a throwaway ledger."""
        if duration is not None and not headless:
            raise click.UsageError("--duration needs --headless (in the console, press q to stop)")
        _quiet_local_proxies()
        _route_logs(headless, keep_db)
        code = _run(
            headless=headless,
            duration=duration,
            seed=seed,
            keep_db=keep_db,
            rate=rate,
            book_choice=book_choice,
            host=host_console,
        )
        raise SystemExit(code)


def _run(
    *,
    headless: bool,
    duration: float | None,
    seed: int | None,
    keep_db: Path | None,
    rate: float,
    book_choice: str,
    host: HostConsole,
) -> int:
    from arbtui.demo.headless import run_headless
    from arbtui.demo.market import BOOK_CHOICES
    from arbtui.demo.scenario import DemoSetupError, demo_world

    async def main() -> int:
        async with demo_world(keep_db=keep_db, progress=_echo, books=BOOK_CHOICES[book_choice]) as world:
            solver = world.solver(seed=seed, rate=rate)
            if headless:
                return await run_headless(world, solver, duration, _echo)
            return await _run_console(world, solver, host)

    try:
        return asyncio.run(main())
    except DemoSetupError as exc:
        click.echo(f"arbtui demo: {exc}", err=True)
        return 1
    except KeyboardInterrupt:
        click.echo("arbtui demo: interrupted; everything it started is stopped", err=True)
        return EXIT_INTERRUPTED


async def _run_console(world: DemoWorld, solver: Solver, host: HostConsole) -> int:
    """The console on the demo's engine, the solver beside it in the same loop. SIGTERM (or SIGINT from
    outside the terminal) ends the console through cancellation, so its engine still stops gracefully."""
    loop = asyncio.get_running_loop()
    main_task = asyncio.current_task()
    assert main_task is not None
    for number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(number, main_task.cancel)
    solver_task = asyncio.create_task(solver.run(), name="solver")
    solver_error: BaseException | None = None
    from arbtui.reporting.inventory_command import inventory_source

    inventory = inventory_source(world.settings, world.engine.broker, world.db_path)
    try:
        code = await host(world.engine, inventory)
        world.ledger_closed = True
    except asyncio.CancelledError:
        code = EXIT_INTERRUPTED
    finally:
        solver.stop()
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await solver_task
            except Exception as exc:  # noqa: BLE001 - reported below, after the console closed
                solver_error = exc
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(number)
    if solver_error is not None:
        click.echo(f"arbtui demo: the simulated solver failed: {solver_error!r}", err=True)
        return code or 1
    return code


def _echo(line: str) -> None:
    click.echo(line)


def _route_logs(headless: bool, keep_db: Path | None) -> None:
    """Headless: warnings and errors on stderr. Console: nothing on the terminal (it would tear the
    screen); with --keep-db, the full log beside the database."""
    from loguru import logger

    logger.remove()
    if headless:
        logger.add(sys.stderr, level="WARNING", format="{time:HH:mm:ss} {level: <7} {message}")
    elif keep_db is not None:
        from arbtui.store.files import private_opener

        logger.add(keep_db.with_name(keep_db.name + ".log"), level="INFO", opener=private_opener)


def _quiet_local_proxies() -> None:
    """The demo talks only to loopback: never through an HTTP proxy from the environment."""
    local = "127.0.0.1,localhost"
    for name in ("NO_PROXY", "no_proxy"):
        current = os.environ.get(name)
        os.environ[name] = f"{current},{local}" if current else local
