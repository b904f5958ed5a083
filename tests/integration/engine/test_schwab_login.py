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


async def _login(
    server: SchwabServer,
    db: Path,
    tmp_path: Path,
    key: str = KEY,
    *,
    toml_base_url: str | None = None,
    environ: dict[str, str] | None = None,
) -> tuple[int, str, str]:
    config = tmp_path / "arbtui.toml"
    base_url = server.url if toml_base_url is None else toml_base_url
    config.write_text(f'[schwab]\nbase_url = "{base_url}"\nredirect_uri = "{server.callback_url}"\n')
    env = {
        **os.environ,
        "ARBTUI_SCHWAB_APP_KEY": server.app_key,
        "ARBTUI_SCHWAB_APP_SECRET": server.app_secret,
        "ARBTUI_ENCRYPTION_KEY": key,
        **(environ or {}),
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


async def test_the_environment_overrides_the_schwab_table_as_everywhere_else(
    schwab_server: SchwabServer, tmp_path: Path
) -> None:
    """``ARBTUI_SCHWAB__BASE_URL`` over a TOML that points nowhere: the login goes to the variable's host
    (``schwab auth`` once read the TOML by itself and ignored the environment)."""
    nowhere = "http://127.0.0.1:9"  # discard port: nothing answers there
    code, out, err = await _login(
        schwab_server,
        tmp_path / "ledger.db",
        tmp_path,
        toml_base_url=nowhere,
        environ={"ARBTUI_SCHWAB__BASE_URL": schwab_server.url},
    )
    assert code == 0, err
    assert f"{schwab_server.url}/v1/oauth/authorize" in out
    assert "Schwab tokens stored, encrypted" in out
    assert schwab_server.access_tokens  # the tokens came from the variable's server


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
        tokens = unseal(stored, TokenCipher.from_hex(KEY), vault.aggregate_id)
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
        unseal(stored, TokenCipher.from_hex("22" * 32), "schwab")


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


async def _cli(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "arbtui.cli",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    return process.returncode or 0, out.decode(), err.decode()


async def test_run_and_schwab_auth_read_the_encryption_key_by_one_rule(tmp_path: Path) -> None:
    """A key with a leading space works for both; a malformed one fails both, one line each, the same
    reason, naming the variable and not the value."""
    config = tmp_path / "arbtui.toml"
    config.write_text(
        "[chain]\n"
        'http_url = "http://127.0.0.1:9"\n'
        'orderbook = "0x881cf4c0764e733d9C387f3858eE87CcA04AFFe0"\n'
        'owner = "0x71b94911FD1CE621FC40970450004c544e5287a8"\n'
        'usdc = "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913"\n'
        '[broker]\nkind = "schwab"\n'
        '[schwab]\nbase_url = "http://127.0.0.1:9"\nredirect_uri = "https://127.0.0.1"\n'
    )
    base = {
        **{k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")},
        "ARBTUI_SCHWAB_APP_KEY": "app-key",
        "ARBTUI_SCHWAB_APP_SECRET": "app-secret",
    }
    common = ("--db", str(tmp_path / "ledger.db"), "--config", str(config))
    bad = "c0ffee" + "zz" * 29
    reason = "ARBTUI_ENCRYPTION_KEY: must be 64 hex characters (a 32-byte key); got 64 characters, not all hex"

    code, out, err = await _cli(tmp_path, {**base, "ARBTUI_ENCRYPTION_KEY": bad}, *common, "run", "--headless")
    assert code == 2
    assert err.strip().splitlines()[1:] == [f"  - {reason}"]
    assert "Traceback" not in err
    code, out, err = await _cli(
        tmp_path, {**base, "ARBTUI_ENCRYPTION_KEY": bad}, *common, "schwab", "auth", "--redirected-url", "x"
    )
    assert code == 1
    assert err.strip() == f"Error: {reason}"
    assert "c0ffee" not in out + err

    # a leading space passes the key check of `schwab auth` (it then fails on the pasted URL, offline)
    code, out, err = await _cli(
        tmp_path, {**base, "ARBTUI_ENCRYPTION_KEY": " " + KEY}, *common, "schwab", "auth", "--redirected-url", "x"
    )
    assert code == 1
    assert "carries no authorization code" in err, err
