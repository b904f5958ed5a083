"""SchwabAuth — the broker's OAuth tokens. Aggregate id: ``"schwab"`` (singleton).

Tokens enter this aggregate already encrypted (AES-256-GCM, done by the Schwab adapter with the key
from the environment): the log and ``schwab_auth_view`` only ever hold ciphertext. Each ciphertext is
bound to its token kind and this aggregate's id (``v2.``); events written before that hold ``v1.``
ciphertexts, which stay readable and are replaced by the next refresh (events are never rewritten). The refresh token
lives 7 days and is not extended by use; refreshing after it expired is rejected.
"""

from __future__ import annotations

from datetime import datetime
from typing import assert_never

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.events import AggregateSpec, DomainEvent, Frozen

AGGREGATE = "SchwabAuth"
SCHWAB_ID = "schwab"


class StoreTokens(Frozen):
    """A new authorisation (browser flow): both tokens, encrypted."""

    access_token_ciphertext: str
    refresh_token_ciphertext: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    fetched_at: datetime


class RefreshAccessToken(Frozen):
    """A refresh grant's answer. The refresh token keeps its 7-day expiry, but Schwab may rotate its
    value, so its (re-encrypted) ciphertext is recorded too."""

    access_token_ciphertext: str
    refresh_token_ciphertext: str
    access_expires_at: datetime
    fetched_at: datetime


SchwabAuthCommand = StoreTokens | RefreshAccessToken


class TokensStored(DomainEvent):
    access_token_ciphertext: str
    refresh_token_ciphertext: str
    access_expires_at: datetime
    refresh_expires_at: datetime
    fetched_at: datetime


class AccessTokenRefreshed(DomainEvent):
    access_token_ciphertext: str
    refresh_token_ciphertext: str
    access_expires_at: datetime
    fetched_at: datetime


SchwabAuthEvent = TokensStored | AccessTokenRefreshed


class SchwabAuth(Frozen):
    access_token_ciphertext: str | None = None
    refresh_token_ciphertext: str | None = None
    access_expires_at: datetime | None = None
    refresh_expires_at: datetime | None = None
    fetched_at: datetime | None = None


def initial(aggregate_id: str) -> SchwabAuth:
    return SchwabAuth()


def decide(state: SchwabAuth, command: SchwabAuthCommand) -> list[SchwabAuthEvent]:
    if command.access_token_ciphertext == "" or command.refresh_token_ciphertext == "":
        raise InvalidCommand(AGGREGATE, SCHWAB_ID, "empty token ciphertext")
    match command:
        case StoreTokens():
            if command.refresh_expires_at <= command.fetched_at:
                raise InvalidCommand(AGGREGATE, SCHWAB_ID, "refresh token already expired")
            return [TokensStored(**command.model_dump())]
        case RefreshAccessToken():
            if state.refresh_expires_at is None:
                raise InvalidTransition(AGGREGATE, SCHWAB_ID, "no tokens stored: run `arbtui schwab auth`")
            if command.fetched_at >= state.refresh_expires_at:
                raise InvalidTransition(
                    AGGREGATE, SCHWAB_ID, "refresh token expired: run `arbtui schwab auth` to authorise again"
                )
            return [AccessTokenRefreshed(**command.model_dump())]
        case _:
            assert_never(command)


def evolve(state: SchwabAuth, event: SchwabAuthEvent) -> SchwabAuth:
    match event:
        case TokensStored() | AccessTokenRefreshed():  # a refresh keeps the refresh token's expiry
            return state.model_copy(update=event.model_dump())
        case _:
            assert_never(event)


SPEC: AggregateSpec[SchwabAuth, SchwabAuthEvent] = AggregateSpec(
    type_name=AGGREGATE,
    state_type=SchwabAuth,
    event_types=(TokensStored, AccessTokenRefreshed),
    initial=initial,
    evolve=evolve,
)
