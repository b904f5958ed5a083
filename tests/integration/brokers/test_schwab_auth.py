"""Schwab OAuth against the local server: the browser flow, refresh before expiry and after a 401,
encrypted persistence (in memory and in a real SQLite file), and clean logs."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from loguru import logger

from arbtui.brokers.base import AuthExpired
from arbtui.brokers.schwab import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import TokenCipher, WrongEncryptionKey
from arbtui.brokers.schwab.oauth import authorize_url, exchange_redirect, unseal
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer, code_from
from tests.fakes.token_vault import InMemoryTokenVault, SqliteTokenVault
from tests.integration.brokers.conftest import complete_browser_flow

SchwabFactory = Callable[..., SchwabBroker]


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


async def test_full_authorization_code_flow(
    schwab_server: SchwabServer, schwab_config: SchwabConfig, fake_clock: FakeClock
) -> None:
    url, state = authorize_url(schwab_config.app)
    query = parse_qs(urlsplit(url).query)
    assert urlsplit(url).path == "/v1/oauth/authorize"
    assert query["client_id"] == [schwab_server.app_key]
    assert query["redirect_uri"] == [schwab_server.callback_url]
    redirected = await schwab_server.simulate_browser(url)
    assert redirected.startswith(schwab_server.callback_url)
    assert "%40" in redirected  # the code arrives URL-encoded, as Schwab's does
    tokens = await exchange_redirect(schwab_config.app, redirected, fake_clock, state=state)
    assert schwab_server.grants["authorization_code"] == 1
    assert tokens.access_token.get_secret_value() in schwab_server.access_tokens
    assert tokens.access_expires_at == fake_clock.now() + timedelta(seconds=1800)
    assert tokens.refresh_expires_at == fake_clock.now() + timedelta(days=7)
    with pytest.raises(AuthExpired):  # a code works once
        await exchange_redirect(schwab_config.app, redirected, fake_clock, state=state)
    assert code_from(redirected) not in schwab_server.codes


async def test_a_url_without_code_is_refused(schwab_config: SchwabConfig, fake_clock: FakeClock) -> None:
    with pytest.raises(AuthExpired, match="no authorization code"):
        await exchange_redirect(schwab_config.app, "https://127.0.0.1/?error=access_denied", fake_clock)


async def test_access_token_is_refreshed_before_it_expires(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    broker = schwab_factory()
    await broker.balances()
    first_bearer = schwab_server.seen_bearers[-1]
    fake_clock.advance(24 * 60)  # 24 min: still outside the 5-min margin
    await broker.balances()
    assert schwab_server.grants["refresh_token"] == 0
    fake_clock.advance(2 * 60)  # 26 min: inside the margin of a 30-min token
    await broker.balances()
    assert schwab_server.grants["refresh_token"] == 1
    assert schwab_server.unauthorized == 0  # refreshed *before* Schwab could refuse it
    assert schwab_server.seen_bearers[-1] != first_bearer
    assert broker.tokens.refreshes == 1


async def test_access_token_is_refreshed_after_a_401(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, token_vault: InMemoryTokenVault
) -> None:
    broker = schwab_factory()
    await broker.positions()
    saves_before = len(token_vault.saved)
    schwab_server.expire_access_tokens()
    await broker.positions()
    assert schwab_server.unauthorized == 1  # the fault fired
    assert schwab_server.grants["refresh_token"] == 1
    assert len(token_vault.saved) == saves_before + 1  # the refreshed token was persisted


async def test_refresh_token_end_is_announced_then_auth_expired(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, fake_clock: FakeClock
) -> None:
    broker = schwab_factory()
    assert not await broker.tokens.refresh_expires_within(timedelta(days=1))
    fake_clock.advance(timedelta(days=6, hours=1).total_seconds())
    assert await broker.tokens.refresh_expires_within(timedelta(days=1))
    fake_clock.advance(timedelta(days=1).total_seconds())
    with pytest.raises(AuthExpired, match="7-day"):
        await broker.balances()
    assert schwab_server.grants["refresh_token"] == 0


async def test_tokens_at_rest_are_ciphertext(
    schwab_server: SchwabServer, schwab_factory: SchwabFactory, token_vault: InMemoryTokenVault, cipher: TokenCipher
) -> None:
    schwab_factory()
    stored = token_vault.saved[-1]
    plaintext = [*schwab_server.access_tokens, *schwab_server.refresh_tokens]
    assert plaintext
    for secret in plaintext:
        assert secret not in stored.access_token_ciphertext
        assert secret not in stored.refresh_token_ciphertext
    tokens = unseal(stored, cipher, token_vault.aggregate_id)
    assert tokens.access_token.get_secret_value() in schwab_server.access_tokens
    assert tokens.refresh_token.get_secret_value() in schwab_server.refresh_tokens


async def test_sqlite_file_never_holds_a_plaintext_token(
    tmp_path: Path,
    schwab_server: SchwabServer,
    schwab_config: SchwabConfig,
    cipher: TokenCipher,
    fake_clock: FakeClock,
    log_lines: list[str],
) -> None:
    path = tmp_path / "arbtui.db"
    vault = SqliteTokenVault(path)
    await complete_browser_flow(schwab_server, schwab_config, vault, cipher, fake_clock)  # type: ignore[arg-type]
    broker = SchwabBroker(schwab_config, vault=vault, cipher=cipher, clock=fake_clock)
    schwab_server.expire_access_tokens()
    await broker.balances()  # forces a refresh, saved again
    await broker.aclose()
    assert schwab_server.grants["refresh_token"] == 1
    data = path.read_bytes()
    stored = await vault.load()
    assert stored is not None
    assert stored.access_token_ciphertext.encode() in data  # the test looks at the right bytes
    secrets = [*schwab_server.access_tokens, *schwab_server.refresh_tokens, schwab_server.app_secret]
    for secret in secrets:
        assert secret.encode() not in data
    logs = "".join(log_lines)
    assert "/v1/oauth/token" in logs
    for secret in [*secrets, *schwab_server.seen_bearers]:
        assert secret not in logs


async def test_a_wrong_encryption_key_is_a_clear_error(
    schwab_config: SchwabConfig, schwab_factory: SchwabFactory, token_vault: InMemoryTokenVault, fake_clock: FakeClock
) -> None:
    schwab_factory()
    other = TokenCipher.from_hex("ff" * 32)
    broker = SchwabBroker(schwab_config, vault=token_vault, cipher=other, clock=fake_clock)
    with pytest.raises(WrongEncryptionKey, match="ARBTUI_ENCRYPTION_KEY"):
        await broker.balances()
    await broker.aclose()


async def test_no_stored_tokens_is_auth_expired(schwab_config: SchwabConfig, cipher: TokenCipher) -> None:
    broker = SchwabBroker(schwab_config, vault=InMemoryTokenVault(), cipher=cipher)
    with pytest.raises(AuthExpired, match="run the Schwab login"):
        await broker.positions()
    await broker.aclose()
