"""Bad configurations: each problem is one line naming the key as the operator wrote it, all reported at once."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pytest

from arbtui.config import ConfigError, format_problems, load_settings
from tests.unit.config.support import ALPACA_SECRETS, ENCRYPTION_KEY, MINIMAL, OWNER, SCHWAB_SECRETS, write

WS = 'ws_url = "ws://127.0.0.1:8545"\n'
NO_URL = (
    "chain.http_url: required (logs, headers, token reads and traces go over HTTP; chain.ws_url only adds the"
    " live subscription)"
)
NOT_LOOPBACK = (
    "api.listen: '0.0.0.0' is not a loopback address; set api.allow_remote = true to accept connections from "
    "other machines"
)


def chain(**changes: str) -> str:
    """MINIMAL with ``key = value`` lines of [chain] replaced (empty value: line removed) or added."""
    text = MINIMAL
    for key, value in changes.items():
        lines = text.splitlines(keepends=True)
        new = f"{key} = {value}\n" if value else ""
        matching = [i for i, line in enumerate(lines) if line.startswith(f"{key} = ")]
        if matching:
            lines[matching[0]] = new
        else:
            lines.insert(1, new)
        text = "".join(lines)
    return text


CASES: list[tuple[str, str, Mapping[str, str], list[str]]] = [
    ("short address", chain(owner='"0x12"'), {}, ["chain.owner: not an address: '0x12'"]),
    (
        "address without 0x",
        chain(orderbook=f'"{OWNER[2:]}"'),
        {},
        [f"chain.orderbook: not an address: '{OWNER[2:]}'"],
    ),
    ("address of the wrong type", chain(usdc="12"), {}, ["chain.usdc: not a string: 12"]),
    ("missing owner", chain(owner=""), {}, ["chain.owner: missing (required)"]),
    ("websocket only", chain(http_url="", ws_url='"ws://127.0.0.1:8545"'), {}, [NO_URL]),
    ("no url", chain(http_url=""), {}, [NO_URL]),
    (
        "ws url with http scheme",
        chain(ws_url='"http://node"'),
        {},
        ["chain.ws_url: not a ws:// or wss:// URL: 'http://node'"],
    ),
    (
        "http url with ws scheme",
        chain(ws_url="", http_url='"wss://node"'),
        {},
        ["chain.http_url: not a http:// or https:// URL: 'wss://node'"],
    ),
    ("negative confirmations", chain(confirmations="-1"), {}, ["chain.confirmations: must be at least 0, got -1"]),
    (
        "zero chain poll interval",
        chain(poll_interval_s="0"),
        {},
        ["chain.poll_interval_s: must be greater than 0, got 0"],
    ),
    (
        "deployment block not a number",
        chain(deployment_block='"abc"'),
        {},
        ["chain.deployment_block: not a whole number: 'abc'"],
    ),
    ("typo in a key", chain(ownr=f'"{OWNER}"'), {}, ["chain.ownr: unknown key (did you mean chain.owner?)"]),
    (
        "typo in a table",
        MINIMAL + '[brokr]\nkind = "alpaca"\n',
        {},
        ["[brokr]: unknown table (did you mean [broker]?)"],
    ),
    ("unknown table", MINIMAL + "[telemetry]\non = true\n", {}, ["[telemetry]: unknown table"]),
    ("missing chain table", '[broker]\nkind = "dry_run"\n', {}, ["[chain]: missing table", NO_URL]),
    ("a table written as a value", "chain = 5\n", {}, ["chain: must be a table", NO_URL]),
    (
        "bad feed id",
        MINIMAL + '[pyth.feeds]\nAAPL = "0x49f6"\n',
        {},
        ["pyth.feeds.AAPL: not a feed id (0x + 64 hex): '0x49f6'"],
    ),
    (
        "feed keyed by a non-ticker",
        MINIMAL + f'[pyth.feeds]\naapl = "0x{"ab" * 32}"\n',
        {},
        ["pyth.feeds.aapl: not a broker ticker: 'aapl'"],
    ),
    (
        "unknown broker kind",
        MINIMAL + '[broker]\nkind = "alpacca"\n',
        {},
        ["broker.kind: must be one of 'schwab', 'alpaca' or 'dry_run', got 'alpacca'"],
    ),
    (
        "dollars threshold with schwab",
        MINIMAL + '[broker]\nkind = "schwab"\nthreshold = "dollars"\n',
        SCHWAB_SECRETS,
        ["broker.threshold: 'dollars' (fractional shares) needs broker.kind = 'alpaca', not 'schwab'"],
    ),
    (
        "dollars threshold with the default dry run",
        MINIMAL + '[broker]\nthreshold = "dollars"\n',
        {},
        ["broker.threshold: 'dollars' (fractional shares) needs broker.kind = 'alpaca', not 'dry_run'"],
    ),
    (
        "zero order poll interval",
        MINIMAL + "[broker]\npoll_interval_s = -1.5\n",
        {},
        ["broker.poll_interval_s: must be greater than 0, got -1.5"],
    ),
    (
        "non-positive dry-run price",
        MINIMAL + '[broker]\ndry_run_price = "0"\n',
        {},
        ["broker.dry_run_price: must be greater than 0, got '0'"],
    ),
    (
        "alpaca without its secrets",
        MINIMAL + '[broker]\nkind = "alpaca"\n',
        {},
        [
            "ARBTUI_ALPACA_API_KEY: missing; broker.kind = 'alpaca' needs it in the environment",
            "ARBTUI_ALPACA_API_SECRET: missing; broker.kind = 'alpaca' needs it in the environment",
        ],
    ),
    (
        "schwab without its secret and key",
        MINIMAL + '[broker]\nkind = "schwab"\n',
        {"ARBTUI_SCHWAB_APP_KEY": "k"},
        [
            "ARBTUI_SCHWAB_APP_SECRET: missing; broker.kind = 'schwab' needs it in the environment",
            "ARBTUI_ENCRYPTION_KEY: missing; broker.kind = 'schwab' needs it in the environment",
        ],
    ),
    (
        "short encryption key",
        MINIMAL,
        {"ARBTUI_ENCRYPTION_KEY": ENCRYPTION_KEY[:-1]},
        ["ARBTUI_ENCRYPTION_KEY: must be 64 hex characters (a 32-byte key); got 63 characters"],
    ),
    (
        "encryption key not hex",
        MINIMAL,
        {"ARBTUI_ENCRYPTION_KEY": "g" * 64},
        ["ARBTUI_ENCRYPTION_KEY: must be 64 hex characters (a 32-byte key); got 64 characters, not all hex"],
    ),
    (
        "empty secret",
        MINIMAL + '[broker]\nkind = "alpaca"\n',
        {**ALPACA_SECRETS, "ARBTUI_ALPACA_API_KEY": ""},
        ["ARBTUI_ALPACA_API_KEY: is empty"],
    ),
    (
        "secret in a table of the file",
        MINIMAL + '[alpaca]\napi_key = "PK123"\n',
        {},
        [
            "alpaca.api_key: secrets are never read from the config file; remove it and set ARBTUI_ALPACA_API_KEY "
            "in the environment"
        ],
    ),
    (
        "secret at the top of the file",
        'control_token = "abc"\n' + MINIMAL,
        {},
        [
            "control_token: secrets are never read from the config file; remove it and set ARBTUI_CONTROL_TOKEN "
            "in the environment"
        ],
    ),
    ("non-loopback listen", MINIMAL + '[api]\nlisten = "0.0.0.0:8080"\n', {}, [NOT_LOOPBACK]),
    ("listen without a host", MINIMAL + '[api]\nlisten = "8080"\n', {}, ["api.listen: not host:port: '8080'"]),
    (
        "listen port out of range",
        MINIMAL + '[api]\nlisten = "127.0.0.1:70000"\n',
        {},
        ["api.listen: not host:port: '127.0.0.1:70000'"],
    ),
    (
        "remote without a control token",
        MINIMAL + '[api]\nlisten = "0.0.0.0:8080"\nallow_remote = true\n',
        {},
        ["ARBTUI_CONTROL_TOKEN: missing; api.allow_remote = true needs a control token"],
    ),
    (
        "remote with a one-character control token",
        MINIMAL + '[api]\nlisten = "0.0.0.0:8080"\nallow_remote = true\n',
        {"ARBTUI_CONTROL_TOKEN": "x"},
        [
            "ARBTUI_CONTROL_TOKEN: 1 character; api.allow_remote = true needs at least 32 "
            "(`arbtui token new` prints one)"
        ],
    ),
    (
        "remote with a 31-character control token",
        MINIMAL + "[api]\nallow_remote = true\n",
        {"ARBTUI_CONTROL_TOKEN": "t" * 31},
        [
            "ARBTUI_CONTROL_TOKEN: 31 characters; api.allow_remote = true needs at least 32 "
            "(`arbtui token new` prints one)"
        ],
    ),
    (
        "paper not a boolean",
        MINIMAL + '[alpaca]\npaper = "yes please"\n',
        {},
        ["alpaca.paper: not true or false: 'yes please'"],
    ),
    (
        "schwab redirect without scheme",
        MINIMAL + '[schwab]\nredirect_uri = "127.0.0.1"\n',
        {},
        ["schwab.redirect_uri: not a http:// or https:// URL: '127.0.0.1'"],
    ),
    ("empty database path", MINIMAL + '[database]\npath = ""\n', {}, ["database.path: must be a file path"]),
    (
        "marker with punctuation",
        MINIMAL + '[tokens.markers]\nprefixes = ["t-"]\n',
        {},
        ["tokens.markers.prefixes: not a marker (letters and digits): 't-'"],
    ),
    (
        "pyth method unknown",
        MINIMAL + '[pyth]\nmethod = "debug"\n',
        {},
        ["pyth.method: must be one of 'auto', 'trace' or 'eth_call', got 'debug'"],
    ),
    (
        "wrapped marker with punctuation",
        MINIMAL + '[tokens.markers]\nwrapped_prefixes = ["w-t"]\n',
        {},
        ["tokens.markers.wrapped_prefixes: not a marker (letters and digits): 'w-t'"],
    ),
    (
        "engine park count zero",
        MINIMAL + "[engine]\nmax_retries_before_park = 0\n",
        {},
        ["engine.max_retries_before_park: must be greater than 0, got 0"],
    ),
    (
        "alert threshold negative",
        MINIMAL + "[alerts]\nunhedged_usd = -5\n",
        {},
        ["alerts.unhedged_usd: must be greater than 0, got -5"],
    ),
    (
        "environment value invalid",
        MINIMAL,
        {"ARBTUI_CHAIN__OWNER": "0x12"},
        ["ARBTUI_CHAIN__OWNER: not an address: '0x12'"],
    ),
    (
        "environment number invalid",
        MINIMAL,
        {"ARBTUI_ENGINE__STUCK_AFTER_S": "0"},
        ["ARBTUI_ENGINE__STUCK_AFTER_S: must be greater than 0, got '0'"],
    ),
    (
        "environment table typo",
        MINIMAL,
        {"ARBTUI_BROKR__KIND": "alpaca"},
        ["ARBTUI_BROKR__KIND: unknown table 'brokr' (did you mean ARBTUI_BROKER?)"],
    ),
    (
        "environment key typo",
        MINIMAL,
        {"ARBTUI_CHAIN__CONFIRMATION": "2"},
        ["ARBTUI_CHAIN__CONFIRMATION: unknown key 'confirmation' (did you mean ARBTUI_CHAIN__CONFIRMATIONS?)"],
    ),
    (
        "environment secret in nested form",
        MINIMAL,
        {"ARBTUI_ALPACA__API_KEY": "PK"},
        ["ARBTUI_ALPACA__API_KEY: secrets are read from ARBTUI_ALPACA_API_KEY only"],
    ),
    (
        "unknown environment variable",
        MINIMAL,
        {"ARBTUI_LOGLEVEL": "debug"},
        ["ARBTUI_LOGLEVEL: unknown setting; settings use ARBTUI_<TABLE>__<KEY>, e.g. ARBTUI_CHAIN__OWNER"],
    ),
    (
        "environment JSON broken",
        MINIMAL,
        {"ARBTUI_PYTH__FEEDS": "{nope"},
        ["ARBTUI_PYTH__FEEDS: not valid JSON for a table"],
    ),
    (
        "environment names a whole table",
        MINIMAL,
        {"ARBTUI_BROKER": "alpaca"},
        ["ARBTUI_BROKER: [broker] is a table; set its keys (ARBTUI_BROKER__<KEY>)"],
    ),
    (
        "lag bound under the confirmations",
        chain(confirmations="12", max_lag_blocks="10"),
        {},
        [
            "chain.max_lag_blocks: 10 must be more than chain.confirmations (12): the ledger always stays that many"
            " blocks behind the head, so it would never be ready"
        ],
    ),
    (
        "lag bound from the environment equal to the confirmations",
        chain(confirmations="3"),
        {"ARBTUI_CHAIN__MAX_LAG_BLOCKS": "3"},
        [
            "ARBTUI_CHAIN__MAX_LAG_BLOCKS: 3 must be more than chain.confirmations (3): the ledger always stays"
            " that many blocks behind the head, so it would never be ready"
        ],
    ),
    (
        "hedging session misspelt",
        MINIMAL + '[hedging]\nsessions = ["regular", "overnite"]\n',
        {},
        ["hedging.sessions: not a session: 'overnite' (one of 'regular', 'extended' or 'overnight')"],
    ),
    (
        "hedging sessions without regular",
        MINIMAL + '[hedging]\nsessions = ["extended"]\n',
        {},
        ["hedging.sessions: must include 'regular' (hedges always run in the regular session), got ['extended']"],
    ),
    (
        "hedging sessions not a list",
        MINIMAL + '[hedging]\nsessions = "regular"\n',
        {},
        ["hedging.sessions: must be a list"],
    ),
    (
        "limit cross too wide",
        MINIMAL + "[hedging]\nlimit_cross_bps = 5000\n",
        {},
        ["hedging.limit_cross_bps: must be at most 1000, got 5000"],
    ),
    (
        "limit cross fractional",
        MINIMAL + "[hedging]\nlimit_cross_bps = 2.5\n",
        {},
        ["hedging.limit_cross_bps: not a whole number: 2.5"],
    ),
    (
        "reprice too often",
        MINIMAL + "[hedging]\nreprice_interval_s = 1\n",
        {},
        ["hedging.reprice_interval_s: must be at least 5, got 1"],
    ),
    (
        "flatten reprices less often than normal",
        MINIMAL + "[hedging]\nflatten_reprice_interval_s = 120\n",
        {},
        [
            "hedging.flatten_reprice_interval_s: 120 must be at most hedging.reprice_interval_s (60): the flatten"
            " reprices more often, not less"
        ],
    ),
    (
        "flatten cross narrowing, from the environment",
        MINIMAL,
        {"ARBTUI_HEDGING__FLATTEN_MAX_CROSS_BPS": "10"},
        [
            "ARBTUI_HEDGING__FLATTEN_MAX_CROSS_BPS: 10 must be at least hedging.flatten_cross_bps (50): the cross"
            " widens toward the close, never narrows"
        ],
    ),
    (
        "overnight at schwab",
        MINIMAL + '[broker]\nkind = "schwab"\n[hedging]\nsessions = ["regular", "overnight"]\n',
        SCHWAB_SECRETS,
        [
            "hedging.sessions: 'overnight' needs broker.kind = 'alpaca' (the only broker with an overnight session),"
            " not 'schwab'"
        ],
    ),
    (
        "overnight for one symbol at schwab",
        MINIMAL + '[broker]\nkind = "schwab"\n[hedging.symbols.TSLA]\nsessions = ["regular", "overnight"]\n',
        SCHWAB_SECRETS,
        [
            "hedging.symbols.TSLA.sessions: 'overnight' needs broker.kind = 'alpaca' (the only broker with an"
            " overnight session), not 'schwab'"
        ],
    ),
    (
        "symbol override keyed by a non-ticker",
        MINIMAL + '[hedging.symbols.tsla]\nsessions = ["regular"]\n',
        {},
        ["hedging.symbols.tsla: not a broker ticker: 'tsla'"],
    ),
    (
        "symbol override without regular",
        MINIMAL + '[hedging.symbols.TSLA]\nsessions = ["extended"]\n',
        {},
        [
            "hedging.symbols.TSLA.sessions: must include 'regular' (hedges always run in the regular session), got"
            " ['extended']"
        ],
    ),
    (
        "symbol override key misspelt",
        MINIMAL + "[hedging.symbols.TSLA]\nlimit_cros_bps = 3\n",
        {},
        ["hedging.symbols.TSLA.limit_cros_bps: unknown key (did you mean hedging.symbols.TSLA.limit_cross_bps?)"],
    ),
    (
        "telegram without its bot token",
        MINIMAL + "[alerts.telegram]\nchat_id = -100123\n",
        {},
        [
            "ARBTUI_TELEGRAM_BOT_TOKEN: missing; alerts.telegram.chat_id is set, and Telegram needs the bot's"
            " token in the environment"
        ],
    ),
    (
        "alert sink secrets in the file",
        MINIMAL
        + '[alerts.webhook]\nurl = "https://hooks.example/x"\nsecret = "s"\n'
        + '[alerts.telegram]\nchat_id = "@ops"\ntoken = "t"\n',
        {"ARBTUI_TELEGRAM_BOT_TOKEN": "123:abc"},
        [
            "alerts.webhook.secret: secrets are never read from the config file; remove it and set "
            "ARBTUI_WEBHOOK_SECRET in the environment",
            "alerts.telegram.token: secrets are never read from the config file; remove it and set "
            "ARBTUI_TELEGRAM_BOT_TOKEN in the environment",
        ],
    ),
    (
        "a bot token set as a key of the table",
        MINIMAL,
        {"ARBTUI_ALERTS__TELEGRAM__BOT_TOKEN": "123:abc"},
        ["ARBTUI_ALERTS__TELEGRAM__BOT_TOKEN: secrets are read from ARBTUI_TELEGRAM_BOT_TOKEN only"],
    ),
    (
        "unknown minimum severity",
        MINIMAL + '[alerts.webhook]\nmin_severity = "loud"\n',
        {},
        ["alerts.webhook.min_severity: must be one of 'info', 'warning' or 'critical', got 'loud'"],
    ),
    (
        "webhook url without a scheme",
        MINIMAL + '[alerts.webhook]\nurl = "hooks.example/x"\n',
        {},
        ["alerts.webhook.url: not a http:// or https:// URL: 'hooks.example/x'"],
    ),
    (
        "zero alert queue",
        MINIMAL + "[alerts]\nqueue_size = 0\n",
        {},
        ["alerts.queue_size: must be greater than 0, got 0"],
    ),
    (
        "several problems at once",
        chain(owner='"0x12"', http_url='"http://127.0.0.1:8545"')
        + '[brokr]\nx = 1\n[broker]\nkind = "alpaca"\nthreshold = "dollars"\n[api]\nlisten = "0.0.0.0:80"\n'
        + '[alpaca]\napi_secret = "s"\n',
        {"ARBTUI_ENGINE__CHECK_INTERVAL_S": "soon"},
        [
            "alpaca.api_secret: secrets are never read from the config file; remove it and set "
            "ARBTUI_ALPACA_API_SECRET in the environment",
            "chain.owner: not an address: '0x12'",
            "ARBTUI_ENGINE__CHECK_INTERVAL_S: not a number: 'soon'",
            "[brokr]: unknown table (did you mean [broker]?)",
            "ARBTUI_ALPACA_API_KEY: missing; broker.kind = 'alpaca' needs it in the environment",
            "ARBTUI_ALPACA_API_SECRET: missing; broker.kind = 'alpaca' needs it in the environment",
            NOT_LOOPBACK,
        ],
    ),
]


@pytest.mark.parametrize(("toml", "environ", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_each_problem_is_reported_precisely(
    tmp_path: Path, toml: str, environ: Mapping[str, str], expected: list[str]
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, toml), environ)
    assert caught.value.problems == expected


def test_there_are_at_least_twenty_distinct_cases() -> None:
    assert len({c[0] for c in CASES}) == len(CASES) >= 20


def test_a_missing_file_is_one_problem(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    assert caught.value.problems[0] == f"{path}: no such file"


def test_broken_toml_names_the_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path, MINIMAL + "[broker\nkind = 1\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, {})
    first = caught.value.problems[0]
    assert first.startswith(f"{path}: not valid TOML: ")
    assert "line 6" in first


def test_the_printed_form_lists_every_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, chain(owner='"0x12"') + '[brokr]\nkind = "x"\n'), {})
    assert format_problems(caught.value) == (
        "invalid configuration (2 problems):\n"
        "  - chain.owner: not an address: '0x12'\n"
        "  - [brokr]: unknown table (did you mean [broker]?)"
    )
