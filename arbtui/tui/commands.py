"""The console's entry points for the CLI: ``run_console`` hosts the engine built from the settings, and
``register`` adds ``arbtui console`` for the lead to wire (``arbtui run`` without ``--headless`` should
call :func:`run_console`)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click

from arbtui.config import Settings
from arbtui.engine.app import Engine
from arbtui.engine.factory import build_engine
from arbtui.tui.app import ArbtuiApp


async def host(engine: Engine) -> int:
    """Run the console on ``engine`` until the operator quits; the engine is stopped and its ledger closed.
    Returns the exit code: 0, or 1 when the engine halted on a fault."""
    app = ArbtuiApp(engine)
    try:
        code = await app.run_async()
    finally:
        await app.stop_engine()
        await engine.ledger.close()
    return 1 if engine.fault is not None else (code or 0)


def run_console(settings: Settings, db: Path | None = None) -> int:
    """``arbtui run``: build the engine as the settings say (same factory as ``--headless``) and host it."""

    async def main() -> int:
        built = await build_engine(settings, db=db)
        return await host(built.engine)

    return asyncio.run(main())


def register(group: click.Group) -> None:
    """Add ``console`` to ``group`` (the ``arbtui`` command): the operator console on the configured bot."""

    @group.command("console")
    @click.pass_context
    def console_command(ctx: click.Context) -> None:
        """Run the bot with the operator console (same as `arbtui run` without --headless)."""
        from arbtui.config import ConfigError, format_problems, load_settings

        obj = ctx.obj
        try:
            settings = load_settings(getattr(obj, "config", None))
        except ConfigError as exc:
            click.echo(format_problems(exc), err=True)
            raise SystemExit(2) from exc
        db = getattr(obj, "_db", None)
        raise SystemExit(run_console(settings, Path(db) if db else None))
