"""Schema migrations: numbered SQL files applied once each, in order, recorded in ``schema_migrations``.

Safe to run twice (applied files are skipped), refuses a database written by a newer build, and
refuses to continue if an applied file's text changed (a checksum per file).
"""

from __future__ import annotations

import hashlib
import os
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import arbtui
from arbtui.store.errors import DatabaseUnavailable, MigrationChanged, SchemaTooNew
from arbtui.store.files import create_private

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
    """A plain sqlite3 connection with the store's settings (WAL, FULL sync, 5 s busy timeout). A new
    ledger is created 0600 (its WAL and shm follow its mode); ``readonly`` opens it without writing
    anything (:func:`connect_readonly`)."""
    if readonly:
        return connect_readonly(path, check_same_thread=check_same_thread)
    try:
        if str(path) != ":memory:":
            create_private(Path(path))
        conn = sqlite3.connect(path, isolation_level=None, timeout=5.0, check_same_thread=check_same_thread)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except (sqlite3.DatabaseError, OSError) as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {_reason(exc)}") from exc
    return conn


def connect_readonly(
    path: Path | str, *, busy_timeout_ms: int = 5000, check_same_thread: bool = True
) -> sqlite3.Connection:
    """The ledger opened for reading only (``mode=ro``): it never takes the writer's lock, and readers
    and the writer never block each other in WAL mode.

    On read-only storage (a read-only mount, an immutable directory) SQLite cannot create the ``-shm``
    file a WAL reader needs, and ``mode=ro`` fails. The ledger is then opened ``immutable=1`` — but only
    when no ``-wal`` file holds transactions the main file lacks: an immutable reader ignores the WAL, so
    it would miss them; that case is refused, saying so. (Nothing can write read-only storage, so no
    writer can change the file under an immutable reader.)"""
    path = Path(path)
    uri = path.resolve().as_uri()
    timeout = busy_timeout_ms / 1000
    try:
        return _open_reader(f"{uri}?mode=ro", timeout, busy_timeout_ms, check_same_thread)
    except sqlite3.OperationalError as exc:
        if not path.is_file() or not _read_only_storage(path):
            raise DatabaseUnavailable(f"cannot open database {path}: {_reason(exc)}") from exc
        wal = path.with_name(path.name + "-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise DatabaseUnavailable(
                f"cannot open database {path}: it is on read-only storage and its write-ahead log {wal.name}"
                " holds transactions not yet in the main file; copy the ledger with its -wal file to writable"
                " storage to read it"
            ) from exc
        fallback: BaseException = exc
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {_reason(exc)}") from exc
    try:
        return _open_reader(f"{uri}?immutable=1", timeout, busy_timeout_ms, check_same_thread)
    except sqlite3.DatabaseError as exc:
        raise DatabaseUnavailable(f"cannot open database {path}: {_reason(exc)}") from fallback


def _open_reader(uri: str, timeout: float, busy_timeout_ms: int, check_same_thread: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(uri, uri=True, isolation_level=None, timeout=timeout, check_same_thread=check_same_thread)
    try:
        conn.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _read_only_storage(path: Path) -> bool:
    """True when nothing can be created beside ``path``: a file system mounted read-only, or a directory
    this process may not write (for root, only an immutable one: root's ``access`` ignores mode bits)."""
    try:
        if os.statvfs(path).f_flag & os.ST_RDONLY:
            return True
    except OSError:
        pass
    return not os.access(path.parent, os.W_OK)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return exc.strerror or str(exc)
    return str(exc)


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
