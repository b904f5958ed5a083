"""A small synchronous client of the running bot's control API (used by the ``arbtui`` CLI).

```
ApiError                  str(exc) is the one line the operator sees
├── BotUnreachable        nothing reached the bot (connection refused, bad address): safe to retry
├── OutcomeUnknown        the request was sent but no answer came: it may have been applied
└── ControlRefused        the bot answered with an error status (.status, .message from the server)
```
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
from pydantic import SecretStr

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """Base of the control client's errors."""


class BotUnreachable(ApiError):
    """The request never reached the bot; nothing was applied."""


class OutcomeUnknown(ApiError):
    """The request was sent but no answer came back: the action may or may not have been applied."""


class ControlRefused(ApiError):
    """The bot answered with an error status; nothing was recorded."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Applied:
    """A successful control answer: the server's JSON object."""

    body: dict[str, Any]


class ControlClient:
    """One method per control route. ``transport`` lets tests point it anywhere (``None``: the network)."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self._timeout = timeout
        self._transport = transport

    def pause(self, symbol: str | None, *, reason: str, actor: str) -> Applied:
        return self._post("/control/pause", {"symbol": symbol, "reason": reason, "actor": actor})

    def resume(self, symbol: str | None, *, reason: str, actor: str) -> Applied:
        return self._post("/control/resume", {"symbol": symbol, "reason": reason, "actor": actor})

    def engage_kill_switch(self, *, reason: str, actor: str) -> Applied:
        return self._post("/control/kill", {"reason": reason, "actor": actor})

    def clear_kill_switch(self, *, reason: str, actor: str) -> Applied:
        return self._post("/control/clear-kill", {"reason": reason, "actor": actor})

    def manual_hedge(
        self, symbol: str, side: str, shares: str, *, reason: str, actor: str, allow_overhedge: bool = False
    ) -> str:
        """Returns the execution id. ``shares`` travels as the exact string given."""
        body: dict[str, Any] = {"symbol": symbol, "side": side, "shares": shares, "reason": reason, "actor": actor}
        if allow_overhedge:
            body["allow_overhedge"] = True
        applied = self._post("/control/hedge", body)
        execution_id = applied.body.get("execution_id")
        if not isinstance(execution_id, str):
            raise OutcomeUnknown(
                f"the bot at {self.base_url} answered without an execution id: check the console before retrying"
            )
        return execution_id

    def _post(self, path: str, payload: dict[str, Any]) -> Applied:
        url = self.base_url + path
        headers = {"Authorization": f"Bearer {self._token.get_secret_value()}"}
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport) as client:
                response = client.post(url, json=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BotUnreachable(f"bot not reachable at {self.base_url} ({_cause(exc)})") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknown(
                f"no answer from the bot at {self.base_url} ({_cause(exc)}): the action may have been applied; "
                "check the console or `arbtui position` before retrying"
            ) from exc
        body = _json_object(response)
        if response.is_success and body is not None:
            return Applied(body)
        if response.is_success:
            raise OutcomeUnknown(f"the bot at {self.base_url} answered {response.status_code} without a JSON body")
        raise ControlRefused(response.status_code, _error_message(response, body))


def _json_object(response: httpx.Response) -> dict[str, Any] | None:
    try:
        value = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None


def _error_message(response: httpx.Response, body: dict[str, Any] | None) -> str:
    if body is not None and isinstance(body.get("error"), str):
        message: str = body["error"]
    else:
        message = response.text.strip().splitlines()[0][:200] if response.text.strip() else response.reason_phrase
    if response.status_code == 401:
        return f"{message} — check ARBTUI_CONTROL_TOKEN"
    return message


def _cause(exc: Exception) -> str:
    return str(exc) or type(exc).__name__
