"""The ledger's guards against misuse, on real SQLite files and real processes: one writer per ledger
(the flock writer lock), one chain per ledger (``ledger_chain``), private files (0600), and reading a
ledger on read-only storage."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from arbtui.store.errors import ChainMismatch, LedgerLocked
from arbtui.store.event_store import EventStore
from arbtui.store.ledger import Ledger
from arbtui.store.lock import WriterLock, lock_path
from arbtui.store.migrate import connect_readonly, migrate
from arbtui.tui.commands import log_beside

REPO_ROOT = Path(__file__).resolve().parents[3]
ARBTUI = [sys.executable, "-m", "arbtui.cli"]
ORDERBOOK = "0x" + "ab" * 20
OTHER_ORDERBOOK = "0x" + "cd" * 20


def digest(path: Path) -> bytes:
    """The ledger's bytes, main file and WAL (what 'nothing changed' means here)."""
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


@contextmanager
def holder_process(db: Path) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the ledger's writer lock (as a bot does), until killed."""
    code = textwrap.dedent(
        f"""
        import sys
        from arbtui.store.lock import WriterLock
        lock = WriterLock.acquire({str(db)!r})
        print("held", flush=True)
        sys.stdin.read()
        """
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=REPO_ROOT
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


# --- one writer per ledger ------------------------------------------------------------------------


async def test_a_second_exclusive_store_is_refused_naming_the_holder_and_writes_nothing(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    first = await EventStore.open(db, exclusive=True)
    try:
        before = digest(db)
        with pytest.raises(LedgerLocked) as refused:
            await EventStore.open(db, exclusive=True)
        assert f"pid {os.getpid()} on host {socket.gethostname()}" in str(refused.value)
        assert digest(db) == before
    finally:
        await first.close()
    second = await EventStore.open(db, exclusive=True)  # released on close
    await second.close()


async def test_a_locked_new_ledger_is_not_even_created(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    with WriterLock.acquire(db), pytest.raises(LedgerLocked):
        await EventStore.open(db, exclusive=True)
    assert not db.exists()


WRITERS: list[tuple[str, list[str]]] = [
    ("db migrate", ["db", "migrate"]),
    ("db rebuild-views", ["db", "rebuild-views"]),
]


@pytest.mark.parametrize(("name", "args"), WRITERS, ids=[name for name, _ in WRITERS])
def test_writer_commands_refuse_a_ledger_held_by_another_process(tmp_path: Path, name: str, args: list[str]) -> None:
    db = tmp_path / "ledger.db"
    migrate(db)
    unheld = subprocess.run([*ARBTUI, "--db", str(db), *args], capture_output=True, text=True, cwd=REPO_ROOT)
    assert unheld.returncode == 0, unheld.stderr  # the command really writes this ledger when it is free
    before = digest(db)
    with holder_process(db) as holder:
        run = subprocess.run([*ARBTUI, "--db", str(db), *args], capture_output=True, text=True, cwd=REPO_ROOT)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines() == [
        f"Error: ledger {db} is in use by another arbtui (pid {holder.pid} on host {socket.gethostname()}):"
        " one writer per ledger; stop it first, or give this one its own --db"
    ]
    assert digest(db) == before


def test_a_kill_9d_holder_releases_the_lock(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    with holder_process(db) as holder:
        assert WriterLock.holder(db) == f"{holder.pid}@{socket.gethostname()}"
        with pytest.raises(LedgerLocked):
            WriterLock.acquire(db)
        os.kill(holder.pid, signal.SIGKILL)
        holder.wait(10)
        assert WriterLock.holder(db) is None
        with WriterLock.acquire(db) as lock:  # at once: no stale lock to clean up
            assert lock.held
    assert lock_path(db).exists()  # never unlinked (a waiter on the old inode would hold a ghost lock)


def test_the_lock_is_per_real_path_and_not_inherited_by_children(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    (tmp_path / "link").symlink_to(tmp_path)
    with WriterLock.acquire(tmp_path / "link" / "ledger.db"):
        with pytest.raises(LedgerLocked):
            WriterLock.acquire(db)
        child = subprocess.Popen(["sleep", "30"])  # a child outliving us must not keep the ledger locked
    try:
        assert WriterLock.holder(db) is None
    finally:
        child.kill()
        child.wait()


# --- one chain per ledger -------------------------------------------------------------------------


def chain_rows(db: Path) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    conn = sqlite3.connect(db)
    try:
        return (
            [tuple(r) for r in conn.execute("SELECT chain_id FROM ledger_chain")],
            [tuple(r) for r in conn.execute("SELECT address FROM ledger_orderbooks ORDER BY address")],
        )
    finally:
        conn.close()


async def test_the_first_start_records_the_chain_later_ones_add_orderbooks_another_chain_is_refused(
    tmp_path: Path,
) -> None:
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db)
    try:
        first = await ledger.bind_chain(8453, [ORDERBOOK.upper().replace("0X", "0x")])
        assert (first.first_start, first.new_orderbooks) == (True, (ORDERBOOK,))
        again = await ledger.bind_chain(8453, [ORDERBOOK])
        assert (again.first_start, again.new_orderbooks) == (False, ())
        added = await ledger.bind_chain(8453, [ORDERBOOK, OTHER_ORDERBOOK])  # a second orderbook is allowed
        assert added.new_orderbooks == (OTHER_ORDERBOOK,)
        before = digest(db)
        with pytest.raises(ChainMismatch) as refused:
            await ledger.bind_chain(1, ["0x" + "ef" * 20])
        assert (refused.value.recorded, refused.value.now) == (8453, 1)
        assert "chain id 8453" in str(refused.value)
        assert "\n" not in str(refused.value)
        assert digest(db) == before
    finally:
        await ledger.close()
    assert chain_rows(db) == ([(8453,)], [(ORDERBOOK,), (OTHER_ORDERBOOK,)])


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_chain SET chain_id = 1",
        "DELETE FROM ledger_chain",
        "UPDATE ledger_orderbooks SET address = lower(address)",
        "DELETE FROM ledger_orderbooks",
    ],
)
async def test_the_chain_binding_cannot_be_rewritten(tmp_path: Path, statement: str) -> None:
    db = tmp_path / "ledger.db"
    ledger = await Ledger.open(db)
    await ledger.bind_chain(8453, [ORDERBOOK])
    await ledger.close()
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute(statement)
    finally:
        conn.close()
    assert chain_rows(db) == ([(8453,)], [(ORDERBOOK,)])


# --- private files --------------------------------------------------------------------------------


@pytest.fixture
def open_umask() -> Iterator[None]:
    """The loosest common umask (022): files would be world-readable unless created 0600."""
    previous = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("open_umask")
async def test_ledger_wal_shm_and_lock_are_created_0600(tmp_path: Path) -> None:
    db = tmp_path / "ledger.db"
    store = await EventStore.open(db, exclusive=True)
    try:
        files = [db, db.with_name("ledger.db-wal"), db.with_name("ledger.db-shm"), lock_path(db)]
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
    finally:
        await store.close()


@pytest.mark.usefixtures("open_umask")
def test_the_log_beside_the_ledger_is_created_0600(tmp_path: Path) -> None:
    from loguru import logger

    path = log_beside(tmp_path / "ledger.db")
    try:
        logger.info("a line")
        assert mode(path) == 0o600
    finally:
        logger.remove()


# --- read-only storage ----------------------------------------------------------------------------


READERS = [["events"], ["position"], ["report", "pnl"], ["report", "trades"]]
SHOW = ["show", "position", "AAPL"]
SHOWN_NOTHING = "Error: no position AAPL in the ledger"
"""``show`` reads the ledger like the readers; the seeded ledger has no position, so it says so (exit 1)."""


def seeded_ledger(folder: Path) -> Path:
    """A ledger with one event, checkpointed into the main file (the WAL empty), as after a clean stop."""
    folder.mkdir()
    db = folder / "ledger.db"
    migrate(db)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("INSERT INTO ledger_chain VALUES (1, 8453, '2026-01-01T00:00:00.000000+00:00')")  # a row to find again
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    for extra in ("ledger.db-wal", "ledger.db-shm"):
        (folder / extra).unlink(missing_ok=True)
    return db


def can_bind_read_only() -> bool:
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-m", "sh", "-c", "mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp /tmp"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


def in_read_only_mount(folder: Path, argv: list[str]) -> subprocess.CompletedProcess[str]:
    """``argv`` in a private mount namespace where ``folder`` is a read-only bind mount of itself: real
    read-only storage (EROFS even for root), invisible to every other process."""
    script = 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" "$1" && shift && exec "$@"'
    return subprocess.run(
        ["unshare", "-m", "sh", "-c", script, "sh", str(folder), *argv],
        capture_output=True,
        text=True,
        cwd=REPO_ROOT,
        check=False,
        timeout=60,
    )


@pytest.mark.skipif(not can_bind_read_only(), reason="needs unshare and mount (a private read-only bind mount)")
def test_readers_read_a_ledger_on_a_read_only_mount(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = seeded_ledger(folder)
    before = digest(db)
    # the attack reaches the reader: nothing can be created beside the ledger, not even by root
    touch = in_read_only_mount(folder, ["touch", str(folder / "x")])
    assert touch.returncode != 0
    assert "Read-only file system" in touch.stderr
    for args in READERS:
        run = in_read_only_mount(folder, [*ARBTUI, "--db", str(db), *args])
        assert run.returncode == 0, (args, run.stderr)
        assert "Traceback" not in run.stderr
    shown = in_read_only_mount(folder, [*ARBTUI, "--db", str(db), *SHOW])
    assert shown.stderr.strip() == SHOWN_NOTHING  # it read the ledger: the position is not in it
    check = in_read_only_mount(
        folder,
        [sys.executable, "-c", "from arbtui.store.migrate import connect_readonly as c; import sys; "
         "print(c(sys.argv[1]).execute('SELECT chain_id FROM ledger_chain').fetchone()[0])", str(db)],
    )  # fmt: skip
    assert check.stdout.strip() == "8453", check.stderr
    assert digest(db) == before
    assert sorted(p.name for p in folder.iterdir()) == ["ledger.db"]


@pytest.mark.skipif(not can_bind_read_only(), reason="needs unshare and mount (a private read-only bind mount)")
def test_a_read_only_ledger_with_unmerged_wal_is_refused_not_misread(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    db = seeded_ledger(folder)
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA wal_autocheckpoint=0")
    conn.execute("INSERT INTO ledger_orderbooks VALUES (?, 'now')", (ORDERBOOK,))  # only in the WAL
    # keep the WAL: copy the three files while the connection holds them, as a crash would leave them
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("ledger.db", "ledger.db-wal"):
        shutil.copy(folder / name, copy / name)
    conn.close()
    run = in_read_only_mount(copy, [*ARBTUI, "--db", str(copy / "ledger.db"), "events"])
    assert run.returncode == 1
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "read-only storage" in lines[0]
    assert "-wal" in lines[0]


def immutable_supported(folder: Path) -> bool:
    if shutil.which("chattr") is None:
        return False
    probe = subprocess.run(["chattr", "+i", str(folder)], capture_output=True, check=False)
    if probe.returncode != 0:
        return False
    subprocess.run(["chattr", "-i", str(folder)], check=True)
    return True


def test_readers_read_a_ledger_in_an_immutable_directory(tmp_path: Path) -> None:
    """The second form of read-only storage: a directory nobody may create files in (chattr +i holds even
    for root, whose permission checks ignore mode bits)."""
    folder = tmp_path / "immutable"
    db = seeded_ledger(folder)
    if not immutable_supported(folder):
        pytest.skip("chattr +i is not available here")
    before = digest(db)
    subprocess.run(["chattr", "+i", str(folder)], check=True)
    try:
        with pytest.raises(PermissionError):
            (folder / "x").touch()  # the attack reaches the reader: no -shm can be created
        for args in READERS:
            run = subprocess.run([*ARBTUI, "--db", str(db), *args], capture_output=True, text=True, cwd=REPO_ROOT)
            assert run.returncode == 0, (args, run.stderr)
        shown = subprocess.run([*ARBTUI, "--db", str(db), *SHOW], capture_output=True, text=True, cwd=REPO_ROOT)
        assert shown.stderr.strip() == SHOWN_NOTHING  # it read the ledger: the position is not in it
        conn = connect_readonly(db)
        assert conn.execute("SELECT chain_id FROM ledger_chain").fetchone() == (8453,)
        conn.close()
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)
    assert digest(db) == before
    assert sorted(p.name for p in folder.iterdir()) == ["ledger.db"]
