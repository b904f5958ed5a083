"""``/health``, ``/ready`` and ``/metrics`` on the real server."""

from __future__ import annotations

import httpx
import pytest
from prometheus_client import CONTENT_TYPE_LATEST

import arbtui.api.http as api_http
from arbtui.engine.ports import Check
from tests.integration.api.conftest import RunningApi


async def test_health_says_alive_without_asking_the_engine(api: RunningApi, http: httpx.AsyncClient) -> None:
    api.control.ledger_down = True  # the engine is in trouble: liveness must not care

    response = await http.get(f"{api.url}/health")

    assert response.status_code == 200
    assert response.json() == {"status": "alive"}


async def test_ready_is_200_when_every_check_passes(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{api.url}/ready")

    assert response.status_code == 200
    assert response.json() == {
        "ready": True,
        "checks": {
            "chain": {"ok": True, "detail": ""},
            "broker": {"ok": True, "detail": ""},
            "database": {"ok": True, "detail": ""},
        },
    }


async def test_ready_is_503_and_names_each_failing_check(api: RunningApi, http: httpx.AsyncClient) -> None:
    api.control.checks["chain"] = Check(False, "chain cursor 42 blocks behind head (bound 10)")
    api.control.checks["broker"] = Check(False, "alpaca: connection refused")

    response = await http.get(f"{api.url}/ready")

    assert response.status_code == 503
    body = response.json()
    assert body["ready"] is False
    assert body["checks"]["chain"] == {"ok": False, "detail": "chain cursor 42 blocks behind head (bound 10)"}
    assert body["checks"]["broker"] == {"ok": False, "detail": "alpaca: connection refused"}
    assert body["checks"]["database"] == {"ok": True, "detail": ""}


async def test_ready_is_503_when_the_checks_do_not_answer_in_time(
    api: RunningApi, http: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(api_http, "READINESS_TIMEOUT", 0.05)
    api.control.readiness_delay = 1.0

    response = await http.get(f"{api.url}/ready")

    assert response.status_code == 503
    assert response.json() == {
        "ready": False,
        "checks": {"engine": {"ok": False, "detail": "readiness checks timed out"}},
    }


async def test_ready_is_503_when_the_ledger_cannot_be_read(api: RunningApi, http: httpx.AsyncClient) -> None:
    api.control.ledger_down = True

    response = await http.get(f"{api.url}/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["database"] == {"ok": False, "detail": "arbtui.db: database is locked"}


async def test_metrics_expose_the_registry_as_prometheus_text(api: RunningApi, http: httpx.AsyncClient) -> None:
    response = await http.get(f"{api.url}/metrics")

    assert response.status_code == 200
    assert response.headers["content-type"] == CONTENT_TYPE_LATEST
    assert "# HELP arbtui_fills_total Onchain fills recorded" in response.text
    assert 'arbtui_fills_total{symbol="AAPL"} 3.0' in response.text


async def test_probes_answer_with_control_disabled(api_without_token: RunningApi, http: httpx.AsyncClient) -> None:
    for path in ("/health", "/ready", "/metrics"):
        response = await http.get(f"{api_without_token.url}{path}")
        assert response.status_code == 200, path
