"""The Schwab adapter's token vault, kept in the event log through the SchwabAuth aggregate.

Only ciphertext ever reaches the log and ``schwab_auth_view``: the adapter encrypts before it calls
:meth:`EventStoreTokenVault.save`.
"""

from __future__ import annotations

from arbtui.brokers.schwab.oauth import EncryptedTokens
from arbtui.domain import schwab_auth
from arbtui.domain.flows import Change
from arbtui.store.event_store import EventStore, UnitOfWork


class EventStoreTokenVault:
    """``TokenVault`` on the ledger: a new authorisation is ``TokensStored``, a refresh (same refresh
    expiry) is ``AccessTokenRefreshed``."""

    def __init__(self, store: EventStore, aggregate_id: str = schwab_auth.SCHWAB_ID) -> None:
        self._store = store
        self._aggregate_id = aggregate_id

    @property
    def aggregate_id(self) -> str:
        """The SchwabAuth aggregate these tokens live in; every ciphertext is bound to it."""
        return self._aggregate_id

    async def load(self) -> EncryptedTokens | None:
        state, _ = await self._store.load(schwab_auth.SPEC, self._aggregate_id)
        if (
            state.access_token_ciphertext is None
            or state.refresh_token_ciphertext is None
            or state.access_expires_at is None
            or state.refresh_expires_at is None
        ):
            return None
        return EncryptedTokens(
            access_token_ciphertext=state.access_token_ciphertext,
            refresh_token_ciphertext=state.refresh_token_ciphertext,
            access_expires_at=state.access_expires_at,
            refresh_expires_at=state.refresh_expires_at,
        )

    async def save(self, tokens: EncryptedTokens) -> None:
        async def work(uow: UnitOfWork) -> None:
            state = await uow.load(schwab_auth.SPEC, self._aggregate_id)
            now = self._store.clock.now()
            command: schwab_auth.StoreTokens | schwab_auth.RefreshAccessToken
            if state.refresh_expires_at == tokens.refresh_expires_at:
                command = schwab_auth.RefreshAccessToken(
                    access_token_ciphertext=tokens.access_token_ciphertext,
                    refresh_token_ciphertext=tokens.refresh_token_ciphertext,
                    access_expires_at=tokens.access_expires_at,
                    fetched_at=now,
                )
            else:
                command = schwab_auth.StoreTokens(
                    access_token_ciphertext=tokens.access_token_ciphertext,
                    refresh_token_ciphertext=tokens.refresh_token_ciphertext,
                    access_expires_at=tokens.access_expires_at,
                    refresh_expires_at=tokens.refresh_expires_at,
                    fetched_at=now,
                )
            events = schwab_auth.decide(state, command)
            uow.record([Change(schwab_auth.SPEC, self._aggregate_id, tuple(events))])

        await self._store.run(work, metadata={"correlation_id": "schwab-auth"})
