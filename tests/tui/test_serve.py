"""`arbtui serve`: the console in a browser through textual-serve, on loopback unless told otherwise.

The server runs as the operator would start it (a subprocess of the real CLI); the page it serves is
what a browser loads before it opens the websocket that starts a console session."""

from __future__ import annotations

import asyncio
import json
import os
import shlex
import signal
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import click
import pytest
from click.testing import CliRunner

from arbtui.config import is_loopback
from arbtui.tui.commands import console_command_line, register

REPO_ROOT = Path(__file__).resolve().parents[2]
TOKEN = "serve-token-for-tests-0123456789abcdef"
CONFIG = """
[chain]
http_url = "http://127.0.0.1:9"
orderbook = "0x881cf4c0764e733d9C387f3858eE87CcA04AFFe0"
owner = "0x71b94911FD1CE621FC40970450004c544e5287a8"
usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"
deployment_block = 1

[broker]
kind = "dry_run"
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "arbtui.toml"
    path.write_text(CONFIG)
    return path


@pytest.fixture
async def served(config: Path, tmp_path: Path) -> AsyncIterator[tuple[asyncio.subprocess.Process, int]]:
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        "--config",
        str(config),
        "--db",
        str(tmp_path / "ledger.db"),
        "serve",
        "--port",
        str(port),
        cwd=REPO_ROOT,
        env={**os.environ, "ARBTUI_SERVE_TOKEN": TOKEN},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    try:
        yield process, port
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


async def _index(port: int, within_s: float = 20.0) -> tuple[int, str, str]:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as session:
        while True:
            try:
                async with session.get(f"http://127.0.0.1:{port}/?token={TOKEN}") as response:
                    return response.status, response.content_type, await response.text()
            except aiohttp.ClientConnectionError:
                assert loop.time() < deadline, "arbtui serve did not answer in time"
                await asyncio.sleep(0.1)


async def test_serve_answers_the_console_page_and_stops_on_sigterm(
    served: tuple[asyncio.subprocess.Process, int],
) -> None:
    process, port = served
    status, content_type, page = await _index(port)
    assert (status, content_type) == (200, "text/html")
    assert "arbtui console" in page  # the title we gave textual-serve
    assert f"ws://127.0.0.1:{port}/ws/{TOKEN}" in page  # where the browser opens its console session
    process.send_signal(signal.SIGTERM)
    code = await asyncio.wait_for(process.wait(), 15)
    assert code == 0
    assert process.stdout is not None
    output = (await process.stdout.read()).decode()
    assert f"arbtui console at http://127.0.0.1:{port}/?token=$ARBTUI_SERVE_TOKEN" in output
    assert TOKEN not in output  # the URL printed names the variable, not the secret it holds


async def _session_screen(port: int, wanted: bytes, within_s: float = 30.0) -> bytes:
    """Open a browser session (the websocket textual-serve starts a console for) until ``wanted`` shows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    screen = b""
    url = f"http://127.0.0.1:{port}/ws?token={TOKEN}"
    origin = {"Origin": f"http://127.0.0.1:{port}"}
    async with aiohttp.ClientSession() as session, session.ws_connect(url, headers=origin) as ws:
        await ws.send_str(json.dumps(["resize", {"width": 100, "height": 30}]))
        while wanted not in screen:
            assert loop.time() < deadline, f"the session never showed {wanted!r}: {screen[-400:]!r}"
            try:
                message = await asyncio.wait_for(ws.receive(), 1)
            except TimeoutError:
                continue
            assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
            screen += message.data if isinstance(message.data, bytes) else str(message.data).encode()
    return screen


async def test_a_browser_session_runs_the_console(served: tuple[asyncio.subprocess.Process, int]) -> None:
    process, port = served
    await _index(port)
    screen = await _session_screen(port, b"Onchain fills")
    assert b"Broker orders" in screen
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 20) == 0


def _group() -> click.Group:
    @click.group()
    @click.option("--config", type=click.Path(path_type=Path))
    @click.pass_context
    def arbtui(ctx: click.Context, config: Path | None) -> None:
        ctx.obj = type("Obj", (), {"config": config, "_db": None})()

    register(arbtui)
    return arbtui


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.20", "example.org", "::"])
def test_a_non_loopback_host_is_refused_without_allow_remote(host: str, config: Path) -> None:
    result = CliRunner().invoke(_group(), ["--config", str(config), "serve", "--host", host])
    assert result.exit_code == 2
    assert f"refusing to serve on {host}" in result.output
    assert "--allow-remote" in result.output


def test_a_bad_config_is_reported_before_serving(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[broker]\nkind = "nowhere"\n')
    result = CliRunner().invoke(_group(), ["--config", str(bad), "serve"])
    assert result.exit_code == 2
    assert "broker" in result.output


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.9.9.9", True),
        ("::1", True),
        ("[::1]", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("0.0.0.0", False),
        ("localhost.evil.example", False),
    ],
)
def test_loopback_hosts(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_each_browser_session_runs_the_console_on_the_same_config_and_db(tmp_path: Path) -> None:
    words = shlex.split(console_command_line(Path("conf.toml"), tmp_path / "my ledger.db"))
    assert words[:3] == [sys.executable, "-m", "arbtui.cli"]
    assert words[3:] == [
        "--config",
        str(Path("conf.toml").resolve()),
        "--db",
        str(tmp_path / "my ledger.db"),
        "console",
    ]
    read_only = shlex.split(console_command_line(None, None, read_only=True))
    assert read_only[-2:] == ["console", "--read-only"]
