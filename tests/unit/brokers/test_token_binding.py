"""Each token ciphertext is bound to its kind and aggregate (AES-GCM associated data), legacy ``v1.``
ciphertexts still decrypt, and nothing lets a moved ciphertext through: a swap between access and
refresh, a copy from another aggregate, a relabelled version marker, a pair mixing formats."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import SecretStr

from arbtui.brokers.schwab.crypto import MisboundCiphertext, TokenCipher, TokenKind, TokenSlot, WrongEncryptionKey
from arbtui.brokers.schwab.oauth import EncryptedTokens, SchwabTokens, seal, unseal

KEY = "5a" * 32
ACCESS = TokenSlot("schwab", TokenKind.ACCESS)
REFRESH = TokenSlot("schwab", TokenKind.REFRESH)
OTHER_ACCESS = TokenSlot("schwab-b", TokenKind.ACCESS)
# Written by arbtui before the binding (git 809afab, TokenCipher.encrypt with this KEY): what an existing
# ledger holds. Frozen here so a change to the legacy reading is caught, not re-derived from new code.
LEGACY_ACCESS = "v1.kwsgAMLLwZczZjYpAgPAWkKtCPDJ4cCPV9I59YLkAiShlsSFrJ1PYeDgJZ46yec="
LEGACY_REFRESH = "v1.BSKY7Cmnlj7zszNU5dN7gNBZhhoBtWDLo_HfWgKnF-9CJCDAfodiB8Q_Yurgk2G2"
NOW = datetime(2026, 1, 5, 15, 0, tzinfo=UTC)


def cipher() -> TokenCipher:
    return TokenCipher.from_hex(KEY)


def tokens() -> SchwabTokens:
    return SchwabTokens(
        access_token=SecretStr("access-plain"),
        refresh_token=SecretStr("refresh-plain"),
        access_expires_at=NOW + timedelta(minutes=30),
        refresh_expires_at=NOW + timedelta(days=7),
    )


def test_the_associated_data_names_version_aggregate_and_kind() -> None:
    assert ACCESS.associated_data() == b"arbtui/schwab/v2|schwab|access"
    assert REFRESH.associated_data() == b"arbtui/schwab/v2|schwab|refresh"
    assert OTHER_ACCESS.associated_data() == b"arbtui/schwab/v2|schwab-b|access"
    with pytest.raises(ValueError, match="'\\|'"):
        TokenSlot("a|access", TokenKind.REFRESH)  # would make "a|access|refresh" ambiguous
    with pytest.raises(ValueError, match="non-empty"):
        TokenSlot("", TokenKind.ACCESS)


def test_new_ciphertexts_are_v2_and_open_only_in_their_slot() -> None:
    sealed = cipher().encrypt("access-plain", ACCESS)
    assert sealed.startswith("v2.")
    assert not TokenCipher.is_legacy(sealed)
    assert cipher().decrypt(sealed, ACCESS) == "access-plain"


@pytest.mark.parametrize(
    ("sealed_for", "opened_as", "error", "message"),
    [
        (ACCESS, REFRESH, MisboundCiphertext, "refresh token of 'schwab' holds the access token's ciphertext"),
        (REFRESH, ACCESS, MisboundCiphertext, "access token of 'schwab' holds the refresh token's ciphertext"),
        (ACCESS, OTHER_ACCESS, WrongEncryptionKey, "access token of 'schwab-b' does not decrypt"),
        (OTHER_ACCESS, ACCESS, WrongEncryptionKey, "access token of 'schwab' does not decrypt"),
        (REFRESH, OTHER_ACCESS, WrongEncryptionKey, "copied from another slot"),
    ],
    ids=["access-as-refresh", "refresh-as-access", "to-other-aggregate", "from-other-aggregate", "both"],
)
def test_a_ciphertext_moved_to_another_slot_is_refused(
    sealed_for: TokenSlot, opened_as: TokenSlot, error: type[Exception], message: str
) -> None:
    sealed = cipher().encrypt("secret-plain", sealed_for)
    with pytest.raises(error, match=message) as caught:
        cipher().decrypt(sealed, opened_as)
    assert "secret-plain" not in str(caught.value)
    assert KEY not in str(caught.value)


def test_legacy_ciphertexts_written_before_the_binding_still_decrypt() -> None:
    assert TokenCipher.is_legacy(LEGACY_ACCESS)
    assert cipher().decrypt(LEGACY_ACCESS, ACCESS) == "legacy-access-token"
    assert cipher().decrypt(LEGACY_REFRESH, REFRESH) == "legacy-refresh-token"
    legacy = EncryptedTokens(LEGACY_ACCESS, LEGACY_REFRESH, NOW, NOW + timedelta(days=7))
    opened = unseal(legacy, cipher(), "schwab")
    assert opened.access_token.get_secret_value() == "legacy-access-token"
    assert opened.refresh_token.get_secret_value() == "legacy-refresh-token"
    with pytest.raises(WrongEncryptionKey, match="not the key"):
        TokenCipher.from_hex("cd" * 32).decrypt(LEGACY_ACCESS, ACCESS)


def test_relabelling_the_version_marker_does_not_downgrade_or_upgrade() -> None:
    bound = cipher().encrypt("access-plain", ACCESS)
    with pytest.raises(WrongEncryptionKey):
        cipher().decrypt("v1." + bound.removeprefix("v2."), ACCESS)  # v2 → v1 would drop the binding
    with pytest.raises(WrongEncryptionKey):
        cipher().decrypt("v2." + LEGACY_ACCESS.removeprefix("v1."), ACCESS)
    with pytest.raises(WrongEncryptionKey, match="not in a known AES-GCM format"):
        cipher().decrypt("v3." + bound.removeprefix("v2."), ACCESS)


def test_seal_and_unseal_bind_each_token_to_its_kind_and_aggregate() -> None:
    sealed = seal(tokens(), cipher(), "schwab")
    assert sealed.access_token_ciphertext.startswith("v2.")
    assert sealed.refresh_token_ciphertext.startswith("v2.")
    opened = unseal(sealed, cipher(), "schwab")
    assert opened.access_token.get_secret_value() == "access-plain"
    assert opened.refresh_token.get_secret_value() == "refresh-plain"

    swapped = EncryptedTokens(
        sealed.refresh_token_ciphertext, sealed.access_token_ciphertext, sealed.access_expires_at, NOW
    )
    with pytest.raises(MisboundCiphertext, match="swapped"):
        unseal(swapped, cipher(), "schwab")
    with pytest.raises(WrongEncryptionKey, match="another slot"):
        unseal(sealed, cipher(), "schwab-b")


@pytest.mark.parametrize("legacy_side", ["access", "refresh"])
def test_a_pair_mixing_legacy_and_bound_ciphertexts_is_refused(legacy_side: str) -> None:
    """A legacy ciphertext carries no binding; moved into a bound pair it would decrypt in either slot."""
    bound = seal(tokens(), cipher(), "schwab")
    legacy_refresh_as_access = LEGACY_REFRESH  # a legacy refresh token put where the access token goes
    mixed = (
        EncryptedTokens(legacy_refresh_as_access, bound.refresh_token_ciphertext, NOW, NOW)
        if legacy_side == "access"
        else EncryptedTokens(bound.access_token_ciphertext, LEGACY_ACCESS, NOW, NOW)
    )
    assert cipher().decrypt(LEGACY_REFRESH, ACCESS) == "legacy-refresh-token"  # the cipher alone can't tell
    with pytest.raises(MisboundCiphertext, match="mix the legacy and the bound format"):
        unseal(mixed, cipher(), "schwab")


def test_the_key_never_shows_in_the_cipher() -> None:
    shown = repr(cipher()) + str(cipher())
    assert KEY not in shown
    assert KEY[:8] not in shown
