"""``arbtui report …``: the reporter, a separate read-only process (it never slows the bot).

``pnl``, ``unprofitable`` and ``trades`` stream their rows from the ledger; ``inventory`` also reads
the chain and the broker; ``--watch`` redraws the totals and the latest trades every ``--interval``.
Every failure is one line and exit 1.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import click
from rich.console import Console, Group
from rich.live import Live

from arbtui.config import Settings
from arbtui.domain.exposure import PeriodError, time_weighted
from arbtui.reporting import exposure, reports
from arbtui.reporting.database import ReportError, open_readonly, snapshot
from arbtui.reporting.inventory import HEADER, Policy
from arbtui.reporting.inventory_command import broker_calendar, inventory_lines
from arbtui.reporting.render import Batches, Format, table, write

DEFAULT_DB = "arbtui.db"
PIPED_WIDTH = 160
"""Table width when stdout is not a terminal (a terminal's own width is used otherwise)."""
RECENT = 15
"""Trades the watch view shows."""


def register(group: click.Group) -> None:
    """Add ``report`` to ``group`` (the ``arbtui`` command)."""
    group.add_command(report)


def _db_path(ctx: click.Context) -> Path:
    """The root command's ``--db`` (its context object's ``db``), else ``arbtui.db``."""
    obj = ctx.find_root().obj
    path = getattr(obj, "db", None) if obj is not None else None
    return Path(path) if path is not None else Path(DEFAULT_DB)


@contextmanager
def _reader(ctx: click.Context) -> Iterator[sqlite3.Connection]:
    try:
        conn = open_readonly(_db_path(ctx))
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with snapshot(conn):
            yield conn
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    except BrokenPipeError:  # `arbtui report pnl | head`: the reader went away, not an error
        sys.stderr.close()
    finally:
        conn.close()


def _filters(symbol: str | None, since: str | None) -> reports.Filters:
    try:
        return reports.Filters(symbol=symbol, since=None if since is None else reports.parse_since(since))
    except reports.BadFilter as exc:
        raise click.UsageError(str(exc)) from exc


_symbol = click.option("--symbol", metavar="TICKER", help="Only this broker ticker (AAPL).")
_since = click.option(
    "--since", metavar="TIME", help="From this time: ISO-8601 (UTC unless offset) or an age: 30m, 12h, 7d."
)
_format = click.option(
    "--format",
    "fmt",
    type=click.Choice([f.value for f in Format]),
    default=Format.TABLE.value,
    show_default=True,
    help="table for people; csv for spreadsheets (rounded as the table, no separators); json exact.",
)


@click.group("report", invoke_without_command=True)
@click.option("--watch", is_flag=True, help="Redraw the PnL totals and the latest trades until Ctrl-C.")
@click.option("--interval", type=click.FloatRange(min=0.2), default=2.0, show_default=True, metavar="SECONDS")
@click.pass_context
def report(ctx: click.Context, watch: bool, interval: float) -> None:
    """Reports from the ledger, opened read-only: PnL, unprofitable trades, the trade stream, inventory,
    unhedged exposure per session."""
    if ctx.invoked_subcommand is not None:
        return
    if not watch:
        click.echo(ctx.get_help())
        return
    _watch(ctx, interval)


@report.command("pnl")
@_symbol
@_since
@_format
@click.pass_context
def pnl_command(ctx: click.Context, symbol: str | None, since: str | None, fmt: str) -> None:
    """Realized PnL per trade (FIFO across both venues), running totals, and totals per symbol."""
    filters = _filters(symbol, since)
    with _reader(ctx) as conn:
        totals = reports.PnlTotals()
        rows = (totals.add(batch) for batch in reports.pnl(conn, filters))
        _write(Format(fmt), reports.PNL_HEADER, rows, title="PnL per trade (USD)")
        if Format(fmt) is Format.TABLE and totals.symbols:
            out = sys.stdout
            console = Console(file=out, width=None if out.isatty() else PIPED_WIDTH)
            console.print(table(reports.SUMMARY_HEADER, totals.rows(), title="Totals per symbol"))


@report.command("unprofitable")
@_symbol
@_since
@_format
@click.pass_context
def unprofitable_command(ctx: click.Context, symbol: str | None, since: str | None, fmt: str) -> None:
    """The trades whose matches realized a loss."""
    filters = _filters(symbol, since)
    with _reader(ctx) as conn:
        _write(Format(fmt), reports.PNL_HEADER, reports.pnl(conn, filters, losses_only=True), title="Losing trades")


@report.command("trades")
@_symbol
@_since
@_format
@click.pass_context
def trades_command(ctx: click.Context, symbol: str | None, since: str | None, fmt: str) -> None:
    """Onchain fills and broker fills in one stream, USD per share, oldest first."""
    filters = _filters(symbol, since)
    with _reader(ctx) as conn:
        _write(Format(fmt), reports.TRADES_HEADER, reports.trades(conn, filters), title="Trades (both venues)")


@report.command("inventory")
@click.option(
    "--vault",
    "vaults",
    multiple=True,
    metavar="ASSET=ID[@TOKEN]",
    help="An orderbook vault of our owner (repeat; USDC=ID for cash).",
)
@click.option("--target", default=None, help="Onchain share of each asset's total we aim for [inventory config, 0.5].")
@click.option(
    "--drift-alert", default=None, help="Alert when the onchain share is this far from the target [config, 0.2]."
)
@_symbol
@_format
@click.pass_context
def inventory_command(
    ctx: click.Context,
    vaults: tuple[str, ...],
    target: str | None,
    drift_alert: str | None,
    symbol: str | None,
    fmt: str,
) -> None:
    """Inventory per asset: orderbook vaults (chain) vs broker positions and cash, drift and a suggested
    (manual) rebalancing transfer. Needs --config with [chain] and the broker settings; vaults and the
    target come from its [inventory] table unless given here."""
    with _reader(ctx) as conn:
        lines = inventory_lines(ctx.find_root().obj, conn, vaults, lambda s: _policy(s, target, drift_alert))
    shown, grouping = Format(fmt) is not Format.JSON, Format(fmt) is Format.TABLE  # JSON exact; CSV ungrouped
    rows = [
        line.row(shown=shown, grouping=grouping)
        for line in lines
        if symbol is None or line.holding.asset == symbol.upper()
    ]
    _write(Format(fmt), HEADER, iter([rows]), title="Inventory across venues")
    if any(line.alert for line in lines):
        raise SystemExit(3)  # scripts can act on drift; the table already says what and why


@report.command("exposure")
@click.option(
    "--since", metavar="TIME", default="7d", show_default=True,
    help="From this time: ISO-8601 (UTC unless offset) or an age: 12h, 7d, 2w.",
)  # fmt: skip
@click.option(
    "--until",
    metavar="TIME",
    default=None,
    help="To this time (same forms) [now]; past the ledger's last event, its last state holds.",
)
@_symbol
@_format
@click.option("--json", "as_json", is_flag=True, help="Same as --format json (exact decimal strings).")
@click.pass_context
def exposure_command(
    ctx: click.Context, since: str, until: str | None, symbol: str | None, fmt: str, as_json: bool
) -> None:
    """Time-weighted unhedged notional per session (regular, pre, post, overnight, closed, weekend) over a
    period: USD·hours of |onchain fills not yet offset by broker fills| × the latest onchain fill's price,
    each instant put in its session by the configured broker's own calendar (dry-run's without --config).
    The figure after-hours hedging exists to shrink."""
    now = datetime.now(UTC)
    try:
        start = reports.parse_moment(since, now, option="--since")
        end = now if until is None else reports.parse_moment(until, now, option="--until")
    except reports.BadFilter as exc:
        raise click.UsageError(str(exc)) from exc
    if end <= start:
        raise click.UsageError(f"--until ({end:%Y-%m-%d %H:%M} UTC) must be after --since ({start:%Y-%m-%d %H:%M} UTC)")
    calendar = broker_calendar(ctx.find_root().obj, start - exposure.CALENDAR_MARGIN, end + exposure.CALENDAR_MARGIN)
    with _reader(ctx) as conn:
        changes = exposure.ledger_changes(conn, symbol)
    try:
        result = time_weighted(changes, calendar, start, end)
    except PeriodError as exc:
        raise click.ClickException(f"exposure: {exc}") from exc
    chosen = Format.JSON if as_json else Format(fmt)
    title = f"Unhedged exposure, {exposure.period(start, end)} (USD·hours at each symbol's latest onchain fill price)"
    if chosen is Format.TABLE:
        _write(chosen, exposure.TABLE_HEADER, iter([exposure.table_rows(result)]), title=title)
    else:
        _write(chosen, exposure.HEADER, iter([exposure.rows(result)]), title=title)


def _policy(settings: Settings, target: str | None, drift_alert: str | None) -> Policy:
    configured = settings.inventory
    try:
        return Policy(
            target=configured.target_onchain_ratio if target is None else Decimal(target),
            drift_alert=configured.drift_alert if drift_alert is None else Decimal(drift_alert),
        )
    except (InvalidOperation, ValueError) as exc:
        raise click.UsageError(f"--target/--drift-alert: {exc}") from exc


def _write(fmt: Format, header: tuple[str, ...], batches: Batches, *, title: str) -> None:
    out = sys.stdout
    console = Console(file=out, width=None if out.isatty() else PIPED_WIDTH) if fmt is Format.TABLE else None
    write(fmt, header, batches, out, title=title, console=console)


def _watch(
    ctx: click.Context, interval: float, *, rounds: int | None = None, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Redraw until Ctrl-C (or ``rounds``): totals per symbol and the latest trades, one snapshot each."""
    try:
        conn = open_readonly(_db_path(ctx))
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    try:
        with Live(_frame(conn), auto_refresh=False) as live:
            done = 0
            while rounds is None or done < rounds:
                sleep(interval)
                live.update(_frame(conn), refresh=True)
                done += 1
    except KeyboardInterrupt:
        pass
    except ReportError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        conn.close()


def _frame(conn: sqlite3.Connection) -> Group:
    with snapshot(conn):
        totals = reports.summary_fast(conn)
        recent = reports.recent_trades(conn, RECENT)
    stamp = time.strftime("%Y-%m-%d %H:%M:%S")
    return Group(
        table(reports.SUMMARY_HEADER, totals, title=f"PnL totals per symbol (USD) — {stamp}"),
        table(reports.TRADES_HEADER, recent, title=f"Latest {RECENT} trades"),
    )
