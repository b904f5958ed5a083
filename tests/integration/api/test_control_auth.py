"""Every control route behind the bearer token: accepted with it, 401 without or with a wrong one, 404 when
the bot runs without a token; the comparison is constant-time and the token never reaches a log."""

from __future__ import annotations

import hmac
import logging
from typing import Any

import httpx
import pytest
from loguru import logger
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from arbtui.api.http import CONTROL_DISABLED, build_app, serve
from tests.integration.api.conftest import RecordingControl, RunningApi

REASON = "desk check"

# route → a body it accepts on a fresh control (clear-kill and resume need state first: see _prepare)
ROUTES: dict[str, dict[str, Any]] = {
    "/control/pause": {"symbol": "AAPL", "reason": REASON},
    "/control/resume": {"symbol": "AAPL", "reason": REASON},
    "/control/kill": {"reason": REASON},
    "/control/clear-kill": {"reason": REASON},
    "/control/hedge": {"symbol": "AAPL", "side": "buy", "shares": "1.5", "reason": REASON},
}
ACTIONS = {
    "/control/pause": "pause",
    "/control/resume": "resume",
    "/control/kill": "kill",
    "/control/clear-kill": "clear-kill",
    "/control/hedge": "hedge",
}


def _prepare(api: RunningApi, route: str) -> None:
    if route == "/control/resume":
        api.control.paused.add("AAPL")
    if route == "/control/clear-kill":
        api.control.killed = True


@pytest.mark.parametrize("route", ROUTES)
async def test_control_route_accepts_the_right_token(api: RunningApi, http: httpx.AsyncClient, route: str) -> None:
    _prepare(api, route)

    response = await http.post(f"{api.url}{route}", json=ROUTES[route], headers=api.auth())

    assert response.status_code == 200, response.text
    [call] = api.control.calls
    assert call.action == ACTIONS[route]
    assert (call.actor, call.reason) == ("api", REASON)


@pytest.mark.parametrize("route", ROUTES)
async def test_control_route_refuses_a_request_without_a_token(
    api: RunningApi, http: httpx.AsyncClient, route: str
) -> None:
    _prepare(api, route)

    response = await http.post(f"{api.url}{route}", json=ROUTES[route])

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert "bearer token" in response.json()["error"]
    assert api.control.calls == []


@pytest.mark.parametrize("route", ROUTES)
async def test_control_route_refuses_a_wrong_token(api: RunningApi, http: httpx.AsyncClient, route: str) -> None:
    _prepare(api, route)
    assert api.token is not None

    response = await http.post(f"{api.url}{route}", json=ROUTES[route], headers=api.auth(api.token + "x"))

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert api.control.calls == []


@pytest.mark.parametrize(
    "header",
    [
        pytest.param("Basic {token}", id="wrong-scheme"),
        pytest.param("{token}", id="no-scheme"),
        pytest.param("Bearer", id="scheme-only"),
        pytest.param("Bearer {prefix}", id="token-prefix"),
        pytest.param("Bearer tökén", id="non-ascii"),
    ],
)
async def test_malformed_authorization_headers_are_401(api: RunningApi, http: httpx.AsyncClient, header: str) -> None:
    assert api.token is not None
    value = header.format(token=api.token, prefix=api.token[:-1])

    response = await http.post(
        f"{api.url}/control/kill",
        json={"reason": REASON},
        headers={b"Authorization": value.encode("utf-8")},
    )

    assert response.status_code == 401
    assert api.control.killed is False


async def test_bearer_scheme_is_case_insensitive(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{api.url}/control/kill", json={"reason": REASON}, headers={"Authorization": f"bearer {api.token}"}
    )

    assert response.status_code == 200
    assert api.control.killed is True


async def test_unauthenticated_requests_learn_nothing_about_the_body(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.post(f"{api.url}/control/hedge", content=b"{not json")

    assert response.status_code == 401  # not 400: the body is not read before the token is checked


@pytest.mark.parametrize("route", ROUTES)
async def test_control_routes_are_disabled_without_a_configured_token(
    api_without_token: RunningApi, http: httpx.AsyncClient, token: str, route: str
) -> None:
    _prepare(api_without_token, route)

    response = await http.post(
        f"{api_without_token.url}{route}", json=ROUTES[route], headers={"Authorization": f"Bearer {token}"}
    )

    assert response.status_code == 404
    assert response.json() == {"error": CONTROL_DISABLED}
    assert "ARBTUI_CONTROL_TOKEN" in CONTROL_DISABLED
    assert api_without_token.control.calls == []


async def test_empty_configured_token_disables_control(
    control: RecordingControl, registry: CollectorRegistry, http: httpx.AsyncClient
) -> None:
    app = build_app(control, control, registry, control_token=SecretStr(""))
    async with serve(app, "127.0.0.1", 0) as address:
        response = await http.post(
            f"{address.url}/control/kill", json={"reason": REASON}, headers={"Authorization": "Bearer"}
        )

    assert response.status_code == 404
    assert control.calls == []


async def test_token_is_compared_in_constant_time(
    api: RunningApi, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    compared: list[tuple[bytes, bytes]] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    assert api.token is not None

    wrong = await http.post(f"{api.url}/control/kill", json={"reason": REASON}, headers=api.auth("nope"))
    right = await http.post(f"{api.url}/control/kill", json={"reason": REASON}, headers=api.auth())

    assert (wrong.status_code, right.status_code) == (401, 200)
    assert compared == [(b"nope", api.token.encode()), (api.token.encode(), api.token.encode())]


async def test_the_token_never_reaches_a_log(
    api: RunningApi, http: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    loguru_lines: list[str] = []
    sink = logger.add(lambda message: loguru_lines.append(str(message)), level="DEBUG")
    assert api.token is not None
    try:
        await http.post(f"{api.url}/control/pause", json={"symbol": None, "reason": REASON}, headers=api.auth())
        await http.post(f"{api.url}/control/pause", json={"symbol": None, "reason": REASON}, headers=api.auth())
        await http.post(f"{api.url}/control/kill", json={"reason": REASON}, headers=api.auth(api.token + "x"))
        await http.post(f"{api.url}/control/kill", json={"reason": ""}, headers=api.auth())
    finally:
        logger.remove(sink)

    access_lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    # the logs really were written (else this test proves nothing): four requests, and the refusals
    assert len(access_lines) == 4
    assert any("/control/pause" in line for line in access_lines)
    assert any("refused POST /control/kill" in line and "bearer token" in line for line in loguru_lines)
    assert any("(409)" in line for line in loguru_lines)
    everything = "\n".join([*loguru_lines, caplog.text])
    assert api.token not in everything
