"""SchwabAuth: store tokens (ciphertext only), refresh the access token, refuse refresh without tokens or late."""

from __future__ import annotations

from datetime import timedelta

import pytest

from arbtui.domain.errors import InvalidCommand, InvalidTransition
from arbtui.domain.schwab_auth import (
    SCHWAB_ID,
    SPEC,
    AccessTokenRefreshed,
    RefreshAccessToken,
    StoreTokens,
    TokensStored,
    decide,
)
from tests.unit.domain.factory import at
from tests.unit.domain.gwt import given

DAY = 86_400
STORE = StoreTokens(
    access_token_ciphertext="enc:access-1",
    refresh_token_ciphertext="enc:refresh-1",
    access_expires_at=at(1800),
    refresh_expires_at=at(7 * DAY),
    fetched_at=at(),
)
STORED = TokensStored(**STORE.model_dump())


def refresh(t: int, token: str = "enc:access-2") -> RefreshAccessToken:
    return RefreshAccessToken(
        access_token_ciphertext=token,
        refresh_token_ciphertext="enc:refresh-1",
        access_expires_at=at(t + 1800),
        fetched_at=at(t),
    )


def test_store_tokens() -> None:
    state = given(SPEC, SCHWAB_ID).when(decide, STORE).then(STORED)
    assert state.access_token_ciphertext == "enc:access-1"
    assert state.refresh_token_ciphertext == "enc:refresh-1"
    assert state.refresh_expires_at == at(7 * DAY)


def test_refresh_replaces_the_access_token_and_keeps_the_refresh_token() -> None:
    cmd = refresh(3600)
    state = given(SPEC, SCHWAB_ID, STORED).when(decide, cmd).then(AccessTokenRefreshed(**cmd.model_dump()))
    assert state.access_token_ciphertext == "enc:access-2"
    assert state.access_expires_at == at(5400)
    assert state.refresh_token_ciphertext == "enc:refresh-1"
    assert state.refresh_expires_at == at(7 * DAY)
    assert state.fetched_at == at(3600)


def test_new_authorisation_replaces_everything() -> None:
    again = STORE.model_copy(update={"refresh_token_ciphertext": "enc:refresh-2", "fetched_at": at(DAY)})
    state = given(SPEC, SCHWAB_ID, STORED).when(decide, again).then(TokensStored(**again.model_dump()))
    assert state.refresh_token_ciphertext == "enc:refresh-2"


def test_refresh_without_tokens_is_rejected() -> None:
    given(SPEC, SCHWAB_ID).when(decide, refresh(10)).then_raises(InvalidTransition, match="no tokens stored")


@pytest.mark.parametrize("t", [7 * DAY, 7 * DAY + 1, 30 * DAY])
def test_refresh_after_the_refresh_token_expired_is_rejected(t: int) -> None:
    given(SPEC, SCHWAB_ID, STORED).when(decide, refresh(t)).then_raises(InvalidTransition, match="expired")


def test_refresh_just_before_expiry_is_accepted() -> None:
    cmd = refresh(7 * DAY - 1)
    given(SPEC, SCHWAB_ID, STORED).when(decide, cmd).then(AccessTokenRefreshed(**cmd.model_dump()))


def test_empty_ciphertexts_and_expired_authorisations_are_invalid() -> None:
    given(SPEC, SCHWAB_ID, STORED).when(decide, refresh(10, token="")).then_raises(InvalidCommand, match="empty")
    for field in ("access_token_ciphertext", "refresh_token_ciphertext"):
        bad = STORE.model_copy(update={field: ""})
        given(SPEC, SCHWAB_ID).when(decide, bad).then_raises(InvalidCommand, match="empty")
    stale = STORE.model_copy(update={"refresh_expires_at": at() - timedelta(seconds=1)})
    given(SPEC, SCHWAB_ID).when(decide, stale).then_raises(InvalidCommand, match="already expired")
