"""Group commit, the event loop's side: which units share a COMMIT, and answering them after it.

Units of work decide one at a time (:attr:`GroupCommit.deciding`). Each one's rows are staged in the
writer's open transaction (:class:`~arbtui.store.writer.GroupWriter`); the unit that finds nobody
waiting to decide after it — or a full group, or the :data:`GROUP_WAIT_S` timer — commits the group, its
own rows in the same hop to the writer thread. A unit alone is therefore one hop and one COMMIT, as
without grouping; units that queue up while one is written share the next COMMIT. Every unit's caller is
answered only once the COMMIT carrying it is durable; if that COMMIT fails, every unit in it fails, every
state cached since is forgotten, and units decided on those states are decided again.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from arbtui.store.errors import DatabaseUnavailable
from arbtui.store.writer import Batch, GroupWriter

T = TypeVar("T")

GROUP_MAX = 256
"""Units at most in one group commit."""
GROUP_WAIT_S = 0.005
"""An open group is committed after this long even if units keep deciding."""

Announce = Callable[[list[Any]], None]
"""Tell the listeners what a unit appended (a list of ``Committed``), once it is durable."""


@dataclass
class _Group:
    """Units staged in the open transaction, waiting for its COMMIT: what each appended and the future
    its caller awaits. ``done`` resolves when the COMMIT has finished, whatever its outcome."""

    units: list[tuple[list[Any], asyncio.Future[None]]] = field(default_factory=list)
    done: asyncio.Future[None] = field(default_factory=lambda: asyncio.get_running_loop().create_future())
    timer: asyncio.TimerHandle | None = None


class GroupCommit:
    def __init__(self, writer: GroupWriter, path: Path, *, forget: Callable[[], None], announce: Announce) -> None:
        self.writer = writer
        self._path = path
        self._forget, self._announce = forget, announce
        self.deciding = asyncio.Lock()
        self._wanting = 0  # units waiting for ``deciding``
        self._staging = False  # a unit's rows are on their way to the writer thread
        self._group: _Group | None = None  # units staged in the open transaction
        self._committing: _Group | None = None  # the group whose COMMIT runs now (or ran last)
        self._tasks: set[asyncio.Task[Any]] = set()
        self.generation = 0
        """Bumped when a COMMIT fails: a unit that started deciding before that is decided again."""
        self.commits = 0
        """Durable COMMITs so far; with :attr:`units_committed`, the mean group size."""
        self.units_committed = 0

    async def acquire(self) -> None:
        """Wait for this unit's turn to decide."""
        self._wanting += 1
        try:
            await self.deciding.acquire()
        finally:
            self._wanting -= 1

    def release(self) -> None:
        """This unit has decided and staged (or given up): the group may be committed now."""
        self.deciding.release()
        self._close(force=False)

    async def write(self, batch: Batch) -> tuple[sqlite3.Error | None, sqlite3.Error | None, bool]:
        """Stage the deciding unit's ``batch``: ``(its error, the COMMIT's error, committed already)``.
        Not committed already: the unit is staged in the open group and must :meth:`join` it."""
        group = self._group
        # nobody queued behind this unit (or the group is full): commit the group with it, in one hop
        last = self._wanting == 0 or (group is not None and len(group.units) + 1 >= GROUP_MAX)
        if last:
            self._detach(group)
        self._staging = True
        # shielded: the group is answered even if this caller is cancelled meanwhile
        task = self._spawn(self._write(batch, group if last else None, last=last))
        error, lost = await asyncio.shield(task)
        return error, lost, last

    def join(self, committed: list[Any]) -> asyncio.Future[None]:
        """Add a staged unit to the open group (opening one); its future resolves once it is durable."""
        group = self._group
        if group is None:
            group = self._group = _Group()
            group.timer = asyncio.get_running_loop().call_later(GROUP_WAIT_S, self._close, True)
        durable: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        group.units.append((committed, durable))
        return durable

    def after_reading(self) -> asyncio.Future[None] | None:
        """For a unit that wrote nothing but may have read staged states: resolves once they are durable."""
        if self._group is not None:
            return self.join([])
        committing = self._committing
        if committing is None or committing.done.done():
            return None
        follower: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        committing.done.add_done_callback(lambda _: _resolve(follower))
        return follower

    async def settle(self) -> None:
        """Wait until every staged unit is committed (or its COMMIT failed)."""
        group = self._group
        if group is not None:
            self._close(force=True)
            await asyncio.shield(group.done)
        if self._committing is not None:
            await asyncio.shield(self._committing.done)

    # --- internals ------------------------------------------------------------------------------

    async def _write(
        self, batch: Batch, group: _Group | None, *, last: bool
    ) -> tuple[sqlite3.Error | None, sqlite3.Error | None]:
        try:
            error, lost = await self.writer.stage(batch, commit=last)
        except BaseException:
            if last:
                await self._finish(group or _Group(), await self.writer.commit())
            raise
        finally:
            self._staging = False
        if last:
            await self._finish(group or _Group(), lost, extra=error is None)
        return error, lost

    def _spawn(self, coroutine: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """A task kept alive until it ends."""
        task = asyncio.get_running_loop().create_task(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def _detach(self, group: _Group | None) -> None:
        """The open group is about to be committed: no unit joins it any more."""
        self._group = None
        if group is not None:
            self._committing = group
            if group.timer is not None:
                group.timer.cancel()

    def _close(self, force: bool) -> None:
        """Commit the open group, unless a unit is deciding or waiting to (it will join the group and
        close it), short of ``force`` (the timer: a unit may take long to decide) or :data:`GROUP_MAX`.
        Never while a unit's rows are on their way to the writer: they would land in this COMMIT
        without being counted in it."""
        group = self._group
        if group is None:
            return
        if self._staging:
            if force:
                group.timer = asyncio.get_running_loop().call_later(GROUP_WAIT_S, self._close, True)
            return
        busy = self.deciding.locked() or self._wanting > 0
        if not force and busy and len(group.units) < GROUP_MAX:
            return
        self._detach(group)
        self._spawn(self._commit(group))

    async def _commit(self, group: _Group) -> None:
        await self._finish(group, await self.writer.commit())

    async def _finish(self, group: _Group, lost: sqlite3.Error | None, *, extra: bool = False) -> None:
        """Answer the group's units after its COMMIT (``lost``: the COMMIT's error). ``extra``: one more
        unit, not in the group, was staged and committed with it."""
        try:
            if lost is not None:
                # every state cached since the last good COMMIT may be lost: forget them all
                self.generation += 1
                self._forget()
                await self.writer.forget_loss()
                failure = DatabaseUnavailable(f"{self._path}: commit failed, nothing of it was recorded: {lost}")
                for _, durable in group.units:
                    if not durable.done():
                        durable.set_exception(failure)
                return
            if group.units or extra:
                self.commits += 1
                self.units_committed += len(group.units) + extra
            # each caller announces its own unit when it resumes (in commit order), as it did before
            # grouping: its code runs before anything the listeners start
            for committed, durable in group.units:
                if durable.cancelled():  # nobody will announce it: do it here
                    if committed:
                        self._announce(committed)
                else:
                    durable.set_result(None)
        finally:
            _resolve(group.done)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
