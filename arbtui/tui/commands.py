"""The console's entry points for the CLI: ``run_console`` hosts the engine built from the settings, and
``register`` adds ``arbtui console`` and ``arbtui serve`` (the same console in a browser, through
textual-serve, on loopback unless told otherwise)."""

from __future__ import annotations

import asyncio
import shlex
import sys
from pathlib import Path

import click

from arbtui.clock import SystemClock
from arbtui.config import Settings, is_loopback
from arbtui.domain.ids import RandomIds
from arbtui.engine.factory import build_engine
from arbtui.engine.lifecycle import Engine
from arbtui.reporting.inventory import InventoryReader
from arbtui.reporting.inventory_command import inventory_source
from arbtui.store.files import private_opener
from arbtui.store.lock import WriterLock
from arbtui.tui.app import ArbtuiApp
from arbtui.tui.serve import (
    SERVE_TOKEN_ENV,
    ConsoleServer,
    Guard,
    ServeTokenTooShort,
    console_url,
    serve_token,
    served_origins,
)


async def host(engine: Engine, inventory: InventoryReader | None = None, *, read_only: bool = False) -> int:
    """Run the console on ``engine`` until the operator quits; the engine is stopped and its ledger closed.
    Returns the exit code: 0, or 1 when the engine halted on a fault."""
    app = ArbtuiApp(engine, inventory=inventory, read_only=read_only)
    try:
        code = await app.run_async()
    finally:
        await app.stop_engine()
        await engine.ledger.close()
    return 1 if engine.fault is not None else (code or 0)


def log_beside(ledger: Path) -> Path:
    """The console owns the terminal: the log goes to ``<ledger>.log`` (INFO and up, rotated at 50 MB, five
    files kept) instead of stderr, where every line would tear the screen. Returns the file's path."""
    from loguru import logger

    path = ledger.with_name(ledger.name + ".log")
    logger.remove()
    logger.add(
        path,
        level="INFO",
        rotation="50 MB",
        retention=5,
        format="{time:YYYY-MM-DD HH:mm:ss.SSS} {level: <7} {message}",
        opener=private_opener,  # 0600, like the ledger (rotated files too: each is opened through it)
    )
    return path


def run_console(settings: Settings, db: Path | None = None, *, read_only: bool = False) -> int:
    """``arbtui run``: build the engine as the settings say (same factory as ``--headless``) and host it."""
    log_beside(Path(db or settings.database.path))

    async def main() -> int:
        engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), db=db)
        inventory = inventory_source(settings, engine.broker, db or settings.database.path)
        return await host(engine, inventory, read_only=read_only)

    return asyncio.run(main())


def console_command_line(config: Path | None, db: Path | None, *, read_only: bool = False) -> str:
    """The shell command textual-serve runs for each browser session: this Python's ``arbtui console``
    on the same config and database (absolute paths: the session does not share our working directory)."""
    words = [sys.executable, "-m", "arbtui.cli"]
    if config is not None:
        words += ["--config", str(config.resolve())]
    if db is not None:
        words += ["--db", str(db.resolve())]
    return shlex.join([*words, "console", *(["--read-only"] if read_only else [])])


def serve_console(command: str, host: str, port: int, guard: Guard) -> None:
    """Serve ``command`` (a console) in the browser until SIGINT/SIGTERM, behind ``guard``."""
    ConsoleServer(command, host=host, port=port, guard=guard, title="arbtui console").serve()


def register(group: click.Group) -> None:
    """Add ``console`` and ``serve`` to ``group`` (the ``arbtui`` command)."""

    @group.command("console")
    @click.option("--read-only", is_flag=True, help="Panes only: no key reaches pause, resume, kill or hedge.")
    @click.pass_context
    def console_command(ctx: click.Context, read_only: bool) -> None:
        """Run the bot with the operator console (same as `arbtui run` without --headless)."""
        from arbtui.config import ConfigError, format_problems, load_settings

        obj = ctx.obj
        try:
            settings = load_settings(getattr(obj, "config", None))
        except ConfigError as exc:
            click.echo(format_problems(exc), err=True)
            raise SystemExit(2) from exc
        db = getattr(obj, "_db", None)
        raise SystemExit(run_console(settings, Path(db) if db else None, read_only=read_only))

    @group.command("serve")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
    @click.option("--port", default=8000, show_default=True, type=click.IntRange(1, 65535), help="TCP port.")
    @click.option(
        "--allow-remote",
        is_flag=True,
        help="Listen on a non-loopback address (plain http: prefer an SSH tunnel to 127.0.0.1).",
    )
    @click.option(
        "--max-sessions",
        default=1,
        show_default=True,
        type=click.IntRange(1, 16),
        help="Console sessions open at once (each runs a whole bot).",
    )
    @click.option("--read-only", is_flag=True, help="Panes only: no key reaches pause, resume, kill or hedge.")
    @click.pass_context
    def serve_command(
        ctx: click.Context, host: str, port: int, allow_remote: bool, max_sessions: int, read_only: bool
    ) -> None:
        """Serve the operator console in a browser, behind an Origin check and a secret token.

        Open the URL it prints (it carries a one-time token; set ARBTUI_SERVE_TOKEN, 32+ characters, to
        choose it). At most --max-sessions consoles at once.
        """
        import os

        from arbtui.config import ConfigError, format_problems, load_settings

        if not is_loopback(host) and not allow_remote:
            click.echo(
                f"refusing to serve on {host}: the console can pause, kill and hedge;"
                " serve on 127.0.0.1 and reach it through an SSH tunnel, or pass --allow-remote",
                err=True,
            )
            raise SystemExit(2)
        try:
            token, generated = serve_token(os.environ)
        except ServeTokenTooShort as exc:
            click.echo(str(exc), err=True)
            raise SystemExit(2) from exc
        obj = ctx.obj
        config: Path | None = getattr(obj, "config", None)
        try:
            settings = load_settings(config)  # every problem now, not in each browser tab
        except ConfigError as exc:
            click.echo(format_problems(exc), err=True)
            raise SystemExit(2) from exc
        db = getattr(obj, "_db", None)
        ledger = Path(db) if db else settings.database.path
        holder = WriterLock.holder(ledger)
        if holder is not None:  # each session would be refused: say so now (the sessions still lock)
            click.echo(
                f"ledger {ledger} is in use by another arbtui (held by {holder}): one writer per ledger", err=True
            )
            raise SystemExit(1)
        command = console_command_line(config, Path(db) if db else None, read_only=read_only)
        if not is_loopback(host):
            click.echo(f"WARNING: serving the console on {host}:{port} over plain http", err=True)
        guard = Guard(token=token, origins=served_origins(host, port), max_sessions=max_sessions)
        where = console_url(host, port, token) if generated else console_url(host, port, "$" + SERVE_TOKEN_ENV)
        click.echo(
            f"arbtui console{' (read-only)' if read_only else ''} at {where}"
            f" — at most {max_sessions} session(s); Ctrl+C stops",
            err=True,
        )
        serve_console(command, host, port, guard)
