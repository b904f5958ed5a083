"""A small synchronous client of the running bot's control API (used by the ``arbtui`` CLI).

```
ApiError                  str(exc) is the one line the operator sees
├── NotSent               refused before any connection: the URL or the token cannot carry the token safely
├── BotUnreachable        nothing reached the bot (connection refused, bad address): safe to retry
├── OutcomeUnknown        the request was sent but no answer came: it may have been applied
└── ControlRefused        the bot answered with an error status (.status, .message from the server)
```

The bearer token travels only where it cannot be read on the way:

- to a **loopback** host (``127.0.0.0/8``, ``::1``, ``localhost``) over http, always directly: the
  environment's proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``ALL_PROXY``, ``NO_PROXY``) are not consulted,
  so a proxy meant for the outside world never receives the token of the bot next door;
- to **any other host** only over https (plain http is :class:`NotSent`); the environment's proxies and
  ``SSL_CERT_FILE`` apply there, a proxy seeing only an encrypted tunnel.

No message of this module contains the token: an answer that quotes it is redacted.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import SecretStr

from arbtui.config import is_loopback

DEFAULT_API_URL = "http://127.0.0.1:8080"
DEFAULT_TIMEOUT = 30.0


class ApiError(Exception):
    """Base of the control client's errors."""


class NotSent(ApiError):
    """Refused before any connection: sending the token to this URL would expose it, or it cannot travel
    in a header. Nothing was sent."""


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
    """One method per control route. ``transport`` lets tests point it anywhere (``None``: the network).

    Raises :class:`NotSent` at once for a URL the token must not travel to (see the module) or a token
    that is not printable ASCII."""

    def __init__(
        self,
        base_url: str,
        token: SecretStr,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._direct = check_api_url(self.base_url)
        _check_token(token)
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
        # trust_env=False for loopback: no proxy from the environment (nor .netrc) ever sees this request
        trust_env = not self._direct
        try:
            with httpx.Client(timeout=self._timeout, transport=self._transport, trust_env=trust_env) as client:
                response = client.post(url, json=payload, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            raise BotUnreachable(f"bot not reachable at {self.base_url} ({self._cause(exc)})") from exc
        except httpx.TransportError as exc:
            raise OutcomeUnknown(
                f"no answer from the bot at {self.base_url} ({self._cause(exc)}): the action may have been "
                "applied; check the console or `arbtui position` before retrying"
            ) from exc
        body = _json_object(response)
        if response.is_success and body is not None:
            return Applied(body)
        if response.is_success:
            raise OutcomeUnknown(f"the bot at {self.base_url} answered {response.status_code} without a JSON body")
        raise ControlRefused(response.status_code, self._redact(_error_message(response, body)))

    def _cause(self, exc: Exception) -> str:
        return self._redact(str(exc) or type(exc).__name__)

    def _redact(self, text: str) -> str:
        """``text`` with the token, should anything quote it, replaced by ``<token>``."""
        return text.replace(self._token.get_secret_value(), "<token>")


def check_api_url(url: str) -> bool:
    """Whether ``url`` is a loopback http(s) URL (sent directly); an https URL to another host is allowed
    (through the environment's proxies, if any); anything else is :class:`NotSent`."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as exc:
        raise NotSent(f"not a valid URL for the bot's API: {url!r} ({exc})") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not host:
        raise NotSent(f"not an http(s) URL for the bot's API: {url!r} (e.g. http://127.0.0.1:8080)")
    if is_loopback(host):
        return True
    if scheme == "http":
        raise NotSent(
            f"refusing to send the control token unencrypted to {host}: use https://{parts.netloc}, "
            "or an SSH tunnel to the bot and http://127.0.0.1:PORT"
        )
    return False


def _check_token(token: SecretStr) -> None:
    value = token.get_secret_value()
    if not value or not all(33 <= ord(character) <= 126 for character in value):
        # never quote it: a stray newline or space is enough to show it in an error from the HTTP library
        raise NotSent(
            "ARBTUI_CONTROL_TOKEN holds spaces, control or non-ASCII characters a header cannot carry "
            "(`arbtui token new` prints a usable one)"
        )


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
