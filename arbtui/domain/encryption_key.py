"""The one rule for ``ARBTUI_ENCRYPTION_KEY``, shared by the settings loader (``run``, reports) and the
token cipher (``schwab auth``, the Schwab adapter), so that no form of the key works for one and fails
for the other.

Rule: surrounding whitespace is ignored (a trailing newline from a secrets file, a pasted space); what
remains must be exactly 64 hex digits, either case — a 32-byte AES-256 key. Nothing else is accepted:
no ``0x`` prefix, no inner spaces or colons, no other length. An error names the variable and says what
is wrong (its length, or that it is not all hex) but never repeats any part of the value.
"""

from __future__ import annotations

ENCRYPTION_KEY_ENV = "ARBTUI_ENCRYPTION_KEY"
KEY_BYTES = 32
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class MalformedKeyText(ValueError):
    """The text is not a key by :func:`parse_encryption_key`'s rule.

    ``reason`` is the problem without the variable's name (the settings loader prefixes the name itself);
    ``str()`` is the whole line, name first. Neither contains the value.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(f"{ENCRYPTION_KEY_ENV}: {reason}")
        self.reason = reason


def parse_encryption_key(text: str) -> bytes:
    """The 32 key bytes of ``text``, or :class:`MalformedKeyText`."""
    key = text.strip()
    if len(key) == 2 * KEY_BYTES and all(c in _HEX_DIGITS for c in key):
        return bytes.fromhex(key)
    detail = f"got {len(key)} characters" if len(key) != 2 * KEY_BYTES else "got 64 characters, not all hex"
    raise MalformedKeyText(f"must be 64 hex characters (a 32-byte key); {detail}")
