"""Hostile cases at the control API's network edge (issue 17): the token through a proxy, the token in an
oversized header, slow-header clients, plain http to another host, short tokens, ``arbtui token new``.

Each case first shows the attack reaches arbtui (the proxy is honoured by an ordinary client, the
oversized header is parsed and refused by the bot, a byte-by-byte head is served when it is quick, the
other host's URL leads to the bot), then that it is refused, leaks nothing and changes nothing. Everything
is real: the aiohttp service on a loopback port, the ``arbtui`` CLI, a proxy and raw sockets of this test.
"""

from __future__ import annotations

import asyncio
import logging
import re
import socket
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result
from loguru import logger
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from arbtui.api.client import ControlClient, NotSent
from arbtui.api.http import MAX_FIELD_BYTES, MAX_HEADERS, MAX_LINE_BYTES, build_app, serve
from arbtui.cli import main
from arbtui.config import ConfigError, load_settings
from arbtui.config.rules import MIN_CONTROL_TOKEN_LENGTH
from arbtui.domain.values import Symbol
from tests.integration.api.conftest import LOOPBACK, RecordingControl, RunningApi
from tests.unit.config.support import MINIMAL, write

WAIT = 15.0
"""Upper bound of every wait in this module (never a timing assertion)."""

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy")
NO_PROXY_VARIABLES = ("NO_PROXY", "no_proxy")


async def _cli(args: list[str], *, token: str | None) -> Result:
    """The real ``arbtui`` command in a worker thread (the loop keeps serving the bot meanwhile)."""
    env = {"ARBTUI_CONTROL_TOKEN": token, "ARBTUI_API_URL": None}
    return await asyncio.to_thread(CliRunner().invoke, main, args, env=env)


# --- the token through a proxy --------------------------------------------------------------------------


@dataclass
class RecordingProxy:
    """An HTTP proxy that records every byte it receives and answers 502: what a hostile or logging proxy
    would learn."""

    url: str = ""
    connections: int = 0
    received: bytearray = field(default_factory=bytearray)


@asynccontextmanager
async def recording_proxy() -> AsyncIterator[RecordingProxy]:
    proxy = RecordingProxy()

    async def on_connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        proxy.connections += 1
        try:
            proxy.received += await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), WAIT)
            writer.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, ConnectionError) as exc:
            proxy.received += getattr(exc, "partial", b"")
        finally:
            writer.close()

    server = await asyncio.start_server(on_connection, LOOPBACK, 0)
    proxy.url = f"http://{LOOPBACK}:{server.sockets[0].getsockname()[1]}"
    async with server:
        yield proxy


@pytest.mark.parametrize(
    "variables",
    [
        pytest.param(("HTTP_PROXY",), id="HTTP_PROXY"),
        pytest.param(("http_proxy",), id="http_proxy"),
        pytest.param(("ALL_PROXY",), id="ALL_PROXY"),
        pytest.param(("all_proxy",), id="all_proxy"),
        pytest.param(("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"), id="all-three"),
    ],
)
async def test_the_cli_never_sends_the_token_through_a_proxy_to_a_loopback_bot(
    api: RunningApi, monkeypatch: pytest.MonkeyPatch, variables: tuple[str, ...]
) -> None:
    assert api.token is not None
    for name in (*PROXY_VARIABLES, *NO_PROXY_VARIABLES):
        monkeypatch.delenv(name, raising=False)
    async with recording_proxy() as proxy:
        for name in variables:
            monkeypatch.setenv(name, proxy.url)

        # the attack works on an ordinary client: the proxy gets the request, token included
        async with httpx.AsyncClient(timeout=WAIT) as ordinary:
            relayed = await ordinary.post(
                f"{api.url}/control/pause", json={"symbol": "AAPL", "reason": "x"}, headers=api.auth()
            )
        assert relayed.status_code == 502
        assert api.token.encode() in proxy.received
        assert api.control.calls == []
        proxy.connections, proxy.received[:] = 0, b""

        result = await _cli(["pause", "AAPL", "--reason", "proxied?", "--api", api.url], token=api.token)

        assert (result.exit_code, result.output) == (0, "paused AAPL\n")
        assert [(c.action, c.symbol) for c in api.control.calls] == [("pause", Symbol("AAPL"))]
        assert (proxy.connections, bytes(proxy.received)) == (0, b"")


async def test_a_cli_process_with_every_proxy_variable_set_goes_direct(api: RunningApi) -> None:
    assert api.token is not None
    async with recording_proxy() as proxy:
        environment = {name: proxy.url for name in PROXY_VARIABLES}
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            "from arbtui.cli import main; main()",
            "kill",
            "--reason",
            "from a shell behind a proxy",
            "--api",
            api.url,
            env={**environment, "ARBTUI_CONTROL_TOKEN": api.token, "PATH": "/usr/bin:/bin"},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=60)

    assert process.returncode == 0, stderr.decode()
    assert stdout.decode().startswith("kill switch engaged")
    assert api.control.killed is True
    assert (proxy.connections, bytes(proxy.received)) == (0, b"")
    assert api.token not in (stdout + stderr).decode()


# --- the token in an oversized header -------------------------------------------------------------------


def _head(request_line: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [request_line, "Host: 127.0.0.1", *(f"{name}: {value}" for name, value in headers)]
    return ("\r\n".join(lines) + "\r\nContent-Length: 16\r\n\r\n").encode() + b'{"reason": "xx"}'


KILL = "POST /control/kill HTTP/1.1"
PAD = "A" * MAX_FIELD_BYTES

OVERSIZED: dict[str, Callable[[str], bytes]] = {
    "token-then-padding": lambda t: _head(KILL, [("Authorization", f"Bearer {t}{PAD}")]),
    "padding-then-token": lambda t: _head(KILL, [("Authorization", f"Bearer {PAD}{t}")]),
    "token-only-repeated": lambda t: _head(KILL, [("Authorization", "Bearer " + t * (MAX_FIELD_BYTES // len(t) + 1))]),
    "token-in-another-header": lambda t: _head(KILL, [("Authorization", f"Bearer {t}"), ("X-Debug", t + PAD)]),
    "token-in-a-header-name": lambda t: _head(KILL, [(f"X-{t}-{PAD}", "1"), ("Authorization", f"Bearer {t}")]),
    "token-in-the-request-line": lambda t: _head(
        f"POST /control/kill?token={t}&pad={'A' * MAX_LINE_BYTES} HTTP/1.1", [("Authorization", f"Bearer {t}")]
    ),
    "too-many-headers": lambda t: _head(
        KILL, [("Authorization", f"Bearer {t}"), *((f"X-Pad-{i}", t) for i in range(MAX_HEADERS + 1))]
    ),
}


@contextmanager
def every_log_line(caplog: pytest.LogCaptureFixture) -> Iterator[list[str]]:
    """Everything logged through loguru (our lines) and the standard library (aiohttp's)."""
    caplog.set_level(logging.DEBUG)
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    try:
        yield lines
    finally:
        logger.remove(sink)
        lines += [caplog.text]


async def _exchange(url: str, request: bytes) -> bytes:
    """Send ``request`` on a raw connection and read until the server closes it."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        writer.write(request)
        await writer.drain()
        return await asyncio.wait_for(reader.read(), WAIT)
    finally:
        writer.close()


@pytest.mark.parametrize("build", OVERSIZED.values(), ids=OVERSIZED.keys())
async def test_an_oversized_header_never_shows_the_token(
    api: RunningApi,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
    build: Callable[[str], bytes],
) -> None:
    assert api.token is not None
    request = build(api.token)
    assert api.token.encode() in request
    assert len(request) > MAX_FIELD_BYTES or request.count(b"\r\n") > MAX_HEADERS + 2  # beyond a cap

    with every_log_line(caplog) as lines:
        answer = await _exchange(api.url, request)

    status_line, body = answer.partition(b"\r\n")[0], answer.partition(b"\r\n\r\n")[2]
    # it reached the bot, whose parser refused it (an answer and a log line of arbtui's own)
    assert re.match(rb"HTTP/1\.[01] (431|400) ", status_line), answer[:200]
    assert body.startswith(b'{"error": ')
    assert any("refused a malformed request from 127.0.0.1" in line for line in lines)
    # and nothing of the token anywhere: answer, log sinks, stdout/stderr
    captured = capfd.readouterr()
    everything = "\n".join([answer.decode("latin-1"), *lines, captured.out, captured.err])
    assert api.token not in everything
    assert api.token[: MIN_CONTROL_TOKEN_LENGTH // 2] not in everything
    assert api.control.calls == []
    assert api.control.killed is False


async def test_a_large_but_allowed_header_still_reaches_the_route(api: RunningApi) -> None:
    """The caps are not so tight that an ordinary request with a few KiB of headers is refused."""
    assert api.token is not None
    request = _head(KILL, [("Authorization", f"Bearer {api.token}"), ("X-Trace", "t" * 4096), ("Connection", "close")])

    answer = await _exchange(api.url, request)

    assert answer.startswith(b"HTTP/1.1 200 "), answer[:200]
    assert api.control.killed is True


# --- slow-header clients --------------------------------------------------------------------------------

HEADER_TIMEOUT = 0.5
SLOW_HEAD = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Pad: " + b"p" * 400 + b"\r\n\r\n"
QUICK = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


@pytest.fixture
async def impatient_api(control: RecordingControl, registry: CollectorRegistry, token: str) -> AsyncIterator[str]:
    app = build_app(control, control, registry, control_token=SecretStr(token))
    async with serve(app, LOOPBACK, 0, header_timeout=HEADER_TIMEOUT) as address:
        yield address.url


async def _dribble(url: str, *, before: bytes, head: bytes, pause: float) -> tuple[bytes, int]:
    """Send ``before`` at once (and read its answer), then ``head`` one byte at a time ``pause`` seconds
    apart until the server closes the connection or the head is sent. Returns what came back after
    ``before``'s answer and how many bytes of ``head`` were sent."""
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection(LOOPBACK, port)
    try:
        if before:
            writer.write(before)
            await writer.drain()
            await asyncio.wait_for(reader.readuntil(b'"alive"}'), WAIT)
        closed = asyncio.ensure_future(reader.read())
        sent = 0
        async with asyncio.timeout(WAIT):
            for byte in head:
                if closed.done():
                    break
                try:
                    writer.write(bytes([byte]))
                    await writer.drain()
                except ConnectionError:
                    break
                sent += 1
                await asyncio.sleep(pause)
            try:
                answer = await closed
            except ConnectionError:
                answer = b""
        return answer, sent
    finally:
        writer.close()


@pytest.mark.parametrize(
    "before", [pytest.param(b"", id="fresh-connection"), pytest.param(QUICK, id="after-a-kept-alive-request")]
)
async def test_a_head_sent_byte_by_byte_is_served_when_quick(impatient_api: str, before: bytes) -> None:
    answer, _ = await _dribble(
        impatient_api, before=before, head=QUICK.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n"), pause=0
    )

    assert answer.startswith(b"HTTP/1.1 200 ")
    assert b'"alive"' in answer


@pytest.mark.parametrize(
    ("before", "head"),
    [
        pytest.param(b"", SLOW_HEAD, id="fresh-connection"),
        pytest.param(QUICK, SLOW_HEAD, id="after-a-kept-alive-request"),
        pytest.param(b"", b"", id="silent-connection"),
    ],
)
async def test_a_slow_header_client_is_disconnected(impatient_api: str, before: bytes, head: bytes) -> None:
    """A head of ~450 bytes at one byte every 50 ms would take over 20 s; the server, with a 0.5 s header
    timeout, closes the connection without an answer long before it is complete."""
    answer, sent = await _dribble(impatient_api, before=before, head=head, pause=0.05)

    assert answer == b""
    assert sent < len(head) or head == b""


# --- plain http to another host -------------------------------------------------------------------------


def _local_name() -> tuple[str, str] | None:
    """This machine's name and the loopback address it resolves to (a name the client cannot know is
    local: the token must not go there in clear), or ``None`` when it resolves elsewhere."""
    name = socket.gethostname()
    try:
        address = socket.gethostbyname(name)
    except OSError:
        return None
    return (name, address) if address.startswith("127.") else None


async def test_plain_http_to_a_non_loopback_name_is_refused_before_any_connection(
    control: RecordingControl, registry: CollectorRegistry, token: str, caplog: pytest.LogCaptureFixture
) -> None:
    local = _local_name()
    if local is None:
        pytest.skip("this machine's name does not resolve to a loopback address")
    name, address = local
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    app = build_app(control, control, registry, control_token=SecretStr(token))
    async with serve(app, address, 0) as listening:
        url = f"http://{name}:{listening.port}"
        # the URL leads to the bot: an ordinary client sends the token there in clear, and it is accepted
        async with httpx.AsyncClient(timeout=WAIT, trust_env=False) as ordinary:
            reached = await ordinary.post(
                f"{url}/control/pause",
                json={"symbol": None, "reason": "x"},
                headers={"Authorization": f"Bearer {token}"},
            )
        assert reached.status_code == 200
        served = len([r for r in caplog.records if r.name == "aiohttp.access"])

        result = await _cli(["resume", "--reason", "in clear?", "--api", url], token=token)

    assert result.exit_code == 2
    assert result.output == (
        f"Error: refusing to send the control token unencrypted to {name}: use https://{name}:{listening.port}, "
        "or an SSH tunnel to the bot and http://127.0.0.1:PORT\n"
    )
    assert [c.action for c in control.calls] == ["pause"]
    assert len([r for r in caplog.records if r.name == "aiohttp.access"]) == served


@pytest.mark.parametrize(
    "url",
    [
        "http://192.0.2.10:8080",
        "HTTP://10.0.0.1",
        "http://[2001:db8::1]:8080",
        "http://bot.example.com/",
        "http://127.0.0.1.nip.io:8080",
        "http://user@203.0.113.5:8080",
    ],
)
async def test_plain_http_to_another_host_is_refused_at_once(url: str) -> None:
    """Addresses nobody listens on: any connection attempt would fail (or hang); the refusal comes first,
    as :class:`NotSent`, with the fix named."""
    token = "t" * 43
    with pytest.raises(NotSent, match=r"refusing to send the control token unencrypted to .*: use https://"):
        ControlClient(url, SecretStr(token))

    result = await _cli(["kill", "--reason", "x", "--api", url], token=token)

    assert result.exit_code == 2
    assert result.output.count("\n") == 1
    assert "use https://" in result.output
    assert token not in result.output


@pytest.mark.parametrize(
    "url", ["https://192.0.2.10:8443", "http://127.0.0.2:8080", "http://localhost:1", "http://[::1]:1"]
)
def test_https_anywhere_and_http_to_loopback_are_allowed(url: str) -> None:
    ControlClient(url, SecretStr("t" * 43))


# --- tokens ---------------------------------------------------------------------------------------------

REMOTE = MINIMAL + '[api]\nlisten = "0.0.0.0:8080"\nallow_remote = true\n'


@pytest.mark.parametrize("length", [1, 8, MIN_CONTROL_TOKEN_LENGTH - 1])
async def test_a_short_control_token_with_allow_remote_is_a_config_error(tmp_path: Path, length: int) -> None:
    config = write(tmp_path, REMOTE)
    short = "s" * length
    # the same configuration with a long token is accepted: only the length is refused
    load_settings(config, {"ARBTUI_CONTROL_TOKEN": "s" * MIN_CONTROL_TOKEN_LENGTH})

    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["--config", str(config), "run", "--headless"], env={"ARBTUI_CONTROL_TOKEN": short}
    )

    assert result.exit_code == 2
    assert result.output == (
        "invalid configuration (1 problem):\n"
        f"  - ARBTUI_CONTROL_TOKEN: {length} character{'s' if length != 1 else ''}; "
        "api.allow_remote = true needs at least "
        f"{MIN_CONTROL_TOKEN_LENGTH} (`arbtui token new` prints one)\n"
    )


def test_token_new_prints_a_strong_random_token_the_config_accepts(tmp_path: Path) -> None:
    config = write(tmp_path, REMOTE)
    results = [CliRunner().invoke(main, ["token", "new"]) for _ in range(20)]

    assert all(result.exit_code == 0 for result in results)
    tokens = [result.output.removesuffix("\n") for result in results]
    assert all(re.fullmatch(r"[A-Za-z0-9_-]{43}", token) for token in tokens), tokens
    assert len(set(tokens)) == len(tokens)
    for token in tokens[:3]:
        settings = load_settings(config, {"ARBTUI_CONTROL_TOKEN": token})
        assert settings.control_token is not None
        assert settings.control_token.get_secret_value() == token
    with pytest.raises(ConfigError, match="needs at least 32"):
        load_settings(config, {"ARBTUI_CONTROL_TOKEN": tokens[0][:31]})
