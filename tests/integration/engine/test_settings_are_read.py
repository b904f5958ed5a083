"""Every documented setting does something: the settings tree is walked, every read of a field by the
code that consumes settings is recorded (the engine factory for each broker, the HTTP service, the
console's inventory, the CLI's own reads), and a field nothing reads fails the test — three settings
were once validated, documented and then ignored (``chain.max_lag_blocks``, ``engine.stuck_after_s``,
``broker.dry_run_price``)."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args, get_origin

import pytest
from click.testing import CliRunner
from pydantic import BaseModel

from arbtui.api.service import ServiceOptions
from arbtui.cli import Context, main
from arbtui.clock import SystemClock
from arbtui.config import Settings, load_settings
from arbtui.config import rules as config_rules
from arbtui.domain.ids import RandomIds
from arbtui.domain.values import Symbol
from arbtui.engine.factory import build_engine
from arbtui.engine.hedging import hedging_policy
from arbtui.reporting.inventory_command import inventory_source
from tests.unit.config.support import ALPACA_SECRETS, MINIMAL, SCHWAB_SECRETS, write

Field = tuple[str, str]
"""``(model class name, field name)``."""

RULES_ONLY: dict[Field, str] = {
    ("ApiSettings", "allow_remote"): "allow_remote",
}
"""Fields whose whole job is a validation rule (``arbtui/config/rules.py``), each with the word the rule
reads: ``api.allow_remote`` only decides whether a non-loopback ``listen`` is accepted."""


def _table_of(annotation: Any) -> type[BaseModel] | None:
    """The settings model a field holds: itself, or the values of a table of tables (``hedging.symbols``)."""
    if get_origin(annotation) is dict:
        annotation = get_args(annotation)[1]
    if inspect.isclass(annotation) and issubclass(annotation, BaseModel):
        return annotation
    return None


def _models(model: type[BaseModel]) -> Iterator[type[BaseModel]]:
    yield model
    for field in model.model_fields.values():
        table = _table_of(field.annotation)
        if table is not None:
            yield from _models(table)


def _leaves(model: type[BaseModel]) -> set[Field]:
    leaves: set[Field] = set()
    for each in _models(model):
        for name, field in each.model_fields.items():
            if _table_of(field.annotation) is None or get_origin(field.annotation) is dict:
                leaves.add((each.__name__, name))
    return leaves


@pytest.fixture
def reads(monkeypatch: pytest.MonkeyPatch) -> set[Field]:
    """Every field read through attribute access on any settings model from now on."""
    seen: set[Field] = set()
    for model in set(_models(Settings)):
        original = model.__getattribute__

        def recording(self: Any, name: str, _original: Any = original, _model: type[BaseModel] = model) -> Any:
            if name in _model.model_fields:
                seen.add((_model.__name__, name))
            return _original(self, name)

        monkeypatch.setattr(model, "__getattribute__", recording)
    return seen


CONFIG = (
    MINIMAL.replace('http_url = "http://127.0.0.1:8545"', 'http_url = "http://127.0.0.1:9"')
    + 'pyth = "0x8250f4aF4B972684F7b336503E2D6dFeDeB1487a"\n'
    + '[inventory.vaults]\nAAPL = "0x07"\n'
    + '[hedging.symbols.AAPL]\nsessions = ["regular", "extended"]\nlimit_cross_bps = 30\n'
    + '[alerts.webhook]\nurl = "http://127.0.0.1:9/hook"\n'
    + '[alerts.telegram]\nchat_id = "-100123"\nbase_url = "http://127.0.0.1:9"\n'
)
ALERT_SECRETS = {"ARBTUI_WEBHOOK_SECRET": "webhook-secret", "ARBTUI_TELEGRAM_BOT_TOKEN": "123:telegram-token"}
"""Both sinks configured, so that their settings and secrets are read by the factory."""


async def test_every_setting_is_read_by_something(tmp_path: Path, reads: set[Field]) -> None:
    config = write(tmp_path, CONFIG)
    dry_run = load_settings(config, ALERT_SECRETS)  # nothing may be read while loading
    reads.clear()
    alpaca = write(tmp_path, CONFIG + '[broker]\nkind = "alpaca"\n', "alpaca.toml")
    schwab = write(tmp_path, CONFIG + '[broker]\nkind = "schwab"\n', "schwab.toml")
    brokers = [
        dry_run,
        load_settings(alpaca, ALPACA_SECRETS | ALERT_SECRETS),
        load_settings(schwab, SCHWAB_SECRETS | ALERT_SECRETS),
    ]
    for n, settings in enumerate(brokers):
        engine = await build_engine(settings, clock=SystemClock(), ids=RandomIds(), db=tmp_path / f"{n}.db")
        try:
            assert inventory_source(settings, engine.broker, tmp_path / f"{n}.db") is not None
            # the policy the engine's executions consult before every placement is the one [hedging] says
            policy = engine.executions.policy
            assert policy == hedging_policy(settings.hedging)
            assert policy.sessions_for(Symbol("AAPL")) != policy.sessions
        finally:
            await engine.store.close()
    ServiceOptions.from_settings(load_settings(config, {"ARBTUI_CONTROL_TOKEN": "t" * 32} | ALERT_SECRETS))
    assert Context(None, config).db == Path("arbtui.db")  # [database] path, through the CLI's reader
    CliRunner().invoke(main, ["--config", str(config), "get-pyth-price", "0x" + "00" * 32])

    unread = _leaves(Settings) - reads - set(RULES_ONLY)
    assert not unread, f"settings nothing reads: {sorted(unread)}"
    rules_source = inspect.getsource(config_rules)
    for field, word in RULES_ONLY.items():
        assert word in rules_source, f"{field} is said to be read by a rule, but rules.py never names {word!r}"


def test_the_walk_sees_every_table() -> None:
    """The walk reaches nested tables (``tokens.markers``) and the environment-only secrets."""
    leaves = _leaves(Settings)
    assert ("TokenMarkers", "prefixes") in leaves
    assert ("Settings", "control_token") in leaves
    assert ("ChainSettings", "max_lag_blocks") in leaves
    assert ("HedgingSettings", "symbols") in leaves
    assert ("SymbolHedgingSettings", "limit_cross_bps") in leaves
    assert len(leaves) > 45
