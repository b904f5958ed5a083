"""Files beside the ledger are private: the ledger, its WAL and shm, the writer lock and the log files are
created readable and writable by their owner only (0600), whatever the process umask.

SQLite creates ``-wal`` and ``-shm`` with the mode of the database file itself, so creating the ledger
0600 makes them 0600 too. An existing file keeps the mode its operator gave it.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

PRIVATE_MODE = 0o600


def private_opener(path: str, flags: int) -> int:
    """An ``opener`` for :func:`open` (and loguru's file sinks, which pass it on): a file it creates is
    0600 (the umask may only narrow it further)."""
    return os.open(path, flags, PRIVATE_MODE)


def create_private(path: Path) -> bool:
    """Create ``path`` empty with mode 0600 unless it exists; True if this call created it."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, PRIVATE_MODE)
    except FileExistsError:
        return False
    with contextlib.suppress(OSError):  # a umask of 0 already gives 0600; fchmod guards odd filesystems
        os.fchmod(fd, PRIVATE_MODE)
    os.close(fd)
    return True
