"""Charles Schwab adapter: :class:`SchwabBroker`, its OAuth flow and encrypted token storage."""

from arbtui.brokers.schwab.client import SchwabBroker, SchwabConfig
from arbtui.brokers.schwab.crypto import MalformedEncryptionKey, TokenCipher, WrongEncryptionKey
from arbtui.brokers.schwab.oauth import (
    AccessTokens,
    EncryptedTokens,
    OAuthApp,
    SchwabTokens,
    TokenVault,
    authorize_url,
    exchange_redirect,
)

__all__ = [
    "AccessTokens",
    "EncryptedTokens",
    "MalformedEncryptionKey",
    "OAuthApp",
    "SchwabBroker",
    "SchwabConfig",
    "SchwabTokens",
    "TokenCipher",
    "TokenVault",
    "WrongEncryptionKey",
    "authorize_url",
    "exchange_redirect",
]
