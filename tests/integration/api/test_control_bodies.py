"""Control bodies, answers and refusals: exact shares, 400 with a precise line for every malformed body,
409 for a state conflict, 503 when the ledger cannot be written — and nothing recorded on any refusal."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import httpx
import pytest

from arbtui.domain.values import Direction, Shares, Symbol
from tests.integration.api.conftest import RunningApi

HEDGE: dict[str, Any] = {"symbol": "AAPL", "side": "buy", "shares": "1.5", "reason": "manual top-up"}


async def test_pause_one_symbol_then_resume_it(api: RunningApi, http: httpx.AsyncClient) -> None:
    body = {"symbol": "AAPL", "reason": "earnings", "actor": "alice"}

    paused = await http.post(f"{api.url}/control/pause", json=body, headers=api.auth())
    resumed = await http.post(f"{api.url}/control/resume", json=body, headers=api.auth())

    assert paused.json() == {"action": "paused", "symbol": "AAPL"}
    assert resumed.json() == {"action": "resumed", "symbol": "AAPL"}
    assert [(c.action, c.symbol, c.actor, c.reason) for c in api.control.calls] == [
        ("pause", Symbol("AAPL"), "alice", "earnings"),
        ("resume", Symbol("AAPL"), "alice", "earnings"),
    ]


async def test_pause_with_null_symbol_pauses_every_symbol(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.post(
        f"{api.url}/control/pause", json={"symbol": None, "reason": "broker outage"}, headers=api.auth()
    )

    assert response.json() == {"action": "paused", "symbol": None}
    [call] = api.control.calls
    assert call.symbol is None


async def test_hedge_returns_the_execution_id_and_passes_exact_shares(api: RunningApi, http: httpx.AsyncClient) -> None:
    body = {**HEDGE, "side": "sell", "shares": "0.000000000000000001", "actor": "bob"}

    response = await http.post(f"{api.url}/control/hedge", json=body, headers=api.auth())

    assert response.status_code == 200
    [call] = api.control.calls
    assert response.json() == {"execution_id": call.execution_id}
    assert uuid.UUID(response.json()["execution_id"]).version == 4
    assert call.direction is Direction.SELL
    assert call.shares == Shares(Decimal("1E-18"))
    assert (call.symbol, call.actor, call.reason) == (Symbol("AAPL"), "bob", "manual top-up")


async def test_reason_and_actor_are_trimmed(api: RunningApi, http: httpx.AsyncClient) -> None:
    await http.post(f"{api.url}/control/kill", json={"reason": "  halt  ", "actor": " carol "}, headers=api.auth())

    [call] = api.control.calls
    assert (call.actor, call.reason) == ("carol", "halt")


@pytest.mark.parametrize(
    ("route", "body", "message"),
    [
        pytest.param("/control/hedge", {**HEDGE, "shares": 1.5}, "shares must be a decimal string", id="float-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": 2}, "a JSON number is refused", id="int-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": "1e3"}, "plain positive decimal", id="exponent-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": "-1"}, "plain positive decimal", id="negative-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": "0"}, "shares must be positive", id="zero-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": "NaN"}, "plain positive decimal", id="nan-shares"),
        pytest.param("/control/hedge", {**HEDGE, "shares": " 1"}, "plain positive decimal", id="padded-shares"),
        pytest.param("/control/hedge", {**HEDGE, "side": "short"}, 'side must be "buy" or "sell"', id="bad-side"),
        pytest.param("/control/hedge", {**HEDGE, "side": None}, "got null", id="null-side"),
        pytest.param("/control/hedge", {**HEDGE, "symbol": None}, "symbol must be a ticker string", id="null-symbol"),
        pytest.param("/control/hedge", {**HEDGE, "symbol": "aapl"}, "not a broker ticker", id="lower-symbol"),
        pytest.param("/control/hedge", {**HEDGE, "qty": "1"}, "unknown field: qty", id="unknown-field"),
        pytest.param(
            "/control/hedge",
            {k: v for k, v in HEDGE.items() if k != "shares"},
            "missing field: shares",
            id="missing-shares",
        ),
        pytest.param("/control/pause", {"symbol": "AAPL"}, "missing field: reason", id="missing-reason"),
        pytest.param("/control/pause", {"symbol": "AAPL", "reason": ""}, "reason must not be empty", id="empty-reason"),
        pytest.param("/control/pause", {"symbol": "AAPL", "reason": "   "}, "reason must not be empty", id="blank"),
        pytest.param("/control/pause", {"symbol": "AAPL", "reason": 7}, "reason must be a string", id="number-reason"),
        pytest.param("/control/pause", {"reason": "x"}, "missing field: symbol", id="implicit-all"),
        pytest.param("/control/pause", {"symbol": 1, "reason": "x"}, "ticker string or null", id="number-symbol"),
        pytest.param("/control/kill", {"reason": "x", "actor": ""}, "actor must not be empty", id="empty-actor"),
        pytest.param("/control/kill", {"reason": "x" * 501}, "reason is too long", id="long-reason"),
        pytest.param("/control/kill", ["reason"], "must be a JSON object, got an array", id="array-body"),
        pytest.param("/control/clear-kill", {}, "missing field: reason", id="empty-object"),
    ],
)
async def test_bad_bodies_are_400_with_a_precise_message(
    api: RunningApi, http: httpx.AsyncClient, route: str, body: Any, message: str
) -> None:
    api.control.killed = route == "/control/clear-kill"

    response = await http.post(f"{api.url}{route}", json=body, headers=api.auth())

    assert response.status_code == 400, response.text
    assert message in response.json()["error"]
    assert api.control.calls == []


@pytest.mark.parametrize(
    ("content", "message"),
    [
        pytest.param(b"", "request body is empty", id="empty"),
        pytest.param(b'{"reason": "x",', "not valid JSON", id="truncated"),
        pytest.param(b"\xff\xfe", "not UTF-8", id="not-utf8"),
        pytest.param(b'{"reason": "x", "reason": "y"}', "duplicate field: reason", id="duplicate-key"),
        pytest.param(b'{"reason": NaN}', "NaN is not allowed", id="nan"),
    ],
)
async def test_malformed_json_is_400(api: RunningApi, http: httpx.AsyncClient, content: bytes, message: str) -> None:
    response = await http.post(
        f"{api.url}/control/kill",
        content=content,
        headers={**api.auth(), "Content-Type": "application/json"},
    )

    assert response.status_code == 400
    assert message in response.json()["error"]
    assert api.control.killed is False


async def test_oversized_body_is_refused(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.post(f"{api.url}/control/kill", json={"reason": "x" * 20_000}, headers=api.auth())

    assert response.status_code == 413
    assert api.control.killed is False


async def test_pausing_twice_is_a_409_conflict(api: RunningApi, http: httpx.AsyncClient) -> None:
    body = {"symbol": "AAPL", "reason": "earnings"}
    first = await http.post(f"{api.url}/control/pause", json=body, headers=api.auth())

    second = await http.post(f"{api.url}/control/pause", json=body, headers=api.auth())

    assert first.status_code == 200
    assert second.status_code == 409
    assert second.json() == {"error": "Control AAPL: already paused"}
    assert len(api.control.calls) == 1


@pytest.mark.parametrize(
    ("state", "route", "body", "message"),
    [
        pytest.param("killed", "/control/hedge", HEDGE, "kill switch engaged", id="hedge-while-killed"),
        pytest.param("in-flight", "/control/hedge", HEDGE, "is still in flight", id="hedge-while-pending"),
        pytest.param("killed", "/control/kill", {"reason": "x"}, "already engaged", id="kill-twice"),
        pytest.param("fresh", "/control/clear-kill", {"reason": "x"}, "not engaged", id="clear-unkilled"),
        pytest.param("fresh", "/control/resume", {"symbol": None, "reason": "x"}, "not paused", id="resume-unpaused"),
    ],
)
async def test_state_conflicts_are_409(
    api: RunningApi, http: httpx.AsyncClient, state: str, route: str, body: dict[str, Any], message: str
) -> None:
    if state == "killed":
        api.control.killed = True
    if state == "in-flight":
        first = await http.post(f"{api.url}/control/hedge", json=HEDGE, headers=api.auth())
        assert first.status_code == 200
    calls_before = list(api.control.calls)

    response = await http.post(f"{api.url}{route}", json=body, headers=api.auth())

    assert response.status_code == 409
    assert message in response.json()["error"]
    assert api.control.calls == calls_before


async def test_invalid_command_from_the_engine_is_400(api: RunningApi, http: httpx.AsyncClient) -> None:
    """A body the edge accepts but the engine's rules call malformed comes back 400 with the engine's line."""
    response = await http.post(f"{api.url}/control/hedge", json={**HEDGE, "symbol": "MSFT"}, headers=api.auth())

    assert response.status_code == 400
    assert response.json() == {"error": "Position MSFT: not a configured symbol"}
    assert api.control.calls == []


async def test_ledger_unavailable_is_503(api: RunningApi, http: httpx.AsyncClient) -> None:
    api.control.ledger_down = True

    response = await http.post(f"{api.url}/control/hedge", json=HEDGE, headers=api.auth())

    assert response.status_code == 503
    assert response.json() == {"error": "arbtui.db: database is locked"}
    assert api.control.calls == []


async def test_wrong_method_and_unknown_route(api: RunningApi, http: httpx.AsyncClient) -> None:
    wrong_method = await http.get(f"{api.url}/control/pause", headers=api.auth())
    unknown = await http.post(f"{api.url}/control/liquidate", json={"reason": "x"}, headers=api.auth())

    assert wrong_method.status_code == 405
    assert unknown.status_code == 404
