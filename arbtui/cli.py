"""The ``arbtui`` command: parse, call, print. Errors are one clear line and a non-zero exit."""

from __future__ import annotations

import json
import os
import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, NoReturn, assert_never

import click
from pydantic import SecretStr

from arbtui.brokers.base import BrokerError
from arbtui.chain.rpc import ChainRpcError
from arbtui.config import (
    ConfigError,
    DatabaseSettings,
    PythSettings,
    SchwabSettings,
    Settings,
    format_problems,
    load_settings,
    load_table,
)
from arbtui.config.loading import Table
from arbtui.domain import position
from arbtui.domain.pyth_feeds import PythReadMode
from arbtui.domain.values import ExecutionId, TradeId
from arbtui.reporting import detail
from arbtui.store.detail import read_detail
from arbtui.store.errors import LedgerLocked, StoreError
from arbtui.store.lock import WriterLock
from arbtui.store.log import LogReader
from arbtui.store.migrate import connect_sync, migrate, schema_version
from arbtui.store.rebuild import check_views, rebuild_views

DEFAULT_DB = "arbtui.db"


class Context:
    """What every command is given: ``--db``, ``--config``, and the settings read from them the one way
    (:mod:`arbtui.config`: the TOML file, then ``ARBTUI_*`` over it)."""

    def __init__(self, db: str | None, config: Path | None) -> None:
        self.config = config
        self._db = db

    @property
    def db(self) -> Path:
        """``--db`` (or ``ARBTUI_DATABASE_PATH``), else ``[database] path`` (or ``ARBTUI_DATABASE__PATH``),
        else ``arbtui.db``."""
        if self._db:
            return Path(self._db)
        return self.table("database", DatabaseSettings).path

    def settings(self) -> Settings:
        """The whole tree (it needs ``[chain]``): for the commands that run the bot or read the chain.
        Invalid: one line per problem, exit 2."""
        try:
            return load_settings(self.config)
        except ConfigError as exc:
            _config_problems(exc)

    def table(self, name: str, model: type[Table]) -> Table:
        """One table of the settings, read as :meth:`settings` reads it (no ``[chain]`` needed)."""
        try:
            return load_table(self.config, name, model)
        except ConfigError as exc:
            _config_problems(exc)

    def existing_db(self) -> Path:
        path = self.db
        if not path.exists():
            raise click.ClickException(f"no database at {path} (run `arbtui db migrate` or pass --db)")
        return path


def _config_problems(exc: ConfigError) -> NoReturn:
    click.echo(format_problems(exc), err=True)
    raise SystemExit(2) from exc


SQLITE_MAX_INT = 2**63 - 1


def one_line(text: str) -> str:
    """``text`` on one line (a message from a library may carry newlines)."""
    return " ".join(text.split())


class _OneLineUsageError(click.UsageError):
    """A usage error shown as one line (click's own adds the usage text and a hint on lines of their own)."""

    def show(self, file: Any = None) -> None:
        hint = f" (see `{self.ctx.command_path} --help`)" if self.ctx is not None else ""
        click.echo(f"Error: {one_line(self.format_message())}{hint}", err=True, file=file)


class _Unexpected(click.ClickException):
    """An exception no part of arbtui expected (a bug): one line on stderr, the traceback kept."""

    exit_code = 1

    def show(self, file: Any = None) -> None:
        click.echo(f"Error: {one_line(self.format_message())}", err=True, file=file)


KNOWN_ERRORS: tuple[type[BaseException], ...] = (StoreError, BrokerError, ChainRpcError, OSError)
"""Errors the operator can act on (a ledger locked, corrupt, newer or of another chain; a broker or node
refusing; a file or port unavailable): shown as their one-line message, exit 1."""


class ArbtuiGroup(click.Group):
    """The ``arbtui`` group with one top-level error handler: every error is one line on stderr — a known
    error (:data:`KNOWN_ERRORS`) its message, exit 1; a usage error exit 2; anything else is a bug: one
    line naming it and where its traceback went (the log, when the command has one, and a 0600 file)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.UsageError as exc:
            if isinstance(exc, _OneLineUsageError):
                raise
            raise _OneLineUsageError(exc.format_message(), exc.ctx) from exc
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except KNOWN_ERRORS as exc:
            raise click.ClickException(one_line(str(exc) or type(exc).__name__)) from exc
        except Exception as exc:
            where = _keep_traceback(exc)
            raise _Unexpected(
                f"unexpected {type(exc).__name__}: {one_line(str(exc))[:300]} (a bug in arbtui; traceback in {where})"
            ) from exc


def _keep_traceback(exc: BaseException) -> str:
    """Write ``exc``'s traceback to the command's log, if it configured one (the headless JSON log, the
    console's ``<database>.log``), and to a private (0600) file in the temp directory; returns the file."""
    import contextlib
    import os
    import tempfile
    import traceback

    from loguru import logger

    with contextlib.suppress(ValueError):  # loguru's default stderr sink (id 0): one line on stderr only
        logger.remove(0)
    logger.opt(exception=exc).critical("unexpected error: {!r}", exc)
    text = "".join(traceback.format_exception(exc))
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    path = Path(tempfile.gettempdir()) / f"arbtui-error-{stamp}-{os.getpid()}.txt"
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        with os.fdopen(fd, "w") as sink:
            sink.write(text)
    except OSError:
        return "the log, if this command keeps one"
    return str(path)


@click.group(cls=ArbtuiGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", "db", metavar="PATH", envvar="ARBTUI_DATABASE_PATH", help="SQLite ledger file.")
@click.option(
    "--config",
    "config",
    metavar="PATH",
    type=click.Path(path_type=Path, dir_okay=False),
    envvar="ARBTUI_CONFIG",
    help="TOML config file (see arbtui.example.toml).",
)
@click.version_option(package_name="arbtui")
@click.pass_context
def main(ctx: click.Context, db: str | None, config: Path | None) -> None:
    """arbtui — hedges Raindex fills of tokenized equities on a broker, with an exact event-sourced ledger."""
    ctx.obj = Context(db, config)


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group()
def db() -> None:
    """The ledger database: migrations and views."""


@db.command("migrate")
@click.pass_obj
def db_migrate(obj: Context) -> None:
    """Create the database or bring its schema up to date (safe to run twice; refused while a bot runs)."""
    with _store_errors(), WriterLock.acquire(obj.db):
        applied = migrate(obj.db)
        conn = connect_sync(obj.db)
        version = schema_version(conn)
        conn.close()
    for migration in applied:
        click.echo(f"applied {migration.version:04d}_{migration.name}")
    click.echo(f"{obj.db}: schema version {version}" + ("" if applied else " (already up to date)"))


@db.command("rebuild-views")
@click.option("--check", is_flag=True, help="Rebuild into a scratch database and compare; exit 1 on any difference.")
@click.pass_obj
def db_rebuild_views(obj: Context, check: bool) -> None:
    """Rebuild every view from the event log (or, with --check, verify the live views)."""
    path = obj.existing_db()
    with _store_errors():
        if check:
            try:
                with WriterLock.acquire(path):
                    migrate(path)
            except LedgerLocked:
                pass  # a running bot migrated the ledger when it started; the check only reads
            differences = check_views(path, progress=_progress("checking"))
            _progress_done()
            if differences:
                for difference in differences[:200]:
                    click.echo(str(difference))
                more = len(differences) - 200
                raise click.ClickException(
                    f"{len(differences)} view rows differ from the log"
                    + (f" ({more} not shown)" if more > 0 else "")
                    + ": run `arbtui db rebuild-views` with the bot stopped to repair them"
                )
            click.echo("views match the event log")
            return
        with WriterLock.acquire(path):
            migrate(path)
            conn = connect_sync(path)
            try:
                count = rebuild_views(conn, progress=_progress("rebuilding"))
            finally:
                conn.close()
        _progress_done()
    click.echo(f"rebuilt every view from {count} events")


def _progress(label: str) -> Any:
    def report(done: int) -> None:
        if sys.stderr.isatty():
            click.echo(f"\r{label}: {done:,} events", nl=False, err=True)

    return report


def _progress_done() -> None:
    if sys.stderr.isatty():
        click.echo("", err=True)


def _parse_instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise click.BadParameter(f"not an ISO-8601 time: {text!r}", param_hint="--at") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@main.command("position")
@click.argument("symbol", required=False)
@click.option(
    "--at", "at", metavar="ISO-8601", help="Replay the log up to this instant (UTC unless an offset is given)."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.pass_obj
def position_command(obj: Context, symbol: str | None, at: str | None, as_json: bool) -> None:
    """Positions per symbol: net (carry), reserved by the execution in flight, hedged, fills."""
    until = _parse_instant(at)
    with _store_errors():
        conn = connect_sync(obj.existing_db(), readonly=True)
        try:
            log = LogReader(conn)
            symbols = [symbol.upper()] if symbol else log.aggregate_ids(position.AGGREGATE)
            rows = [_position_row(log.replay(position.AGGREGATE, s, until)) for s in symbols]
        finally:
            conn.close()
    rows = [row for row in rows if row["version"] > 0]
    if symbol and not rows:
        raise click.ClickException(f"no position for {symbol.upper()}" + (f" at {until.isoformat()}" if until else ""))
    if as_json:
        click.echo(json.dumps({"at": until.isoformat() if until else None, "positions": rows}, indent=2))
        return
    _print_table(
        [_shown_position(row) for row in rows],  # JSON above is exact; the table rounds for people
        ["symbol", "net", "reserved", "hedged", "bought_onchain", "sold_onchain", "pending_execution_id", "version"],
        title=f"positions at {until.isoformat()}" if until else "positions",
    )


POSITION_SHARES = ("net", "reserved", "hedged", "bought_onchain", "sold_onchain")


def _shown_position(row: dict[str, Any]) -> dict[str, Any]:
    """A position row with its share counts as :func:`arbtui.display.shares` shows them."""
    from arbtui import display

    return row | {column: display.shares(Decimal(row[column])) for column in POSITION_SHARES}


def _position_row(loaded: tuple[Any, int]) -> dict[str, Any]:
    state, version = loaded
    pos: position.Position = state
    return {
        "symbol": pos.symbol,
        "net": str(pos.net),
        "reserved": str(pos.reserved),
        "hedged": str(pos.hedged),
        "bought_onchain": str(pos.accumulated_long),
        "sold_onchain": str(pos.accumulated_short),
        "pending_execution_id": pos.pending.execution_id if pos.pending else None,
        "threshold": pos.threshold.kind.value,
        "version": version,
    }


@main.command("events")
@click.option("--aggregate", "aggregate", metavar="TYPE[:ID]", help="Only one aggregate type, or one aggregate.")
@click.option("--limit", type=click.IntRange(min=1, max=SQLITE_MAX_INT), help="Only the last N events.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.pass_obj
def events_command(obj: Context, aggregate: str | None, limit: int | None, as_json: bool) -> None:
    """Read the event log, oldest first."""
    aggregate_type, aggregate_id = [*aggregate.split(":", 1), None][:2] if aggregate else (None, None)
    with _store_errors():
        conn = connect_sync(obj.existing_db(), readonly=True)
        try:
            events = LogReader(conn).events(aggregate_type=aggregate_type, aggregate_id=aggregate_id, limit=limit)
        finally:
            conn.close()
    for stored in events:
        record = {
            "position": stored.position,
            "aggregate_type": stored.aggregate_type,
            "aggregate_id": stored.aggregate_id,
            "sequence": stored.sequence,
            "event_type": stored.event.event_type(),
            "payload": stored.event.model_dump(mode="json"),
            "metadata": stored.metadata,
        }
        if as_json:
            click.echo(json.dumps(record, sort_keys=True))
        else:
            payload = json.dumps(record["payload"], sort_keys=True, separators=(",", ":"))
            click.echo(
                f"{stored.recorded_at}  {stored.aggregate_type}:{stored.aggregate_id}#{stored.sequence}"
                f"  {record['event_type']}  {payload}"
            )


@main.command("show")
@click.argument("kind", type=click.Choice([kind.value for kind in detail.Kind]))
@click.argument("key", metavar="ID")
@click.option("--json", "as_json", is_flag=True, help="Print JSON: every value exactly as the ledger holds it.")
@click.pass_obj
def show_command(obj: Context, kind: str, key: str, as_json: bool) -> None:
    """One fill (trade id TX:LOG[:LEG]), broker order (execution id) or position (symbol; its last
    events) with its events, their actors and step latency, and the fills/executions it is linked to —
    what the console shows on Enter."""
    chosen = detail.Kind(kind)
    key = _detail_key(chosen, key)
    with _store_errors():
        found = read_detail(obj.existing_db(), chosen.aggregate_type, key, limit=chosen.limit)
    if found is None:
        raise click.ClickException(f"no {chosen.value} {key} in the ledger")
    if as_json:
        click.echo(json.dumps(detail.as_json(chosen, found), indent=2))
        return
    click.echo(detail.text(chosen, found))


def _detail_key(kind: detail.Kind, key: str) -> str:
    """The aggregate id ``key`` names: a ticker upper-cased, a trade or execution id checked (lower-cased)."""
    try:
        match kind:
            case detail.Kind.POSITION:
                return key.upper()
            case detail.Kind.FILL:
                return str(TradeId.parse(key.lower()))
            case detail.Kind.ORDER:
                return str(ExecutionId(key.lower()))
            case _:
                assert_never(kind)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from exc


@main.command("get-pyth-price")
@click.argument("tx_hash")
@click.option("--rpc", metavar="URL", help="The node (default: the config's chain.http_url).")
@click.option("--pyth", "pyth_address", metavar="ADDRESS", help="Pyth contract (default: the config's chain.pyth).")
@click.option(
    "--method",
    type=click.Choice([mode.value for mode in PythReadMode]),
    default=None,
    help="trace (debug_traceTransaction), eth_call (getPriceUnsafe at the end of the block) or auto"
    " (default: the config's pyth.method, else auto).",
)
@click.pass_obj
def get_pyth_price_command(
    obj: Context, tx_hash: str, rpc: str | None, pyth_address: str | None, method: str | None
) -> None:
    """Print the Pyth prices of a transaction and how each was read: every read inside it (method trace) or,
    without a tracer or a read, each configured feed at the end of its block (method block_end)."""
    import asyncio

    from arbtui.chain.pyth import (
        PythConfig,
        PythTraceError,
        format_block_end_prices,
        format_pyth_prices,
        read_pyth_prices,
    )
    from arbtui.domain.pyth_feeds import KNOWN_FEEDS

    configured = obj.config is not None or any(name.startswith("ARBTUI_CHAIN__") for name in os.environ)
    if (rpc and pyth_address) or not configured:
        pyth = obj.table("pyth", PythSettings)
    else:  # from the config: the chain's node and Pyth contract
        settings = obj.settings()
        pyth = settings.pyth
        rpc = rpc or settings.chain.http_url
        pyth_address = pyth_address or settings.chain.pyth
    if not rpc or not pyth_address:
        raise click.UsageError("give --rpc and --pyth, or a --config with chain.http_url and chain.pyth")
    feeds = {**KNOWN_FEEDS, **pyth.feeds}
    mode = PythReadMode(method) if method else pyth.method
    config = PythConfig(address=str(pyth_address).lower(), feeds=feeds, timeout=pyth.timeout_s, method=mode)
    try:
        trace, block_end = asyncio.run(read_pyth_prices(str(rpc), tx_hash, config))
    except PythTraceError as exc:
        raise click.ClickException(f"cannot read Pyth prices of {tx_hash}: {exc}") from exc
    parts = [format_pyth_prices(trace, feeds)] if trace is not None else []
    if block_end is not None:
        parts.append(format_block_end_prices(block_end, feeds))
    click.echo("\n".join(parts))


@main.group()
def schwab() -> None:
    """Charles Schwab: authorise the bot (OAuth 2.0 authorization-code flow)."""


@schwab.command("auth")
@click.option("--redirected-url", metavar="URL", help="The URL the browser landed on (else asked for).")
@click.pass_obj
def schwab_auth_command(obj: Context, redirected_url: str | None) -> None:
    """Print the Schwab login URL, take the URL the browser is redirected to, store the tokens encrypted.

    Needs ARBTUI_SCHWAB_APP_KEY, ARBTUI_SCHWAB_APP_SECRET and ARBTUI_ENCRYPTION_KEY (64 hex characters)
    in the environment; the callback and API host come from the config's [schwab] table. Run it with the
    bot stopped or running: the tokens go through the ledger like every other change. The refresh token
    lasts 7 days; run this again before it ends (the bot alerts a day ahead).
    """
    import asyncio
    import os

    from arbtui.brokers.base import BrokerError
    from arbtui.brokers.schwab.crypto import TokenCipher
    from arbtui.brokers.schwab.oauth import AccessTokens, OAuthApp, authorize_url, exchange_redirect
    from arbtui.clock import SystemClock
    from arbtui.engine.schwab_tokens import EventStoreTokenVault
    from arbtui.store.event_store import EventStore

    missing = [
        name
        for name in ("ARBTUI_SCHWAB_APP_KEY", "ARBTUI_SCHWAB_APP_SECRET", "ARBTUI_ENCRYPTION_KEY")
        if not os.environ.get(name)
    ]
    if missing:
        raise click.ClickException("set " + ", ".join(missing) + " in the environment first")
    schwab_table = obj.table("schwab", SchwabSettings)
    app = OAuthApp(
        app_key=SecretStr(os.environ["ARBTUI_SCHWAB_APP_KEY"]),
        app_secret=SecretStr(os.environ["ARBTUI_SCHWAB_APP_SECRET"]),
        callback_url=schwab_table.redirect_uri,
        base_url=schwab_table.base_url,
    )
    try:
        cipher = TokenCipher.from_env()
    except BrokerError as exc:
        raise click.ClickException(str(exc)) from exc
    url, state = authorize_url(app)
    click.echo("1. Open this URL in a browser and log in to Schwab:\n")
    click.echo(f"   {url}\n")
    click.echo("2. The browser then lands on a page that may not load; copy its whole address.")
    pasted = redirected_url or click.prompt("3. Paste that address here", hide_input=False)

    async def run() -> str:
        store = await EventStore.open(obj.db)
        try:
            clock = SystemClock()
            tokens = await exchange_redirect(app, pasted.strip(), clock, state=state)
            keeper = AccessTokens(app, EventStoreTokenVault(store), cipher, clock, client=None)
            await keeper.store_new(tokens)
            return tokens.refresh_expires_at.isoformat(timespec="minutes")
        finally:
            await store.close()

    with _store_errors():
        try:
            until = asyncio.run(run())
        except BrokerError as exc:
            raise click.ClickException(f"Schwab authorisation failed: {exc}") from exc
    click.echo(f"Schwab tokens stored, encrypted, in {obj.db}; the refresh token is valid until {until}.")


def _print_table(rows: list[dict[str, Any]], columns: list[str], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    from arbtui import display

    texts = {c: ["" if row[c] is None else str(row[c]) for row in rows] for c in columns}
    table = Table(title=title)
    for column in columns:
        # numbers lined up on their points and padded here (Rich strips a right-justified cell's trailing spaces)
        numeric = column not in ("symbol", "pending_execution_id")
        if numeric:
            aligned = display.align(texts[column])
            width = max([len(column), *map(len, aligned)])
            texts[column] = [text.rjust(width) for text in aligned]
        table.add_column(column.rjust(width) if numeric else column)
    for index in range(len(rows)):
        table.add_row(*(texts[c][index] for c in columns))
    Console(width=None if sys.stdout.isatty() else 160).print(table)  # piped: as wide as the reports


@main.command("run")
@click.option("--headless", is_flag=True, help="No console: serve health, readiness, metrics and control over HTTP.")
@click.pass_obj
def run_command(obj: Context, headless: bool) -> None:
    """Run the bot in the operator console (or, with --headless, behind the HTTP service)."""
    import asyncio

    settings = obj.settings()
    db = Path(obj._db) if obj._db else None
    if not headless:
        from arbtui.tui.commands import run_console

        raise SystemExit(run_console(settings, db))
    from arbtui.api.service import configure_logging, run_headless

    configure_logging(json_lines=True)
    raise SystemExit(asyncio.run(run_headless(settings, db=db)))


@main.group("alerts")
def alerts_group() -> None:
    """Alert delivery: the webhook and Telegram sinks of [alerts]."""


@alerts_group.command("test")
@click.pass_obj
def alerts_test_command(obj: Context) -> None:
    """Send one test alert to every configured sink, with the retries real alerts get; one line per sink
    (delivered, or failed with the reason). Exit 1 when any failed, or when no sink is configured."""
    import asyncio
    import socket

    from arbtui.clock import SystemClock
    from arbtui.engine.delivery import send_probes
    from arbtui.engine.factory import alert_sinks, delivery_options

    settings = obj.settings()
    sinks = alert_sinks(settings)
    if not sinks:
        raise click.ClickException(
            "no alert sink configured: set [alerts.webhook] url and/or [alerts.telegram] chat_id"
        )
    results = asyncio.run(send_probes(sinks, delivery_options(settings), SystemClock(), socket.gethostname()))
    for result in results:
        tries = f"{result.attempts} attempt{'s' if result.attempts != 1 else ''}"
        if result.delivered:
            click.echo(f"{result.sink}: delivered ({tries})")
        else:
            click.echo(f"{result.sink}: failed after {tries}: {result.reason}")
    if not all(result.delivered for result in results):
        raise SystemExit(1)


TOKEN_BYTES = 32
"""Random bytes in a token from ``arbtui token new`` (43 URL-safe characters)."""


@main.group("token")
def token_group() -> None:
    """Secrets for the control API and the browser console."""


@token_group.command("new")
def token_new_command() -> None:
    """Print a new random token (256 bits from the OS, URL-safe) for ARBTUI_CONTROL_TOKEN or
    ARBTUI_SERVE_TOKEN. Nothing is stored: put it in the environment (e.g. .env) yourself."""
    click.echo(secrets.token_urlsafe(TOKEN_BYTES))


async def _host_console(engine: Any, inventory: Any = None) -> int:
    """The operator console on ``engine``, with the inventory pane when ``inventory`` reads it (imported only
    when a console opens)."""
    from arbtui.tui.commands import host

    return await host(engine, inventory)


def _register_subcommands() -> None:
    from arbtui.api.commands import register as register_control
    from arbtui.demo.commands import register as register_demo
    from arbtui.reporting.commands import register as register_reports
    from arbtui.tui.commands import register as register_console

    register_control(main)
    register_demo(main, _host_console)
    register_console(main)
    register_reports(main)


_register_subcommands()

if __name__ == "__main__":
    main()
