"""`arbtui serve` under attack: cross-site WebSocket hijacking, a missing or wrong token, too many
sessions, keys sent to a read-only console — and a real browser (headless Chromium) on the right origin.

Each attack first shows it reached arbtui (the server answers with its own refusal and logs it), then
that it was refused, and that the ledger holds exactly the events it held before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from tests.tui.test_serve import CONFIG, REPO_ROOT

TOKEN = "hostile-serve-token-0123456789abcdefghij"
CHROMIUM = shutil.which("chromium") or shutil.which("google-chrome")
"""Debian's Chromium (``bash .ci/run`` installs it), or the Google Chrome GitHub's runners carry."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Served:
    process: asyncio.subprocess.Process
    port: int
    db: Path
    lines: list[str] = field(default_factory=list)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def ws_url(self, token: str | None = TOKEN) -> str:
        return f"{self.origin}/ws" + (f"?token={token}" if token is not None else "")

    async def logged(self, needle: str, within_s: float = 30.0) -> str:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while True:
            for line in self.lines:
                if needle in line:
                    return line
            assert loop.time() < deadline, f"serve never logged {needle!r}: {self.lines[-20:]}"
            await asyncio.sleep(0.1)

    def events(self) -> list[tuple[str, str]]:
        conn = sqlite3.connect(f"file:{self.db}?mode=ro", uri=True)
        try:
            return [(str(t), str(e)) for t, e in conn.execute("SELECT aggregate_type, event_type FROM events")]
        finally:
            conn.close()


def _prepare(tmp_path: Path) -> tuple[Path, Path]:
    """A config and a migrated, empty ledger."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    config = tmp_path / "arbtui.toml"
    config.write_text(CONFIG)
    db = tmp_path / "ledger.db"
    migrate = subprocess.run(
        [sys.executable, "-m", "arbtui.cli", "--db", str(db), "db", "migrate"], capture_output=True, check=False
    )
    assert migrate.returncode == 0, migrate.stderr
    return config, db


@contextlib.asynccontextmanager
async def serving(tmp_path: Path, *flags: str) -> AsyncIterator[Served]:
    config, db = await asyncio.to_thread(_prepare, tmp_path)
    port = _free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        "--config",
        str(config),
        "--db",
        str(db),
        "serve",
        "--port",
        str(port),
        *flags,
        cwd=REPO_ROOT,
        env={**os.environ, "ARBTUI_SERVE_TOKEN": TOKEN},
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    served = Served(process, port, db)

    async def read() -> None:
        assert process.stdout is not None
        async for raw in process.stdout:
            served.lines.append(raw.decode(errors="replace"))

    reader = asyncio.create_task(read())
    try:
        await served.logged(f" at http://127.0.0.1:{port}/?token=$ARBTUI_SERVE_TOKEN")
        await _answering(port)
        yield served
    finally:
        if process.returncode is None:
            process.terminate()
            try:
                await asyncio.wait_for(process.wait(), 20)
            except TimeoutError:
                process.kill()
                await process.wait()
        await reader
        assert all(TOKEN not in line for line in served.lines), "the token reached the server's output"


async def _answering(port: int) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(200):
            try:
                async with session.get(f"http://127.0.0.1:{port}/static/") as response:
                    await response.read()
                    return
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.1)
    raise AssertionError("arbtui serve never answered")


async def _handshake_status(url: str, headers: dict[str, str]) -> tuple[int, str]:
    """Try to open the console WebSocket; the HTTP status and body of the refusal."""
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            async with session.ws_connect(url, headers=headers):
                pass
        async with session.get(url, headers={**headers, "Connection": "Upgrade", "Upgrade": "websocket"}) as again:
            body = await again.text()
    return refused.value.status, body


class Session:
    """One console session over the WebSocket, as textual-serve's page drives it."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.screen = b""

    async def wait_for(self, wanted: bytes, within_s: float = 40.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within_s
        while wanted not in self.screen:
            assert loop.time() < deadline, f"the session never showed {wanted!r}: {self.screen[-300:]!r}"
            try:
                message = await asyncio.wait_for(self.ws.receive(), 1)
            except TimeoutError:
                continue
            assert message.type in (aiohttp.WSMsgType.BINARY, aiohttp.WSMsgType.TEXT), message
            self.screen += message.data if isinstance(message.data, bytes) else str(message.data).encode()

    async def keys(self, text: str) -> None:
        await self.ws.send_str(json.dumps(["stdin", text]))


@contextlib.asynccontextmanager
async def session(served: Served) -> AsyncIterator[Session]:
    async with (
        aiohttp.ClientSession() as client,
        client.ws_connect(served.ws_url(), headers={"Origin": served.origin}) as ws,
    ):
        await ws.send_str(json.dumps(["resize", {"width": 120, "height": 40}]))
        opened = Session(ws)
        await opened.wait_for(b"Onchain fills")
        yield opened


@pytest.mark.parametrize(
    ("case", "origin", "token", "status", "reason"),
    [
        ("foreign origin (CSWSH)", "http://evil.example", TOKEN, 403, "foreign Origin 'http://evil.example'"),
        ("another local port", "http://127.0.0.1:1", TOKEN, 403, "foreign Origin 'http://127.0.0.1:1'"),
        ("no origin", None, TOKEN, 403, "no Origin header"),
        ("no token", "SERVED", None, 401, "missing or wrong token"),
        ("wrong token", "SERVED", "x" * 40, 401, "missing or wrong token"),
    ],
)
async def test_a_console_session_needs_our_origin_and_the_token(
    tmp_path: Path, case: str, origin: str | None, token: str | None, status: int, reason: str
) -> None:
    async with serving(tmp_path) as served:
        before = served.events()
        headers = {} if origin is None else {"Origin": served.origin if origin == "SERVED" else origin}
        got, body = await _handshake_status(served.ws_url(token), headers)
        # reached arbtui: its own refusal, logged with the reason
        assert got == status, case
        assert body.startswith(f"arbtui serve: {reason}"), body
        await served.logged(f"refused a console session from 127.0.0.1: {reason}")
        assert all("console session opened" not in line for line in served.lines)
        assert served.events() == before


async def test_the_page_needs_the_token(tmp_path: Path) -> None:
    async with serving(tmp_path) as served, aiohttp.ClientSession() as client:
        async with client.get(f"{served.origin}/") as page:
            assert page.status == 401
        await served.logged("refused the console page to 127.0.0.1: missing or wrong token")
        async with client.get(f"{served.origin}/?token={TOKEN}") as page:
            assert page.status == 200
            assert f"/ws/{TOKEN}" in await page.text()


async def test_one_session_at_a_time_by_default(tmp_path: Path) -> None:
    async with serving(tmp_path) as served, session(served):
        got, body = await _handshake_status(served.ws_url(), {"Origin": served.origin})
        assert got == 429
        assert "already open (at most 1: --max-sessions)" in body
        await served.logged("refused a console session from 127.0.0.1: 1 console session(s) already open")


async def test_keys_reach_the_kill_switch_but_not_in_a_read_only_console(tmp_path: Path) -> None:
    # the channel is real: in a normal session, k + a reason + Enter engages the kill switch
    async with serving(tmp_path) as served, session(served) as opened:
        await opened.keys("k")
        await opened.wait_for(b"ENGAGE")
        await opened.keys("attack\r")
        for _ in range(100):
            if ("Control", "KillSwitchEngaged") in served.events():
                break
            await asyncio.sleep(0.1)
        assert ("Control", "KillSwitchEngaged") in served.events()
    async with serving(tmp_path / "ro", "--read-only") as served, session(served) as opened:
        before = served.events()
        await opened.keys("k")
        await opened.keys("attack\r")
        await opened.keys("h")
        await opened.keys("?")  # keys are handled in order: once help shows, k and h were handled
        await opened.wait_for(b"Keys: console")
        assert b"ENGAGE" not in opened.screen
        assert served.events() == before


# --- a real browser ------------------------------------------------------------------------------

FOREIGN_PAGE = """<!doctype html><title>evil</title><script>
const ws = new WebSocket("ws://127.0.0.1:{port}/ws/{token}?width=80&height=24");
ws.onopen = () => {{ ws.send(JSON.stringify(["stdin", "k"])); ws.send(JSON.stringify(["stdin", "x\\r"])); }};
</script>"""


@contextlib.contextmanager
def chromium(url: str, profile: Path) -> Iterator[None]:
    assert CHROMIUM is not None
    browser = subprocess.Popen(
        [
            CHROMIUM,
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            f"--user-data-dir={profile}",
            url,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield None
    finally:
        browser.terminate()
        try:
            browser.wait(10)
        except subprocess.TimeoutExpired:
            browser.kill()
            browser.wait()


needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (bash .ci/run installs Debian's package with apt-get)"
)


@needs_chromium
async def test_headless_chromium_opens_the_console_on_the_served_origin(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        with chromium(f"{served.origin}/?token={TOKEN}", tmp_path / "profile"):
            line = await served.logged("console session opened", within_s=60)
            assert f"(origin {served.origin};" in line
            await asyncio.sleep(3)  # the console it started keeps running: the session stays open
            assert all("console session closed" not in each for each in served.lines)
        await served.logged("console session closed", within_s=30)


@needs_chromium
async def test_headless_chromium_on_a_foreign_page_cannot_open_the_console(tmp_path: Path) -> None:
    async with serving(tmp_path) as served:
        before = served.events()
        evil = web.Application()
        page = FOREIGN_PAGE.format(port=served.port, token=TOKEN)

        async def index(request: web.Request) -> web.Response:
            return web.Response(text=page, content_type="text/html")

        evil.router.add_get("/", index)
        runner = web.AppRunner(evil)
        await runner.setup()
        evil_port = _free_port()
        site = web.TCPSite(runner, "127.0.0.1", evil_port)
        await site.start()
        try:
            with chromium(f"http://127.0.0.1:{evil_port}/", tmp_path / "profile"):
                line = await served.logged("refused a console session", within_s=60)
        finally:
            await runner.cleanup()
        assert f"foreign Origin 'http://127.0.0.1:{evil_port}'" in line
        assert all("console session opened" not in each for each in served.lines)
        assert served.events() == before
