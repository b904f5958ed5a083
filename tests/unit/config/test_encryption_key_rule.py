"""One rule for ``ARBTUI_ENCRYPTION_KEY``: the settings loader (``run``, and the factory's cipher built from
the loaded settings) and the token cipher read straight from the environment (``schwab auth``) accept and
refuse exactly the same texts, with the same one-line error, which names the variable and never the value.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from arbtui.brokers.schwab.crypto import MalformedEncryptionKey, TokenCipher, TokenKind, TokenSlot
from arbtui.config import ConfigError, load_settings
from arbtui.domain.encryption_key import ENCRYPTION_KEY_ENV, parse_encryption_key
from tests.unit.config.support import ENCRYPTION_KEY, MINIMAL, SCHWAB_SECRETS, write

SCHWAB = MINIMAL + '[broker]\nkind = "schwab"\n'
SLOT = TokenSlot("schwab", TokenKind.REFRESH)
TOO_SHORT = "must be 64 hex characters (a 32-byte key); got 63 characters"
NOT_HEX = "must be 64 hex characters (a 32-byte key); got 64 characters, not all hex"

# (label, text, None if accepted else the reason after "ARBTUI_ENCRYPTION_KEY: ")
CASES: list[tuple[str, str, str | None]] = [
    ("plain", ENCRYPTION_KEY, None),
    ("upper case", ENCRYPTION_KEY.upper(), None),
    ("leading space", " " + ENCRYPTION_KEY, None),
    ("trailing newline (secrets file)", ENCRYPTION_KEY + "\n", None),
    ("tabs and CRLF around", "\t" + ENCRYPTION_KEY + "\r\n", None),
    ("empty", "", "must be 64 hex characters (a 32-byte key); got 0 characters"),
    ("only whitespace", "   ", "must be 64 hex characters (a 32-byte key); got 0 characters"),
    ("63 hex", ENCRYPTION_KEY[:-1], TOO_SHORT),
    ("63 hex and a space", ENCRYPTION_KEY[:-1] + " ", TOO_SHORT),
    ("65 hex", ENCRYPTION_KEY + "0", "must be 64 hex characters (a 32-byte key); got 65 characters"),
    ("0x prefix", "0x" + ENCRYPTION_KEY, "must be 64 hex characters (a 32-byte key); got 66 characters"),
    ("inner space", ENCRYPTION_KEY[:31] + " " + ENCRYPTION_KEY[32:], NOT_HEX),
    ("not hex", "g" * 64, NOT_HEX),
    ("non-ASCII digits", "\u0661" * 64, NOT_HEX),
    (
        "two halves with a space (bytes.fromhex would take it)",
        ENCRYPTION_KEY[:32] + " " + ENCRYPTION_KEY[32:],
        "must be 64 hex characters (a 32-byte key); got 65 characters",
    ),
]


def _settings_path(tmp_path: Path, text: str) -> TokenCipher | str:
    """What ``run`` does: load the settings, then build the cipher from them (engine factory)."""
    try:
        settings = load_settings(write(tmp_path, SCHWAB), {**SCHWAB_SECRETS, ENCRYPTION_KEY_ENV: text})
    except ConfigError as exc:
        return "\n".join(exc.problems)
    assert settings.encryption_key is not None
    return TokenCipher.from_hex(settings.encryption_key)


def _environment_path(text: str) -> TokenCipher | str:
    """What ``schwab auth`` does: the cipher straight from the environment."""
    try:
        return TokenCipher.from_env({ENCRYPTION_KEY_ENV: text})
    except MalformedEncryptionKey as exc:
        return str(exc)


@pytest.mark.parametrize(("label", "text", "reason"), CASES, ids=[case[0] for case in CASES])
def test_run_and_schwab_auth_agree_on_every_key_text(tmp_path: Path, label: str, text: str, reason: str | None) -> None:
    by_settings, by_environment = _settings_path(tmp_path, text), _environment_path(text)
    if reason is None:
        assert isinstance(by_settings, TokenCipher), by_settings
        assert isinstance(by_environment, TokenCipher), by_environment
        # the same key: what one path seals, the other opens
        assert by_settings.decrypt(by_environment.encrypt("token", SLOT), SLOT) == "token"
        assert parse_encryption_key(text) == bytes.fromhex(ENCRYPTION_KEY)
        return
    line = f"{ENCRYPTION_KEY_ENV}: {reason}"
    assert by_settings == by_environment == line
    assert "\n" not in line
    stripped = text.strip()
    if len(stripped) >= 4:
        assert stripped not in line  # never echoes the value
        assert stripped[:8] not in line


def test_a_missing_key_is_refused_by_both_paths(tmp_path: Path) -> None:
    environ = {k: v for k, v in SCHWAB_SECRETS.items() if k != ENCRYPTION_KEY_ENV}
    with pytest.raises(ConfigError, match=f"{ENCRYPTION_KEY_ENV}: missing"):
        load_settings(write(tmp_path, SCHWAB), environ)
    with pytest.raises(MalformedEncryptionKey, match=f"{ENCRYPTION_KEY_ENV}: not set"):
        TokenCipher.from_env({})


def test_settings_keep_the_canonical_form_only(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, SCHWAB), {**SCHWAB_SECRETS, ENCRYPTION_KEY_ENV: "  " + ENCRYPTION_KEY.upper() + "\n"}
    )
    assert settings.encryption_key is not None
    assert settings.encryption_key.get_secret_value() == ENCRYPTION_KEY
