"""Loading good configurations: the example file, defaults, environment overrides, secrets, converters."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from arbtui.brokers.alpaca.client import AlpacaConfig
from arbtui.brokers.schwab.client import SchwabConfig
from arbtui.config import KNOWN_PYTH_FEEDS, AlertLevel, ConfigError, Settings, format_problems, load_settings
from arbtui.domain.position import ThresholdKind
from arbtui.domain.values import BrokerKind
from arbtui.engine.alerts import Severity
from tests.unit.config.support import ALPACA_SECRETS, MINIMAL, ORDERBOOK, OWNER, SCHWAB_SECRETS, write

EXAMPLE = Path(__file__).resolve().parents[3] / "arbtui.example.toml"


def test_the_example_file_loads_with_production_values() -> None:
    settings = load_settings(EXAMPLE, {})
    assert settings.chain.orderbook == ORDERBOOK.lower()
    assert settings.chain.owner == OWNER.lower()
    assert settings.chain.pyth == "0x8250f4af4b972684f7b336503e2d6dfedeb1487a"
    assert settings.chain.deployment_block == 34844164
    assert settings.chain.ws_url == "ws://127.0.0.1:8545"
    assert settings.chain.http_url == "http://127.0.0.1:8545"
    assert dict(settings.pyth.feeds) == dict(KNOWN_PYTH_FEEDS)
    assert settings.broker.kind is BrokerKind.DRY_RUN
    assert settings.alpaca.paper is True
    assert settings.alerts.unhedged_usd == Decimal(1000)


def test_safe_defaults_when_keys_are_absent(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), {})
    assert settings.broker.kind is BrokerKind.DRY_RUN
    assert settings.broker.threshold is ThresholdKind.SHARES
    assert settings.broker.dry_run_price is None
    assert settings.alpaca.paper is True
    assert settings.alpaca.base_url == ""
    assert settings.api.listen == "127.0.0.1:8080"
    assert (settings.api.host, settings.api.port, settings.api.allow_remote) == ("127.0.0.1", 8080, False)
    assert settings.chain.confirmations == 0
    assert settings.chain.deployment_block == 0
    assert settings.chain.pyth is None
    assert settings.tokens.markers.prefixes == ("t",)
    assert settings.tokens.markers.suffixes == ("0x", "s1")
    assert settings.database.path == Path("arbtui.db")
    assert settings.schwab.base_url == "https://api.schwabapi.com"
    assert settings.schwab.redirect_uri == "https://127.0.0.1"
    assert dict(settings.pyth.feeds) == dict(KNOWN_PYTH_FEEDS)
    assert settings.alpaca_api_key is None
    assert settings.control_token is None


def test_environment_overrides_win_over_the_file(tmp_path: Path) -> None:
    text = MINIMAL + '[broker]\nkind = "dry_run"\npoll_interval_s = 5.0\n[api]\nlisten = "127.0.0.1:9000"\n'
    environ = {
        **ALPACA_SECRETS,
        "ARBTUI_BROKER__KIND": "alpaca",
        "ARBTUI_BROKER__POLL_INTERVAL_S": "0.5",
        "ARBTUI_ALPACA__PAPER": "false",
        "ARBTUI_CHAIN__WS_URL": "",
        "ARBTUI_CHAIN__HTTP_URL": "https://base.example:8545",
        "ARBTUI_CHAIN__CONFIRMATIONS": "3",
        "ARBTUI_PYTH__FEEDS__XYZ": "0x" + "ab" * 32,
        "ARBTUI_TOKENS__MARKERS__SUFFIXES": "0x, s1, x",
        "ARBTUI_TOKENS__MARKERS__PREFIXES": '["t", "w"]',
        "ARBTUI_ALERTS__UNHEDGED_USD": "250.50",
        "ARBTUI_CONFIG": "ignored/by/the/loader.toml",
        "ARBTUI_DATABASE_PATH": "the-cli-reads-this.db",
        "PATH": "/usr/bin",
    }
    settings = load_settings(write(tmp_path, text), environ)
    assert settings.broker.kind is BrokerKind.ALPACA
    assert settings.broker.poll_interval_s == 0.5
    assert settings.alpaca.paper is False
    assert settings.chain.ws_url is None
    assert settings.chain.http_url == "https://base.example:8545"
    assert settings.chain.confirmations == 3
    assert settings.pyth.feeds["XYZ"] == "0x" + "ab" * 32
    assert settings.pyth.feeds["AAPL"] == KNOWN_PYTH_FEEDS["AAPL"]
    assert settings.tokens.markers.suffixes == ("0x", "s1", "x")
    assert settings.tokens.markers.prefixes == ("t", "w")
    assert settings.alerts.unhedged_usd == Decimal("250.50")
    assert settings.api.port == 9000
    assert settings.database.path == Path("arbtui.db")


def test_a_feed_in_the_file_overrides_the_known_one(tmp_path: Path) -> None:
    feed = "0x" + "CD" * 32
    settings = load_settings(write(tmp_path, MINIMAL + f'[pyth.feeds]\nAAPL = "{feed}"\n"BRK.B" = "{feed}"\n'), {})
    assert settings.pyth.feeds["AAPL"] == feed.lower()
    assert settings.pyth.feeds["BRK.B"] == feed.lower()
    assert settings.pyth.feeds["MSFT"] == KNOWN_PYTH_FEEDS["MSFT"]


def test_the_environment_alone_is_enough() -> None:
    environ = {
        "ARBTUI_CHAIN__HTTP_URL": "http://127.0.0.1:8545",
        "ARBTUI_CHAIN__ORDERBOOK": ORDERBOOK,
        "ARBTUI_CHAIN__OWNER": OWNER,
        "ARBTUI_CHAIN__USDC": ORDERBOOK,
    }
    assert load_settings(None, environ).chain.http_url == "http://127.0.0.1:8545"


def test_loading_reads_only_the_environ_it_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ARBTUI_BROKER__KIND", "schwab")
    path = write(tmp_path, MINIMAL)
    assert load_settings(path, {}).broker.kind is BrokerKind.DRY_RUN
    with pytest.raises(ConfigError) as caught:
        load_settings(path)  # None: the process environment
    assert "ARBTUI_SCHWAB_APP_KEY: missing; broker.kind = 'schwab' needs it in the environment" in caught.value.problems


def test_secrets_are_secretstr_and_never_shown(tmp_path: Path) -> None:
    environ = {**ALPACA_SECRETS, **SCHWAB_SECRETS, "ARBTUI_CONTROL_TOKEN": "control-token-value"}
    settings = load_settings(write(tmp_path, MINIMAL + '[broker]\nkind = "alpaca"\n'), environ)
    secrets = [
        settings.alpaca_api_key,
        settings.alpaca_api_secret,
        settings.schwab_app_key,
        settings.schwab_app_secret,
        settings.encryption_key,
        settings.control_token,
    ]
    assert all(isinstance(secret, SecretStr) for secret in secrets)
    assert settings.alpaca_api_secret is not None
    assert settings.alpaca_api_secret.get_secret_value() == "alpaca-secret-value"
    shown = repr(settings) + str(settings) + repr(settings.redacted_dict()) + str(settings.model_dump(mode="json"))
    for value in environ.values():
        assert value not in shown
    redacted = settings.redacted_dict()
    assert redacted["alpaca_api_key"] == "<set>"
    assert redacted["control_token"] == "<set>"
    assert redacted["chain"]["owner"] == OWNER.lower()


def test_alert_sinks_from_the_file_and_their_secrets_from_the_environment(tmp_path: Path) -> None:
    toml = (
        MINIMAL
        + '[alerts.webhook]\nurl = "https://hooks.example/arbtui"\nmin_severity = "critical"\n'
        + "[alerts.telegram]\nchat_id = -1001234567890\n"
    )
    environ = {"ARBTUI_WEBHOOK_SECRET": "whsec-value", "ARBTUI_TELEGRAM_BOT_TOKEN": "123:bot-token-value"}
    settings = load_settings(write(tmp_path, toml), environ | {"ARBTUI_ALERTS__TELEGRAM__MIN_SEVERITY": "info"})
    assert settings.alerts.webhook.url == "https://hooks.example/arbtui"
    assert settings.alerts.webhook.min_severity is AlertLevel.CRITICAL
    assert settings.alerts.telegram.chat_id == "-1001234567890"  # a TOML integer, kept as the id's text
    assert settings.alerts.telegram.min_severity is AlertLevel.INFO
    assert settings.alerts.telegram.base_url == "https://api.telegram.org"
    assert settings.telegram_bot_token is not None
    assert settings.telegram_bot_token.get_secret_value() == "123:bot-token-value"
    shown = repr(settings) + repr(settings.redacted_dict()) + str(settings.model_dump(mode="json"))
    for value in environ.values():
        assert value not in shown
    assert settings.redacted_dict()["webhook_secret"] == "<set>"


def test_the_alert_levels_are_the_engine_severities() -> None:
    assert [level.value for level in AlertLevel] == [severity.value for severity in Severity]


def test_redacted_dict_is_plain_data_and_marks_absent_secrets(tmp_path: Path) -> None:
    redacted = load_settings(write(tmp_path, MINIMAL), {}).redacted_dict()
    assert redacted["alpaca_api_key"] is None
    assert redacted["broker"] == {
        "kind": "dry_run",
        "threshold": "shares",
        "poll_interval_s": 1.0,
        "dry_run_price": None,
    }
    assert redacted["database"] == {"path": "arbtui.db"}


def test_a_secret_value_never_appears_in_a_problem(tmp_path: Path) -> None:
    secret = "not-hex-but-64-chars-" + "z" * 43
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, MINIMAL + '[alpaca]\napi_key = "PKINFILE"\n'), {"ARBTUI_ENCRYPTION_KEY": secret})
    text = format_problems(caught.value) + str(caught.value)
    assert secret not in text
    assert "PKINFILE" not in text


def test_settings_are_frozen(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), {})
    with pytest.raises(ValidationError):
        settings.broker = settings.broker  # type: ignore[misc]
    with pytest.raises(ValidationError):
        settings.broker.kind = BrokerKind.ALPACA  # type: ignore[misc]


def _tables(model: type[BaseModel]) -> list[type[BaseModel]]:
    found = [model]
    for info in model.model_fields.values():
        if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
            found += _tables(info.annotation)
    return found


def test_every_field_has_a_docstring() -> None:
    undocumented = [
        f"{table.__name__}.{name}"
        for table in _tables(Settings)
        for name, info in table.model_fields.items()
        if not (info.description or "").strip()
    ]
    assert undocumented == []


def test_direct_construction_enforces_the_same_rules() -> None:
    chain: dict[str, Any] = {"orderbook": ORDERBOOK, "owner": OWNER, "usdc": ORDERBOOK}
    with pytest.raises(ValidationError, match=r"chain\.http_url: required"):
        Settings.model_validate({"chain": chain})


def test_alpaca_config_converter(tmp_path: Path) -> None:
    text = MINIMAL + '[broker]\nkind = "alpaca"\nthreshold = "dollars"\n[alpaca]\npaper = false\n'
    config = load_settings(write(tmp_path, text), ALPACA_SECRETS).alpaca_config()
    assert isinstance(config, AlpacaConfig)
    assert config.api_key.get_secret_value() == "PKALPACAKEY"
    assert (config.paper, config.base_url, config.fractional) == (False, None, True)
    local = MINIMAL + '[broker]\nkind = "alpaca"\n[alpaca]\nbase_url = "http://127.0.0.1:9999"\n'
    config = load_settings(write(tmp_path, local), ALPACA_SECRETS).alpaca_config()
    assert (config.paper, config.base_url, config.fractional) == (True, "http://127.0.0.1:9999", False)


def test_schwab_config_converter(tmp_path: Path) -> None:
    text = MINIMAL + '[broker]\nkind = "schwab"\n[schwab]\nredirect_uri = "https://127.0.0.1:8182/cb"\n'
    config = load_settings(write(tmp_path, text), SCHWAB_SECRETS).schwab_config()
    assert isinstance(config, SchwabConfig)
    assert config.callback_url == "https://127.0.0.1:8182/cb"
    assert config.base_url == "https://api.schwabapi.com"
    assert config.app_secret.get_secret_value() == "schwab-app-secret"


def test_a_converter_without_its_secrets_says_which_are_missing(tmp_path: Path) -> None:
    settings = load_settings(write(tmp_path, MINIMAL), {})
    with pytest.raises(ConfigError) as caught:
        settings.alpaca_config()
    assert caught.value.problems == [
        "ARBTUI_ALPACA_API_KEY: missing; the Alpaca adapter needs it",
        "ARBTUI_ALPACA_API_SECRET: missing; the Alpaca adapter needs it",
    ]


def test_a_short_control_token_is_still_accepted_on_loopback(tmp_path: Path) -> None:
    """Only ``allow_remote`` asks for 32 characters: an existing loopback setup keeps working."""
    settings = load_settings(write(tmp_path, MINIMAL), {"ARBTUI_CONTROL_TOKEN": "short"})
    assert settings.control_token is not None


def test_remote_listen_is_allowed_with_the_switch_and_a_token(tmp_path: Path) -> None:
    text = MINIMAL + '[api]\nlisten = "0.0.0.0:8080"\nallow_remote = true\n'
    settings = load_settings(
        write(tmp_path, text), {"ARBTUI_CONTROL_TOKEN": "a-control-token-of-at-least-32-characters"}
    )
    assert (settings.api.host, settings.api.port) == ("0.0.0.0", 8080)


@pytest.mark.parametrize(
    ("listen", "host", "port"),
    [("localhost:80", "localhost", 80), ("[::1]:9000", "::1", 9000), ("127.0.0.2:0", "127.0.0.2", 0)],
)
def test_loopback_listen_forms(tmp_path: Path, listen: str, host: str, port: int) -> None:
    settings = load_settings(write(tmp_path, MINIMAL + f'[api]\nlisten = "{listen}"\n'), {})
    assert (settings.api.host, settings.api.port) == (host, port)


def test_format_problems_prints_one_line_per_problem() -> None:
    error = ConfigError(["chain.owner: not an address: '0x12'", "[brokr]: unknown table"])
    assert format_problems(error) == (
        "invalid configuration (2 problems):\n  - chain.owner: not an address: '0x12'\n  - [brokr]: unknown table"
    )
    assert format_problems(ConfigError(["x: y"])) == "invalid configuration (1 problem):\n  - x: y"


def test_the_example_files_v6_production_block_loads_when_uncommented(tmp_path: Path) -> None:
    """The commented production values for today's Base V6 book (owner: the RaindexInventory contract)
    are a valid configuration once uncommented, beside the V4 book."""
    text = EXAMPLE.read_text(encoding="utf-8")
    for line in ('owner = "0x10e4db39275C3b128C01bA1194D45D19aE1520d9"', "[[chain.orderbooks]]"):
        assert f"# {line}" in text or f"#   {line}" in text
    text = text.replace('#   owner = "0x10e4', 'owner = "0x10e4').replace(
        'owner = "0x71b94911FD1CE621FC40970450004c544e5287a8"', ""
    )
    for key in ("[[chain.orderbooks]]", 'address = "0xe522', "deployment_block = 49746968"):
        text = text.replace(f"# {key}", key)
    settings = load_settings(write(tmp_path, text), {})
    assert settings.chain.owner == "0x10e4db39275c3b128c01ba1194d45d19ae1520d9"
    [v6] = settings.chain.orderbooks
    assert (v6.address, v6.deployment_block) == ("0xe522cb4a5fcb2eb31a52ff41a4653d85a4fd7c9d", 49746968)
    assert settings.chain.orderbook == ORDERBOOK.lower()
