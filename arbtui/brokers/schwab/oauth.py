"""Schwab OAuth 2.0: the authorization-code flow the CLI drives, and the token keeper the adapter uses.

Flow (the CLI calls these):

1. :func:`authorize_url` → open it in a browser, log in at Schwab;
2. the browser lands on ``{callback}?code=…&session=…``; the operator pastes that URL back;
3. :func:`exchange_redirect` exchanges the code at once (it lives ~30 s) and returns :class:`SchwabTokens`;
4. :meth:`AccessTokens.store_new` encrypts and saves them through the :class:`TokenVault`.

Lifetimes: the access token ≈ 30 min, refreshed by :class:`AccessTokens` a margin *before* expiry and
once more after any 401; the refresh token 7 days and **not** extended by use — when it nears its end,
:meth:`AccessTokens.refresh_expires_within` tells the engine to alert, and after it only the browser
flow helps (:class:`~arbtui.brokers.base.AuthExpired`). Tokens exist in plaintext only in memory
(as ``SecretStr``); at rest they are AES-256-GCM ciphertext (:mod:`arbtui.brokers.schwab.crypto`).
"""

from __future__ import annotations

import asyncio
import hmac
import time
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from urllib.parse import parse_qs, urlsplit

import httpx
from authlib.integrations.base_client import OAuthError
from authlib.oauth2 import OAuth2Error
from loguru import logger
from pydantic import SecretStr

# authlib announces its move to "httpx2" on import, on the operator's terminal at every CLI start; we
# pin authlib and use its httpx client as documented, so that notice is noise here.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message=r".*httpx2.*")
    from authlib.integrations.httpx_client import AsyncOAuth2Client

from arbtui.brokers.base import AuthExpired, BrokerUnavailable, RateLimited, RetryableBrokerError
from arbtui.brokers.resilience import log_exchange, parse_retry_after
from arbtui.brokers.schwab.crypto import MisboundCiphertext, TokenCipher, TokenKind, TokenSlot
from arbtui.clock import Clock
from arbtui.domain.values import BrokerKind

AUTHORIZE_PATH = "/v1/oauth/authorize"
TOKEN_PATH = "/v1/oauth/token"
REFRESH_TOKEN_LIFETIME = timedelta(days=7)
DEFAULT_ACCESS_LIFETIME = timedelta(seconds=1800)


@dataclass(frozen=True, slots=True)
class OAuthApp:
    """The registered Schwab app: key, secret, callback, and the API host (overridable for tests)."""

    app_key: SecretStr
    app_secret: SecretStr
    callback_url: str
    base_url: str

    @property
    def token_url(self) -> str:
        return self.base_url.rstrip("/") + TOKEN_PATH


@dataclass(frozen=True, slots=True)
class SchwabTokens:
    """Plaintext tokens, in memory only."""

    access_token: SecretStr
    refresh_token: SecretStr
    access_expires_at: datetime
    refresh_expires_at: datetime


@dataclass(frozen=True, slots=True)
class EncryptedTokens:
    """What the vault stores: ciphertext strings (``v2.…``; ``v1.…`` in older ledgers) and the two expiry
    instants in clear."""

    access_token_ciphertext: str
    refresh_token_ciphertext: str
    access_expires_at: datetime
    refresh_expires_at: datetime


class TokenVault(Protocol):
    """Durable home of the encrypted tokens (the engine implements it on the SchwabAuth aggregate)."""

    @property
    def aggregate_id(self) -> str:
        """Whose tokens these are; bound into every ciphertext (:class:`TokenSlot`), so a ciphertext
        copied from another aggregate does not decrypt here."""
        ...

    async def load(self) -> EncryptedTokens | None:
        """The last saved tokens, or ``None`` if the browser flow never ran."""
        ...

    async def save(self, tokens: EncryptedTokens) -> None:
        """Replace the stored tokens durably (called after the code exchange and after every refresh)."""
        ...


def seal(tokens: SchwabTokens, cipher: TokenCipher, aggregate_id: str) -> EncryptedTokens:
    """Encrypt both tokens in the current (``v2.``) form, each bound to its kind and ``aggregate_id``."""
    return EncryptedTokens(
        access_token_ciphertext=cipher.encrypt(
            tokens.access_token.get_secret_value(), TokenSlot(aggregate_id, TokenKind.ACCESS)
        ),
        refresh_token_ciphertext=cipher.encrypt(
            tokens.refresh_token.get_secret_value(), TokenSlot(aggregate_id, TokenKind.REFRESH)
        ),
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )


def unseal(tokens: EncryptedTokens, cipher: TokenCipher, aggregate_id: str) -> SchwabTokens:
    """Decrypt both tokens as the access and refresh token of ``aggregate_id``.

    A pair is sealed together, in one format; a pair that mixes the legacy (``v1.``, unbound) and the
    bound format can only come from a ciphertext moved between pairs, so it is refused before anything
    is decrypted.

    Raises:
        MisboundCiphertext: a swapped or moved ciphertext, or a pair mixing formats.
        WrongEncryptionKey: a wrong key, or an altered ciphertext.
    """
    if cipher.is_legacy(tokens.access_token_ciphertext) != cipher.is_legacy(tokens.refresh_token_ciphertext):
        raise MisboundCiphertext(
            f"stored Schwab tokens of {aggregate_id!r} mix the legacy and the bound format (a ciphertext was "
            "moved in the ledger): refused; run the Schwab login again"
        )
    return SchwabTokens(
        access_token=SecretStr(
            cipher.decrypt(tokens.access_token_ciphertext, TokenSlot(aggregate_id, TokenKind.ACCESS))
        ),
        refresh_token=SecretStr(
            cipher.decrypt(tokens.refresh_token_ciphertext, TokenSlot(aggregate_id, TokenKind.REFRESH))
        ),
        access_expires_at=tokens.access_expires_at,
        refresh_expires_at=tokens.refresh_expires_at,
    )


def oauth_client(app: OAuthApp, **httpx_options: Any) -> Any:
    """An authlib ``AsyncOAuth2Client`` (an ``httpx.AsyncClient``) with HTTP Basic client auth."""
    return AsyncOAuth2Client(
        client_id=app.app_key.get_secret_value(),
        client_secret=app.app_secret.get_secret_value(),
        token_endpoint_auth_method="client_secret_basic",
        redirect_uri=app.callback_url,
        **httpx_options,
    )


def authorize_url(app: OAuthApp) -> tuple[str, str]:
    """The URL to open in a browser, and the ``state`` to hand back to :func:`exchange_redirect`."""
    client = oauth_client(app)
    url, state = client.create_authorization_url(app.base_url.rstrip("/") + AUTHORIZE_PATH)
    return str(url), str(state)


async def exchange_redirect(
    app: OAuthApp, redirected_url: str, clock: Clock, *, state: str | None = None, client: Any = None
) -> SchwabTokens:
    """Exchange the code in the pasted redirect URL for tokens (do it at once: the code lives ~30 s).

    Raises:
        AuthExpired: Schwab refused the code (expired, used, wrong app), the URL carries no code, or its
            ``state`` is not the one this login sent (a stale or foreign redirect: nothing is exchanged).
    """
    if "code=" not in redirected_url:
        raise AuthExpired("the pasted URL carries no authorization code", broker=BrokerKind.SCHWAB)
    if state is not None:
        returned = parse_qs(urlsplit(redirected_url).query).get("state", [""])
        if len(returned) != 1 or not hmac.compare_digest(returned[0].encode(), state.encode()):
            raise AuthExpired(
                "the pasted URL's state does not match this login (an older or another login's redirect):"
                " paste the address the browser landed on after opening the URL printed above",
                broker=BrokerKind.SCHWAB,
            )
    owned = client is None
    client = client or oauth_client(app)
    try:
        issued = clock.now()
        token = await _token_call(
            "authorization_code",
            clock,
            lambda: client.fetch_token(
                app.token_url, authorization_response=redirected_url, state=state, redirect_uri=app.callback_url
            ),
        )
        return _tokens_from(token, issued, refresh_expires_at=issued + REFRESH_TOKEN_LIFETIME)
    finally:
        if owned:
            await client.aclose()


async def _token_call(grant: str, clock: Clock, call: Any) -> dict[str, Any]:
    started = time.monotonic()
    try:
        token = await call()
    except (OAuthError, OAuth2Error) as exc:  # the server's error answer, or a redirect authlib refused
        log_exchange("schwab", "POST", TOKEN_PATH, None, time.monotonic() - started, error=str(exc.error))
        raise AuthExpired(f"schwab refused the {grant} grant: {exc.error}", broker=BrokerKind.SCHWAB) from None
    except httpx.HTTPStatusError as exc:
        status = exc.response.status_code
        log_exchange("schwab", "POST", TOKEN_PATH, status, time.monotonic() - started)
        if status == 429:
            retry = parse_retry_after(exc.response.headers.get("Retry-After"), clock.now())
            raise RateLimited("schwab token endpoint: 429", retry_after=retry, broker=BrokerKind.SCHWAB) from None
        if status in (400, 401, 403):
            raise AuthExpired(f"schwab token endpoint: HTTP {status}", broker=BrokerKind.SCHWAB) from None
        raise BrokerUnavailable(f"schwab token endpoint: HTTP {status}", broker=BrokerKind.SCHWAB) from None
    except httpx.TransportError as exc:
        log_exchange("schwab", "POST", TOKEN_PATH, None, time.monotonic() - started, error=type(exc).__name__)
        raise BrokerUnavailable(f"schwab token endpoint: {type(exc).__name__}", broker=BrokerKind.SCHWAB) from None
    log_exchange("schwab", "POST", TOKEN_PATH, 200, time.monotonic() - started)
    return dict(token)


def _tokens_from(token: dict[str, Any], issued: datetime, *, refresh_expires_at: datetime) -> SchwabTokens:
    try:
        access = str(token["access_token"])
        refresh = str(token["refresh_token"])
        lifetime = timedelta(seconds=int(token.get("expires_in", DEFAULT_ACCESS_LIFETIME.total_seconds())))
    except (KeyError, TypeError, ValueError) as exc:
        raise AuthExpired(f"schwab token answer lacks {exc}", broker=BrokerKind.SCHWAB) from None
    return SchwabTokens(
        access_token=SecretStr(access),
        refresh_token=SecretStr(refresh),
        access_expires_at=issued + lifetime,
        refresh_expires_at=refresh_expires_at,
    )


class AccessTokens:
    """Keeps a valid access token: loads from the vault, refreshes ahead of expiry, saves every change."""

    def __init__(
        self,
        app: OAuthApp,
        vault: TokenVault,
        cipher: TokenCipher,
        clock: Clock,
        client: Any,
        *,
        refresh_margin: timedelta = timedelta(minutes=5),
    ) -> None:
        self._app = app
        self._vault = vault
        self._cipher = cipher
        self._clock = clock
        self._client = client
        self._margin = refresh_margin
        self._tokens: SchwabTokens | None = None
        self._legacy_at_rest = False
        """The stored tokens are legacy ``v1.`` ciphertexts (not bound to their kind): refresh at the
        first use, whatever the access token's expiry, so the ledger holds the bound form from then on
        (:meth:`_reseal_legacy`)."""
        self._lock = asyncio.Lock()
        self.refreshes = 0
        """Refresh grants performed by this keeper (metrics, tests)."""

    async def store_new(self, tokens: SchwabTokens) -> None:
        """Adopt tokens from a completed browser flow and save them encrypted."""
        async with self._lock:
            await self._vault.save(seal(tokens, self._cipher, self._vault.aggregate_id))
            self._tokens = tokens
            self._legacy_at_rest = False

    async def bearer(self) -> str:
        """A valid access token, refreshed first if it expires within the margin (or if the stored tokens
        are in the legacy unbound form, which the refresh replaces).

        Raises:
            AuthExpired: no tokens stored, or the refresh token has expired / was refused.
            WrongEncryptionKey: the stored tokens do not decrypt with this key.
            MisboundCiphertext: a stored ciphertext belongs to another token or aggregate (swapped).
        """
        async with self._lock:
            tokens = await self._current()
            if self._clock.now() >= tokens.access_expires_at - self._margin:
                tokens = await self._refresh(tokens)
            elif self._legacy_at_rest:
                tokens = await self._reseal_legacy(tokens)
            return tokens.access_token.get_secret_value()

    async def after_unauthorized(self, rejected_bearer: str) -> str:
        """Called after a 401: refresh unless another request already did, return the new token."""
        async with self._lock:
            tokens = await self._current()
            if tokens.access_token.get_secret_value() == rejected_bearer:
                tokens = await self._refresh(tokens)
            return tokens.access_token.get_secret_value()

    async def refresh_expires_at(self) -> datetime:
        async with self._lock:
            return (await self._current()).refresh_expires_at

    async def refresh_expires_within(self, window: timedelta = timedelta(days=1)) -> bool:
        """True when the refresh token ends within ``window``: time to alert the operator."""
        return await self.refresh_expires_at() - self._clock.now() <= window

    async def _current(self) -> SchwabTokens:
        if self._tokens is None:
            stored = await self._vault.load()
            if stored is None:
                raise AuthExpired("no Schwab tokens stored: run the Schwab login", broker=BrokerKind.SCHWAB)
            self._tokens = unseal(stored, self._cipher, self._vault.aggregate_id)
            self._legacy_at_rest = self._cipher.is_legacy(stored.access_token_ciphertext)
            if self._legacy_at_rest:
                logger.info("schwab tokens are stored in the legacy v1 form; refreshing now re-encrypts them as v2")
        return self._tokens

    async def _reseal_legacy(self, tokens: SchwabTokens) -> SchwabTokens:
        """Refresh early, once, so the ledger holds bound ciphertexts from now on. If the token endpoint
        is unreachable the still-valid access token is used and the regular refresh re-encrypts later:
        the migration never costs availability."""
        self._legacy_at_rest = False
        try:
            return await self._refresh(tokens)
        except RetryableBrokerError as exc:
            logger.warning(
                "schwab: early refresh to re-encrypt the legacy v1 tokens failed ({}); the regular refresh will",
                type(exc).__name__,
            )
            return tokens

    async def _refresh(self, tokens: SchwabTokens) -> SchwabTokens:
        now = self._clock.now()
        if now >= tokens.refresh_expires_at:
            raise AuthExpired(
                "Schwab refresh token expired (7-day limit): run the Schwab login again",
                broker=BrokerKind.SCHWAB,
            )
        token = await _token_call(
            "refresh_token",
            self._clock,
            lambda: self._client.refresh_token(
                self._app.token_url, refresh_token=tokens.refresh_token.get_secret_value()
            ),
        )
        token.setdefault("refresh_token", tokens.refresh_token.get_secret_value())
        fresh = _tokens_from(token, now, refresh_expires_at=tokens.refresh_expires_at)
        await self._vault.save(seal(fresh, self._cipher, self._vault.aggregate_id))
        self._tokens = fresh
        self._legacy_at_rest = False
        self.refreshes += 1
        logger.info("schwab access token refreshed; valid until {}", fresh.access_expires_at.isoformat())
        return fresh
