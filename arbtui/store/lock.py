"""One writer per ledger: an exclusive OS lock held by every process that writes the ledger.

The lock is ``flock(LOCK_EX | LOCK_NB)`` on a sidecar file ``<ledger>.lock`` beside the database (the
ledger's real path, symlinks resolved, so two spellings of one ledger meet on one lock). A sidecar and
not the database itself, because SQLite locks the database with POSIX record locks, which a process
loses all at once when it closes *any* descriptor of that file; a second descriptor on the database
would put SQLite's own locking at risk. ``flock`` locks belong to the open file description, so:

* the kernel drops the lock when the holder dies, ``kill -9`` included: nothing stale to clean up;
* the descriptor is not inherited by child processes (Python opens it non-inheritable), so a child
  never keeps a dead bot's lock alive;
* a second open in the same process is refused too (two engines in one process are two writers).

The holder writes ``pid@host`` into the file so that a refused process can name it. The file is never
deleted: unlinking it while another process waits on the old inode would let two processes hold "the"
lock at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
from pathlib import Path
from types import TracebackType

from arbtui.store.errors import LedgerLocked
from arbtui.store.files import PRIVATE_MODE


def lock_path(ledger: Path | str) -> Path:
    """The lock file of the ledger at ``ledger``: ``<real path>.lock``."""
    real = Path(ledger).resolve()
    return real.with_name(real.name + ".lock")


def holder_name() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


class WriterLock:
    """The ledger's writer lock, held from :meth:`acquire` until :meth:`release` (or process exit)."""

    def __init__(self, ledger: Path, path: Path, fd: int) -> None:
        self.ledger = ledger
        self.path = path
        self._fd: int | None = fd

    @classmethod
    def acquire(cls, ledger: Path | str) -> WriterLock:
        """Take the lock of ``ledger`` now, or raise :class:`LedgerLocked` naming its holder (never waits)."""
        ledger = Path(ledger)
        path = lock_path(ledger)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE_MODE)
        except OSError as exc:
            raise LedgerLocked(f"cannot open the writer lock {path} of ledger {ledger}: {exc.strerror or exc}") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            holder = _read_holder(fd)
            os.close(fd)
            if isinstance(exc, BlockingIOError):
                raise LedgerLocked(
                    f"ledger {ledger} is in use by another arbtui ({_describe(holder)}): one writer per ledger;"
                    " stop it first, or give this one its own --db"
                ) from None
            raise LedgerLocked(f"cannot lock ledger {ledger} ({path}): {exc.strerror or exc}") from exc
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, (holder_name() + "\n").encode(), 0)
        except OSError:  # the name is only for the message of a refused process; the lock is what counts
            pass
        return cls(ledger, path, fd)

    @staticmethod
    def holder(ledger: Path | str) -> str | None:
        """Who holds the lock of ``ledger`` right now (``pid@host``), or None if nobody does. A probe for
        a friendly early refusal; only :meth:`acquire` decides."""
        path = lock_path(ledger)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError:
            return None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return _read_holder(fd) or "unknown"
            except OSError:
                return None
            fcntl.flock(fd, fcntl.LOCK_UN)
            return None
        finally:
            os.close(fd)

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        """Let the next writer in (idempotent). The file stays."""
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def __enter__(self) -> WriterLock:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.release()


def _read_holder(fd: int) -> str:
    try:
        raw = os.pread(fd, 256, 0)
    except OSError:
        return ""
    return raw.decode("utf-8", "replace").strip()


def _describe(holder: str) -> str:
    pid, sep, host = holder.partition("@")
    if not sep or not pid.isdigit():
        return "holder unknown"
    return f"pid {pid} on host {host}"
