"""Token vaults for tests: in memory, and one on a real SQLite file (to inspect the bytes at rest)."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from pathlib import Path

from arbtui.brokers.schwab.oauth import EncryptedTokens


class InMemoryTokenVault:
    """Implements :class:`arbtui.brokers.schwab.oauth.TokenVault`; remembers every save."""

    def __init__(self, aggregate_id: str = "schwab") -> None:
        self.aggregate_id = aggregate_id
        self.saved: list[EncryptedTokens] = []

    async def load(self) -> EncryptedTokens | None:
        return self.saved[-1] if self.saved else None

    async def save(self, tokens: EncryptedTokens) -> None:
        self.saved.append(tokens)


class SqliteTokenVault:
    """A one-row SQLite table (stdlib ``sqlite3``; tests only) holding what the vault is given."""

    def __init__(self, path: Path, aggregate_id: str = "schwab") -> None:
        self.path = path
        self.aggregate_id = aggregate_id
        with sqlite3.connect(path) as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS schwab_tokens (id INTEGER PRIMARY KEY CHECK (id = 1),"
                " access TEXT NOT NULL, refresh TEXT NOT NULL, access_exp TEXT NOT NULL, refresh_exp TEXT NOT NULL)"
            )

    async def load(self) -> EncryptedTokens | None:
        with sqlite3.connect(self.path) as db:
            row = db.execute("SELECT access, refresh, access_exp, refresh_exp FROM schwab_tokens").fetchone()
        if row is None:
            return None
        return EncryptedTokens(row[0], row[1], datetime.fromisoformat(row[2]), datetime.fromisoformat(row[3]))

    async def save(self, tokens: EncryptedTokens) -> None:
        with sqlite3.connect(self.path) as db:
            db.execute(
                "INSERT OR REPLACE INTO schwab_tokens VALUES (1, ?, ?, ?, ?)",
                (
                    tokens.access_token_ciphertext,
                    tokens.refresh_token_ciphertext,
                    tokens.access_expires_at.isoformat(),
                    tokens.refresh_expires_at.isoformat(),
                ),
            )
