"""`arbtui schwab auth` as an operator runs it — a real process against the local Schwab server — and the
token vault on the SchwabAuth aggregate: ciphertext only, refreshes recorded, wrong key refused."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from arbtui.brokers.schwab.crypto import TokenCipher, WrongEncryptionKey
from arbtui.brokers.schwab.oauth import AccessTokens, OAuthApp, oauth_client, unseal
from arbtui.engine.schwab_tokens import EventStoreTokenVault
from arbtui.store.event_store import EventStore
from tests.fakes.clock import FakeClock
from tests.fakes.schwab_server import SchwabServer

KEY = "11" * 32


@pytest.fixture
async def schwab_server() -> AsyncIterator[SchwabServer]:
    server = SchwabServer()
    await server.start()
    yield server
    await server.stop()


def _bytes_on_disk(db: Path) -> bytes:
    return b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))


async def _login(server: SchwabServer, db: Path, tmp_path: Path, key: str = KEY) -> tuple[int, str, str]:
    config = tmp_path / "arbtui.toml"
    config.write_text(f'[schwab]\nbase_url = "{server.url}"\nredirect_uri = "{server.callback_url}"\n')
    env = {
        **os.environ,
        "ARBTUI_SCHWAB_APP_KEY": server.app_key,
        "ARBTUI_SCHWAB_APP_SECRET": server.app_secret,
        "ARBTUI_ENCRYPTION_KEY": key,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        "--db",
        str(db),
        "--config",
        str(config),
        "schwab",
        "auth",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert process.stdout is not None
    assert process.stdin is not None
    printed = ""
    while "http" not in printed:
        printed += (await asyncio.wait_for(process.stdout.readline(), 30)).decode()
    authorize = next(word for word in printed.split() if word.startswith("http"))
    redirected = await server.simulate_browser(authorize)  # the operator logs in; the browser is redirected
    out, err = await asyncio.wait_for(process.communicate((redirected + "\n").encode()), 60)
    return process.returncode or 0, printed + out.decode(), err.decode()


async def test_login_stores_only_ciphertext_and_refreshes_go_through_the_ledger(
    schwab_server: SchwabServer, tmp_path: Path
) -> None:
    db = tmp_path / "ledger.db"
    code, out, err = await _login(schwab_server, db, tmp_path)
    assert code == 0, err
    assert "Schwab tokens stored, encrypted" in out

    store = await EventStore.open(db)
    try:
        vault = EventStoreTokenVault(store)
        stored = await vault.load()
        assert stored is not None
        tokens = unseal(stored, TokenCipher.from_hex(KEY))
        access, refresh = tokens.access_token.get_secret_value(), tokens.refresh_token.get_secret_value()
        assert access in schwab_server.access_tokens  # the server issued it
        # the access token expires: the keeper refreshes through the vault, i.e. through the ledger
        clock = FakeClock(tokens.access_expires_at)
        app = OAuthApp(
            app_key=SecretStr(schwab_server.app_key),
            app_secret=SecretStr(schwab_server.app_secret),
            callback_url=schwab_server.callback_url,
            base_url=schwab_server.url,
        )
        client = oauth_client(app)
        keeper = AccessTokens(app, vault, TokenCipher.from_hex(KEY), clock, client)
        fresh = await keeper.bearer()
        await client.aclose()
        assert fresh != access
        assert keeper.refreshes == 1
    finally:
        await store.close()

    events = [
        row[0]
        for row in sqlite3.connect(db).execute(
            "SELECT event_type FROM events WHERE aggregate_type = 'SchwabAuth' ORDER BY sequence"
        )
    ]
    assert events == ["TokensStored", "AccessTokenRefreshed"]
    on_disk = _bytes_on_disk(db)
    for secret in (access, refresh, fresh, schwab_server.app_secret):
        assert secret.encode() not in on_disk
        assert secret not in out + err
    view = sqlite3.connect(db).execute("SELECT payload FROM schwab_auth_view").fetchone()[0]
    assert "ciphertext" in view
    assert access not in view


async def test_wrong_key_is_a_clear_error_not_garbage(schwab_server: SchwabServer, tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    code, _, err = await _login(schwab_server, db, tmp_path)
    assert code == 0, err
    store = await EventStore.open(db)
    try:
        stored = await EventStoreTokenVault(store).load()
    finally:
        await store.close()
    assert stored is not None
    with pytest.raises(WrongEncryptionKey):
        unseal(stored, TokenCipher.from_hex("22" * 32))


async def test_login_without_secrets_in_the_environment_says_what_is_missing(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        "--db",
        str(tmp_path / "x.db"),
        "schwab",
        "auth",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    _, err = await process.communicate()
    assert process.returncode == 1
    assert "ARBTUI_SCHWAB_APP_KEY, ARBTUI_SCHWAB_APP_SECRET, ARBTUI_ENCRYPTION_KEY" in err.decode()
