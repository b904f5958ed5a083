"""The settings tree: one TOML file plus ``ARBTUI_*`` environment overrides, validated once, passed down.

:func:`load_settings` is the only way in (:func:`load_table` reads one table the same way, for the
commands that need no ``[chain]``). It reads the TOML file (tables below), lays the environment
over it (``ARBTUI_<TABLE>__<KEY>``, e.g. ``ARBTUI_CHAIN__OWNER``; ``ARBTUI_PYTH__FEEDS__AAPL``; lists
and tables as JSON) and validates everything before anything connects. Every problem found becomes
one line naming the key as the operator wrote it (``chain.owner: not an address: '0x12'`` or
``ARBTUI_CHAIN__OWNER: …``); all of them are raised together as one :class:`ConfigError`.

Secrets come only from the environment (``ARBTUI_ALPACA_API_KEY``, ``ARBTUI_ALPACA_API_SECRET``,
``ARBTUI_SCHWAB_APP_KEY``, ``ARBTUI_SCHWAB_APP_SECRET``, ``ARBTUI_ENCRYPTION_KEY``,
``ARBTUI_CONTROL_TOKEN``, ``ARBTUI_WEBHOOK_SECRET``, ``ARBTUI_TELEGRAM_BOT_TOKEN``), are held as
:class:`~pydantic.SecretStr` and are never echoed: not by ``repr``, not by :meth:`Settings.redacted_dict`,
not in an error message. A secret written in the TOML file is itself an error.

Defaults are the safe choice: the dry-run broker, Alpaca's paper environment, the API on loopback.
"""

from arbtui.config.fields import (
    CLI_ENVIRONMENT,
    ENV_PREFIX,
    KNOWN_PYTH_FEEDS,
    SECRET_ENVIRONMENT,
    ConfigError,
    format_problems,
    is_loopback,
    parse_listen,
)
from arbtui.config.loading import load_settings, load_table
from arbtui.config.settings import (
    AlertLevel,
    AlertsSettings,
    AlpacaSettings,
    ApiSettings,
    BrokerSettings,
    ChainSettings,
    DatabaseSettings,
    EngineSettings,
    InventorySettings,
    OrderbookSettings,
    PythSettings,
    SchwabSettings,
    Settings,
    TokenMarkers,
    TokensSettings,
)

__all__ = [
    "CLI_ENVIRONMENT",
    "ENV_PREFIX",
    "KNOWN_PYTH_FEEDS",
    "SECRET_ENVIRONMENT",
    "AlertLevel",
    "AlertsSettings",
    "AlpacaSettings",
    "ApiSettings",
    "BrokerSettings",
    "ChainSettings",
    "ConfigError",
    "DatabaseSettings",
    "EngineSettings",
    "InventorySettings",
    "OrderbookSettings",
    "PythSettings",
    "SchwabSettings",
    "Settings",
    "TokenMarkers",
    "TokensSettings",
    "format_problems",
    "is_loopback",
    "load_settings",
    "load_table",
    "parse_listen",
]
