"""The token binding on a real ledger against the local Schwab server: a ledger from before the binding
(``v1.`` ciphertexts in an immutable ``TokensStored``) still logs in and is re-encrypted by a refresh at
first use, its old event untouched; a ciphertext swapped between access and refresh, or copied from another
aggregate, is refused before any token reaches the server; the key never reaches a log or an error."""

from __future__ import annotations

import base64
import os
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from loguru import logger
from pydantic import SecretStr

from arbtui.brokers.schwab.crypto import MisboundCiphertext, TokenCipher, WrongEncryptionKey
from arbtui.brokers.schwab.oauth import (
    AccessTokens,
    EncryptedTokens,
    OAuthApp,
    SchwabTokens,
    authorize_url,
    exchange_redirect,
    oauth_client,
)
from arbtui.clock import Clock
from arbtui.engine.schwab_tokens import EventStoreTokenVault
from arbtui.store.event_store import EventStore
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer

KEY = "3c" * 32


def legacy_encrypt(plaintext: str) -> str:
    """The pre-binding stored form (``v1.``, one constant associated data), as an old ledger holds it.
    tests/unit/brokers/test_token_binding.py pins the same format with vectors written by the old code."""
    nonce = os.urandom(12)
    sealed = AESGCM(bytes.fromhex(KEY)).encrypt(nonce, plaintext.encode(), b"arbtui/schwab-token/v1")
    return "v1." + base64.urlsafe_b64encode(nonce + sealed).decode()


@pytest.fixture
async def schwab_server() -> AsyncIterator[SchwabServer]:
    server = SchwabServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[EventStore]:
    opened = await EventStore.open(tmp_path / "ledger.db")
    yield opened
    await opened.close()


@pytest.fixture
def log_lines() -> Iterator[list[str]]:
    lines: list[str] = []
    sink = logger.add(lambda message: lines.append(str(message)), level="DEBUG")
    yield lines
    logger.remove(sink)


def _app(server: SchwabServer) -> OAuthApp:
    return OAuthApp(
        app_key=SecretStr(server.app_key),
        app_secret=SecretStr(server.app_secret),
        callback_url=server.callback_url,
        base_url=server.url,
    )


async def _server_tokens(server: SchwabServer, clock: Clock) -> SchwabTokens:
    """Tokens the server really issued (the browser flow), in plaintext, for the test to store."""
    url, state = authorize_url(_app(server))
    return await exchange_redirect(_app(server), await server.simulate_browser(url), clock, state=state)


async def _bearer(server: SchwabServer, vault: EventStoreTokenVault, clock: Clock) -> tuple[str, AccessTokens]:
    """A fresh keeper (as after a restart) asked for a bearer token."""
    client = oauth_client(_app(server))
    try:
        keeper = AccessTokens(_app(server), vault, TokenCipher.from_hex(KEY), clock, client)
        return await keeper.bearer(), keeper
    finally:
        await client.aclose()


def _schwab_events(store_path: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(store_path) as db:
        return list(
            db.execute("SELECT event_type, payload FROM events WHERE aggregate_type = 'SchwabAuth' ORDER BY sequence")
        )


async def test_a_ledger_from_before_the_binding_still_works_and_its_next_refresh_writes_v2(
    schwab_server: SchwabServer, store: EventStore, tmp_path: Path, log_lines: list[str]
) -> None:
    clock = FakeClock()
    issued = await _server_tokens(schwab_server, clock)
    vault = EventStoreTokenVault(store)
    await vault.save(  # what the previous arbtui recorded
        EncryptedTokens(
            legacy_encrypt(issued.access_token.get_secret_value()),
            legacy_encrypt(issued.refresh_token.get_secret_value()),
            issued.access_expires_at,
            issued.refresh_expires_at,
        )
    )
    (legacy_type, legacy_payload), *_ = _schwab_events(tmp_path / "ledger.db")
    assert legacy_type == "TokensStored"
    assert '"v1.' in legacy_payload

    bearer, keeper = await _bearer(schwab_server, vault, clock)
    # the legacy tokens decrypted (the refresh grant used the stored refresh token) and were replaced at
    # once, although the access token was still valid for ~30 minutes
    assert keeper.refreshes == 1
    assert schwab_server.grants["refresh_token"] == 1
    assert bearer in schwab_server.access_tokens
    assert bearer != issued.access_token.get_secret_value()
    events = _schwab_events(tmp_path / "ledger.db")
    assert [event_type for event_type, _ in events] == ["TokensStored", "AccessTokenRefreshed"]
    assert events[0] == (legacy_type, legacy_payload)  # the old event is never rewritten
    assert '"v2.' in events[1][1]
    assert '"v1.' not in events[1][1]

    stored = await vault.load()
    assert stored is not None
    assert stored.access_token_ciphertext.startswith("v2.")
    assert stored.refresh_token_ciphertext.startswith("v2.")
    again, later = await _bearer(schwab_server, vault, clock)  # restart: v2 now, no extra refresh
    assert again == bearer
    assert later.refreshes == 0
    logs = "".join(log_lines)
    assert "legacy v1 form" in logs
    assert KEY not in logs


async def test_access_and_refresh_swapped_in_the_ledger_are_refused_before_any_use(
    schwab_server: SchwabServer, store: EventStore, log_lines: list[str]
) -> None:
    clock = FakeClock()
    vault = EventStoreTokenVault(store)
    _, keeper = await _bearer_after_login(schwab_server, vault, clock)
    stored = await vault.load()
    assert stored is not None
    await vault.save(  # the same expiry: recorded as a refresh, with the two ciphertexts exchanged
        EncryptedTokens(
            stored.refresh_token_ciphertext,
            stored.access_token_ciphertext,
            stored.access_expires_at,
            stored.refresh_expires_at,
        )
    )
    bearers_before, grants_before = len(schwab_server.seen_bearers), dict(schwab_server.grants)
    with pytest.raises(MisboundCiphertext, match="swapped in the ledger") as caught:
        await _bearer(schwab_server, vault, clock)
    assert len(schwab_server.seen_bearers) == bearers_before  # no token was sent anywhere
    assert dict(schwab_server.grants) == grants_before
    shown = str(caught.value) + "".join(log_lines)
    assert KEY not in shown
    for secret in [*schwab_server.access_tokens, *schwab_server.refresh_tokens]:
        assert secret not in shown
    assert keeper.refreshes == 0


async def test_tokens_copied_from_another_aggregate_are_refused(schwab_server: SchwabServer, store: EventStore) -> None:
    clock = FakeClock()
    first = EventStoreTokenVault(store)
    await _bearer_after_login(schwab_server, first, clock)
    stored = await first.load()
    assert stored is not None
    second = EventStoreTokenVault(store, aggregate_id="schwab-paper")
    await second.save(stored)  # the ledger accepts the copy; the cipher must not
    with pytest.raises(WrongEncryptionKey, match="'schwab-paper' does not decrypt") as caught:
        await _bearer(schwab_server, second, clock)
    assert KEY not in str(caught.value)


async def _bearer_after_login(
    server: SchwabServer, vault: EventStoreTokenVault, clock: FakeClock
) -> tuple[str, AccessTokens]:
    keeper = AccessTokens(_app(server), vault, TokenCipher.from_hex(KEY), clock, client=None)
    await keeper.store_new(await _server_tokens(server, clock))
    return await keeper.bearer(), keeper


async def test_an_unreachable_token_endpoint_does_not_stop_a_legacy_ledger_from_trading(
    schwab_server: SchwabServer, store: EventStore, log_lines: list[str]
) -> None:
    """The early re-encryption is best effort: with the token endpoint down, the still-valid legacy access
    token is used (no outage caused by the migration) and the ledger keeps v1 until a refresh succeeds."""
    clock = FakeClock()
    issued = await _server_tokens(schwab_server, clock)
    vault = EventStoreTokenVault(store)
    await vault.save(
        EncryptedTokens(
            legacy_encrypt(issued.access_token.get_secret_value()),
            legacy_encrypt(issued.refresh_token.get_secret_value()),
            issued.access_expires_at,
            issued.refresh_expires_at,
        )
    )
    await schwab_server.stop()  # the token endpoint is now unreachable (connection refused)
    bearer, keeper = await _bearer(schwab_server, vault, clock)
    assert bearer == issued.access_token.get_secret_value()
    assert keeper.refreshes == 0
    stored = await vault.load()
    assert stored is not None
    assert stored.access_token_ciphertext.startswith("v1.")
    assert "early refresh to re-encrypt the legacy v1 tokens failed (BrokerUnavailable)" in "".join(log_lines)
