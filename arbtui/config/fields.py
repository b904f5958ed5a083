"""The settings' vocabulary: names of the environment, secrets, field types with their validators, and
:class:`ConfigError` — each problem one line naming its key."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from typing import Annotated

from pydantic import AfterValidator, Field, SecretStr
from pydantic_core import PydanticCustomError

from arbtui.domain.encryption_key import MalformedKeyText, parse_encryption_key
from arbtui.domain.pyth_feeds import KNOWN_FEEDS
from arbtui.domain.values import Symbol

ENV_PREFIX = "ARBTUI_"
CLI_ENVIRONMENT = frozenset(
    {
        "ARBTUI_CONFIG",
        "ARBTUI_DATABASE_PATH",
        "ARBTUI_API_URL",
        "ARBTUI_ARTIFACTS_DIR",
        "ARBTUI_NODE_ROOT",
        "ARBTUI_SERVE_TOKEN",
    }
)
"""Read by the ``arbtui`` command itself (config path, ``--db``, the control commands' ``--api``, the
demo's contract artifacts and Node root, the browser console's token), not part of the settings tree:
the settings loader skips them, so setting one never breaks ``run`` or a report."""

KNOWN_PYTH_FEEDS = KNOWN_FEEDS
"""Pyth mainnet equity feeds (PYTH.md); ``[pyth.feeds]`` adds to and overrides these."""

SECRET_ENVIRONMENT: Mapping[str, str] = {
    "alpaca_api_key": "ARBTUI_ALPACA_API_KEY",
    "alpaca_api_secret": "ARBTUI_ALPACA_API_SECRET",
    "schwab_app_key": "ARBTUI_SCHWAB_APP_KEY",
    "schwab_app_secret": "ARBTUI_SCHWAB_APP_SECRET",
    "encryption_key": "ARBTUI_ENCRYPTION_KEY",
    "control_token": "ARBTUI_CONTROL_TOKEN",
    "webhook_secret": "ARBTUI_WEBHOOK_SECRET",
    "telegram_bot_token": "ARBTUI_TELEGRAM_BOT_TOKEN",
}
"""Secret field of :class:`Settings` → the only place it is read from."""

SECRETS_IN_TOML: Mapping[tuple[str, ...], str] = {
    **{(field,): env for field, env in SECRET_ENVIRONMENT.items()},
    ("alpaca", "api_key"): "ARBTUI_ALPACA_API_KEY",
    ("alpaca", "api_secret"): "ARBTUI_ALPACA_API_SECRET",
    ("alpaca", "secret_key"): "ARBTUI_ALPACA_API_SECRET",
    ("schwab", "app_key"): "ARBTUI_SCHWAB_APP_KEY",
    ("schwab", "app_secret"): "ARBTUI_SCHWAB_APP_SECRET",
    ("schwab", "encryption_key"): "ARBTUI_ENCRYPTION_KEY",
    ("database", "encryption_key"): "ARBTUI_ENCRYPTION_KEY",
    ("api", "control_token"): "ARBTUI_CONTROL_TOKEN",
    ("api", "token"): "ARBTUI_CONTROL_TOKEN",
    ("alerts", "webhook", "secret"): "ARBTUI_WEBHOOK_SECRET",
    ("alerts", "webhook", "hmac_secret"): "ARBTUI_WEBHOOK_SECRET",
    ("alerts", "telegram", "token"): "ARBTUI_TELEGRAM_BOT_TOKEN",
    ("alerts", "telegram", "bot_token"): "ARBTUI_TELEGRAM_BOT_TOKEN",
}
"""Where an operator might be tempted to write a secret in the TOML file; each is an error."""

_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_FEED_ID = re.compile(r"0x[0-9a-f]{64}")


class ConfigError(Exception):
    """The configuration is unusable; ``problems`` holds one line per problem, each naming its key."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = list(problems)
        super().__init__("invalid configuration: " + "; ".join(self.problems))


def format_problems(error: ConfigError) -> str:
    """The problems as the CLI prints them: a heading, then one indented line per problem."""
    count = len(error.problems)
    heading = f"invalid configuration ({count} problem{'s' if count != 1 else ''}):"
    return "\n".join([heading, *(f"  - {problem}" for problem in error.problems)])


def _address(value: str) -> str:
    if not _ADDRESS.fullmatch(value.lower()):
        raise PydanticCustomError("config", "not an address: {value}", {"value": repr(value)})
    return value.lower()


def _feed_id(value: str) -> str:
    if not _FEED_ID.fullmatch(value.lower()):
        raise PydanticCustomError("config", "not a feed id (0x + 64 hex): {value}", {"value": repr(value)})
    return value.lower()


def _ticker(value: str) -> str:
    return str(Symbol(value))  # raises "not a broker ticker: …"


def _url(value: str, *schemes: str) -> str:
    scheme, _, rest = value.partition("://")
    if scheme.lower() not in schemes or not rest.strip("/"):
        wanted = " or ".join(f"{s}://" for s in schemes)
        raise PydanticCustomError("config", "not a {wanted} URL: {value}", {"wanted": wanted, "value": repr(value)})
    return value


def _ws_url(value: str) -> str:
    return _url(value, "ws", "wss")


def _http_url(value: str) -> str:
    return _url(value, "http", "https")


def _optional_http_url(value: str) -> str:
    return _http_url(value) if value else value


def _nonempty_secret(value: SecretStr) -> SecretStr:
    if not value.get_secret_value():
        raise PydanticCustomError("config", "is empty")
    return value


def _encryption_key(value: SecretStr) -> SecretStr:
    try:
        key = parse_encryption_key(value.get_secret_value())
    except MalformedKeyText as exc:
        raise PydanticCustomError("config", "{reason}", {"reason": exc.reason}) from None
    return SecretStr(key.hex())  # canonical: the surrounding whitespace the rule allows is gone


def parse_listen(value: str) -> tuple[str, int] | None:
    """``host:port`` (``[::1]:8080`` for IPv6) → ``(host, port)``, or ``None`` if it is not that."""
    host, sep, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or int(port) > 65535 or (":" in host and "[" not in value):
        return None
    return host, int(port)


def _listen(value: str) -> str:
    if parse_listen(value) is None:
        raise PydanticCustomError("config", "not host:port: {value}", {"value": repr(value)})
    return value


def is_loopback(host: str) -> bool:
    """Only this machine can connect: ``localhost`` or a loopback IP (127.0.0.0/8, ``::1``, ``[::1]``)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.removeprefix("[").removesuffix("]")).is_loopback
    except ValueError:
        return False


Address = Annotated[str, AfterValidator(_address)]
"""``0x`` + 40 hex digits, any case; stored lower-case."""
FeedId = Annotated[str, AfterValidator(_feed_id)]
Ticker = Annotated[str, AfterValidator(_ticker)]
"""A broker ticker as :class:`~arbtui.domain.values.Symbol` accepts it, kept as a plain ``str``."""
WsUrl = Annotated[str, AfterValidator(_ws_url)]
HttpUrl = Annotated[str, AfterValidator(_http_url)]
Secret = Annotated[SecretStr, AfterValidator(_nonempty_secret)]
PositiveSeconds = Annotated[float, Field(gt=0)]
OptionalHttpUrl = Annotated[str, AfterValidator(_optional_http_url)]
"""An ``http(s)://`` URL, or empty for "not set"."""
Listen = Annotated[str, AfterValidator(_listen)]
"""``host:port`` (see :func:`parse_listen`)."""
EncryptionKey = Annotated[SecretStr, AfterValidator(_encryption_key)]
"""64 hex characters: a 32-byte key, by :func:`~arbtui.domain.encryption_key.parse_encryption_key` (the
rule the token cipher uses too); stored lower-case without surrounding whitespace."""
