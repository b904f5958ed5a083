"""The settings tree: one TOML file plus ``ARBTUI_*`` environment overrides, validated once, passed down.

:func:`load_settings` is the only way in. It reads the TOML file (tables below), lays the environment
over it (``ARBTUI_<TABLE>__<KEY>``, e.g. ``ARBTUI_CHAIN__OWNER``; ``ARBTUI_PYTH__FEEDS__AAPL``; lists
and tables as JSON) and validates everything before anything connects. Every problem found becomes
one line naming the key as the operator wrote it (``chain.owner: not an address: '0x12'`` or
``ARBTUI_CHAIN__OWNER: …``); all of them are raised together as one :class:`ConfigError`.

Secrets come only from the environment (``ARBTUI_ALPACA_API_KEY``, ``ARBTUI_ALPACA_API_SECRET``,
``ARBTUI_SCHWAB_APP_KEY``, ``ARBTUI_SCHWAB_APP_SECRET``, ``ARBTUI_ENCRYPTION_KEY``,
``ARBTUI_CONTROL_TOKEN``), are held as :class:`~pydantic.SecretStr` and are never echoed: not by
``repr``, not by :meth:`Settings.redacted_dict`, not in an error message. A secret written in the
TOML file is itself an error.

Defaults are the safe choice: the dry-run broker, Alpaca's paper environment, the API on loopback.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import os
import re
import tomllib
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from types import NoneType, UnionType
from typing import TYPE_CHECKING, Annotated, Any, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from arbtui.domain.position import ThresholdKind
from arbtui.domain.values import BrokerKind, Symbol

if TYPE_CHECKING:
    from arbtui.brokers.alpaca.client import AlpacaConfig
    from arbtui.brokers.schwab.client import SchwabConfig

ENV_PREFIX = "ARBTUI_"
CLI_ENVIRONMENT = frozenset({"ARBTUI_CONFIG", "ARBTUI_DATABASE_PATH"})
"""Read by the ``arbtui`` command itself (config path, ``--db``), not part of the settings tree."""

KNOWN_PYTH_FEEDS: Mapping[str, str] = {
    "AAPL": "0x49f6b65cb1de6b10eaf75e7c03ca029c306d0357e91b5311b175084a5ad55688",
    "MSFT": "0xd0ca23c1cc005e004ccf1db5bf76aeb6a49218f43dac3d4b275e92de12ded4d1",
    "GOOG": "0xe65ff435be42630439c96396653a342829e877e2aafaeaf1a10d0ee5fd2cf3f2",
    "AMZN": "0xb5d0e0fa58a1f8b81498ae670ce93c872d14434b72c364885d4fa1b257cbb07a",
    "NVDA": "0xb1073854ed24cbc755dc527418f52b7d271f6cc967bbf8d8129112b18860a593",
    "META": "0x78a3e3b8e676a8f73c439f5d749737034b139bbbe899ba5775216fba596607fe",
    "TSLA": "0x16dad506d7db8da01c87581c87ca897a012a153557d4d578c3b9c9e1bc0632f1",
    "GME": "0x6f9cd89ef1b7fd39f667101a91ad578b6c6ace4579d5f7f285a4b06aa4504be6",
}
"""Pyth mainnet equity feeds (PYTH.md); ``[pyth.feeds]`` adds to and overrides these."""

SECRET_ENVIRONMENT: Mapping[str, str] = {
    "alpaca_api_key": "ARBTUI_ALPACA_API_KEY",
    "alpaca_api_secret": "ARBTUI_ALPACA_API_SECRET",
    "schwab_app_key": "ARBTUI_SCHWAB_APP_KEY",
    "schwab_app_secret": "ARBTUI_SCHWAB_APP_SECRET",
    "encryption_key": "ARBTUI_ENCRYPTION_KEY",
    "control_token": "ARBTUI_CONTROL_TOKEN",
}
"""Secret field of :class:`Settings` → the only place it is read from."""

_SECRETS_IN_TOML: Mapping[tuple[str, ...], str] = {
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
}
"""Where an operator might be tempted to write a secret in the TOML file; each is an error."""

_ADDRESS = re.compile(r"0x[0-9a-f]{40}")
_FEED_ID = re.compile(r"0x[0-9a-f]{64}")
_HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
_RULES = "config_rules"


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


# --- field types ------------------------------------------------------------------------------


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
    key = value.get_secret_value()
    if not _HEX_KEY.fullmatch(key):
        detail = f"got {len(key)} characters" if len(key) != 64 else "got 64 characters, not all hex"
        raise PydanticCustomError("config", "must be 64 hex characters (a 32-byte key); {detail}", {"detail": detail})
    return value


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
    """Only this machine can connect: ``localhost`` or a loopback IP."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
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


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


# --- the tables -------------------------------------------------------------------------------


class ChainSettings(_Table):
    """``[chain]``: the node, the orderbook and whose orders are ours."""

    ws_url: WsUrl | None = None
    """WebSocket JSON-RPC endpoint for the log subscription (optional: a latency shortcut only — the
    poller over ``http_url`` reconciles from the cursor either way)."""
    http_url: HttpUrl | None = None
    """HTTP JSON-RPC endpoint (required): logs, block headers, token reads and Pyth traces."""
    orderbook: Address
    """The Raindex OrderBook contract whose fills we hedge."""
    owner: Address
    """Our order owner: only fills of orders owned by this address are ours."""
    usdc: Address
    """The USDC token (matched by address, never by symbol)."""
    pyth: Address | None = None
    """The Pyth contract, for price enrichment from transaction traces; unset = no enrichment."""
    deployment_block: int = Field(default=0, ge=0)
    """First block to scan when the ledger has no cursor yet (the orderbook's deployment block)."""
    confirmations: int = Field(default=0, ge=0)
    """Ingest only blocks at least this many below the head (0 = the head itself)."""
    poll_interval_s: PositiveSeconds = 2.0
    """Seconds between reconciling passes over new blocks (with or without a subscription)."""
    backfill_chunk_blocks: int = Field(default=1000, gt=0)
    """Blocks per ``eth_getLogs`` request while catching up (halved if the node refuses)."""
    max_lag_blocks: int = Field(default=30, gt=0)
    """Readiness bound: not ready while the recorded cursor is more than this many blocks behind."""
    stale_after_s: PositiveSeconds = 120.0
    """Readiness bound: the chain is stale when no new block was recorded for this long."""


class PythSettings(_Table):
    """``[pyth]``: which Pyth feed prices which ticker."""

    feeds: dict[Ticker, FeedId] = Field(default_factory=lambda: dict(KNOWN_PYTH_FEEDS))
    """Broker ticker → feed id (``0x`` + 64 hex); added to (and overriding) the known equity feeds."""
    timeout_s: PositiveSeconds = 5.0
    """Timeout of one ``debug_traceTransaction`` call; enrichment never blocks hedging."""

    @field_validator("feeds", mode="before")
    @classmethod
    def _over_known(cls, value: object) -> object:
        return {**KNOWN_PYTH_FEEDS, **value} if isinstance(value, Mapping) else value


class TokenMarkers(_Table):
    """How a tokenized-equity symbol marks its broker ticker: ``tAAPL``, ``AAPL0x``, ``NVDAs1``."""

    prefixes: tuple[str, ...] = ("t",)
    """Accepted prefixes (``t`` → ``tAAPL``)."""
    suffixes: tuple[str, ...] = ("0x", "s1")
    """Accepted suffixes (``0x`` → ``AAPL0x``, ``s1`` → ``NVDAs1``)."""

    @field_validator("prefixes", "suffixes")
    @classmethod
    def _alphanumeric(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for marker in value:
            if not marker.isalnum():
                raise PydanticCustomError(
                    "config", "not a marker (letters and digits): {value}", {"value": repr(marker)}
                )
        return value


class TokensSettings(_Table):
    """``[tokens]``: which token symbols are tokenized equities."""

    markers: TokenMarkers = Field(default_factory=TokenMarkers)
    """Accepted tokenized-symbol markers; a fill in any other token is skipped with the reason."""


class BrokerSettings(_Table):
    """``[broker]``: where hedges go."""

    kind: BrokerKind = BrokerKind.DRY_RUN
    """``alpaca``, ``schwab`` or ``dry_run`` (the default: nothing leaves this machine)."""
    threshold: ThresholdKind = ThresholdKind.SHARES
    """``shares``: hedge whole shares, carry the fraction; ``dollars``: fractional (Alpaca only)."""
    poll_interval_s: PositiveSeconds = 1.0
    """Seconds between status polls of a submitted order."""
    dry_run_price: Decimal | None = Field(default=None, gt=0)
    """Dry-run only: fill price (USD) when an order carries no estimated price; unset = refuse."""


class AlpacaSettings(_Table):
    """``[alpaca]``: Alpaca Trading API (keys from ``ARBTUI_ALPACA_API_KEY`` / ``_SECRET``)."""

    paper: bool = True
    """Paper environment; ``false`` trades real money."""
    base_url: Annotated[str, AfterValidator(_optional_http_url)] = ""
    """Override of the Trading API host (empty = the SDK's host for ``paper``)."""


class SchwabSettings(_Table):
    """``[schwab]``: Charles Schwab (app key/secret and token encryption key from the environment)."""

    base_url: HttpUrl = "https://api.schwabapi.com"
    """API host."""
    redirect_uri: HttpUrl = "https://127.0.0.1"
    """The callback URL registered with the Schwab app (``arbtui schwab auth``)."""
    account_number: str | None = None
    """Which linked account to trade; may stay unset when exactly one is linked."""


class DatabaseSettings(_Table):
    """``[database]``: the SQLite ledger."""

    path: Path = Path("arbtui.db")
    """The ledger file (relative paths are relative to the working directory)."""

    @field_validator("path")
    @classmethod
    def _nonempty(cls, value: Path) -> Path:
        if str(value) in ("", "."):
            raise PydanticCustomError("config", "must be a file path")
        return value


class ApiSettings(_Table):
    """``[api]``: health, readiness, metrics and control over HTTP."""

    listen: Annotated[str, AfterValidator(_listen)] = "127.0.0.1:8080"
    """``host:port`` to listen on; loopback unless ``allow_remote``."""
    allow_remote: bool = False
    """Allow a non-loopback ``listen``; control then requires ``ARBTUI_CONTROL_TOKEN``."""

    @property
    def host(self) -> str:
        return _parsed_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return _parsed_listen(self.listen)[1]


class EngineSettings(_Table):
    """``[engine]``: the hedging loop."""

    shutdown_timeout_s: PositiveSeconds = 30.0
    """On SIGTERM, how long broker calls in flight may take to finish."""
    stuck_after_s: PositiveSeconds = 120.0
    """An execution without news from the broker for this long is re-examined and reported stuck."""
    check_interval_s: PositiveSeconds = 10.0
    """The periodic scan: re-evaluate positions, re-examine stuck executions, ping the broker."""
    max_retries_before_park: int = Field(default=3, gt=0)
    """Consecutive failed executions of one symbol before it is parked (paused) for the operator."""


class AlertsSettings(_Table):
    """``[alerts]``: when to call the operator."""

    unhedged_usd: Decimal = Field(default=Decimal(1000), gt=0)
    """Alert when one symbol's unhedged exposure exceeds this many US dollars …"""
    unhedged_for_s: PositiveSeconds = 300.0
    """… for longer than this many seconds."""
    repeat_every_s: PositiveSeconds = 300.0
    """An alert still true repeats at most this often."""


class InventorySettings(_Table):
    """``[inventory]``: how our inventory should be split between the orderbook and the broker."""

    target_onchain_ratio: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    """Onchain share of each asset's total we aim for (0.5 = half in orderbook vaults)."""
    drift_alert: Decimal = Field(default=Decimal("0.2"), gt=0, le=1)
    """Alert (and suggest a manual transfer) once the onchain share is this far from the target."""
    vaults: dict[str, str] = Field(default_factory=dict)
    """Our owner's orderbook vaults per asset: ``AAPL = "0x07"`` or ``"ID@0xTOKEN"``; ``USDC`` for cash.
    Empty: no inventory in the console, and ``arbtui report inventory`` needs ``--vault``."""


def _parsed_listen(value: str) -> tuple[str, int]:
    parsed = parse_listen(value)
    assert parsed is not None, "validated on construction"
    return parsed


# --- the tree ---------------------------------------------------------------------------------


class Settings(BaseSettings):
    """Everything the bot is configured with. Build it with :func:`load_settings`; pass it down."""

    model_config = SettingsConfigDict(
        frozen=True,
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        use_attribute_docstrings=True,
    )

    chain: ChainSettings
    """``[chain]``."""
    pyth: PythSettings = Field(default_factory=PythSettings)
    """``[pyth]``."""
    tokens: TokensSettings = Field(default_factory=TokensSettings)
    """``[tokens]``."""
    broker: BrokerSettings = Field(default_factory=BrokerSettings)
    """``[broker]``."""
    alpaca: AlpacaSettings = Field(default_factory=AlpacaSettings)
    """``[alpaca]``."""
    schwab: SchwabSettings = Field(default_factory=SchwabSettings)
    """``[schwab]``."""
    database: DatabaseSettings = Field(default_factory=DatabaseSettings)
    """``[database]``."""
    api: ApiSettings = Field(default_factory=ApiSettings)
    """``[api]``."""
    engine: EngineSettings = Field(default_factory=EngineSettings)
    """``[engine]``."""
    alerts: AlertsSettings = Field(default_factory=AlertsSettings)
    """``[alerts]``."""
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    """``[inventory]``."""
    alpaca_api_key: Secret | None = None
    """``ARBTUI_ALPACA_API_KEY`` (environment only); required when ``broker.kind = "alpaca"``."""
    alpaca_api_secret: Secret | None = None
    """``ARBTUI_ALPACA_API_SECRET`` (environment only); required when ``broker.kind = "alpaca"``."""
    schwab_app_key: Secret | None = None
    """``ARBTUI_SCHWAB_APP_KEY`` (environment only); required when ``broker.kind = "schwab"``."""
    schwab_app_secret: Secret | None = None
    """``ARBTUI_SCHWAB_APP_SECRET`` (environment only); required when ``broker.kind = "schwab"``."""
    encryption_key: Annotated[SecretStr, AfterValidator(_encryption_key)] | None = None
    """``ARBTUI_ENCRYPTION_KEY``: 64 hex characters, encrypts Schwab tokens at rest (Schwab only)."""
    control_token: Secret | None = None
    """``ARBTUI_CONTROL_TOKEN``: bearer token for the control endpoints; required with ``allow_remote``."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Only what :func:`load_settings` passes in: the process environment is never read behind its back."""
        return (init_settings,)

    @model_validator(mode="after")
    def _cross_field_rules(self) -> Settings:
        problems = _rule_problems(self.model_dump(), _Origins({}))
        if problems:
            raise PydanticCustomError(_RULES, "{problems}", {"problems": "; ".join(problems)})
        return self

    def redacted_dict(self) -> dict[str, Any]:
        """The whole tree as plain JSON-able values for logging; each secret is ``"<set>"`` or ``None``."""
        data: dict[str, Any] = self.model_dump(mode="json", exclude=set(SECRET_ENVIRONMENT))
        for field in SECRET_ENVIRONMENT:
            data[field] = None if getattr(self, field) is None else "<set>"
        return data

    def alpaca_config(self) -> AlpacaConfig:
        """The Alpaca adapter's config (``broker.kind = "alpaca"``: the keys are then present)."""
        from arbtui.brokers.alpaca.client import AlpacaConfig

        if self.alpaca_api_key is None or self.alpaca_api_secret is None:
            raise ConfigError([f"{env}: missing; the Alpaca adapter needs it" for env in _missing(self, "alpaca")])
        return AlpacaConfig(
            api_key=self.alpaca_api_key,
            api_secret=self.alpaca_api_secret,
            paper=self.alpaca.paper,
            base_url=self.alpaca.base_url or None,
            fractional=self.broker.threshold is ThresholdKind.DOLLARS,
        )

    def schwab_config(self) -> SchwabConfig:
        """The Schwab adapter's config (``broker.kind = "schwab"``: the app key/secret are then present)."""
        from arbtui.brokers.schwab.client import SchwabConfig

        if self.schwab_app_key is None or self.schwab_app_secret is None:
            raise ConfigError([f"{env}: missing; the Schwab adapter needs it" for env in _missing(self, "schwab")])
        return SchwabConfig(
            app_key=self.schwab_app_key,
            app_secret=self.schwab_app_secret,
            callback_url=self.schwab.redirect_uri,
            base_url=self.schwab.base_url,
            account_number=self.schwab.account_number,
        )


_NEEDS: Mapping[str, tuple[str, ...]] = {
    "alpaca": ("alpaca_api_key", "alpaca_api_secret"),
    "schwab": ("schwab_app_key", "schwab_app_secret", "encryption_key"),
}


def _missing(settings: Settings, kind: str) -> list[str]:
    return [SECRET_ENVIRONMENT[f] for f in _NEEDS[kind] if getattr(settings, f) is None]


# --- loading ----------------------------------------------------------------------------------


def load_settings(path: Path | None, environ: Mapping[str, str] | None = None) -> Settings:
    """The settings from the TOML file at ``path`` (``None``: none) under ``environ`` (``None``: the
    process environment). Raises :class:`ConfigError` listing every problem found."""
    environ = os.environ if environ is None else environ
    problems: list[str] = []
    data = _read_toml(path, problems) if path is not None else {}
    _reject_secrets_in_toml(data, problems)
    overrides, origins = _environment_layer(environ, problems)
    merged = _merge(data, overrides)
    rules = _rule_problems(merged, origins)
    try:
        settings = Settings.model_validate(merged)
    except ValidationError as exc:
        errors = exc.errors()
        problems += [_describe(error, merged, origins) for error in errors if error["type"] != _RULES]
        # The raw-value rules say the same as the model's own rule check, and also when a field failed.
        problems += rules or [error["msg"] for error in errors if error["type"] == _RULES]
        raise ConfigError(problems) from None
    if problems or rules:
        raise ConfigError(problems + rules)
    return settings


def _read_toml(path: Path, problems: list[str]) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problems.append(f"{path}: no such file")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{path}: cannot read: {exc}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"{path}: not valid TOML: {exc}")
    return {}


def _reject_secrets_in_toml(data: dict[str, Any], problems: list[str]) -> None:
    for loc, env in _SECRETS_IN_TOML.items():
        table = data.get(loc[0]) if len(loc) == 2 else data
        if isinstance(table, dict) and loc[-1] in table:
            del table[loc[-1]]
            problems.append(
                f"{'.'.join(loc)}: secrets are never read from the config file; remove it and set {env} "
                "in the environment"
            )


class _Origins:
    """Where each overridden key came from, so a problem names the variable the operator set."""

    def __init__(self, names: dict[tuple[str, ...], str]) -> None:
        self.names = names

    def name(self, loc: tuple[str, ...]) -> str:
        for end in range(len(loc), 0, -1):
            if loc[:end] in self.names:
                return self.names[loc[:end]]
        if len(loc) == 1 and loc[0] in SECRET_ENVIRONMENT:
            return SECRET_ENVIRONMENT[loc[0]]
        return ".".join(loc) if loc else "config"


def _environment_layer(environ: Mapping[str, str], problems: list[str]) -> tuple[dict[str, Any], _Origins]:
    data: dict[str, Any] = {}
    names: dict[tuple[str, ...], str] = {}
    secrets = {env: field for field, env in SECRET_ENVIRONMENT.items()}
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or name in CLI_ENVIRONMENT:
            continue
        value = environ[name]
        if name in secrets:
            data[secrets[name]] = value
            names[(secrets[name],)] = name
            continue
        parts = name[len(ENV_PREFIX) :].split("__")
        target = _env_target(name, parts, problems)
        if target is None:
            continue
        loc, annotation = target
        parsed = _env_value(value, annotation)
        if parsed is _BAD_JSON:
            problems.append(f"{name}: not valid JSON for a {'list' if _origin_is(annotation, tuple) else 'table'}")
            continue
        node = data
        for key in loc[:-1]:
            node = node.setdefault(key, {})
        node[loc[-1]] = parsed
        names[loc] = name
    return data, _Origins(names)


def _env_target(name: str, parts: list[str], problems: list[str]) -> tuple[tuple[str, ...], Any] | None:
    """Walk ``ARBTUI_A__B__C`` down the tree; the key path and the annotation it lands on."""
    model: type[BaseModel] | None = Settings
    loc: tuple[str, ...] = ()
    annotation: Any = None
    for index, raw in enumerate(parts):
        if model is None:
            if _origin_is(annotation, dict) and index == len(parts) - 1:
                return (*loc, raw), None
            problems.append(f"{name}: {'.'.join(loc)} has no keys below it")
            return None
        key = raw.lower()
        if (*loc, key) in _SECRETS_IN_TOML:
            problems.append(f"{name}: secrets are read from {_SECRETS_IN_TOML[(*loc, key)]} only")
            return None
        fields = {k: f for k, f in model.model_fields.items() if k not in SECRET_ENVIRONMENT}
        if key not in fields:
            what = "table" if model is Settings else "key"
            close = _closest(key, fields)
            hint = (
                f" (did you mean {ENV_PREFIX}{''.join(f'{p.upper()}__' for p in loc)}{close.upper()}?)" if close else ""
            )
            if model is Settings and len(parts) == 1:
                problems.append(
                    f"{name}: unknown setting; settings use ARBTUI_<TABLE>__<KEY>, e.g. ARBTUI_CHAIN__OWNER"
                )
            else:
                problems.append(f"{name}: unknown {what} {key!r}{hint}")
            return None
        loc = (*loc, key)
        annotation = fields[key].annotation
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
    if model is not None:
        problems.append(f"{name}: [{'.'.join(loc)}] is a table; set its keys ({name}__<KEY>)")
        return None
    return loc, annotation


_BAD_JSON = object()


def _env_value(value: str, annotation: Any) -> Any:
    if _origin_is(annotation, tuple) or _origin_is(annotation, dict):
        if _origin_is(annotation, tuple) and not value.lstrip().startswith("["):
            return [item.strip() for item in value.split(",") if item.strip()]
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            return _BAD_JSON
    if value == "" and NoneType in _union_args(annotation):
        return None
    return value


def _union_args(annotation: Any) -> tuple[Any, ...]:
    return get_args(annotation) if get_origin(annotation) in (Union, UnionType) else ()


def _origin_is(annotation: Any, kind: type) -> bool:
    return get_origin(annotation) is kind


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _closest(key: str, known: Mapping[str, Any]) -> str | None:
    close = difflib.get_close_matches(key, list(known), n=1)
    return close[0] if close else None


# --- rules that span fields -------------------------------------------------------------------


def _rule_problems(data: Mapping[str, Any], origins: _Origins) -> list[str]:
    """Cross-field rules over raw or validated values; a value that is itself invalid is left to its
    own message."""
    problems: list[str] = []
    chain = _table(data, "chain")
    if chain.get("http_url") in (None, ""):
        problems.append(
            "chain.http_url: required (logs, headers, token reads and traces go over HTTP;"
            " chain.ws_url only adds the live subscription)"
        )
    broker = _table(data, "broker")
    kind = _text(broker.get("kind", BrokerKind.DRY_RUN))
    dollars = _text(broker.get("threshold")) == ThresholdKind.DOLLARS
    if dollars and kind in {k.value for k in BrokerKind} and kind != BrokerKind.ALPACA:
        where = origins.name(("broker", "threshold"))
        problems.append(f"{where}: 'dollars' (fractional shares) needs broker.kind = 'alpaca', not {kind!r}")
    for field in _NEEDS.get(str(kind), ()):
        if data.get(field) is None:
            problems.append(f"{SECRET_ENVIRONMENT[field]}: missing; broker.kind = {kind!r} needs it in the environment")
    api = _table(data, "api")
    listen = parse_listen(_text(api.get("listen", "127.0.0.1:8080")) or "")
    remote = _boolean(api.get("allow_remote", False))
    if listen is not None and remote is False and not is_loopback(listen[0]):
        where = origins.name(("api", "listen"))
        problems.append(
            f"{where}: {listen[0]!r} is not a loopback address; set api.allow_remote = true to accept "
            "connections from other machines"
        )
    if remote and data.get("control_token") is None:
        problems.append("ARBTUI_CONTROL_TOKEN: missing; api.allow_remote = true needs a control token")
    return problems


def _table(data: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = data.get(key)
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return str(value) if isinstance(value, str) else None


def _boolean(value: object) -> bool | None:
    try:
        return TypeAdapter(bool).validate_python(value)
    except ValidationError:
        return None


# --- pydantic errors → operator lines ---------------------------------------------------------


_PLAIN: Mapping[str, str] = {
    "missing": "missing (required)",
    "model_type": "must be a table",
    "dict_type": "must be a table",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
}
_WITH_INPUT: Mapping[str, str] = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "int_type": "not a whole number",
    "float_parsing": "not a number",
    "float_type": "not a number",
    "decimal_parsing": "not a number",
    "decimal_type": "not a number",
    "bool_parsing": "not true or false",
    "bool_type": "not true or false",
    "string_type": "not a string",
    "path_type": "not a string",
}


def _describe(error: Any, data: Mapping[str, Any], origins: _Origins) -> str:
    loc = tuple(str(part) for part in error["loc"] if part != "[key]")
    kind: str = error["type"]
    name = origins.name(loc)
    secret = bool(loc) and loc[0] in SECRET_ENVIRONMENT
    if kind == "extra_forbidden":
        return _unknown(loc, data)
    if kind == "missing" and len(loc) == 1 and loc[0] not in SECRET_ENVIRONMENT:
        return f"[{loc[0]}]: missing table"
    if kind in _PLAIN:
        return f"{name}: {_PLAIN[kind]}"
    shown = "" if secret else f": {error['input']!r}"
    if kind in _WITH_INPUT:
        return f"{name}: {_WITH_INPUT[kind]}{shown}"
    if kind in ("greater_than", "greater_than_equal"):
        bound = error["ctx"].get("gt", error["ctx"].get("ge"))
        bound = int(bound) if isinstance(bound, float) and bound.is_integer() else bound
        relation = "greater than" if kind == "greater_than" else "at least"
        return f"{name}: must be {relation} {bound}, got {error['input']!r}"
    if kind == "enum":
        return f"{name}: must be one of {error['ctx']['expected']}, got {error['input']!r}"
    message: str = error["msg"]
    return f"{name}: {message.removeprefix('Value error, ')}"


def _unknown(loc: tuple[str, ...], data: Mapping[str, Any]) -> str:
    node: Any = data
    model: Any = Settings
    for part in loc[:-1]:
        node = node.get(part, {}) if isinstance(node, Mapping) else {}
        model = model.model_fields[part].annotation if part in getattr(model, "model_fields", {}) else None
    fields = {k: v for k, v in getattr(model, "model_fields", {}).items() if k not in SECRET_ENVIRONMENT}
    close = _closest(loc[-1], fields)
    spelled = ".".join([*loc[:-1], close]) if close else ""
    if isinstance(node, Mapping) and isinstance(node.get(loc[-1]), Mapping):
        return f"[{'.'.join(loc)}]: unknown table" + (f" (did you mean [{spelled}]?)" if close else "")
    return f"{'.'.join(loc)}: unknown key" + (f" (did you mean {spelled}?)" if close else "")
