"""Schema migrations: numbered SQL files applied once each, in order, recorded in ``schema_migrations``.

Safe to run twice (applied files are skipped), refuses a database written by a newer build, and
refuses to continue if an applied file's text changed (a checksum per file).
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import arbtui
from arbtui.store.errors import DatabaseUnavailable, MigrationChanged, SchemaTooNew

_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def migrations_dir() -> Path:
    """``arbtui/migrations`` inside an installed wheel, else the repository's ``migrations/``."""
    package = Path(arbtui.__file__).resolve().parent
    for candidate in (package / "migrations", package.parent / "migrations"):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"no migrations folder beside {package}")


def load_migrations(folder: Path | None = None) -> list[Migration]:
    found = []
    for path in sorted((folder or migrations_dir()).glob("*.sql")):
        match = _NAME.match(path.name)
        if not match:
            raise ValueError(f"migration file name must look like 0001_name.sql: {path.name}")
        found.append(Migration(int(match[1]), match[2], path.read_text()))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise ValueError(f"migration versions must run 1..n without gaps, found {versions}")
    return found


def migrate(path: Path | str, folder: Path | None = None) -> list[Migration]:
    """Apply every pending migration to the database at ``path``; returns those applied now."""
    conn = connect_sync(path)
    try:
        return apply(conn, load_migrations(folder))
    finally:
        conn.close()


def connect_sync(path: Path | str, *, readonly: bool = False, check_same_thread: bool = True) -> sqlite3.Connection:
    """A plain sqlite3 connection with the store's settings (WAL, FULL sync, 5 s busy timeout)."""
    try:
        if readonly:
            conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, timeout=5.0)
        else:
            conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=check_same_thread)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {exc}") from exc
    return conn


def apply(conn: sqlite3.Connection, migrations: list[Migration]) -> list[Migration]:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS schema_migrations ("
        " version INTEGER PRIMARY KEY, name TEXT NOT NULL, checksum TEXT NOT NULL, applied_at TEXT NOT NULL)"
    )
    applied = {row[0]: row[1] for row in conn.execute("SELECT version, checksum FROM schema_migrations")}
    known = {m.version: m for m in migrations}
    newer = sorted(v for v in applied if v not in known)
    if newer:
        raise SchemaTooNew(
            f"database schema is at version {max(applied)} but this arbtui knows up to "
            f"{max(known, default=0)}: upgrade arbtui before opening it (unknown: {newer})"
        )
    for version, checksum in applied.items():
        if known[version].checksum != checksum:
            raise MigrationChanged(f"migration {version:04d}_{known[version].name}.sql changed after it was applied")
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        now = datetime.now(UTC).isoformat()
        try:
            conn.execute("BEGIN IMMEDIATE")
            for statement in _statements(migration.sql):
                conn.execute(statement)
            conn.execute(
                "INSERT INTO schema_migrations VALUES (?, ?, ?, ?)",
                (migration.version, migration.name, migration.checksum, now),
            )
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            conn.execute("ROLLBACK")
            raise DatabaseUnavailable(
                f"migration {migration.version:04d}_{migration.name} failed, nothing applied: {exc}"
            ) from exc
        done.append(migration)
    return done


def schema_version(conn: sqlite3.Connection) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_migrations").fetchone()
    except sqlite3.OperationalError:
        return 0
    return int(row[0] or 0)


def _statements(sql: str) -> list[str]:
    """Split a migration into complete statements (triggers contain ``;`` inside BEGIN…END)."""
    out: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                out.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(part.strip().startswith("--") for part in buffer.splitlines() if part.strip()):
        raise ValueError(f"incomplete SQL statement at the end of a migration: {buffer.strip()[:80]!r}")
    return out
