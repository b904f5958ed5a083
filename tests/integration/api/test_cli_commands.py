"""``arbtui pause|resume|kill|clear-kill|hedge`` end to end against the running server. The CLI is
synchronous, so it runs in a worker thread (``asyncio.to_thread``) while the loop keeps serving; one test
runs it as a separate process."""

from __future__ import annotations

import asyncio
import socket
import sys
import textwrap

import click
import pytest
from click.testing import CliRunner, Result
from pydantic import SecretStr

from arbtui.api.client import ControlClient, OutcomeUnknown
from arbtui.api.commands import register
from arbtui.domain.values import Direction, Shares, Symbol
from tests.integration.api.conftest import RunningApi


@click.group()
def arbtui() -> None:
    """Stands in for ``arbtui.cli.main``, which gets the same commands from one ``register`` line."""


register(arbtui)


async def _invoke(args: list[str], *, token: str | None) -> Result:
    env = {"ARBTUI_CONTROL_TOKEN": token, "ARBTUI_API_URL": None}
    return await asyncio.to_thread(CliRunner().invoke, arbtui, args, env=env)


async def test_pause_one_symbol(api: RunningApi) -> None:
    result = await _invoke(
        ["pause", "aapl", "--reason", "earnings", "--api", api.url, "--actor", "alice"], token=api.token
    )

    assert result.exit_code == 0, result.output
    assert result.output == "paused AAPL\n"
    [call] = api.control.calls
    assert (call.action, call.symbol, call.actor, call.reason) == ("pause", Symbol("AAPL"), "alice", "earnings")


async def test_pause_and_resume_every_symbol_with_the_default_actor(api: RunningApi) -> None:
    paused = await _invoke(["pause", "--reason", "broker outage", "--api", api.url], token=api.token)
    resumed = await _invoke(["resume", "--reason", "broker back", "--api", api.url], token=api.token)

    assert (paused.exit_code, paused.output) == (0, "paused every symbol\n")
    assert (resumed.exit_code, resumed.output) == (0, "resumed every symbol\n")
    assert [(c.action, c.symbol) for c in api.control.calls] == [("pause", None), ("resume", None)]
    assert all(c.actor.startswith("cli:") for c in api.control.calls)


async def test_kill_and_clear_kill(api: RunningApi) -> None:
    killed = await _invoke(["kill", "--reason", "runaway hedging", "--api", api.url], token=api.token)
    assert api.control.killed is True
    cleared = await _invoke(["clear-kill", "--reason", "fixed", "--api", api.url], token=api.token)

    assert killed.exit_code == 0
    assert killed.output.startswith("kill switch engaged")
    assert (cleared.exit_code, cleared.output) == (0, "kill switch cleared\n")
    assert api.control.killed is False


async def test_hedge_prints_the_execution_id(api: RunningApi) -> None:
    result = await _invoke(
        ["hedge", "AAPL", "SELL", "2.25", "--yes", "--reason", "flatten", "--api", api.url], token=api.token
    )

    assert result.exit_code == 0, result.output
    [call] = api.control.calls
    assert result.output == f"hedge submitted: sell 2.25 AAPL, execution {call.execution_id}\n"
    assert (call.direction, call.shares) == (Direction.SELL, Shares("2.25"))


async def test_refusal_prints_the_servers_message_and_fails(api: RunningApi) -> None:
    await _invoke(["pause", "AAPL", "--reason", "once", "--api", api.url], token=api.token)

    result = await _invoke(["pause", "AAPL", "--reason", "twice", "--api", api.url], token=api.token)

    assert result.exit_code == 1
    assert result.output == "Error: Control AAPL: already paused\n"
    assert len(api.control.calls) == 1


async def test_bad_shares_are_refused_by_the_server(api: RunningApi) -> None:
    result = await _invoke(
        ["hedge", "AAPL", "buy", "1e3", "--yes", "--reason", "typo", "--api", api.url], token=api.token
    )

    assert result.exit_code == 1
    assert 'shares must be a plain positive decimal such as "1.5", got "1e3"' in result.output
    assert api.control.calls == []


async def test_wrong_token_says_so(api: RunningApi) -> None:
    result = await _invoke(["kill", "--reason", "x", "--api", api.url], token="not-the-token")

    assert result.exit_code == 1
    assert "missing or wrong bearer token" in result.output
    assert "check ARBTUI_CONTROL_TOKEN" in result.output
    assert "not-the-token" not in result.output
    assert api.control.killed is False


async def test_missing_token_fails_before_any_request(api: RunningApi) -> None:
    result = await _invoke(["kill", "--reason", "x", "--api", api.url], token=None)

    assert result.exit_code == 1
    assert result.output == "Error: set ARBTUI_CONTROL_TOKEN in the environment (the bot's control token)\n"
    assert api.control.killed is False


async def test_control_disabled_on_the_bot_is_explained(api_without_token: RunningApi, token: str) -> None:
    result = await _invoke(["kill", "--reason", "x", "--api", api_without_token.url], token=token)

    assert result.exit_code == 1
    assert "control routes are disabled" in result.output


async def test_reason_is_required(api: RunningApi) -> None:
    result = await _invoke(["kill", "--api", api.url], token=api.token)

    assert result.exit_code == 2
    assert "Missing option '--reason'" in result.output
    assert api.control.killed is False


async def test_bot_not_reachable() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago and has no listener now
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"

    result = await _invoke(["kill", "--reason", "x", "--api", url], token="anything")

    assert result.exit_code == 1
    assert result.output.startswith(f"Error: bot not reachable at {url}")


async def test_hedge_from_a_separate_process(api: RunningApi) -> None:
    script = textwrap.dedent(
        """
        import click
        from arbtui.api.commands import register

        group = click.Group("arbtui")
        register(group)
        group()
        """
    )
    assert api.token is not None
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "hedge",
        "TSLA",
        "buy",
        "3",
        "--yes",
        "--reason",
        "from a shell",
        "--api",
        api.url,
        env={"ARBTUI_CONTROL_TOKEN": api.token, "PATH": "/usr/bin:/bin"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    [call] = api.control.calls
    assert stdout.decode() == f"hedge submitted: buy 3 TSLA, execution {call.execution_id}\n"
    assert (call.symbol, call.direction, call.shares) == (Symbol("TSLA"), Direction.BUY, Shares("3"))


async def test_a_hedge_the_client_stops_waiting_for_still_completes(api: RunningApi) -> None:
    """The client gives up; the server does not cancel the hedge, and the client says the outcome is unknown
    (never "failed": retrying blindly could hedge twice)."""
    assert api.token is not None
    api.control.hedge_delay = 0.5
    client = ControlClient(api.url, SecretStr(api.token), timeout=0.1)

    with pytest.raises(OutcomeUnknown, match="may have been applied"):
        await asyncio.to_thread(client.manual_hedge, "AAPL", "buy", "1", reason="slow broker", actor="test")

    for _ in range(100):
        if api.control.calls:
            break
        await asyncio.sleep(0.02)
    [call] = api.control.calls
    assert (call.action, call.symbol, call.shares) == ("hedge", Symbol("AAPL"), Shares("1"))


async def test_hedge_without_a_terminal_needs_yes_and_sends_nothing(api: RunningApi) -> None:
    result = await _invoke(["hedge", "AAPL", "buy", "2", "--reason", "script", "--api", api.url], token=api.token)

    assert result.exit_code == 1
    assert result.output.count("\n") == 1
    assert "confirm the hedge (BUY 2 AAPL at the broker, by hand" in result.output
    assert "pass --yes" in result.output
    assert api.control.calls == []


async def test_allow_overhedge_travels_to_the_bot_and_says_what_follows(api: RunningApi) -> None:
    args = ["hedge", "AAPL", "buy", "2", "--yes", "--allow-overhedge", "--reason", "flatten", "--api", api.url]
    result = await _invoke(args, token=api.token)

    assert result.exit_code == 0, result.output
    assert "automatic hedging of AAPL is paused" in result.output
    [call] = api.control.calls
    assert call.allow_overhedge is True
