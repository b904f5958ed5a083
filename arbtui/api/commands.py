"""CLI commands that act on the *running* bot through its control API: ``pause``, ``resume``, ``kill``,
``clear-kill`` and ``hedge``. Each prints one line; a refusal prints the bot's own message and exits 1.

The token comes from ``ARBTUI_CONTROL_TOKEN`` in the environment, never from an option (an option would
show in the process list and the shell history). It goes to a loopback ``--api`` directly (never through
a proxy from the environment) and to any other host only over https: plain http to another host is
refused before anything is sent (exit 2), see :mod:`arbtui.api.client`.
"""

from __future__ import annotations

import getpass
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from pydantic import SecretStr

from arbtui.api.client import DEFAULT_API_URL, ApiError, Applied, ControlClient, NotSent, check_api_url

TOKEN_ENV = "ARBTUI_CONTROL_TOKEN"
API_URL_ENV = "ARBTUI_API_URL"

F = TypeVar("F", bound=Callable[..., Any])


def register(group: click.Group) -> None:
    """Add the control commands to ``group`` (the ``arbtui`` command)."""

    @group.command("pause")
    @click.argument("symbol", required=False)
    @_control_options
    def pause_command(symbol: str | None, reason: str, api: str, actor: str) -> None:
        """Stop new hedges for SYMBOL, or for every symbol without one. Fills are still recorded.

        Needs the bot running (its API at --api) and ARBTUI_CONTROL_TOKEN set.
        """
        ticker = _ticker(symbol)
        _call(lambda client: client.pause(ticker, reason=reason, actor=actor), api)
        click.echo(f"paused {ticker or 'every symbol'}")

    @group.command("resume")
    @click.argument("symbol", required=False)
    @_control_options
    def resume_command(symbol: str | None, reason: str, api: str, actor: str) -> None:
        """Undo a pause of SYMBOL (or the pause of every symbol). A past-threshold position hedges at once.

        Needs the bot running (its API at --api) and ARBTUI_CONTROL_TOKEN set.
        """
        ticker = _ticker(symbol)
        _call(lambda client: client.resume(ticker, reason=reason, actor=actor), api)
        click.echo(f"resumed {ticker or 'every symbol'}")

    @group.command("kill")
    @_control_options
    def kill_command(reason: str, api: str, actor: str) -> None:
        """Engage the kill switch: no hedge, automatic or manual, until `arbtui clear-kill`.

        Needs the bot running (its API at --api) and ARBTUI_CONTROL_TOKEN set.
        """
        _call(lambda client: client.engage_kill_switch(reason=reason, actor=actor), api)
        click.echo("kill switch engaged: no hedge will be placed until `arbtui clear-kill`")

    @group.command("clear-kill")
    @_control_options
    def clear_kill_command(reason: str, api: str, actor: str) -> None:
        """Clear the kill switch: hedging resumes (paused symbols stay paused).

        Needs the bot running (its API at --api) and ARBTUI_CONTROL_TOKEN set.
        """
        _call(lambda client: client.clear_kill_switch(reason=reason, actor=actor), api)
        click.echo("kill switch cleared")

    @group.command("hedge")
    @click.argument("symbol")
    @click.argument("side", type=click.Choice(["buy", "sell"], case_sensitive=False))
    @click.argument("shares")
    @click.option("--yes", "-y", "yes", is_flag=True, help="Do not ask for confirmation (scripts).")
    @click.option(
        "--allow-overhedge",
        is_flag=True,
        help="Allow a hedge larger than the open net; automatic hedging of SYMBOL is then paused (audited).",
    )
    @_control_options
    def hedge_command(
        symbol: str, side: str, shares: str, yes: bool, allow_overhedge: bool, reason: str, api: str, actor: str
    ) -> None:
        """Place a hedge by hand: SIDE (buy|sell) SHARES (exact decimal, e.g. 1.5) of SYMBOL at the broker,
        through the bot's normal execution path. Asks first (--yes for scripts); prints the execution id.

        Refused beyond [manual_hedge] max_shares / max_notional_usd, and beyond the open net unless
        --allow-overhedge (which also pauses automatic hedging of SYMBOL so the bot does not undo it).
        Needs the bot running (its API at --api) and ARBTUI_CONTROL_TOKEN set.
        """
        ticker = symbol.strip().upper()
        side = side.lower()
        amount = shares.strip()
        words = f"{side.upper()} {amount} {ticker} at the broker, by hand, through the bot at {api}"
        if allow_overhedge:
            words += f" (may exceed the open net: automatic hedging of {ticker} will be paused)"
        if not yes:
            if not sys.stdin.isatty():
                raise click.ClickException(f"confirm the hedge ({words}): pass --yes when there is no terminal")
            if not click.confirm(f"{words}?", default=False):
                raise click.ClickException("hedge not sent")
        execution_id = _call(
            lambda client: client.manual_hedge(
                ticker, side, amount, reason=reason, actor=actor, allow_overhedge=allow_overhedge
            ),
            api,
        )
        click.echo(f"hedge submitted: {side} {amount} {ticker}, execution {execution_id}")
        if allow_overhedge:
            click.echo(
                f"automatic hedging of {ticker} is paused if this hedge exceeded the open net: resume it when done"
            )


def _control_options(command: F) -> F:
    command = click.option(
        "--actor",
        default=lambda: f"cli:{_user()}",
        show_default="cli:<login name>",
        help="Who is acting, recorded with the event.",
    )(command)
    command = click.option(
        "--api",
        default=DEFAULT_API_URL,
        show_default=True,
        envvar=API_URL_ENV,
        metavar="URL",
        callback=_safe_api_url,
        help=f"The running bot's HTTP API (env {API_URL_ENV}); https for any host but this machine.",
    )(command)
    command = click.option("--reason", required=True, metavar="TEXT", help="Why: recorded with the event (required).")(
        command
    )
    return command


def _safe_api_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an --api the token must not travel to before anything else happens (a hedge's question
    included)."""
    try:
        check_api_url(value.rstrip("/"))
    except NotSent as exc:
        raise _BadInvocation(str(exc)) from exc
    return value


R = TypeVar("R", Applied, str)


class _BadInvocation(click.ClickException):
    """One line, exit 2: the command as given can never be sent (an unsafe --api URL, an unusable token)."""

    exit_code = 2


def _call(action: Callable[[ControlClient], R], api: str) -> R:
    token = os.environ.get(TOKEN_ENV, "")
    if not token:
        raise click.ClickException(f"set {TOKEN_ENV} in the environment (the bot's control token)")
    try:
        client = ControlClient(api, SecretStr(token))
    except NotSent as exc:
        raise _BadInvocation(str(exc)) from exc
    try:
        return action(client)
    except ApiError as exc:
        raise click.ClickException(str(exc)) from exc


def _ticker(symbol: str | None) -> str | None:
    return symbol.strip().upper() if symbol is not None else None


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name (e.g. a container without a passwd entry)
        return "unknown"
