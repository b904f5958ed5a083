"""The settings tree: one table per TOML section, and :class:`Settings` over them."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from arbtui.config.fields import (
    ENV_PREFIX,
    KNOWN_PYTH_FEEDS,
    SECRET_ENVIRONMENT,
    Address,
    ConfigError,
    EncryptionKey,
    FeedId,
    HttpUrl,
    Listen,
    OptionalHttpUrl,
    PositiveSeconds,
    Secret,
    Ticker,
    WsUrl,
    parse_listen,
)
from arbtui.config.rules import MAX_CROSS_BPS, MIN_REPRICE_S, NEEDS, RULES_ERROR, Origins, rule_problems
from arbtui.domain.hedging_policy import SessionChoice
from arbtui.domain.manual_hedge import DEFAULT_MAX_NOTIONAL_USD, DEFAULT_MAX_SHARES
from arbtui.domain.position import ThresholdKind
from arbtui.domain.pyth_feeds import PythReadMode
from arbtui.domain.values import BrokerKind

if TYPE_CHECKING:
    from arbtui.brokers.alpaca.client import AlpacaConfig
    from arbtui.brokers.schwab.client import SchwabConfig


class _Table(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)


class OrderbookSettings(_Table):
    """``[[chain.orderbooks]]``: one orderbook whose fills we hedge — any generation (V4 ``TakeOrderV2``/
    ``ClearV2``, V5/V6 ``TakeOrderV3``/``ClearV3``): the events say which, there is no version key."""

    address: Address
    """The orderbook contract."""
    deployment_block: int = Field(default=0, ge=0)
    """Its deployment block: where a fresh ledger starts reading it, and where its history backfill starts
    when it is added to a ledger that has been running on other books."""


class ChainSettings(_Table):
    """``[chain]``: the node, the orderbooks and whose orders are ours."""

    ws_url: WsUrl | None = None
    """WebSocket JSON-RPC endpoint for the log subscription (optional: a latency shortcut only — the
    poller over ``http_url`` reconciles from the cursor either way)."""
    http_url: HttpUrl | None = None
    """HTTP JSON-RPC endpoint (required): logs, block headers, token reads and Pyth traces."""
    orderbook: Address | None = None
    """The Raindex orderbook whose fills we hedge (one book; for several, or beside it, list them in
    ``[[chain.orderbooks]]``). Any generation: V4, V5 and V6 events are all read."""
    owner: Address
    """Our order owner: only fills of orders owned by this address are ours."""
    usdc: Address
    """The USDC token (matched by address, never by symbol)."""
    pyth: Address | None = None
    """The Pyth contract, for price enrichment from transaction traces; unset = no enrichment."""
    deployment_block: int = Field(default=0, ge=0)
    """``chain.orderbook``'s deployment block: first block to scan when the ledger has no cursor yet."""
    orderbooks: tuple[OrderbookSettings, ...] = ()
    """More orderbooks (``[[chain.orderbooks]]`` with ``address`` and ``deployment_block``), read beside
    ``chain.orderbook``; fills of every book go into the same positions. A book added later is read from
    its own deployment block once (history backfill), then live with the others."""
    confirmations: int = Field(default=0, ge=0)
    """Ingest only blocks at least this many below the head (0 = the head itself). Costs that many
    blocks of hedging latency (Base: ~2 s each); protects against reorgs shallower than it (deeper ones
    are retracted either way) and against a log index lagging by fewer blocks."""
    rescan_blocks: int = Field(default=64, gt=0)
    """Blocks this near the head are verified one by one (header ``logsBloom``, receipts when the log
    answer holds none of a block's possible logs), and the last this many below the cursor are re-read
    on every reconciling pass, whatever ``confirmations`` is (default 64: ~2 minutes of Base blocks).
    Keep it above your provider's worst log-index lag."""
    poll_interval_s: PositiveSeconds = 2.0
    """Seconds between reconciling passes over new blocks (with or without a subscription)."""
    backfill_chunk_blocks: int = Field(default=1000, gt=0)
    """Blocks per ``eth_getLogs`` request while catching up (halved if the node refuses)."""
    max_lag_blocks: int = Field(default=30, gt=0)
    """Readiness bound: not ready while the recorded cursor is more than this many blocks behind."""
    stale_after_s: PositiveSeconds = 120.0
    """Readiness bound: the chain is stale when no new block was recorded for this long."""

    @property
    def books(self) -> tuple[OrderbookSettings, ...]:
        """Every configured orderbook: ``chain.orderbook`` (with ``chain.deployment_block``) first, then
        ``[[chain.orderbooks]]`` (the settings rules refuse none at all, and duplicates)."""
        single = (
            ()
            if self.orderbook is None
            else (OrderbookSettings(address=self.orderbook, deployment_block=self.deployment_block),)
        )
        return (*single, *self.orderbooks)  # fmt: skip


class PythSettings(_Table):
    """``[pyth]``: which Pyth feed prices which ticker."""

    feeds: dict[Ticker, FeedId] = Field(default_factory=lambda: dict(KNOWN_PYTH_FEEDS))
    """Broker ticker → feed id (``0x`` + 64 hex); added to (and overriding) the known equity feeds."""
    timeout_s: PositiveSeconds = 5.0
    """Timeout of one ``debug_traceTransaction`` call; enrichment never blocks hedging."""
    method: PythReadMode = PythReadMode.AUTO
    """How a fill's Pyth price is read: ``trace`` (the read the transaction made, from
    ``debug_traceTransaction``), ``eth_call`` (``getPriceUnsafe`` at the end of the fill's block, for nodes
    without a debug namespace) or ``auto`` (the trace; the ``eth_call`` when the node has no tracer or the
    trace holds no read of the feed). Each recorded price says which method produced it."""

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
    wrapped_prefixes: tuple[str, ...] = ("wt",)
    """Prefixes of ERC-4626 wrapped equities (``wt`` → ``wtAAPL`` → ``AAPL``): the token must be a vault;
    the shares hedged are its ``convertToAssets`` at the fill's block (a token so marked that is not a
    vault is a skipped fill)."""

    @field_validator("prefixes", "suffixes", "wrapped_prefixes")
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
    base_url: OptionalHttpUrl = ""
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

    listen: Listen = "127.0.0.1:8080"
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
    """An execution not terminal this long after it was placed raises one CRITICAL "stuck" alert (and a
    recovery notice when it ends)."""
    check_interval_s: PositiveSeconds = 10.0
    """The periodic scan: re-evaluate positions, re-examine stuck executions, ping the broker."""
    max_retries_before_park: int = Field(default=3, gt=0)
    """Consecutive failed executions of one symbol before it is parked (paused) for the operator."""


class ManualHedgeSettings(_Table):
    """``[manual_hedge]``: the largest hedge an operator may place by hand (CLI, API, console)."""

    max_shares: Decimal = Field(default=DEFAULT_MAX_SHARES, gt=0)
    """At most this many shares per manual hedge."""
    max_notional_usd: Decimal = Field(default=DEFAULT_MAX_NOTIONAL_USD, gt=0)
    """At most this many US dollars per manual hedge, at the latest Pyth price recorded for the symbol
    (else its last fill's price; with neither, a manual hedge is refused)."""


class AlertLevel(StrEnum):
    """The least severe alert a sink receives (the engine's severities, in order)."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"


class WebhookSettings(_Table):
    """``[alerts.webhook]``: a JSON POST of each alert (HMAC secret from ``ARBTUI_WEBHOOK_SECRET``)."""

    url: OptionalHttpUrl = ""
    """Where each alert is POSTed as JSON (empty: no webhook)."""
    min_severity: AlertLevel = AlertLevel.WARNING
    """The least severe alert sent: ``info``, ``warning`` or ``critical`` (a recovery notice follows
    the alert it recovers)."""


class TelegramSettings(_Table):
    """``[alerts.telegram]``: a Telegram message per alert (bot token from ``ARBTUI_TELEGRAM_BOT_TOKEN``)."""

    chat_id: str = ""
    """The chat the bot writes to: a numeric id (``-1001234567890``) or ``@channelname`` (empty: no
    Telegram)."""
    min_severity: AlertLevel = AlertLevel.WARNING
    """The least severe alert sent: ``info``, ``warning`` or ``critical`` (a recovery notice follows
    the alert it recovers)."""
    base_url: HttpUrl = "https://api.telegram.org"
    """The Bot API host (``POST <base_url>/bot<token>/sendMessage``)."""

    @field_validator("chat_id", mode="before")
    @classmethod
    def _numeric_id(cls, value: object) -> object:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value


class AlertsSettings(_Table):
    """``[alerts]``: when to call the operator, and where alerts are delivered besides the console."""

    unhedged_usd: Decimal = Field(default=Decimal(1000), gt=0)
    """Alert when one symbol's unhedged exposure exceeds this many US dollars …"""
    unhedged_for_s: PositiveSeconds = 300.0
    """… for longer than this many seconds."""
    repeat_every_s: PositiveSeconds = 300.0
    """An alert still true repeats at most this often."""
    queue_size: int = Field(default=1000, gt=0)
    """Alerts waiting for delivery, per sink; when full, the oldest waiting one is dropped (and counted)."""
    timeout_s: PositiveSeconds = 5.0
    """Timeout of one delivery attempt (connect, send, answer)."""
    max_attempts: int = Field(default=4, gt=0)
    """Attempts per alert and sink (the first included) after a timeout, a dropped connection, a 5xx
    or a 429."""
    retry_backoff_s: PositiveSeconds = 1.0
    """Backoff before the second attempt, doubled after each failure (full jitter, capped at 30 s)."""
    shutdown_grace_s: PositiveSeconds = 5.0
    """On stop, how long alerts still waiting may take to be delivered."""
    webhook: WebhookSettings = Field(default_factory=WebhookSettings)
    """``[alerts.webhook]``."""
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    """``[alerts.telegram]``."""


class InventorySettings(_Table):
    """``[inventory]``: how our inventory should be split between the orderbook and the broker."""

    target_onchain_ratio: Decimal = Field(default=Decimal("0.5"), ge=0, le=1)
    """Onchain share of each asset's total we aim for (0.5 = half in orderbook vaults)."""
    drift_alert: Decimal = Field(default=Decimal("0.2"), gt=0, le=1)
    """Alert (and suggest a manual transfer) once the onchain share is this far from the target."""
    vaults: dict[str, str] = Field(default_factory=dict)
    """Our owner's orderbook vaults per asset: ``AAPL = "0x07"``, ``"ID@0xTOKEN"`` or, on another book than
    the first configured, ``"ID@0xTOKEN@0xBOOK"`` (``"ID@@0xBOOK"`` keeps the default token); ``USDC`` for cash.
    Empty: no inventory in the console, and ``arbtui report inventory`` needs ``--vault``."""


_SESSION_WORDS = "'regular', 'extended' or 'overnight'"


def _session_choices(value: object) -> object:
    """``["regular", "extended"]`` → choices; each word checked here so a problem names the list."""
    if not isinstance(value, list | tuple):
        return value  # pydantic says "must be a list"
    for word in value:
        if word not in {choice.value for choice in SessionChoice}:
            raise PydanticCustomError(
                "config", "not a session: {value} (one of {words})", {"value": repr(word), "words": _SESSION_WORDS}
            )
    if SessionChoice.REGULAR.value not in value:
        raise PydanticCustomError(
            "config", "must include 'regular' (hedges always run in the regular session), got {value}", {"value": value}
        )
    return value


class SymbolHedgingSettings(_Table):
    """``[hedging.symbols.TICKER]``: one symbol's exceptions to ``[hedging]``."""

    sessions: tuple[SessionChoice, ...] | None = None
    """This symbol's sessions instead of ``hedging.sessions`` (unset: the same)."""
    limit_cross_bps: int | None = Field(default=None, ge=0, le=MAX_CROSS_BPS)
    """This symbol's limit-price cross instead of ``hedging.limit_cross_bps`` (unset: the same)."""

    @field_validator("sessions", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return None if value is None else _session_choices(value)


class HedgingSettings(_Table):
    """``[hedging]``: in which sessions hedges go out, and how limit hedges outside the regular session
    are priced, repriced and flattened before a long close (weekend, holiday)."""

    sessions: tuple[SessionChoice, ...] = (SessionChoice.REGULAR,)
    """Where hedges go out: ``regular`` (always; market orders), ``extended`` (pre-market and after hours)
    and ``overnight`` (Alpaca's 20:00–04:00 session), the last two as limit orders. Default: regular only."""
    limit_cross_bps: int = Field(default=50, ge=0, le=MAX_CROSS_BPS)
    """How far past the reference price (the latest Pyth price, else the broker's mark) a limit hedge is
    priced, in basis points: a buy at up to +0.5 %, a sell at down to −0.5 % by default."""
    reprice_interval_s: float = Field(default=60.0, ge=MIN_REPRICE_S)
    """An unfilled limit hedge is cancelled and replaced at a fresh price after this many seconds."""
    flatten_window_s: float = Field(default=1800.0, gt=0)
    """Before a long close (the next session more than a calendar day away, or unknown), the last this
    many seconds hedge everything past threshold with a widening cross."""
    flatten_reprice_interval_s: float = Field(default=15.0, ge=MIN_REPRICE_S)
    """Reprice interval inside the flatten window (at most ``reprice_interval_s``)."""
    flatten_cross_bps: int = Field(default=50, ge=0, le=MAX_CROSS_BPS)
    """Cross at the start of the flatten window, in basis points …"""
    flatten_max_cross_bps: int = Field(default=200, ge=0, le=MAX_CROSS_BPS)
    """… widening linearly with time to this at the close (at least ``flatten_cross_bps``)."""
    symbols: dict[Ticker, SymbolHedgingSettings] = Field(default_factory=dict)
    """Per-symbol exceptions: ``[hedging.symbols.TSLA]`` with ``sessions`` and/or ``limit_cross_bps``."""

    @field_validator("sessions", mode="before")
    @classmethod
    def _words(cls, value: object) -> object:
        return _session_choices(value)


def _parsed_listen(value: str) -> tuple[str, int]:
    parsed = parse_listen(value)
    assert parsed is not None, "validated on construction"
    return parsed


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
    manual_hedge: ManualHedgeSettings = Field(default_factory=ManualHedgeSettings)
    """``[manual_hedge]``."""
    inventory: InventorySettings = Field(default_factory=InventorySettings)
    """``[inventory]``."""
    hedging: HedgingSettings = Field(default_factory=HedgingSettings)
    """``[hedging]``."""
    alpaca_api_key: Secret | None = None
    """``ARBTUI_ALPACA_API_KEY`` (environment only); required when ``broker.kind = "alpaca"``."""
    alpaca_api_secret: Secret | None = None
    """``ARBTUI_ALPACA_API_SECRET`` (environment only); required when ``broker.kind = "alpaca"``."""
    schwab_app_key: Secret | None = None
    """``ARBTUI_SCHWAB_APP_KEY`` (environment only); required when ``broker.kind = "schwab"``."""
    schwab_app_secret: Secret | None = None
    """``ARBTUI_SCHWAB_APP_SECRET`` (environment only); required when ``broker.kind = "schwab"``."""
    encryption_key: EncryptionKey | None = None
    """``ARBTUI_ENCRYPTION_KEY``: 64 hex characters, encrypts Schwab tokens at rest (Schwab only)."""
    control_token: Secret | None = None
    """``ARBTUI_CONTROL_TOKEN``: bearer token for the control endpoints; required with ``allow_remote``."""
    webhook_secret: Secret | None = None
    """``ARBTUI_WEBHOOK_SECRET``: signs each webhook body (HMAC-SHA256); unset = unsigned."""
    telegram_bot_token: Secret | None = None
    """``ARBTUI_TELEGRAM_BOT_TOKEN``: the Telegram bot's token; required with ``alerts.telegram.chat_id``."""

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
        problems = rule_problems(self.model_dump(), Origins({}))
        if problems:
            raise PydanticCustomError(RULES_ERROR, "{problems}", {"problems": "; ".join(problems)})
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
            raise ConfigError([f"{env}: missing; the Alpaca adapter needs it" for env in missing(self, "alpaca")])
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
            raise ConfigError([f"{env}: missing; the Schwab adapter needs it" for env in missing(self, "schwab")])
        return SchwabConfig(
            app_key=self.schwab_app_key,
            app_secret=self.schwab_app_secret,
            callback_url=self.schwab.redirect_uri,
            base_url=self.schwab.base_url,
            account_number=self.schwab.account_number,
        )


def missing(settings: Settings, kind: str) -> list[str]:
    return [SECRET_ENVIRONMENT[f] for f in NEEDS[kind] if getattr(settings, f) is None]
