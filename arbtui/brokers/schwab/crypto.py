"""AES-256-GCM for the Schwab tokens at rest, each ciphertext bound to its token kind and aggregate.

The key is 32 bytes given as 64 hex characters in ``ARBTUI_ENCRYPTION_KEY``, parsed by the one rule of
:func:`~arbtui.domain.encryption_key.parse_encryption_key` (the settings loader uses it too). Each
encryption draws a fresh random 96-bit nonce. GCM authenticates: a wrong key or a tampered ciphertext
raises :class:`WrongEncryptionKey` instead of returning garbage, and a malformed key raises
:class:`MalformedEncryptionKey` before anything runs.

Stored forms (the prefix is the version marker; it alone decides the associated data):

``v2.<base64url(nonce ‖ ciphertext ‖ tag)>``
    Written by every encryption. The associated data is ``arbtui/schwab/v2|<aggregate id>|<kind>``
    (:class:`TokenSlot`), so an access token's ciphertext does not decrypt as the refresh token, nor a
    ciphertext of one aggregate as another's: a swap is refused as :class:`MisboundCiphertext`, a copy
    from another aggregate as :class:`WrongEncryptionKey` (GCM cannot tell which aggregate it came from).

``v1.<base64url(nonce ‖ ciphertext ‖ tag)>``
    Legacy, read only: ledgers are immutable and hold tokens written before v2, under the constant
    associated data ``arbtui/schwab-token/v1``. Decryption picks the legacy constant only for this
    prefix — never as a retry after a v2 failure — so relabelling cannot downgrade a v2 ciphertext
    (its tag does not verify under the legacy constant) and a v1 ciphertext relabelled v2 fails too.
    What v1 cannot give is the binding itself: within a legacy pair, access and refresh could be
    swapped undetected. That window is closed by :func:`~arbtui.brokers.schwab.oauth.unseal`
    refusing a pair that mixes formats (a v1 ciphertext moved into a v2 pair) and by the token keeper
    re-encrypting as v2 at first use (an early refresh; if the token endpoint is unreachable then, the
    regular refresh, within the access token's ~30 min, does it). A swapped legacy pair would at worst
    send each token to Schwab's own token endpoint or API in the other's place, be refused, and end in
    the "run the Schwab login again" error, never in a token reaching anyone else. Not covered: someone
    who can write the ledger file appending an old v1 pair after the migration (the event log has no
    integrity chain; such a writer can do worse than that).
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from arbtui.brokers.base import FatalBrokerError
from arbtui.domain.encryption_key import ENCRYPTION_KEY_ENV, KEY_BYTES, MalformedKeyText, parse_encryption_key

NONCE_BYTES = 12
TAG_BYTES = 16
CURRENT_PREFIX = "v2."
LEGACY_PREFIX = "v1."
_LEGACY_ASSOCIATED_DATA = b"arbtui/schwab-token/v1"
_BOUND_ASSOCIATED_DATA = "arbtui/schwab/v2|{aggregate_id}|{kind}"


class TokenKind(StrEnum):
    ACCESS = "access"
    REFRESH = "refresh"

    @property
    def other(self) -> TokenKind:
        return TokenKind.REFRESH if self is TokenKind.ACCESS else TokenKind.ACCESS


@dataclass(frozen=True, slots=True)
class TokenSlot:
    """Where a ciphertext belongs: one token kind of one aggregate. Its associated data binds them."""

    aggregate_id: str
    kind: TokenKind

    def __post_init__(self) -> None:
        # "|" separates the fields of the associated data; refusing it keeps the encoding unambiguous.
        if not self.aggregate_id or "|" in self.aggregate_id:
            raise ValueError(f"token aggregate id must be non-empty without '|': {self.aggregate_id!r}")

    def associated_data(self) -> bytes:
        return _BOUND_ASSOCIATED_DATA.format(aggregate_id=self.aggregate_id, kind=self.kind.value).encode("utf-8")

    def __str__(self) -> str:
        return f"{self.kind.value} token of {self.aggregate_id!r}"


class EncryptionKeyError(FatalBrokerError):
    """The token encryption key is unusable."""


class MalformedEncryptionKey(EncryptionKeyError):
    """``ARBTUI_ENCRYPTION_KEY`` is missing or not 64 hex characters."""


class WrongEncryptionKey(EncryptionKeyError):
    """A stored token does not decrypt with this key (wrong key, or the ciphertext was altered)."""


class MisboundCiphertext(WrongEncryptionKey):
    """A stored token's ciphertext was sealed for another slot (the other token kind, or another
    aggregate), or a stored pair mixes the legacy and the bound format: it was moved, so it is refused."""


class TokenCipher:
    """Encrypts and decrypts token strings with one AES-256-GCM key, each bound to a :class:`TokenSlot`."""

    __slots__ = ("_aead",)

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise MalformedEncryptionKey(f"encryption key must be {KEY_BYTES} bytes, got {len(key)}")
        self._aead = AESGCM(key)

    def __repr__(self) -> str:
        return "TokenCipher(key=***)"

    @classmethod
    def from_hex(cls, key_hex: str | SecretStr) -> TokenCipher:
        """The key by :func:`~arbtui.domain.encryption_key.parse_encryption_key`'s rule (the settings'
        rule too); the error names the variable and never the value."""
        text = key_hex.get_secret_value() if isinstance(key_hex, SecretStr) else key_hex
        try:
            return cls(parse_encryption_key(text))
        except MalformedKeyText as exc:
            raise MalformedEncryptionKey(str(exc)) from None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> TokenCipher:
        value = (os.environ if environ is None else environ).get(ENCRYPTION_KEY_ENV)
        if value is None:
            raise MalformedEncryptionKey(f"{ENCRYPTION_KEY_ENV}: not set")
        return cls.from_hex(value)

    @staticmethod
    def generate_key_hex() -> str:
        """A fresh random key in the form ``ARBTUI_ENCRYPTION_KEY`` expects."""
        return AESGCM.generate_key(bit_length=256).hex()

    @staticmethod
    def is_legacy(ciphertext: str) -> bool:
        """Written before tokens were bound to their slot (``v1.``): readable, never written."""
        return ciphertext.startswith(LEGACY_PREFIX)

    def encrypt(self, plaintext: str, slot: TokenSlot) -> str:
        """``v2.`` ciphertext of ``plaintext`` that decrypts only for ``slot``."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), slot.associated_data())
        return CURRENT_PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, ciphertext: str, slot: TokenSlot) -> str:
        """The plaintext of a ciphertext stored in ``slot``.

        The prefix alone picks the associated data (``v2.``: the slot's; ``v1.``: the legacy constant);
        there is no retry under another one.

        Raises:
            MisboundCiphertext: a ``v2.`` ciphertext of the other token kind of the same aggregate.
            WrongEncryptionKey: anything else that does not verify — another key, another aggregate's
                ciphertext, an altered one, an unknown format.
        """
        bound = ciphertext.startswith(CURRENT_PREFIX)
        if bound:
            associated_data = slot.associated_data()
            body = ciphertext[len(CURRENT_PREFIX) :]
        elif ciphertext.startswith(LEGACY_PREFIX):
            associated_data = _LEGACY_ASSOCIATED_DATA
            body = ciphertext[len(LEGACY_PREFIX) :]
        else:
            raise WrongEncryptionKey(f"stored Schwab {slot} is not in a known AES-GCM format (v1 or v2)")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except (binascii.Error, ValueError) as exc:
            raise WrongEncryptionKey(f"stored Schwab {slot} is not valid base64") from exc
        if len(raw) < NONCE_BYTES + TAG_BYTES:
            raise WrongEncryptionKey(f"stored Schwab {slot} is truncated")
        nonce, sealed = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
        try:
            plain = self._aead.decrypt(nonce, sealed, associated_data)
        except InvalidTag:
            if bound and self._verifies(nonce, sealed, TokenSlot(slot.aggregate_id, slot.kind.other)):
                # Diagnosis only (the plaintext is dropped): the operator learns it was a swap, not a key.
                raise MisboundCiphertext(
                    f"stored Schwab {slot} holds the {slot.kind.other.value} token's ciphertext (swapped in "
                    "the ledger): refused; run the Schwab login again"
                ) from None
            raise WrongEncryptionKey(
                f"stored Schwab {slot} does not decrypt: {ENCRYPTION_KEY_ENV} is not the key it was saved "
                "with, or it was altered or copied from another slot; restore the key or run the Schwab "
                "login again"
            ) from None
        return plain.decode("utf-8")

    def _verifies(self, nonce: bytes, sealed: bytes, slot: TokenSlot) -> bool:
        try:
            self._aead.decrypt(nonce, sealed, slot.associated_data())
        except InvalidTag:
            return False
        return True
