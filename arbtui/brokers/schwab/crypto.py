"""AES-256-GCM for the Schwab tokens at rest.

The key is 32 bytes given as 64 hex characters in ``ARBTUI_ENCRYPTION_KEY``, parsed by the one rule of
:func:`~arbtui.domain.encryption_key.parse_encryption_key` (the settings loader uses it too). Each encryption draws a
fresh random 96-bit nonce; the stored form is ``v1.<base64url(nonce ‖ ciphertext ‖ tag)>``. GCM
authenticates: a wrong key or a tampered ciphertext raises :class:`WrongEncryptionKey` instead of
returning garbage, and a malformed key raises :class:`MalformedEncryptionKey` before anything runs.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

from arbtui.brokers.base import FatalBrokerError
from arbtui.domain.encryption_key import ENCRYPTION_KEY_ENV, KEY_BYTES, MalformedKeyText, parse_encryption_key

NONCE_BYTES = 12
_PREFIX = "v1."
_ASSOCIATED_DATA = b"arbtui/schwab-token/v1"


class EncryptionKeyError(FatalBrokerError):
    """The token encryption key is unusable."""


class MalformedEncryptionKey(EncryptionKeyError):
    """``ARBTUI_ENCRYPTION_KEY`` is missing or not 64 hex characters."""


class WrongEncryptionKey(EncryptionKeyError):
    """A stored token does not decrypt with this key (wrong key, or the ciphertext was altered)."""


class TokenCipher:
    """Encrypts and decrypts token strings with one AES-256-GCM key."""

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

    def encrypt(self, plaintext: str) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), _ASSOCIATED_DATA)
        return _PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode("ascii")

    def decrypt(self, ciphertext: str) -> str:
        if not ciphertext.startswith(_PREFIX):
            raise WrongEncryptionKey("stored token is not in the v1 AES-GCM format")
        try:
            raw = base64.urlsafe_b64decode(ciphertext[len(_PREFIX) :].encode("ascii"))
        except (binascii.Error, ValueError) as exc:
            raise WrongEncryptionKey("stored token is not valid base64") from exc
        if len(raw) < NONCE_BYTES + 16:
            raise WrongEncryptionKey("stored token is truncated")
        try:
            plain = self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _ASSOCIATED_DATA)
        except InvalidTag:
            raise WrongEncryptionKey(
                f"stored Schwab tokens do not decrypt: {ENCRYPTION_KEY_ENV} is not the key they were "
                "saved with (or they were altered); restore the key or run the Schwab login again"
            ) from None
        return plain.decode("utf-8")
